"""``--engine spark``: the same checks over a Parquet dataset give the same report as DuckDB.

One local SparkSession for the module and a small dataset with regressions that make
checks warn and fail, so the comparison covers statistics that matter, not only skips.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from agentreel.checks import (
    CheckReport,
    MetricCheck,
    Window,
    github_annotations,
    run_checks,
    to_junit_xml,
)
from agentreel.checks._spark import spark_available
from agentreel.store import Store, export_parquet
from tests.checks._simulate import record_runs

ROOT = Path(__file__).resolve().parents[2]
MISSING = spark_available()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"no Spark here: {MISSING}")


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("agentreel-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.driver.memory", "512m")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A baseline week of clean runs, and a current day with loops, retry storms,
    truncated and empty answers, a new tool and a segment that fares worse."""
    d = tmp_path_factory.mktemp("spark")
    store_dir = d / "store"
    now = datetime.now(UTC)
    record_runs(store_dir, 40, seed=1, start=now - timedelta(days=5), every=timedelta(hours=2))
    for i, regression in enumerate(
        ["loop", "retry_storm", "truncated", "empty_output", "new_tool", "worse_for_free"]
    ):
        record_runs(
            store_dir,
            8,
            seed=10 + i,
            regression=regression,
            start=now - timedelta(hours=10 - i),
            every=timedelta(minutes=3),
        )
    with Store.open(store_dir, create=True) as store:
        store.ingest()
        # rows of the current day that break the row contracts, one rule each
        recent = "start_time > (SELECT max(start_time) FROM spans) - INTERVAL 12 HOUR"
        for change, kind, limit in [
            ("input_tokens = -5", "llm", 3),
            ("kind = 'robot'", "tool", 2),
            ("end_time = start_time - INTERVAL 1 SECOND", "llm", 2),
            ("trace_id = '0123456789abcdef0123456789abcdef'", "tool", 1),
        ]:
            store.sql(
                f"UPDATE spans SET {change} WHERE span_id IN (SELECT span_id FROM spans "
                f"WHERE kind = '{kind}' AND {recent} ORDER BY span_id DESC LIMIT {limit})"
            )
        runs = "(SELECT run_id FROM runs WHERE status = 'ok' AND " + recent
        store.sql(f"UPDATE runs SET cost_usd = -1 WHERE run_id IN {runs} ORDER BY run_id LIMIT 2)")
        store.sql(
            "UPDATE runs SET status = 'error', error_count = 0 WHERE run_id IN "
            f"{runs} ORDER BY run_id DESC LIMIT 1)"
        )
        for j, rid in enumerate(store.runs(limit=12)["run_id"].to_list()):
            store.evaluate(rid, "helpfulness", score=0.2 + 0.05 * j, source="user:test")
        export_parquet(store, d / "ds")
    return d / "ds"


def _both(ds: Path, **kw: Any) -> tuple[CheckReport, CheckReport]:
    with Store.open(ds) as store:
        duck = run_checks(store, **kw)
        spark = run_checks(store, engine="spark", **kw)
    return duck, spark


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def _rows(failures: pl.DataFrame | None) -> list[str]:
    """The failing rows, as sorted JSON lines (the engines may list them in another order).

    A row contract's failing span carries its row as JSON, with ``args_hash``: each engine
    hashes tool inputs its own way (docs/scaling.md), so that field is left out.
    """
    if failures is None:
        return []
    rows = failures.to_dicts()
    for r in rows:
        case = r.get("failure_case")
        if isinstance(case, str) and case.startswith("{"):
            whole = json.loads(case)
            whole.pop("args_hash", None)
            r["failure_case"] = whole
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)


def test_the_spark_engine_gives_the_duckdb_engines_report_check_by_check(
    spark: Any, dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)  # bounded: both measure the same hours
    day = now - timedelta(days=1)
    windows = {
        "current": Window(since=day, until=now),
        "baseline": Window(since=day - timedelta(days=6), until=day),
    }
    with Store.open(dataset) as store:
        duck = run_checks(store, **windows)
        # the row contracts are validated in Spark, not by the polars models
        from agentreel.checks import _contracts

        def polars_validation(*_: Any) -> None:
            raise AssertionError("the spark engine validated rows with the polars models")

        monkeypatch.setattr(_contracts, "contract_failures", polars_validation)
        sparked = run_checks(store, engine="spark", **windows)
        monkeypatch.undo()
    broken = {
        f"{r['check']} / {r['scope']}"
        for r in duck.results.filter(pl.col("check").str.ends_with("_schema")).to_dicts()
    }
    assert broken >= {
        "span_schema / input_tokens: greater_than_or_equal_to(0)",
        "span_schema / end_not_before_start",
        "span_schema / run_is_trace",
        "run_schema / cost_usd: greater_than_or_equal_to(0)",
        "run_schema / failed_run_has_error",
    }, broken
    assert any(b.startswith("span_schema / kind: isin(") for b in broken), broken
    assert duck.current["runs"] == sparked.current["runs"] == 48
    assert duck.baseline == sparked.baseline
    statuses = set(duck.results["status"].to_list())
    assert {"pass", "warn", "error"} <= statuses, statuses  # checks that matter fired
    assert duck.results.columns == sparked.results.columns
    assert duck.results.height == sparked.results.height
    for i, (a, b) in enumerate(
        zip(duck.results.iter_rows(named=True), sparked.results.iter_rows(named=True), strict=True)
    ):
        where = f"{a['check']} / {a['scope']} / {a['statistic']}"
        for col, value in a.items():
            assert _same(value, b[col]), f"{where}: {col} {value!r} != {b[col]!r}"
        mine, theirs = duck.failures(i, limit=None), sparked.failures(i, limit=None)
        assert _rows(mine) == _rows(theirs), where
    assert duck.status == sparked.status
    assert duck.exit_code() == sparked.exit_code()
    assert github_annotations(duck) == github_annotations(sparked)

    def junit(report: CheckReport) -> str:
        """The XML without the times, numbers to 12 digits (Spark lists rows in another
        order, so a sum may differ in its last binary digit), and without the tables of
        failing rows: a failing span's row holds `args_hash`, each engine's own hash, whose
        length changes the table's widths (the failing rows themselves are compared
        above, with that one field left out)."""
        xml = re.sub(r' (time|timestamp)="[^"]*"', "", to_junit_xml(report, "warn"))
        xml = "\n".join(line for line in xml.split("\n") if not re.search("[│┆─═┌┐└┘╞╡╭╮╰╯]", line))
        return re.sub(r"\d+\.\d{6,}(e-?\d+)?", lambda m: f"{float(m.group()):.12g}", xml)

    assert junit(duck) == junit(sparked)
    assert "<failure" in junit(duck)


def test_the_spark_contracts_have_the_polars_contracts_columns_and_checks() -> None:
    from agentreel.checks import RunModel, SpanModel
    from agentreel.checks._spark_contracts import ROW_RULES, SparkRunModel, SparkSpanModel

    def rules(model: Any) -> tuple[list[Any], list[str]]:
        schema = model.to_schema()
        columns = [
            (name, c.nullable, [(k.name, k.error, k.statistics) for k in c.checks])
            for name, c in schema.columns.items()
        ]
        return columns, [k.name for k in schema.checks]

    for polars_model, spark_model in [(SpanModel, SparkSpanModel), (RunModel, SparkRunModel)]:
        assert rules(polars_model) == rules(spark_model)
        assert set(rules(spark_model)[1]) <= set(ROW_RULES)


def test_a_window_by_tag_and_name_selects_the_same_runs(spark: Any, dataset: Path) -> None:
    duck, sparked = _both(
        dataset,
        current=Window(tags={"segment": "free"}, name="res*"),
        baseline=False,
        only=["run_error_rate", "loops", "tool_args"],
    )
    assert 0 < duck.current["runs"] == sparked.current["runs"] < 88
    assert duck.results.equals(sparked.results)


def test_checks_it_cannot_run_are_named_and_a_store_is_refused(spark: Any, dataset: Path) -> None:
    from agentreel.checks import CheckError

    sql_check = MetricCheck("mean_cost_sql", sql="avg(cost_usd)", max_warn=1.0)
    with (
        Store.open(dataset) as store,
        pytest.raises(CheckError, match="mean_cost_sql is not available on the spark engine"),
    ):
        run_checks(store, engine="spark", checks=[sql_check], current=Window(), baseline=False)
    # a DuckDB store is refused before Spark starts, with the way to make a dataset
    store_dir = str(dataset.parent / "store")
    r = subprocess.run(
        [sys.executable, "-m", "agentreel", "check", "--engine", "spark", "--dir", store_dir],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert r.returncode == 2
    assert "the spark engine reads a Parquet dataset" in r.stderr
    assert "agentreel export --format parquet" in r.stderr
    assert "Traceback" not in r.stderr
