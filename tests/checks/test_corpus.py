"""Real agents, recorded every documented way, pass every check; real regressions fire theirs.

The corpus: the conformance suite's agent for each framework and each way of
recording it (tests/conformance/_agents.py: decorators, ``instrument()``, both
mixed, ``agentreel record --``, an OpenTelemetry SDK exporting OTLP), and the
README's agent written async, and sync or async inside ``agentreel.run`` (sync
without it is the conformance agent's ``decorators`` way; tests/checks/_readme_agent.py),
all talking over HTTP to the scripted provider.
Each is recorded once into one store, a few runs for a saved baseline, then a few
more runs as the current window, and checked as a CI job checks them: default
settings (but for wall-clock time, which moves with the machine's load: `_config`),
the saved baseline, ``CI=true``. A healthy agent must pass every check
(a few runs each: the checks that need 20 or 50 runs skip; those are judged on
1,000 simulated runs in test_regressions.py). A regression recorded by the real
agent must fire its own check and no other (a retry storm's failed calls also raise
the tool's error rate: that is the same change seen twice).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from agentreel.checks import CheckConfig, CheckReport, Window, run_checks, save_baseline
from agentreel.store import Receiver, Store
from tests.checks.conftest import fired
from tests.conformance._provider import ANSWER, Provider, provider
from tests.conformance.test_totals import PROGRAM, WAYS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
README_AGENT = Path(__file__).with_name("_readme_agent.py")
STYLES = ["async", "run-sync", "run-async"]
RUNS = 6  # per window: enough for the checks that judge one run at a time
CI = {"CI": "true"}
#: Checks that judge a handful of runs (min_n 1): each must have passed, not skipped.
JUDGED = ["missing_data", "span_schema", "run_schema", "loops", "retry_storm", "orphan_spans"]


@pytest.fixture(scope="module")
def llm() -> Iterator[Provider]:
    with provider() as p:
        yield p


@pytest.fixture(scope="module")
def readme_store(llm: Provider, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's agent, run-async, recorded 2 x RUNS times: healthy, and the baseline
    the regressions are compared with (each test adds its runs to a copy)."""
    store = tmp_path_factory.mktemp("readme") / "store"
    assert _record(llm, store, _readme("run-async", 2 * RUNS)) == [ANSWER] * (2 * RUNS)
    return store


def _record(llm: Provider, store: Path, cmd: list[str], otlp: bool = False) -> list[object]:
    """Run an agent program recording into `store`; returns what it printed (its answers)."""
    env = {**os.environ, "BASE": llm.url, "AGENTREEL_DIR": str(store), "PYTHONPATH": str(ROOT)}
    receiver = None
    if otlp:
        receiver = Receiver(store, port=0).start()
        env["OTLP_ENDPOINT"] = receiver.url
    try:
        out = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=180, cwd=store.parent
        )
    finally:
        if receiver is not None:
            receiver.stop()
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(x for x in reversed(out.stdout.splitlines()) if x.startswith("["))
    answers: list[object] = json.loads(line)
    return answers


def _conformance(store: Path, framework: str, how: str, n: int) -> list[str]:
    agent = [sys.executable, str(PROGRAM), framework, how, "ok", str(n)]
    if how == "record":
        agent[3] = "plain"
        return [sys.executable, "-m", "agentreel", "record", "--dir", str(store), "--", *agent]
    return agent


def _readme(style: str, n: int, fault: str = "") -> list[str]:
    return [sys.executable, str(README_AGENT), style, str(n), *([fault] if fault else [])]


def _config() -> CheckConfig:
    """The default settings, except for wall-clock time: these runs' durations move with
    how busy the machine is (CI shares its cores with other work), not with the agent,
    so latency is judged only past 5 s more than the baseline's and duration is left out
    of the numeric drift. Both checks' judgements are tested on simulated runs, whose
    times do not depend on the machine (test_regressions.py)."""
    config = CheckConfig()
    for name in ("latency_p50", "latency_p95"):
        config.settings[name]["min_increase_ms"] = 5_000
    drift = config.settings["numeric_drift"]
    drift["columns"] = [c for c in drift["columns"] if c != "duration_ms"]
    return config


def _check(store_dir: Path, tmp_path: Path, baseline_runs: int) -> CheckReport:
    """Save the first `baseline_runs` runs as baseline ``main``; check the later ones, in CI."""
    with Store.open(store_dir) as store:
        store.ingest()
        starts = store.runs()["start_time"].sort()
        assert starts.len() > baseline_runs
        split = starts[baseline_runs]
        saved = save_baseline(
            store, "main", Window(until=split), config=_config(), path=tmp_path / "main.json"
        )
        return run_checks(
            store,
            current=Window(since=split),
            baseline=str(saved),
            config=_config(),
            env=CI,
        )


def _assert_healthy(report: CheckReport) -> None:
    bad = report.results.filter(pl.col("status").is_in(["warn", "error"]))
    assert fired(report) == {}, bad.select("check", "scope", "statistic", "value", "message")
    assert report.status == "pass"
    for check in JUDGED:
        statuses = set(report.results.filter(pl.col("check") == check)["status"])
        assert "pass" in statuses, f"{check} judged nothing: {statuses}"
    calls = report.results.filter(pl.col("check") == "missing_data")["scope"].to_list()
    assert "kind=llm" in calls  # the model calls were counted against the baseline's


@pytest.mark.parametrize(("framework", "how"), WAYS)
def test_a_healthy_framework_agent_passes_every_check(
    tmp_path: Path, llm: Provider, framework: str, how: str
) -> None:
    store = tmp_path / "store"
    answers = _record(llm, store, _conformance(store, framework, how, 2 * RUNS), how == "otlp")
    assert answers == [{"ok": ANSWER}] * (2 * RUNS)
    _assert_healthy(_check(store, tmp_path, RUNS))


@pytest.mark.parametrize("style", STYLES)
def test_the_readme_agent_passes_every_check(
    tmp_path: Path, llm: Provider, readme_store: Path, style: str
) -> None:
    store = tmp_path / "store"
    if style == "run-async":
        shutil.copytree(readme_store, store)
    else:
        assert _record(llm, store, _readme(style, 2 * RUNS)) == [ANSWER] * (2 * RUNS)
    report = _check(store, tmp_path, RUNS)
    _assert_healthy(report)
    if style.startswith("run"):  # the run's answer is its agent's: judged, and not empty
        with Store.open(store) as s:
            assert set(s.runs()["output"].to_list()) == {json.dumps(ANSWER)}


#: A regression in the README's agent -> what it fires: {check: worst status}.
REAL_REGRESSIONS = {
    # six identical answered calls of get_weather in every run
    "loop": {"loops": "error"},
    # the weather service times out six times in a row before it answers: a retry storm,
    # and its failed calls (6 of 7 against 1 of 2) are the weather tool failing more
    "retry_storm": {"retry_storm": "error", "tool_error_rate": "error"},
    # the model call is gone (the model mix would warn too, from 50 baseline calls on)
    "no_llm": {"missing_data": "error"},
}


@pytest.mark.parametrize("fault", list(REAL_REGRESSIONS))
def test_a_regression_of_the_real_agent_fires_its_check_only(
    tmp_path: Path, llm: Provider, readme_store: Path, fault: str
) -> None:
    store = tmp_path / "store"
    shutil.copytree(readme_store, store)
    _record(llm, store, _readme("run-async", RUNS, fault))
    report = _check(store, tmp_path, 2 * RUNS)  # every healthy run is the baseline
    assert fired(report) == REAL_REGRESSIONS[fault]
    assert report.exit_code() == 1


def test_an_empty_window_in_ci_fails_missing_data_only(tmp_path: Path, readme_store: Path) -> None:
    """The CI job's agent recorded somewhere else: its store has none of the runs."""
    elsewhere = tmp_path / "elsewhere"
    with Store.open(readme_store) as store:
        store.ingest()
        saved = save_baseline(
            store, "main", Window(), config=CheckConfig(), path=tmp_path / "main.json"
        )
    with Store.open(elsewhere, create=True) as store:
        report = run_checks(
            store, current=Window(), baseline=str(saved), config=CheckConfig(), env=CI
        )
    assert fired(report) == {"missing_data": "error"}
    row = report.results.filter(pl.col("status") == "error").row(0, named=True)
    assert row["statistic"] == "runs"
    assert str(elsewhere) in row["message"]
