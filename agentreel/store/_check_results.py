"""The ``check_results`` table: what each check run found, kept for history.

The store only keeps these rows; `agentreel.checks` makes them. A row per check,
scope and statistic of one check run (``check_run_id``), with its status, value,
limits and up to 20 failing rows as JSON.
"""

from __future__ import annotations

import duckdb
import polars as pl

from agentreel.store._attach import cursor

__all__ = ["append_check_results", "read_check_results"]


def _has_table(con: duckdb.DuckDBPyConnection) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'check_results' "
        "AND schema_name = 'main' AND database_name = current_database()"
    ).fetchall()  # fetch to the end: duckdb 2.0 refuses new work on an unread result
    return bool(rows and rows[0][0])


def append_check_results(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame) -> int:
    """Insert `rows` (columns named as the table's) in one transaction; returns how many."""
    cur = cursor(con)
    try:
        cur.register("check_rows", rows.to_arrow())
        cur.execute("BEGIN TRANSACTION")
        cur.execute("INSERT INTO check_results BY NAME SELECT * FROM check_rows")
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    finally:
        cur.close()
    return rows.height


def read_check_results(
    con: duckdb.DuckDBPyConnection,
    *,
    check_run_id: str | None = None,
    check: str | None = None,
    limit: int | None = None,
) -> pl.DataFrame:
    """Stored check results, newest check run first (empty in a store older than the table)."""
    cur = cursor(con)
    try:
        if not _has_table(cur):
            return pl.DataFrame()
        where, params = [], {}
        if check_run_id is not None:
            where.append("check_run_id = $id")
            params["id"] = check_run_id
        if check is not None:
            where.append("check_name = $check")
            params["check"] = check
        q = "SELECT * FROM check_results"
        if where:
            q += " WHERE " + " AND ".join(where)
        q += " ORDER BY checked_at DESC, check_run_id"
        if limit is not None:
            q += f" LIMIT {int(limit)}"
        frame: pl.DataFrame = cur.sql(q, params=params).pl()
        return frame
    finally:
        cur.close()
