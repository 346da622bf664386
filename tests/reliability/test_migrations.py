"""Every schema migration, from a store made at each older version, keeps what was in it.

Generic over `MIGRATIONS`: for each version v below the current one, a store is
built by applying ``MIGRATIONS[:v]`` as that agentreel did, a row is put in every
table (values made from each column's type), and the current code opens it. A new
migration is covered the day it is appended. tests/checks/test_store_migration.py
checks what version 2 added in depth.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel.store import DB_NAME, SCHEMA_VERSION, Store
from agentreel.store._schema import MIGRATIONS, RUNS_REBUILT_AT


def _value(column: str, type_: str, v: int) -> Any:
    """A value of `type_` that differs per version `v` and says where it came from."""
    t = type_.upper()
    if column == "run_id" or column.endswith("trace_id"):
        return f"{v:032x}"
    if column.endswith("span_id"):
        return f"{v:016x}"
    if t.startswith("TIMESTAMP"):
        return datetime(2026, 1, v, 12, 0, 0)
    if t in ("BIGINT", "INTEGER", "UBIGINT", "SMALLINT"):
        return 1000 + v
    if t in ("DOUBLE", "FLOAT") or t.startswith("DECIMAL"):
        return 0.5 + v
    if t == "BOOLEAN":
        return True
    if t == "JSON":
        return f'{{"made_at_version": {v}}}'
    return f"{column} at v{v}"


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    rows = con.execute(
        # the store's own tables: not the temporary ones a migration step leaves behind
        "SELECT table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE schema_name = 'main' AND database_name = current_database() AND table_name IN "
        "(SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
        "AND database_name = current_database() AND NOT temporary) "
        "ORDER BY table_name, column_index"
    ).fetchall()
    out: dict[str, list[tuple[str, str]]] = {}
    for table, column, type_ in rows:
        out.setdefault(table, []).append((column, type_))
    return out


def _store_at(path: Path, v: int) -> dict[str, dict[str, Any]]:
    """A store at schema version `v` with one row in each table; returns the rows."""
    path.mkdir(parents=True)
    con = duckdb.connect(str(path / DB_NAME))
    for m in MIGRATIONS[:v]:
        con.execute(m)
    con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(v)])
    rows: dict[str, dict[str, Any]] = {}
    for table, cols in _tables(con).items():
        if table == "meta":
            continue
        row = {c: _value(c, t, v) for c, t in cols}
        if table == "runs":
            row["status"] = "ok"
        con.execute(
            f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            list(row.values()),
        )
        rows[table] = row
    con.close()
    return rows


@pytest.mark.parametrize("v", range(1, SCHEMA_VERSION))
def test_a_store_made_at_an_older_version_migrates_forward_keeping_its_rows(
    tmp_path: Path, v: int
) -> None:
    store_dir = tmp_path / f"v{v}"
    before = _store_at(store_dir, v)
    assert before, "an old store with no tables tests nothing"
    with Store.open(store_dir) as store:
        version = store.sql("SELECT value FROM meta WHERE key = 'schema_version'")["value"]
        assert version.to_list() == [str(SCHEMA_VERSION)]
        for table, row in before.items():
            if table == "runs" and v < RUNS_REBUILT_AT:
                continue  # derived from the spans: rebuilt, checked below
            got = store.sql(f"SELECT {', '.join(row)} FROM {table}").to_dicts()
            assert len(got) == 1, table
            for column, want in row.items():
                if (table, column) == ("spans", "usage_counted") and v < RUNS_REBUILT_AT:
                    continue  # derived from the spans when the runs are rebuilt
                have = got[0][column]
                if isinstance(want, str) and want.startswith("{"):
                    have = have.replace(" ", "")
                    want = want.replace(" ", "")
                assert have == want, (table, column)
        # tables added since are there, and the current code reads and writes the store
        assert set(_tables(store._con)) >= set(before)
        assert store.runs()["run_id"].to_list() == [f"{v:032x}"]
        run = store.run(f"{v:032x}")
        if v < RUNS_REBUILT_AT:
            # the one span has a parent that is not in the store: a run without its root
            assert (run["span_count"], run["name"]) == (1, "(no root span)")
        old_name = run["name"]
    agentreel.init(store_dir, tracer_provider=TracerProvider())
    try:
        with agentreel.run("after the migration"):
            pass
    finally:
        agentreel.shutdown()
    with Store.open(store_dir) as store:
        assert store.ingest().spans == 1
        assert sorted(store.runs()["name"].to_list()) == sorted(["after the migration", old_name])


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_store_of_a_newer_version_is_refused_and_left_byte_for_byte(tmp_path: Path) -> None:
    store_dir = tmp_path / "newer"
    Store.open(store_dir, create=True).close()
    db = store_dir / DB_NAME
    con = duckdb.connect(str(db))
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    con.execute("CREATE TABLE from_the_future (x INTEGER)")
    con.close()  # checkpointed: everything is in the file, no WAL
    wal = db.with_name(DB_NAME + ".wal")
    assert not wal.exists()
    digest = _digest(db)
    for read_only in (False, True):
        with pytest.raises(agentreel.StoreVersionError) as e:
            Store.open(store_dir, read_only=read_only)
        assert str(e.value) == (
            f"the store at {db} has schema version {SCHEMA_VERSION + 1}, newer than this "
            f"agentreel understands ({SCHEMA_VERSION}); upgrade agentreel to read it"
        )
        assert _digest(db) == digest
        assert not wal.exists()
