"""What `Store.gc` does, step by step: choose runs, remove them, compact, measure.

The pieces (which runs, what their removal frees: `agentreel.store._gc`; the
compaction itself: `agentreel.store._compact`) are elsewhere; this is their order,
the size arithmetic that decides how many rounds of removal a `max_size` takes, and
the reopening of the store around the compaction (docs/architecture.md, "Store lifecycle").
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import duckdb

from agentreel._errors import AgentreelError, StoreBusy
from agentreel.store import _access
from agentreel.store._archive import compress_archived
from agentreel.store._attach import holders
from agentreel.store._compact import (
    clear_interrupted_compaction,
    compact,
    compacted_bytes,
    kept_without,
)
from agentreel.store._gc import (
    GcReport,
    doomed_segments,
    estimated_bytes,
    parse_size,
    remove_runs,
    select_runs,
)
from agentreel.store._markers import live_processes

if TYPE_CHECKING:
    from agentreel.store._store import Store

__all__ = ["collect"]


def collect(
    store: Store,
    *,
    before: datetime | None,
    max_size: int | str | None,
    dry_run: bool,
    progress: Callable[[int], None] | None,
) -> GcReport:
    """`Store.gc` on an open, writable `store`: runs that ended before `before` go, then
    the oldest until the file fits `max_size`; the file is compacted. See `Store.gc`."""
    t0 = time.perf_counter()
    db = store.db
    limit = parse_size(max_size) if max_size is not None else None
    store._con.execute("CHECKPOINT")  # so the file's size counts what the WAL held
    # a gc killed while copying: its deletes may have committed, so compact again
    interrupted = not dry_run and clear_interrupted_compaction(db)
    report = GcReport(dry_run=dry_run, bytes_before=db.stat().st_size)
    size = float(report.bytes_before)
    chosen: list[str] = []

    def take(ids: list[str], spans: int) -> None:
        chosen.extend(ids)
        report.runs.extend(ids)
        report.spans += spans

    def measured(ids: list[str], segments_before: datetime | None, *, shown: bool = True) -> float:
        """The compacted size without `ids` (what the dry run stands in for)."""
        doomed = doomed_segments(store._con, store.paths, ids, segments_before) if ids else []
        pending = [p.name for p in store.paths.pending()]
        kept = kept_without(ids, doomed, live_processes(store.paths), pending)
        return float(compacted_bytes(store._con, db, kept, progress if shown else None))

    floor = 0.0
    if limit is not None:  # a copy of what no gc removes: small, and not shown
        removable, _, _ = select_runs(store._con, store.paths)
        floor = measured(removable, before, shown=False)
        if limit < floor:
            least = math.ceil(floor / 1e5) / 10
            raise AgentreelError(
                f"max size {max_size} is below {least:,.1f} MB, the least this store can "
                f"shrink to (its size with every removable run gone: the empty tables, "
                f"check history and runs still recording); nothing was removed"
            )

    def remove(ids: list[str], spans: int, segments_before: datetime | None) -> float:
        """Remove `ids` (or, in a dry run, measure the store without them): the new size."""
        take(ids, spans)
        if dry_run:
            return measured(chosen, before)
        report.segments += remove_runs(
            store._con, store.paths, ids, segments_before=segments_before, dry_run=False
        )
        return _compact(store, report, progress)

    if before is not None:
        ids, spans, _ = select_runs(store._con, store.paths, before=before)
        if ids:
            size = remove(ids, spans, before)
    if (
        not report.compacted
        and not (dry_run and chosen)
        and (
            interrupted
            or (limit is None and before is None)
            or (limit is not None and size > limit)
        )
    ):
        # space freed earlier may be enough
        size = measured([], None) if dry_run else _compact(store, report, progress)
    for _ in range(12):  # each round removes runs; the estimate is usually right at once
        if limit is None or size <= limit:
            break
        total = estimated_bytes(store._con, chosen if dry_run else [])
        if not total:
            break
        # the share of the rows' bytes to remove is the share of their space to free
        need = total * (size - limit) / max(size - floor, 1.0) * 1.05
        ids, spans, _ = select_runs(
            store._con, store.paths, free_bytes=need, excluded=chosen if dry_run else None
        )
        if not ids:
            break
        size = remove(ids, spans, None)
    if dry_run:
        report.segments = remove_runs(
            store._con, store.paths, chosen, segments_before=before, dry_run=True
        )
    else:  # archived segments whose names the compression journal lost go back on it
        compress_archived(store.paths, sweep=True)
    report.bytes_after = int(size)
    report.fits = None if limit is None else size <= limit
    report.seconds = time.perf_counter() - t0
    return report


def _compact(store: Store, report: GcReport, progress: Callable[[int], None] | None) -> float:
    db = store.db
    if holders(db) > 1:
        raise AgentreelError(
            f"cannot compact {db}: another Store in this process has it open; close "
            f"every other Store on it before gc"
        )

    def reconnect(let_go_of_copy: Callable[[], None]) -> duckdb.DuckDBPyConnection:
        store._release()
        let_go_of_copy()
        try:
            store._set_handle(_access.connect(db, False, 10.0))
        except duckdb.IOException as e:
            raise StoreBusy(
                f"compacted {db}, but another process opened it before this one could "
                f"reopen it: {str(e).splitlines()[0]}"
            ) from None
        return store._con

    compact(store._con, db, reconnect, progress)
    store._tighten()
    report.compacted = True
    return float(db.stat().st_size)
