"""A saved baseline's file is checked against its schema (docs/checks.md#the-baseline-file)
when it is read: a damaged or hand-edited file is refused in one sentence naming the file
and the part that is wrong, never a traceback from inside a check."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentreel.checks import BaselineError, CheckConfig, Window, read_baseline
from agentreel.checks import save_baseline as save
from agentreel.checks._registry import BUILTINS
from agentreel.store import Store
from tests.checks._simulate import record_runs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A store of 60 runs, and the baseline saved from it (its path and its JSON body)."""
    d = tmp_path_factory.mktemp("baseline")
    record_runs(d / "store", 60, seed=3)
    with Store.open(d / "store") as store:
        store.ingest()
        path = save(store, "main", Window(), config=CheckConfig(), path=d / "main.json")
    return path, json.loads(path.read_text())


def _leaves(v: Any, where: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(v, dict):
        for k, x in v.items():
            yield from _leaves(x, (*where, k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from _leaves(x, (*where, i))
    else:
        yield where


def _set(body: Any, where: tuple[Any, ...], value: Any) -> None:
    for k in where[:-1]:
        body = body[k]
    body[where[-1]] = value


def _write(tmp_path: Path, body: Any, name: str = "edited.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(body) if not isinstance(body, str) else body)
    return path


def test_a_saved_baseline_fits_its_schema_and_reads_back_whole(
    saved: tuple[Path, dict[str, Any]],
) -> None:
    path, body = saved
    b = read_baseline(path)
    assert set(b.measures) == set(BUILTINS)  # every built-in check measured it
    assert b.measures == body["measures"]
    assert (b.name, b.runs, b.window) == ("main", 60, body["window"])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_wrong_value_in_a_measure_is_refused_naming_the_file_and_the_place(
    saved: tuple[Path, dict[str, Any]], tmp_path: Path, data: st.DataObject
) -> None:
    _, fresh = saved
    body = json.loads(json.dumps(fresh))
    leaves = [w for w in _leaves(body) if w[0] in ("measures", "runs", "spans", "name")]
    where = data.draw(st.sampled_from(leaves))
    old = body
    for k in where:
        old = old[k]
    wrong = 7 if isinstance(old, str) else data.draw(st.sampled_from(["7", [], {}, True]))
    _set(body, where, wrong)
    path = _write(tmp_path, body)
    with pytest.raises(BaselineError) as e:
        read_baseline(path)
    place = where[0]  # a key of the file is named bare: `runs is "7"`, not `.runs`
    place += "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in where[1:])
    assert str(e.value).startswith(f"{path} is not a valid baseline: {place} is ")
    assert str(e.value).endswith("save it again with `agentreel baseline save edited`")


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda b: "{not json", "cannot read the baseline"),
        (lambda b: [], "is not an agentreel baseline file"),
        (lambda b: {**b, "format": "other"}, "is not an agentreel baseline file"),
        (
            lambda b: {**b, "version": "1"},
            'baseline: version is "1", where the whole number 1 belongs',
        ),
        (lambda b: {**b, "version": 9}, "saved by a newer agentreel (format 9)"),
        (lambda b: {k: v for k, v in b.items() if k != "measures"}, "with 'measures'"),
        (lambda b: {**b, "runs": -1}, "baseline: runs is -1, where a whole number of at least"),
        (lambda b: {**b, "window": "24h"}, 'baseline: window is "24h", where an object belongs'),
        (
            lambda b: {**b, "measures": {**b["measures"], "loops": [1, 2]}},
            "measures.loops is [1, 2], where an object belongs",
        ),
        (
            lambda b: {**b, "measures": {**b["measures"], "volume": {"runs": 3, "hours": "2"}}},
            'measures.volume.hours is "2", where a number belongs',
        ),
        (
            lambda b: {
                **b,
                "measures": {**b["measures"], "volume": {"runs": 3, "hours": math.nan}},
            },
            "measures.volume.hours is NaN, where a finite number belongs",
        ),
        (
            lambda b: {
                **b,
                "measures": {
                    **b["measures"],
                    "evaluation_below": {"scopes": {}, "means": {"judge": [-math.inf, 4]}},
                },
            },
            "measures.evaluation_below.means.judge[0] is -Infinity, where a finite number belongs",
        ),
        (
            lambda b: {**b, "measures": {**b["measures"], "numeric_drift": {"columns": {"x": {}}}}},
            "measures.numeric_drift.columns.x is {}, where an object with 'n' belongs",
        ),
        (
            lambda b: {
                **b,
                "measures": {
                    **b["measures"],
                    "numeric_drift": {"columns": {"x": {"n": 60, "sketch": [1.0, float("nan")]}}},
                },
            },
            "measures.numeric_drift.columns.x.sketch[1] is NaN, where a finite number belongs",
        ),
        (
            lambda b: {
                **b,
                "measures": {**b["measures"], "latency_p95": {"scopes": {"all": [60, math.inf]}}},
            },
            "measures.latency_p95.scopes.all[1] is Infinity, where a finite number belongs",
        ),
        (
            lambda b: {**b, "measures": {**b["measures"], "my_metric": {"scopes": {"all": [1]}}}},
            "measures.my_metric.scopes.all is [1], where a list of two items belongs",
        ),
    ],
)
def test_a_malformed_file_is_one_clear_error(
    saved: tuple[Path, dict[str, Any]], tmp_path: Path, edit: Any, says: str
) -> None:
    path = _write(tmp_path, edit(json.loads(json.dumps(saved[1]))))
    with pytest.raises(BaselineError) as e:
        read_baseline(path)
    assert str(path) in str(e.value)
    assert says in str(e.value)


def test_what_older_baselines_leave_out_is_not_an_error(
    saved: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    body = json.loads(json.dumps(saved[1]))
    del body["measures"]["missing_data"]["calls"]  # measured since
    del body["measures"]["volume"]
    body["measures"]["a_metric_no_longer_configured"] = {"scopes": {"all": [3, 0.5]}}
    assert read_baseline(_write(tmp_path, body)).measures["missing_data"] == {"runs": 60}


def test_agentreel_check_refuses_it_in_one_line(
    saved: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path, fresh = saved
    body = json.loads(json.dumps(fresh))
    body["measures"]["latency_p95"]["scopes"]["all"] = "fast"
    bad = _write(tmp_path, body)
    r = subprocess.run(
        [
            *(sys.executable, "-m", "agentreel", "check", "--dir", str(path.parent / "store")),
            *("--baseline", str(bad), "--no-save"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)},
    )
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1
    assert f"{bad} is not a valid baseline: measures.latency_p95.scopes.all is" in r.stderr


@pytest.mark.parametrize("name", ["bad name", "../outside", "a/b"])
def test_a_name_that_is_not_a_baseline_name_is_said_before_the_window_is_measured(
    tmp_path: Path, name: str
) -> None:
    """The store is empty, so measuring would fail on the window: the name is said first,
    and a path given as the name writes nothing outside the baselines' directory."""
    from agentreel.checks import CheckConfigError

    config = CheckConfig(baseline_dir=tmp_path / "bl")
    with (
        Store.open(tmp_path / "store", create=True) as store,
        pytest.raises(CheckConfigError, match=r"is not a baseline name"),
    ):
        save(store, name, Window(since="1h"), config=config)
    assert not list(tmp_path.rglob("*outside*"))
    assert not (tmp_path / "bl").exists()
