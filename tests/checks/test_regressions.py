"""The checks catch what they claim: injected regressions fire exactly the right checks.

Each test records 1,000 simulated runs with one known change through the real
recorder and compares them with a saved baseline of 1,000 clean runs. One check
fails at error level for each change, two where the change is two things (a failing
tool that also fails its runs, a retry storm whose calls fail, doubled tokens that
cost double); the drift checks may warn beside it, where the change moved the
distribution they watch. Recordings of real agents are checked in test_corpus.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from agentreel.checks import CheckConfig, CheckReport, Window, run_checks
from agentreel.store import Store
from tests.checks.conftest import fired

#: What each regression must fire: {check: worst status}. Nothing else may warn or fail.
EXPECTED: dict[str | None, dict[str, str]] = {
    # a slower tool: that tool's latency quantiles, and the runs' duration distribution
    "slower_tool": {"latency_p50": "error", "latency_p95": "error", "numeric_drift": "warn"},
    # doubled tokens: tokens and cost per run double, and their distributions move
    "doubled_tokens": {"tokens_per_run": "error", "cost_per_run": "error", "numeric_drift": "warn"},
    # a new error: failed runs and tool calls; failed runs stop early, so they are
    # shorter, cheaper and take fewer steps (the distributions move)
    "new_error": {"run_error_rate": "error", "tool_error_rate": "error", "numeric_drift": "warn"},
    # a flaky tool, retried until it answers: its failed calls; the retries are more
    # steps per run (the distribution moves), and the runs still succeed
    "flaky_tool": {"tool_error_rate": "error", "numeric_drift": "warn"},
    # more failed runs, with no tool failing; failed runs skip their last model calls,
    # so they are shorter and cheaper (the distributions move)
    "run_errors": {"run_error_rate": "error", "numeric_drift": "warn"},
    # a new tool in the mix, as fast and as reliable as the one it replaced
    "new_tool": {"categorical_drift": "warn"},
    # a loop: looping runs, and the steps distribution
    "loop": {"loops": "error", "numeric_drift": "warn"},
    # a retry storm: runs in one, the failed tool calls, and the steps distribution; the
    # identical calls failed, so they are no loop
    "retry_storm": {"retry_storm": "error", "tool_error_rate": "error", "numeric_drift": "warn"},
    # a model swap to a dearer model: the model mix, and cost
    "model_swap": {"categorical_drift": "warn", "cost_per_run": "error", "numeric_drift": "warn"},
    # answers cut at the token limit: truncated outputs, and the finish-reason mix
    "truncated": {"truncated_output": "error", "categorical_drift": "warn"},
    "empty_output": {"empty_output": "error"},
    # the model calls are gone: missing calls, and the model mix, tokens and steps with them
    "no_llm_calls": {
        "missing_data": "error",
        "categorical_drift": "warn",
        "numeric_drift": "warn",
    },
}


def check(store: Store, baseline: Path, **kw: object) -> CheckReport:
    return run_checks(
        store,
        current=Window(),
        baseline=str(baseline),
        config=CheckConfig(),
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_a_clean_change_fires_nothing(
    seed: int, store_of: Callable[..., Store], baseline_file: Path
) -> None:
    report = check(store_of(seed=seed), baseline_file)
    assert fired(report) == {}
    assert report.status == "pass"
    assert report.exit_code() == 0
    # everything was judged but group_disparity (no groups configured), volume (the
    # current window is not a time range), and what the simulated runs do not have:
    # sessions and evaluations
    skipped = report.results.filter(pl.col("status") == "skip")["check"].unique().sort()
    assert skipped.to_list() == [
        "evaluation_below",
        "group_disparity",
        "session_failure_rate",
        "volume",
    ]


@pytest.mark.parametrize("regression", list(EXPECTED))
def test_an_injected_regression_fires_exactly_the_right_checks(
    regression: str, store_of: Callable[..., Store], baseline_file: Path
) -> None:
    report = check(store_of(regression=regression), baseline_file)
    assert fired(report) == EXPECTED[regression]
    assert report.exit_code() == (1 if "error" in EXPECTED[regression].values() else 0)


def rows(report: CheckReport, check: str) -> pl.DataFrame:
    return report.results.with_row_index("i").filter(
        (pl.col("check") == check) & pl.col("status").is_in(["warn", "error"])
    )


def test_a_slower_tool_is_named_and_its_slowest_calls_listed(
    store_of: Callable[..., Store], baseline_file: Path
) -> None:
    report = check(store_of(regression="slower_tool"), baseline_file)
    bad = rows(report, "latency_p95")
    assert bad["scope"].to_list() == ["tool=fetch_page"]
    value, base = bad["value"][0], bad["baseline"][0]
    assert 3.5 < value / base < 4.5  # four times slower, measured
    slowest = report.failures(int(bad["i"][0]))
    assert slowest is not None
    assert set(slowest["tool"]) == {"fetch_page"}
    assert slowest["duration_ms"].to_list() == sorted(slowest["duration_ms"], reverse=True)
    drift = rows(report, "numeric_drift")
    assert set(drift["scope"]) == {"duration_ms"}


def test_a_new_error_is_pinned_on_its_tool(
    store_of: Callable[..., Store], baseline_file: Path
) -> None:
    report = check(store_of(regression="new_error"), baseline_file)
    tool = rows(report, "tool_error_rate").filter(pl.col("status") == "error")
    assert tool["scope"].to_list() == ["tool=fetch_page"]
    failing = report.failures(int(tool["i"][0]), limit=None)
    assert failing is not None
    assert set(failing["error_type"]) >= {"RateLimitError"}
    runs = rows(report, "run_error_rate")
    # the rise over the baseline is an error; the absolute rate (about 15 %) a warning
    assert dict(runs.select("statistic", "status").iter_rows()) == {
        "error rate": "warn",
        "error rate vs baseline": "error",
    }
    assert runs["p_value"][1] < 1e-6


def test_loops_list_the_looping_runs_and_the_tool(
    store_of: Callable[..., Store], baseline_file: Path
) -> None:
    report = check(store_of(regression="loop"), baseline_file)
    loop = rows(report, "loops")
    assert 0.15 < loop["value"][0] < 0.25  # 20 % of runs loop
    runs = report.failures(int(loop["i"][0]), limit=None)
    assert runs is not None
    assert runs.height == round(loop["value"][0] * loop["n"][0])
    assert set(runs["loop_tool"]) == {"web_search"}
    assert runs["max_repeat"].min() >= 7  # the first call and six repeats


def test_a_model_swap_names_the_new_model(
    store_of: Callable[..., Store], baseline_file: Path
) -> None:
    report = check(store_of(regression="model_swap"), baseline_file)
    drift = rows(report, "categorical_drift")
    assert dict(drift.select("statistic", "scope").iter_rows()) == {
        "js distance": "model",
        "new values": "model",
    }
    new = drift.filter(pl.col("statistic") == "new values")
    assert new["value"][0] == 1.0
    assert "gpt-4.1" in new["message"][0]


def test_group_disparity_flags_the_group_served_worse(store_of: Callable[..., Store]) -> None:
    config = CheckConfig()
    config.settings["group_disparity"]["by"] = ["tags.segment"]
    store = store_of(regression="worse_for_free")
    report = run_checks(
        store, current=Window(), baseline=False, config=config, only=["group_disparity"]
    )
    bad = report.results.filter(pl.col("status") != "pass")
    # the free segment fails, refuses and waits more: each is below four fifths of the best
    assert sorted(bad.select("scope", "statistic", "status").iter_rows()) == [
        ("tags.segment=free", "latency impact ratio", "warn"),
        ("tags.segment=free", "refusal impact ratio", "warn"),
        ("tags.segment=free", "success impact ratio", "warn"),
    ]
    assert (bad["value"] < 0.8).all()
    assert (bad["p_value"] < 0.001).all()


def test_group_disparity_is_quiet_when_groups_are_served_alike(
    store_of: Callable[..., Store],
) -> None:
    config = CheckConfig()
    config.settings["group_disparity"]["by"] = ["tags.segment"]
    report = run_checks(
        store_of(seed=5), current=Window(), baseline=False, config=config, only=["group_disparity"]
    )
    assert set(report.results["status"]) == {"pass"}
    assert report.results.height == 12  # 3 segments x 4 measures
