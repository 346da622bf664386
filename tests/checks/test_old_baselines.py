"""A baseline saved by an older agentreel lacks measures newer checks need.

Each check that needed what is missing says so, and how to save the baseline again,
instead of crashing or passing on nothing; the report's header says it too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from agentreel.checks import CheckConfig, CheckReport, Window, run_checks, save_baseline
from agentreel.store import Store
from tests.checks._simulate import record_runs

ROOT = Path(__file__).resolve().parents[2]
RESAVE = "save it again with `agentreel baseline save main --output "


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A fresh baseline of 200 runs, and a current window whose model calls are gone."""
    d = tmp_path_factory.mktemp("old")
    record_runs(d / "base", 200, seed=1)
    record_runs(d / "current", 200, seed=2, regression="no_llm_calls")
    with Store.open(d / "base") as base:
        base.ingest()
        path = save_baseline(base, "main", Window(), config=CheckConfig(), path=d / "main.json")
    with Store.open(d / "current") as current:
        current.ingest()
    return path, d / "current"


def _aged(fresh: Path, tmp_path: Path, age: Callable[[dict[str, dict[str, object]]], None]) -> Path:
    body = json.loads(fresh.read_text())
    age(body["measures"])
    old = tmp_path / "main.json"
    old.write_text(json.dumps(body))
    return old


def _check(store: Path, baseline: Path) -> CheckReport:
    with Store.open(store) as s:
        return run_checks(s, current=Window(), baseline=str(baseline), config=CheckConfig())


def _rows(report: CheckReport, check: str) -> pl.DataFrame:
    return report.results.filter(pl.col("check") == check)


def test_a_fresh_baseline_catches_the_missing_model_calls(stores: tuple[Path, Path]) -> None:
    fresh, current = stores
    report = _check(current, fresh)
    llm = _rows(report, "missing_data").filter(pl.col("scope") == "kind=llm")
    assert llm["status"].to_list() == ["error"]
    assert "no measure" not in str(report.baseline)


def test_a_baseline_without_call_counts_says_it_predates_them(
    stores: tuple[Path, Path], tmp_path: Path
) -> None:
    _, current = stores
    old = _aged(stores[0], tmp_path, lambda m: m["missing_data"].pop("calls"))
    report = _check(current, old)
    rows = _rows(report, "missing_data")
    calls = rows.filter(pl.col("statistic") == "calls of each kind").row(0, named=True)
    assert calls["status"] == "skip"
    assert calls["message"].startswith("the saved baseline main (saved 20")
    assert f"predates missing_data's calls; {RESAVE}{old}`" in calls["message"]
    assert "error" not in set(rows["status"])  # no verdict on counts it does not have
    assert report.baseline is not None
    assert f"it has no measure of missing_data: {RESAVE}{old}`" in report.baseline["description"]


def test_a_baseline_without_the_check_says_so(stores: tuple[Path, Path], tmp_path: Path) -> None:
    _, current = stores
    checks = ("missing_data", "latency_p50", "retry_storm", "span_schema")
    old = _aged(stores[0], tmp_path, lambda m: [m.pop(c) for c in checks])
    report = _check(current, old)
    # the header names the checks that lacked a comparison: retry_storm's limits and
    # span_schema's rules need no baseline, so they were judged in full
    assert report.baseline is not None
    assert "it has no measure of missing_data, latency_p50: " in report.baseline["description"]
    for check in ("retry_storm", "span_schema"):
        assert set(_rows(report, check)["status"]) == {"pass"}
    for check in ("missing_data", "latency_p50"):
        skipped = _rows(report, check).filter(pl.col("status") == "skip")
        assert skipped.height >= 1
        for message in skipped["message"]:
            assert f"has no measure of {check} (it predates the check" in message
            assert RESAVE in message
    # rows that need no baseline are still judged
    runs = _rows(report, "missing_data").filter(pl.col("statistic") == "runs")
    assert runs["status"].to_list() == ["pass"]


def test_a_baseline_that_did_not_count_a_kind_says_so(
    stores: tuple[Path, Path], tmp_path: Path
) -> None:
    _, current = stores
    old = _aged(stores[0], tmp_path, lambda m: m["missing_data"]["calls"].pop("llm"))  # type: ignore[attr-defined]
    report = _check(current, old)
    llm = _rows(report, "missing_data").filter(pl.col("scope") == "kind=llm").row(0, named=True)
    assert llm["status"] == "skip"
    assert llm["message"].startswith("the baseline did not count LLM calls")
    assert llm["message"].endswith("; save it again")


def test_the_cli_says_so_without_a_traceback(stores: tuple[Path, Path], tmp_path: Path) -> None:
    fresh, current = stores
    old = _aged(fresh, tmp_path, lambda m: m["missing_data"].pop("calls"))
    r = subprocess.run(
        [
            *(sys.executable, "-m", "agentreel", "check", "--dir", str(current)),
            *("--baseline", str(old), "--only", "missing_data", "--no-save"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)},
    )
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert f"predates missing_data's calls; {RESAVE}{old}`" in r.stdout
