"""The ``check_results`` migration: a store made at schema version 1 moves forward, data kept."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from agentreel.checks import CheckConfig, Window, run_checks
from agentreel.checks._save import results_rows
from agentreel.store import DB_NAME, SCHEMA_VERSION, Store
from agentreel.store._schema import MIGRATIONS


def _v1_store(path: Path) -> None:
    path.mkdir()
    con = duckdb.connect(str(path / DB_NAME))
    con.execute(MIGRATIONS[0])
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    cols = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'spans'"
        ).fetchall()
    }
    extra = ", 1 AS ingest_id" if "ingest_id" in cols else ""
    con.execute(
        "INSERT INTO spans BY NAME SELECT 'a' || repeat('0', 31) AS run_id, 'a' || repeat('0', 31) AS trace_id, "
        "'b' || repeat('0', 15) AS span_id, 'old run' AS name, 'chain' AS kind, TIMESTAMP_NS '2026-01-01 00:00:00' AS start_time, "
        "TIMESTAMP_NS '2026-01-01 00:00:01' AS end_time, 1000.0 AS duration_ms, 'unset' AS status"
        + extra
    )
    con.execute(
        "INSERT INTO runs BY NAME SELECT 'a' || repeat('0', 31) AS run_id, 'old run' AS name, "
        "TIMESTAMP_NS '2026-01-01 00:00:00' AS start_time, TIMESTAMP_NS '2026-01-01 00:00:01' AS end_time, "
        "1000.0 AS duration_ms, 'ok' AS status, 1 AS span_count, 0 AS agent_count, 0 AS llm_count, "
        "0 AS tool_count, 0 AS retriever_count, 0 AS error_count"
    )
    con.close()


def test_a_version_1_store_migrates_forward_keeping_its_data(tmp_path: Path) -> None:
    assert SCHEMA_VERSION >= 2
    _v1_store(tmp_path / "s")
    with Store.open(tmp_path / "s", read_only=True) as old:
        # a read-only open leaves it alone; there is no history yet, and that is not an error
        assert old.sql("SELECT value FROM meta")["value"].to_list() == ["1"]
        assert old.check_results().is_empty()
    with Store.open(tmp_path / "s") as store:
        assert store.sql("SELECT value FROM meta WHERE key = 'schema_version'")["value"][0] == str(
            SCHEMA_VERSION
        )
        assert store.runs()["name"].to_list() == ["old run"]
        assert store.sql("SELECT count(*) n FROM spans")["n"][0] == 1
        report = run_checks(
            store,
            current=Window(),
            baseline=False,
            config=CheckConfig(),
            only=["run_schema", "loops"],
        )
        assert store.save_check_results(results_rows(report)) == report.results.height
        saved = store.check_results(check_run_id=report.id)
        assert saved.height == report.results.height
        assert set(saved["check_name"]) == {"run_schema", "loops"}
        assert saved.schema["checked_at"] == pl.Datetime("ns")
