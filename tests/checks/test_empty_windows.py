"""Windows with nothing in them: no runs, or no calls of a kind the baseline had.

None of these may end in a traceback. A window without the LLM calls its baseline had
is an error-level failure that says so; a window with no runs is an error in CI (the
job's runs went somewhere else) and a skip locally.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import polars as pl

from agentreel.checks import CheckConfig, CheckReport, Window, run_checks
from agentreel.checks._check import Inputs
from agentreel.checks._load import WindowData
from agentreel.checks._registry import BUILTINS
from agentreel.store import Store
from tests.checks._simulate import record_runs
from tests.checks.conftest import fired

ROOT = Path(__file__).resolve().parents[2]  # the code under test, for subprocesses


def row(report: CheckReport, check: str, scope: str, statistic: str) -> dict[str, object]:
    found = report.results.filter(
        (pl.col("check") == check) & (pl.col("scope") == scope) & (pl.col("statistic") == statistic)
    )
    assert found.height == 1, report.results.filter(pl.col("check") == check)
    return found.row(0, named=True)


def cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentreel", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={
            "PATH": "/usr/bin:/bin",
            "COLUMNS": "200",
            "HOME": str(cwd),
            "PYTHONPATH": str(ROOT),
            **env,
        },
    )


def test_no_llm_calls_against_a_saved_baseline_is_an_error_that_says_so(
    store_of: Callable[..., Store], baseline_file: Path
) -> None:
    store = store_of(regression="no_llm_calls")
    report = run_checks(store, current=Window(), baseline=str(baseline_file), config=CheckConfig())
    assert fired(report) == {
        "missing_data": "error",
        "categorical_drift": "warn",  # the model and finish-reason mix is gone
        "numeric_drift": "warn",  # no tokens, fewer steps
    }
    assert report.exit_code() == 1
    llm = row(report, "missing_data", "kind=llm", "LLM calls")
    assert llm["status"] == "error"
    assert llm["value"] == 0
    message = str(llm["message"])
    assert message.startswith("no LLM calls in the current window (1000 runs); the baseline had ")
    assert message.endswith(" in 1000 runs")
    # runs of the window, with their calls of each kind, are listed under it
    i = report.results.with_row_index("i").filter(pl.col("scope") == "kind=llm")["i"][0]
    runs = report.failures(int(i))
    assert runs is not None
    assert runs.columns == [
        "run_id",
        "name",
        "status",
        "llm_count",
        "tool_count",
        "retriever_count",
    ]
    assert runs.height == 20
    assert set(runs["llm_count"]) == {0}
    # tool calls are still there
    assert row(report, "missing_data", "kind=tool", "tool calls")["status"] == "pass"
    model = row(report, "categorical_drift", "model", "js distance")
    assert model["value"] == 1.0
    assert str(model["message"]).startswith("no LLM calls in the current window (1000 runs)")


def test_no_llm_calls_against_a_baseline_window_is_an_error_that_says_so(tmp_path: Path) -> None:
    path = tmp_path / "s"
    record_runs(path, 200, seed=1, tags={"branch": "main"})
    record_runs(path, 200, seed=2, regression="no_llm_calls", tags={"branch": "feature"})
    with Store.open(path, create=True) as store:
        store.ingest()
        report = run_checks(
            store,
            current=Window(tags={"branch": "feature"}),
            baseline=Window(tags={"branch": "main"}),
            config=CheckConfig(),
            env={},
        )
        # the reverse: the baseline had no LLM calls, the current window has them
        reverse = run_checks(
            store,
            current=Window(tags={"branch": "main"}),
            baseline=Window(tags={"branch": "feature"}),
            config=CheckConfig(),
            env={},
        )
    assert row(report, "missing_data", "kind=llm", "LLM calls")["status"] == "error"
    assert report.exit_code() == 1
    assert "missing_data" not in fired(reverse)
    model = row(reverse, "categorical_drift", "model", "js distance")
    assert model["status"] == "skip"
    assert model["message"] == "the baseline had no LLM calls with a model"


def test_an_empty_current_window_is_a_skip_locally(store_of: Callable[..., Store]) -> None:
    store = store_of(runs=100)
    for baseline in (Window(), Window(name="research")):
        report = run_checks(
            store, current=Window(name="nothing"), baseline=baseline, config=CheckConfig(), env={}
        )
        assert report.status == "pass"
        assert set(report.results["status"]) == {"skip"}
        runs = row(report, "missing_data", "all", "runs")
        assert runs["message"] == (
            f"no runs in the current window (name nothing) of the store {store.path}; "
            "the baseline had 100"
        )
        drift = report.results.filter(pl.col("check") == "categorical_drift")
        assert set(drift["message"]) == {"no runs in the current window"}


def test_an_empty_current_window_fails_in_ci(
    store_of: Callable[..., Store], baseline_file: Path
) -> None:
    store = store_of(runs=50)
    for env in ({"CI": "true"}, {"GITHUB_ACTIONS": "true"}):
        report = run_checks(
            store,
            current=Window(tags={"job": "1234"}),
            baseline=str(baseline_file),
            config=CheckConfig(),
            env=env,
        )
        assert fired(report) == {"missing_data": "error"}
        assert report.exit_code() == 1
        runs = row(report, "missing_data", "all", "runs")
        assert runs["message"] == (
            f"no runs in the current window (tag job=1234) of the store {store.path}: "
            "in CI the agent's runs were expected there; the baseline had 1000"
        )
    # with runs, CI is judged as usual
    ok = run_checks(
        store, current=Window(), baseline=str(baseline_file), config=CheckConfig(), env={"CI": "1"}
    )
    assert row(ok, "missing_data", "all", "runs")["status"] == "pass"


def test_agentreel_check_in_ci_on_a_store_with_no_runs_exits_1(
    tmp_path: Path, baseline_file: Path
) -> None:
    with Store.open(tmp_path / "store", create=True):
        pass  # a store the job's agent never recorded into
    env = {"CI": "true"}
    args = ("check", "--dir", str(tmp_path / "store"), "--baseline", str(baseline_file))
    r = cli(*args, "--no-save", cwd=tmp_path, env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert r.stdout.startswith("agentreel check: error")
    words = " ".join(r.stdout.split())
    assert f"no runs in the current window (all runs) of the store {tmp_path / 'store'}" in words
    assert "in CI the agent's runs were expected there; the baseline had 1000" in words
    # locally the same store is a skip
    local = cli(*args, "--no-save", cwd=tmp_path, env={})
    assert local.returncode == 0, local.stdout + local.stderr
    assert local.stdout.startswith("agentreel check: pass")


def test_agentreel_check_without_llm_calls_exits_1_without_a_traceback(
    tmp_path: Path, baseline_file: Path
) -> None:
    record_runs(tmp_path / "store", 200, seed=3, regression="no_llm_calls")
    r = cli(
        "check",
        "--dir",
        str(tmp_path / "store"),
        "--baseline",
        str(baseline_file),
        "--format",
        "github",
        "--no-save",
        cwd=tmp_path,
        env={},
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr == ""
    errors = [x for x in r.stdout.splitlines() if x.startswith("::error ")]
    assert len(errors) == 1
    assert errors[0].startswith("::error title=agentreel missing_data (kind=llm)::LLM calls 0")
    assert "no LLM calls in the current window (200 runs); the baseline had " in errors[0]


def test_runs_without_finish_reasons_say_so_in_truncated_output() -> None:
    """OpenInference's LLM spans record no finish reason: nothing to count is said plainly."""
    runs = pl.DataFrame(
        {"run_id": ["a", "b"], "final_finish_reason": [None, None], "truncated": [False, False]},
        schema_overrides={"final_finish_reason": pl.String},
    )
    data = WindowData(Window(), runs, pl.DataFrame(), None, datetime(2026, 1, 1))
    check = BUILTINS["truncated_output"]()
    p = check.defaults()
    measured = check.measure(data, p)
    metrics = check.evaluate(Inputs(data, measured, measured, "baseline"), p)
    assert [m.skip_reason() for m in metrics] == [
        "no runs whose last LLM call recorded a finish reason in the current window",
        "the baseline had no runs whose last LLM call recorded a finish reason",
    ]
