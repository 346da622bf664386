"""`Store.gc`: remove old runs, then compact the DuckDB file.

DuckDB does not give back the space of deleted rows, so after removing runs the
store is copied into a fresh file (``ATTACH``, the schema, then each table's rows in
chunks) and that file renamed over the old one. The old file stays whole until the
new one is complete and checkpointed, so a gc killed at any point leaves one good
store: the old one, or the new one. A dry run makes the same copy, of the rows it
would keep, in a scratch file it measures and deletes. The store's connection (its lock) is held throughout;
the only moment another process may get in is after the rename, when it opens the
new file.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from agentreel._errors import AgentreelError
from agentreel._spool import SpoolPaths
from agentreel.store._archive import segment_name
from agentreel.store._attach import ROW_GROUP_SIZE, hub_cursor
from agentreel.store._blobs import REFS_OF_SPANS, prune, reached_sql
from agentreel.store._markers import live_processes

__all__ = [
    "GcReport",
    "clear_interrupted_compaction",
    "compact",
    "compacted_bytes",
    "doomed_segments",
    "estimated_bytes",
    "kept_without",
    "parse_size",
    "remove_runs",
    "select_runs",
]

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}

#: Rough bytes a span row costs beyond its text columns (ids, times, numbers).
_ROW_BYTES = 150

#: A run is removable unless its root is still open in a live process.
_REMOVABLE = "NOT (status = 'running' AND process_id IS NOT NULL AND list_contains($live::VARCHAR[], process_id))"


@dataclass
class GcReport:
    """What `Store.gc` removed (or, in a dry run, would remove)."""

    dry_run: bool = False
    #: ids of the runs removed, oldest first
    runs: list[str] = field(default_factory=list)
    spans: int = 0
    #: archived spool segments deleted (spool/archive/)
    segments: int = 0
    bytes_before: int = 0
    #: the DuckDB file's size afterwards (an estimate in a dry run)
    bytes_after: int = 0
    #: with a size limit: whether the file fits under it now (or would)
    fits: bool | None = None
    compacted: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "runs": len(self.runs),
            "run_ids": self.runs,
            "spans": self.spans,
            "segments": self.segments,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "fits": self.fits,
            "compacted": self.compacted,
            "seconds": round(self.seconds, 3),
        }


def parse_size(v: int | str) -> int:
    """Bytes from ``500MB``, ``1.5GiB``, ``200kb`` or a plain number of bytes."""
    if isinstance(v, int):
        n = v
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", v)
        unit = m.group(2).lower() if m else ""
        if not m or unit not in _UNITS:
            raise AgentreelError(
                f"size {v!r} is not a size like 500MB, 2GB, 750MiB or a number of bytes"
            )
        n = int(float(m.group(1)) * _UNITS[unit])
    if n <= 0:
        raise AgentreelError(f"size {v!r} must be more than 0 bytes")
    return n


_SPAN_BYTES = f"""({_ROW_BYTES} + coalesce(strlen(input), 0)
    + coalesce(strlen(output), 0)
    + coalesce(strlen(attributes::VARCHAR), 0)
    + coalesce(strlen(events::VARCHAR), 0))"""


# The content-addressed nodes each run's inputs reach (a node shared by runs counts for
# each of them).
_RUN_BLOBS = f"""
    WITH RECURSIVE c(run_id, hash, prev, bytes) AS (
        SELECT r.run_id, b.hash, b.prev, b.bytes
        FROM ({REFS_OF_SPANS}) r JOIN blobs b USING (hash)
        UNION
        SELECT c.run_id, b.hash, b.prev, b.bytes FROM c JOIN blobs b ON b.hash = c.prev
    )
    SELECT run_id, sum(bytes) AS bytes FROM c GROUP BY run_id
"""


def estimated_bytes(con: duckdb.DuckDBPyConnection, excluded: list[str]) -> int:
    """Estimated bytes of the span rows, and the nodes they reach, of every run not in `excluded`."""
    row = con.execute(
        f"""
        SELECT (SELECT coalesce(sum({_SPAN_BYTES}), 0) FROM spans
                WHERE NOT list_contains($excluded::VARCHAR[], run_id))
             + (SELECT coalesce(sum(bytes), 0) FROM blobs WHERE hash IN (
                {reached_sql("NOT list_contains($excluded::VARCHAR[], r.run_id)")}))
        """,
        {"excluded": excluded},
    ).fetchone()
    return int(row[0] or 0) if row else 0


def select_runs(
    con: duckdb.DuckDBPyConnection,
    paths: SpoolPaths,
    *,
    before: datetime | None = None,
    free_bytes: float | None = None,
    excluded: list[str] | None = None,
) -> tuple[list[str], int, int]:
    """Runs to remove, oldest first, with their span count and estimated bytes.

    `before`: runs that ended (or, never ended, started) before it. `free_bytes`: the
    oldest runs whose span rows add up to at least that many estimated bytes.
    Runs still recording in a live process are never chosen.
    """
    rows = con.execute(
        f"""
        WITH w AS (
            SELECT run_id, count(*) AS n, sum({_SPAN_BYTES}) AS bytes FROM spans GROUP BY run_id
        ), rb AS ({_RUN_BLOBS})
        SELECT r.run_id, coalesce(w.n, 0), coalesce(w.bytes, 0) + coalesce(rb.bytes, 0),
               coalesce(r.end_time, r.start_time) < $before
        FROM runs r LEFT JOIN w USING (run_id) LEFT JOIN rb USING (run_id)
        WHERE {_REMOVABLE} AND NOT list_contains($excluded::VARCHAR[], r.run_id)
        ORDER BY r.start_time NULLS FIRST, r.run_id
        """,
        {"live": live_processes(paths), "excluded": excluded or [], "before": before},
    ).fetchall()
    ids: list[str] = []
    spans = total = 0
    for run_id, n, b, old in rows:
        if before is not None and not old:
            continue
        if free_bytes is not None and total >= free_bytes:
            break
        ids.append(str(run_id))
        spans += int(n)
        total += int(b)
    return ids, spans, total


def _segment_time(name: str) -> int | None:
    head = name.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def doomed_segments(
    con: duckdb.DuckDBPyConnection,
    paths: SpoolPaths,
    run_ids: list[str],
    segments_before: datetime | None,
) -> list[str]:
    """The archived segment files that go with `run_ids` (see `remove_runs`)."""
    row = con.execute(
        "SELECT min(start_time) FROM runs WHERE NOT list_contains($ids::VARCHAR[], run_id)",
        {"ids": run_ids},
    ).fetchone()
    oldest_kept: datetime | None = row[0] if row else None
    limits = [t for t in (segments_before, oldest_kept) if t is not None]
    keep_ns = _ns(min(limits)) if limits else None  # None: no run is kept, all may go
    pending = {p.name for p in paths.pending()}
    try:
        archived = sorted(os.listdir(paths.archive))
    except FileNotFoundError:
        archived = []
    return [
        n
        for n in archived
        if n not in pending
        and (t := _segment_time(n)) is not None
        and (keep_ns is None or t < keep_ns)
    ]


def remove_runs(
    con: duckdb.DuckDBPyConnection,
    paths: SpoolPaths,
    run_ids: list[str],
    *,
    segments_before: datetime | None,
    dry_run: bool,
) -> int:
    """Delete the runs, their spans, and processes and drained segments no run needs.

    Drained segments (rows in ``segments`` and files in spool/archive/) go when
    they were written before `segments_before` and before the oldest run kept
    started, so the archive never holds spans of a run the store no longer has
    while keeping every segment a kept run may need. Returns how many archived
    segment files went (or would go).
    """
    if not run_ids:
        return 0
    doomed = doomed_segments(con, paths, run_ids, segments_before)
    if dry_run:
        return len(doomed)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "DELETE FROM spans WHERE list_contains($ids::VARCHAR[], run_id)", {"ids": run_ids}
        )
        con.execute(
            "DELETE FROM runs WHERE list_contains($ids::VARCHAR[], run_id)", {"ids": run_ids}
        )
        con.execute(
            "DELETE FROM evaluation_records WHERE list_contains($ids::VARCHAR[], run_id)",
            {"ids": run_ids},
        )
        con.execute(  # messages still waiting for a span of these runs (the run id is the trace's)
            "DELETE FROM span_content WHERE list_contains($ids::VARCHAR[], trace_id)",
            {"ids": run_ids},
        )
        con.execute(
            "DELETE FROM processes WHERE process_id NOT IN "
            "(SELECT DISTINCT process_id FROM spans WHERE process_id IS NOT NULL) "
            "AND NOT list_contains($live::VARCHAR[], process_id)",
            {"live": live_processes(paths)},
        )
        con.execute(
            "DELETE FROM segments WHERE status = 'ingested' AND list_contains($n::VARCHAR[], name)",
            {"n": [segment_name(n) for n in doomed]},  # an archived file may be NAME.gz
        )
        prune(con)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    for n in doomed:  # after the commit: a file left by a kill here goes next time
        with contextlib.suppress(FileNotFoundError):
            os.unlink(paths.archive / n)
    return len(doomed)


def _ns(t: datetime) -> int:
    return int(t.replace(tzinfo=UTC).timestamp()) * 1_000_000_000 + t.microsecond * 1000


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


def kept_without(run_ids: list[str], doomed: list[str], live: list[str]) -> Kept:
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
            "NOT coalesce(status = 'ingested' AND list_contains($n::VARCHAR[], name), false)",
            {"n": [segment_name(n) for n in doomed]},
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
