"""Windows: defaults that make sense with no arguments, time ranges, tags, and saved baselines."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from agentreel.checks import BaselineError, CheckConfig, CheckConfigError, Window, run_checks
from agentreel.checks._runner import default_windows
from agentreel.store import Store
from tests.checks._simulate import record_runs
from tests.checks.conftest import fired


def _two_weeks(path: Path, current_runs: int, regression: str | None = None) -> Store:
    """1,400 runs spread over the 7 days before the last 24 h, then `current_runs` in the
    last 24 h, recorded into one store."""
    now = datetime.now(UTC)
    record_runs(
        path,
        1400,
        seed=11,
        start=now - timedelta(days=8) + timedelta(minutes=5),
        every=timedelta(days=7) / 1400,
    )
    record_runs(
        path,
        current_runs,
        seed=12,
        regression=regression,
        start=now - timedelta(hours=23, minutes=55),
        every=timedelta(hours=23) / current_runs,
    )
    store = Store.open(path, create=True)
    store.ingest()
    return store


def test_default_windows_are_the_last_day_against_the_week_before(tmp_path: Path) -> None:
    with _two_weeks(tmp_path / "s", 200) as store:
        report = run_checks(store, config=CheckConfig(), env={})
    assert report.current["runs"] == 200
    assert report.baseline is not None
    assert report.baseline["runs"] == 1400
    # the same rate of runs, the same agent: nothing to report, and volume is judged
    assert fired(report) == {}
    volume = report.results.filter(pl.col("check") == "volume")
    assert volume["status"].to_list() == ["pass"]
    assert 0.8 < volume["value"][0] < 1.3
    # at n=200 the drift statistics are gated by their p-values
    drift = report.results.filter(pl.col("check") == "numeric_drift")
    assert drift["p_value"].is_not_null().all()
    assert (drift["alpha"] == 0.05).all()


def test_a_burst_of_runs_is_a_volume_anomaly(tmp_path: Path) -> None:
    with _two_weeks(tmp_path / "s", 1400) as store:
        report = run_checks(store, config=CheckConfig(), env={})
    # seven times the usual rate: past the error fold (5), reported as a warning (severity)
    assert fired(report) == {"volume": "warn"}
    row = report.results.filter(pl.col("check") == "volume").row(0, named=True)
    assert row["value"] > 5
    assert row["severity"] == "warn"


def test_a_regression_is_caught_in_the_default_windows(tmp_path: Path) -> None:
    with _two_weeks(tmp_path / "s", 300, regression="doubled_tokens") as store:
        report = run_checks(store, config=CheckConfig(), env={})
    assert fired(report) == {
        "tokens_per_run": "error",
        "cost_per_run": "error",
        "numeric_drift": "warn",
    }


def test_in_ci_every_run_is_checked_against_the_saved_baseline(
    tmp_path: Path, store_of: Callable[..., Store], baseline_file: Path
) -> None:
    config = CheckConfig(baseline_dir=tmp_path / "baselines")
    shutil.copy(baseline_file, tmp_path / "baselines.json")
    (tmp_path / "baselines").mkdir()
    shutil.copy(baseline_file, tmp_path / "baselines" / "main.json")
    current, baseline = default_windows(config, {"GITHUB_ACTIONS": "true"})
    assert current == Window()
    assert baseline == "main"
    store = store_of(regression="loop")
    report = run_checks(store, config=config, env={"CI": "true"})
    assert report.baseline is not None
    assert report.baseline["saved"] == "main"
    assert fired(report) == {"loops": "error", "numeric_drift": "warn"}


def test_in_ci_without_a_saved_baseline_the_comparisons_skip_and_say_how_to_save_one(
    tmp_path: Path, store_of: Callable[..., Store]
) -> None:
    config = CheckConfig(baseline_dir=tmp_path / "none")
    report = run_checks(store_of(runs=50), config=config, env={"CI": "1"})
    assert report.baseline is not None
    assert "agentreel baseline save main" in report.baseline["description"]
    skip = report.results.filter((pl.col("check") == "latency_p95") & (pl.col("status") == "skip"))
    assert skip["message"].to_list() == ["no baseline"]
    # absolute limits still apply without a baseline
    assert report.results.filter(pl.col("check") == "loops")["status"].to_list() == ["pass"]


def test_an_explicit_missing_baseline_is_an_error(
    store_of: Callable[..., Store], tmp_path: Path
) -> None:
    with pytest.raises(BaselineError, match=r"no saved baseline at .*nope\.json"):
        run_checks(store_of(runs=5), baseline=str(tmp_path / "nope.json"), config=CheckConfig())


def test_windows_by_tag_name_and_git_sha(tmp_path: Path) -> None:
    path = tmp_path / "s"
    record_runs(path, 30, seed=1, tags={"branch": "main"})
    record_runs(path, 20, seed=2, tags={"branch": "feature"})
    with Store.open(path, create=True) as store:
        store.ingest()
        store.sql(
            "UPDATE runs SET code_version = 'abc123def' WHERE json_extract_string(tags, '$.branch') = 'feature'"
        )
        report = run_checks(
            store,
            current=Window(tags={"branch": "feature"}),
            baseline=Window(tags={"branch": "main"}),
            config=CheckConfig(),
            only=["run_error_rate"],
        )
        assert (report.current["runs"], report.baseline["runs"]) == (20, 30)  # type: ignore[index]
        by_sha = run_checks(
            store,
            current=Window(git_sha="abc1"),
            baseline=False,
            config=CheckConfig(),
            only=["loops"],
        )
        assert by_sha.current["runs"] == 20
        by_name = run_checks(
            store, current=Window(name="res*"), baseline=False, config=CheckConfig(), only=["loops"]
        )
        assert by_name.current["runs"] == 50


def test_a_bad_age_is_a_clear_error(store_of: Callable[..., Store]) -> None:
    with pytest.raises(CheckConfigError, match="since='yesterday' is neither an age"):
        run_checks(
            store_of(runs=3),
            current=Window(since="yesterday"),
            baseline=False,
            config=CheckConfig(),
        )


def test_group_by_a_tag_and_a_root_span_attribute(store_of: Callable[..., Store]) -> None:
    config = CheckConfig()
    config.settings["run_error_rate"]["group_by"] = [
        "tags.segment",
        "attributes.agentreel.run.name",
    ]
    report = run_checks(
        store_of(runs=300), current=Window(), baseline=False, config=config, only=["run_error_rate"]
    )
    scopes = report.results.filter(pl.col("statistic") == "error rate")["scope"].to_list()
    assert scopes[0] == "all"
    assert sorted(scopes[1:]) == [
        "attributes.agentreel.run.name=research",
        "tags.segment=enterprise",
        "tags.segment=free",
        "tags.segment=pro",
    ]
    n = dict(report.results.select("scope", "n").iter_rows())
    assert n["all"] == n["attributes.agentreel.run.name=research"] == 300
    assert n["tags.segment=free"] + n["tags.segment=pro"] + n["tags.segment=enterprise"] == 300
