"""`Store.gc`, its second half: compact the DuckDB file.

DuckDB does not give back the space of deleted rows, so after removing runs the
store is copied into a fresh file (``ATTACH``, the schema, then each table's rows in
chunks) and that file renamed over the old one. The old file stays whole until the
new one is complete and checkpointed, so a gc killed at any point leaves one good
store: the old one, or the new one. A dry run makes the same copy, of the rows it
would keep, in a scratch file it measures and deletes. The store's connection (its
lock) is held throughout; the only moment another process may get in is after the
rename, when it opens the new file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from agentreel._errors import AgentreelError
from agentreel.store._archive import SEGMENT_ROWS_SQL, segment_rows
from agentreel.store._attach import ROW_GROUP_SIZE, hub_cursor
from agentreel.store._blobs import reached_sql

__all__ = ["clear_interrupted_compaction", "compact", "compacted_bytes", "kept_without"]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _estimate_files(db: Path) -> tuple[Path, Path]:
    tmp = db.with_name(f".{db.name}.estimate")
    return tmp, tmp.with_name(tmp.name + ".wal")


def _scratch(db: Path) -> tuple[Path, Path]:
    tmp = db.with_name(f".{db.name}.compact")
    return tmp, tmp.with_name(tmp.name + ".wal")


def clear_interrupted_compaction(db: Path) -> bool:
    """Remove what a gc killed before its rename left; True if there was something."""
    for f in _estimate_files(db):  # a dry run's scratch copy: nothing to redo
        f.unlink(missing_ok=True)
    found = False
    for f in _scratch(db):
        with contextlib.suppress(FileNotFoundError):
            f.unlink()
            found = True
    return found


#: Rows a compaction copies per statement: progress is told between statements.
COPY_CHUNK_ROWS = 32 * ROW_GROUP_SIZE

#: Per table, the rows a copy keeps: a condition on the source's rows and its parameters.
Kept = dict[str, tuple[str, dict[str, object]]]


def kept_without(
    run_ids: list[str], doomed: list[str], live: list[str], pending: list[str] | None = None
) -> Kept:
    """What `remove_runs` leaves of each table when it removes `run_ids`: the rows a
    copy keeps. Unqualified table names in the conditions are the store's."""
    if not run_ids:
        return {}
    gone: dict[str, object] = {"gone": run_ids}
    # an IN over the unnested list is a hash join; list_contains per row took seconds
    # for a million spans and ten thousand runs gone
    runs_kept = "NOT coalesce(run_id IN (SELECT unnest($gone::VARCHAR[])), false)"
    return {
        "spans": (runs_kept, gone),
        "runs": (runs_kept, gone),
        "span_content": (runs_kept.replace("run_id", "trace_id"), gone),
        "blobs": (f"hash IN ({reached_sql(runs_kept.replace('run_id', 'r.run_id'))})", gone),
        "processes": (
            "NOT coalesce(process_id NOT IN (SELECT DISTINCT process_id FROM spans "
            f"WHERE process_id IS NOT NULL AND {runs_kept}) "
            "AND NOT list_contains($live::VARCHAR[], process_id), false)",
            gone | {"live": live},
        ),
        "segments": (
            f"NOT coalesce(status = 'ingested' AND {SEGMENT_ROWS_SQL}, false)",
            dict(segment_rows(doomed, pending or [])),
        ),
    }


def _copy_into(
    con: duckdb.DuckDBPyConnection,
    target: str,
    kept: Kept,
    progress: Callable[[int], None] | None,
) -> None:
    """Copy the schema and the kept rows of the store on `con` into the attached `target`.

    Each table goes in insertion order, in chunks of rows by ``rowid``, so `progress`
    hears of the rows copied after each chunk.
    """
    row = con.execute("SELECT current_database()").fetchone()
    source = str(row[0]) if row else "main"
    con.execute(f'COPY FROM DATABASE "{source}" TO {target} (SCHEMA)')
    tables = [
        str(r[0])
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? ORDER BY table_name",
            [source],
        ).fetchall()
    ]
    for table in tables:
        where, params = kept.get(table, ("true", {}))
        row = con.execute(f'SELECT max(rowid) FROM "{source}"."{table}"').fetchone()
        last = int(row[0]) if row and row[0] is not None else -1
        for lo in range(0, last + 1, COPY_CHUNK_ROWS):
            n = con.execute(
                f'INSERT INTO {target}."{table}" SELECT * FROM "{source}"."{table}" '
                f"WHERE rowid >= {lo} AND rowid < {lo + COPY_CHUNK_ROWS} AND ({where})",
                params,
            ).fetchone()
            if progress is not None and n and n[0]:
                progress(int(n[0]))


def compacted_bytes(
    con: duckdb.DuckDBPyConnection,
    db: Path,
    kept: Kept,
    progress: Callable[[int], None] | None = None,
) -> int:
    """The size the store file would have compacted, keeping only the rows `kept` picks.

    Measured, not guessed: the copy a compaction makes is made into a scratch file next
    to the store, which is measured and deleted. DuckDB keeps the blocks of deleted rows,
    and its empty tables take blocks of their own, so no count of rows or bytes predicts
    the file as well. It costs about what the compaction costs, in time and disk;
    `progress` hears of the rows copied, as in `compact`.
    """
    files = _estimate_files(db)
    tmp = files[0]
    for f in files:
        f.unlink(missing_ok=True)
    quoted = str(tmp).replace("'", "''")
    con.execute(f"ATTACH '{quoted}' AS agentreel_estimate (ROW_GROUP_SIZE {ROW_GROUP_SIZE})")
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            _copy_into(con, "agentreel_estimate", kept, progress)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("DETACH agentreel_estimate")  # checkpoints the copy into its file
        return tmp.stat().st_size
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute("DETACH IF EXISTS agentreel_estimate")
        for f in files:
            f.unlink(missing_ok=True)


def compact(
    con: duckdb.DuckDBPyConnection,
    db: Path,
    reconnect: Callable[[Callable[[], None]], duckdb.DuckDBPyConnection],
    progress: Callable[[int], None] | None = None,
) -> None:
    """Copy the store on `con` into a fresh file and rename it over `db`.

    `reconnect(let_go_of_copy)` closes `con`, which detaches the old file, calls
    `let_go_of_copy`, and opens `db` again (waiting if another process got in
    first). Nothing else in this process may hold `db` open: it would keep the old
    file attached. `progress`, when given, is told the rows copied after each chunk.

    The copy stays attached (and so locked) while it is renamed over `db` and the
    old file is let go: a process that opened the new file while this one still had
    the old one attached under the same name lost its checkpoint ("MarkBlockAsModified
    called with already modified block"), and its write-ahead log no longer matched
    the file.
    """
    con.execute("CHECKPOINT")
    wal = db.with_name(db.name + ".wal")
    if wal.exists() and wal.stat().st_size:
        raise AgentreelError(
            f"cannot compact {db}: its write-ahead log did not empty on CHECKPOINT; "
            f"close other connections to it in this process and retry"
        )
    tmp, tmp_wal = _scratch(db)
    clear_interrupted_compaction(db)
    mark = f"{datetime.now(UTC).isoformat(timespec='seconds')} {secrets.token_hex(8)}"
    quoted = str(tmp).replace("'", "''")
    attached = False
    try:
        con.execute(f"ATTACH '{quoted}' AS agentreel_compact (ROW_GROUP_SIZE {ROW_GROUP_SIZE})")
        attached = True
        con.execute("BEGIN TRANSACTION")
        try:
            _copy_into(con, "agentreel_compact", {}, progress)
            con.execute(
                "INSERT OR REPLACE INTO agentreel_compact.meta VALUES ('compacted_at', ?)", [mark]
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("DETACH agentreel_compact")  # checkpoints the copy into its file
        attached = False
        if tmp_wal.exists():
            raise AgentreelError(f"cannot compact {db}: the copy did not checkpoint")
        os.chmod(tmp, 0o600)
        _fsync(tmp)
        con.execute(f"ATTACH '{quoted}' AS agentreel_compact (ROW_GROUP_SIZE {ROW_GROUP_SIZE})")
        attached = True
    except BaseException:
        if attached:
            with contextlib.suppress(duckdb.Error):
                con.execute("DETACH agentreel_compact")
        for f in (tmp, tmp_wal):
            f.unlink(missing_ok=True)
        raise
    hub = hub_cursor()  # `con` is closed by `reconnect`; this outlives it
    try:
        os.replace(tmp, db)
        _fsync(db.parent)
    except BaseException:
        hub.execute("DETACH agentreel_compact")
        tmp.unlink(missing_ok=True)
        hub.close()
        raise

    def let_go_of_copy() -> None:
        hub.execute("DETACH agentreel_compact")
        hub.close()

    new = reconnect(let_go_of_copy)
    row = new.execute("SELECT value FROM meta WHERE key = 'compacted_at'").fetchone()
    if not row or row[0] != mark:
        raise AgentreelError(
            f"compacted {db}, but another connection in this process still holds the old "
            f"file; close every Store on it before gc"
        )
