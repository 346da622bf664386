"""`Store.gc`, its first half: which runs go, how much they weigh, and removing them.

`select_runs` picks the runs an age or a size limit removes (never one still
recording), `estimated_bytes` weighs what the store would keep, `remove_runs` deletes
the runs' rows (and the blobs only they reached), and `doomed_segments` finds the
archived spool segments that held only those runs. Giving the space back is the
second half, `agentreel.store._compact`; `_gc_run.py` orders the steps.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from agentreel._errors import AgentreelError
from agentreel._spool import SpoolPaths
from agentreel.store._archive import SEGMENT_ROWS_SQL, segment_rows, segment_time
from agentreel.store._blobs import REFS_OF_SPANS, prune, reached_sql
from agentreel.store._markers import live_processes

__all__ = [
    "GcReport",
    "doomed_segments",
    "estimated_bytes",
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
        and (t := segment_time(n)) is not None
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
        con.execute(  # an archived file may be NAME.gz, or a bundle of many segments
            f"DELETE FROM segments WHERE status = 'ingested' AND {SEGMENT_ROWS_SQL}",
            segment_rows(doomed, (p.name for p in paths.pending())),
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
