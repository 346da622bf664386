"""A loop (the same tool call succeeding again and again) is not a retry storm (the same
call failing again and again): each is counted, and reported, under its own name."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel.checks import CheckConfig, CheckReport, Window, run_checks
from agentreel.demo import run_demo
from agentreel.store import Store
from tests.checks.conftest import fired

#: Each run: the outcomes of calls of one tool with the same arguments, in order.
RUNS: dict[str, list[bool]] = {
    "retried_then_ok": [False, False, True],  # a three-attempt retry: neither
    "storm": [False] * 5 + [True],  # five failures in a row: a retry storm
    "storm_no_luck": [False] * 4,  # four in a row, never answered: a retry storm
    "loop": [True] * 4,  # four successes: a loop
    "flaky_loop": [False, True] * 4,  # four successes, no two failures in a row: a loop
    "fine": [True, True, True],  # three: neither
}


class Flaky(Exception):
    pass


def _record(path: Path) -> Store:
    answers: Iterator[bool] = iter(())

    @agentreel.tool(name="lookup")
    def lookup(key: str) -> str:
        if not next(answers):
            raise Flaky(key)
        return key.upper()

    agentreel.init(path, tracer_provider=TracerProvider())
    try:
        for name, outcomes in RUNS.items():
            answers = iter(outcomes)
            with agentreel.run(name):
                for _ in outcomes:
                    with contextlib.suppress(Flaky):
                        lookup("same key")
        agentreel.flush()
    finally:
        agentreel.shutdown()
    store = Store.open(path, create=True)
    store.ingest()
    return store


def _check(store: Store, *only: str) -> CheckReport:
    return run_checks(
        store, current=Window(), baseline=False, config=CheckConfig(), only=only, env={}
    )


def _runs(report: CheckReport, check: str) -> list[str]:
    i = report.results.with_row_index("i").filter(pl.col("check") == check)["i"][0]
    failing = report.failures(int(i), limit=None)
    return [] if failing is None else sorted(failing["name"])


def test_loops_count_successes_and_retry_storms_count_failures_in_a_row(tmp_path: Path) -> None:
    with _record(tmp_path / "s") as store:
        report = _check(store, "loops", "retry_storm")
    assert _runs(report, "loops") == ["flaky_loop", "loop"]
    assert _runs(report, "retry_storm") == ["storm", "storm_no_luck"]
    rows = {r["check"]: r for r in report.rows()}
    assert (rows["loops"]["statistic"], rows["loops"]["message"]) == ("looping runs", "2 of 6")
    assert (rows["retry_storm"]["statistic"], rows["retry_storm"]["message"]) == (
        "retry-storm runs",
        "2 of 6",
    )
    i = report.results.with_row_index("i").filter(pl.col("check") == "retry_storm")["i"][0]
    storms = report.failures(int(i))
    assert storms is not None
    assert dict(storms.select("name", "max_failed_repeat").iter_rows()) == {
        "storm": 5,
        "storm_no_luck": 4,
    }
    assert set(storms["retry_tool"]) == {"lookup"}


def test_the_threshold_is_a_setting(tmp_path: Path) -> None:
    config = CheckConfig()
    config.settings["retry_storm"]["repeat"] = 3
    config.settings["loops"]["repeat"] = 3
    with _record(tmp_path / "s") as store:
        report = run_checks(
            store, current=Window(), baseline=False, config=config, only=["loops", "retry_storm"]
        )
    assert _runs(report, "retry_storm") == ["storm", "storm_no_luck"]
    assert _runs(report, "loops") == ["fine", "flaky_loop", "loop"]


def test_a_retry_storm_is_not_a_loop(store_of: Callable[..., Store], baseline_file: Path) -> None:
    store = store_of(regression="retry_storm")
    report = run_checks(store, current=Window(), baseline=str(baseline_file), config=CheckConfig())
    assert fired(report) == {
        "retry_storm": "error",
        "tool_error_rate": "error",  # the failed calls
        "numeric_drift": "warn",  # more steps
    }
    storm = report.results.filter(pl.col("check") == "retry_storm").row(0, named=True)
    assert 0.15 < storm["value"] < 0.25  # 20 % of runs


@pytest.mark.parametrize("seed", [0, 1000])
def test_the_demo_agent_retries_but_neither_loops_nor_storms(tmp_path: Path, seed: int) -> None:
    agentreel.init(tmp_path / "s", tracer_provider=TracerProvider())
    try:
        run_demo(200, seed=seed, latency=0)
    finally:
        agentreel.shutdown()
    with Store.open(tmp_path / "s", create=True) as store:
        store.ingest()
        report = _check(store, "loops", "retry_storm")
        # it does fetch the same page again after a timeout, in many runs
        retried = store.sql(
            "SELECT run_id FROM spans WHERE tool_name = 'fetch_page' GROUP BY run_id, input "
            "HAVING count(*) FILTER (WHERE status = 'error') > 0 AND count(*) >= 2"
        )
        assert retried.height > 20
    assert report.status == "pass"
    assert report.results["value"].to_list() == [0.0, 0.0]
