"""`Store`: one agentreel directory, its DuckDB file and its spool, queried as polars frames."""

from __future__ import annotations

import contextlib
import math
import os
import re
import threading
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import polars as pl

from agentreel._errors import AgentreelError, RunNotFound, StoreBusy, StoreNotFound
from agentreel._fmt import fmt_time
from agentreel._spool import SpoolPaths
from agentreel._when import ago, out_of_range, range_hint
from agentreel.store._archive import BUDGET_S as COMPRESS_BUDGET_S
from agentreel.store._archive import SHARE as COMPRESS_SHARE
from agentreel.store._archive import compress_archived
from agentreel.store._attach import Handle, cursor, held_by_this_thread, holders
from agentreel.store._blobs import expand_frame
from agentreel.store._check_results import append_check_results, read_check_results
from agentreel.store._damage import damaged, is_damage
from agentreel.store._diff import RunDiff, diff_runs
from agentreel.store._filter import origin_condition, parse_filter
from agentreel.store._gc import (
    GcReport,
    clear_interrupted_compaction,
    compact,
    compacted_bytes,
    doomed_segments,
    estimated_bytes,
    kept_without,
    parse_size,
    remove_runs,
    select_runs,
)
from agentreel.store._graph import AgentGraph
from agentreel.store._ingest import (
    IngestReport,
    drain,
    live_processes,
    readers_waiting,
    waiting_for,
)
from agentreel.store._parquet import DatasetHandle, parquet_dataset
from agentreel.store._schema import migrate
from agentreel.store._tree import tree_order

__all__ = ["DB_NAME", "Store"]

DB_NAME = "agentreel.duckdb"
#: Columns of the ``runs`` table (what `Store.runs` may sort by).
RUN_COLUMNS = (
    "run_id",
    "name",
    "root_span_id",
    "start_time",
    "end_time",
    "duration_ms",
    "status",
    "span_count",
    "agent_count",
    "llm_count",
    "tool_count",
    "retriever_count",
    "error_count",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "unpriced_llm_count",
    "tags",
    "service_name",
    "code_version",
    "session_id",
    "process_id",
    "error_type",
    "error_message",
    "output",
    "cache_read_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
)
_HEX = re.compile(r"^[0-9a-f]{1,32}$")
_MIGRATE_LOCK = threading.Lock()
#: How long `Store.give_way` waits for the waiting process to get in, and then to get back.
GIVE_WAY_HANDOVER_S = 0.5
GIVE_WAY_WAIT_S = 10.0
#: Seconds per step of `Store.ingest(give_way=True)` (the steps go on until the spool is empty).
SHARED_DRAIN_STEP_S = 1.0


def _when(v: datetime | timedelta | str | None, name: str) -> datetime | None:
    """A point in time from a datetime, an age (timedelta or '90s', '15m', '2h', '7d'), or None.

    One outside what the store holds (1677 to 2262) is refused with `AgentreelError`.
    """
    if v is None:
        return None
    if isinstance(v, datetime):  # the store keeps naive UTC
        naive = v.astimezone(UTC).replace(tzinfo=None) if v.tzinfo else v
        if out_of_range(naive):
            raise AgentreelError(f"{name}={v.isoformat()} is out of range: {range_hint()}")
        return naive
    age: float | timedelta = v if isinstance(v, timedelta) else 0.0
    if isinstance(v, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", v)
        if not m:
            try:
                return _when(datetime.fromisoformat(v), name)
            except ValueError:
                raise AgentreelError(
                    f"{name}={v!r} is neither an age like 90s, 15m, 2h, 7d nor an ISO date"
                ) from None
        age = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
    t = ago(datetime.now(UTC).replace(tzinfo=None), age)
    if t is None:
        shown = v if isinstance(v, str) else str(v)
        raise AgentreelError(
            f"{name}={shown!r} reaches back too far: {range_hint()}; give a shorter age or a date"
        )
    return t


def _take_turn(db: Path, deadline: float) -> None:
    """Before opening the file, let a process that already waits for it in first.

    Threads of one process share the file while any of them has it open, so a
    process waiting for it (a command while the TUI drains and reads) would
    otherwise wait for as long as new reads keep joining, and an open that came
    later could take the file the moment it is let go. So an open that may wait
    first waits, until `deadline` at most, for this process's other threads to let
    go and for the waiting process to get in (0.5 s at most); then it takes its
    own turn. A thread that already has the file open joins at once (it would
    wait for itself).
    """
    paths = SpoolPaths(db.parent)
    if held_by_this_thread(db) or not readers_waiting(paths, other_processes=True):
        return
    while holders(db):
        if time.monotonic() >= deadline:
            return  # held for longer than this open may wait: join
        time.sleep(0.01)
    handover = min(deadline, time.monotonic() + GIVE_WAY_HANDOVER_S)
    while readers_waiting(paths, other_processes=True) and time.monotonic() < handover:
        time.sleep(0.01)


def _connect(db: Path, read_only: bool, wait: float) -> Handle:
    deadline = time.monotonic() + wait
    if wait > 0:
        _take_turn(db, deadline)
    try:
        return Handle(db, read_only)
    except duckdb.IOException as e:
        if "lock" not in str(e).lower() or wait <= 0:
            raise
    # Another process holds the file: say so (a drain with a budget lets go early
    # for this), and retry until `wait` is spent.
    delay = 0.01
    with waiting_for(SpoolPaths(db.parent)) as still_waiting:
        while True:
            time.sleep(delay)
            still_waiting()
            try:
                return Handle(db, read_only)
            except duckdb.IOException as e:
                if "lock" not in str(e).lower() or time.monotonic() + delay > deadline:
                    raise
            delay = min(delay * 2, 0.1)


def _open_failed(db: Path, e: duckdb.IOException) -> AgentreelError:
    """The error to raise for a failed open: `StoreBusy` (naming the holder) for the lock."""
    if "lock" in str(e).lower():
        holder = re.search(r"PID (\d+)", str(e))
        who = f" (process {holder.group(1)})" if holder else ""
        return StoreBusy(f"the store at {db} is open in another process{who}; close it or retry")
    return AgentreelError(f"cannot open the store at {db}: {e}")


#: How many of the runs an ambiguous run id prefix matches the error names.
_AMBIGUOUS_SHOWN = 5


#: A run's status as read: one still "running" whose process has no fresh heartbeat
#: (``$live`` lists the live ones) is interrupted.
_STATUS_EXPR = (
    "CASE WHEN status = 'running' AND (process_id IS NULL OR NOT list_contains($live, process_id)) "
    "THEN 'interrupted' ELSE status END"
)


class Store:
    """An agentreel store: ``<dir>/agentreel.duckdb`` plus ``<dir>/spool/``.

    Open it, drain what agents recorded, and query runs and spans as polars frames::

        from agentreel.store import Store
        with Store.open(".agentreel") as store:
            store.ingest()
            print(store.runs(status="error"))

    Only one process at a time may open the DuckDB file read-write; agents never
    open it (they write the spool), so recording never waits on a reader.
    """

    def __init__(self, path: Path, handle: Handle, read_only: bool) -> None:
        self.path = path
        self.paths = SpoolPaths(path)
        self.read_only = read_only
        self._set_handle(handle)

    def _set_handle(self, handle: Handle) -> None:
        self._handle = handle
        # a Store dropped without close still lets go of the file
        self._release = weakref.finalize(self, handle.close)

    @property
    def _con(self) -> duckdb.DuckDBPyConnection:
        return self._handle.con

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        read_only: bool = False,
        create: bool = False,
        wait: float = 0.0,
    ) -> Store:
        """Open the store at `path` (default ``$AGENTREEL_DIR`` or ``./.agentreel``).

        DuckDB lets one process at a time hold the file; readers such as the TUI hold
        it only for a moment at a time, so `wait` seconds of retrying usually get in.

        A Parquet dataset (`parquet_dataset`: a directory holding its manifest, or an
        ``s3://`` URL) opens read-only, as views over its files (store/_parquet.py).

        Raises `StoreNotFound` when nothing was ever recorded there and `create` is
        false, `StoreBusy` when another process still holds the file after `wait`,
        and `StoreVersionError` when a newer agentreel wrote it.
        """
        where = path if path is not None else os.environ.get("AGENTREEL_DIR") or ".agentreel"
        dataset = parquet_dataset(where)
        if dataset is not None:  # a Parquet dataset (store/_parquet.py): read-only views
            return cls(Path(dataset), DatasetHandle(dataset), True)
        p = Path(where)
        db = p / DB_NAME
        if not db.exists() and not (p / "spool").is_dir() and not create:
            raise StoreNotFound(
                f"no agentreel store at {p}: record a run first (try `agentreel demo`) or point "
                f"--dir / AGENTREEL_DIR at an existing store"
            )
        if read_only and not db.exists():
            raise StoreNotFound(
                f"no agentreel store at {p} yet: run `agentreel ingest` to create it"
            )
        try:
            p.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not db.exists():
                os.close(os.open(db, os.O_CREAT | os.O_WRONLY, 0o600))
                os.unlink(db)  # DuckDB creates it; this checks the directory is writable
            handle = _connect(db, read_only, wait)
        except duckdb.Error as e:
            if is_damage(e):
                raise damaged(db, e) from None
            if isinstance(e, duckdb.IOException):
                raise _open_failed(db, e) from None
            raise
        except OSError as e:
            raise AgentreelError(f"cannot create the store at {p}: {e.strerror or e}") from None
        try:
            # Threads of one process share the open database: one migrates, the
            # others then find it current (two creating the tables would conflict).
            with _MIGRATE_LOCK:
                migrate(handle.con, str(db), read_only=read_only)
        except BaseException as e:
            with contextlib.suppress(AgentreelError):
                handle.close()
            if isinstance(e, duckdb.Error) and is_damage(e):
                raise damaged(db, e) from None
            raise
        store = cls(p, handle, read_only)
        store._tighten()
        return store

    def _tighten(self) -> None:
        """Make the DuckDB file and its WAL owner-only, like the spool.

        DuckDB creates them with the process's umask (and makes the WAL afresh after
        each checkpoint), so every write through the store ends here; the store
        directory itself is ``0700`` when agentreel made it.
        """
        if self.read_only:
            return
        db = self.path / DB_NAME
        for f in (db, db.with_name(db.name + ".wal")):
            with contextlib.suppress(OSError):
                if f.stat().st_mode & 0o077:
                    f.chmod(0o600)

    def _query_failed(self, e: duckdb.Error) -> AgentreelError:
        if is_damage(e):
            return damaged(self.path / DB_NAME, e)
        return AgentreelError(f"query failed: {str(e).splitlines()[0]}")

    def close(self) -> None:
        """Let go of the store; the last `Store` of this process on it checkpoints it."""
        self._release()

    def give_way(self, *, wait: float = GIVE_WAY_WAIT_S) -> bool:
        """Let a process that is waiting for the store in first, then take it back.

        A reader that runs several queries which need not see one instant (`run_checks`
        reading its windows) calls this between them, so another command waits for
        one query, not for all of them. Returns False at once when nobody waits.
        Otherwise the file is closed until the waiting process has opened it (or
        0.5 s), then opened again, waiting up to `wait` seconds (`StoreBusy` after).
        Do not call it with a result unread or inside a transaction.
        """
        if not readers_waiting(self.paths):
            return False
        self._release()
        deadline = time.monotonic() + GIVE_WAY_HANDOVER_S
        while readers_waiting(self.paths) and time.monotonic() < deadline:
            time.sleep(0.01)
        db = self.path / DB_NAME
        try:
            self._set_handle(_connect(db, self.read_only, wait))
        except duckdb.Error as e:
            if is_damage(e):
                raise damaged(db, e) from None
            if isinstance(e, duckdb.IOException):
                raise _open_failed(db, e) from None
            raise
        return True

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------

    def ingest(
        self,
        *,
        limit: int | None = None,
        budget: float | None = None,
        give_way: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> IngestReport:
        """Drain the spool into the store; returns what was taken and what was set aside.

        `limit` caps the segments taken; `budget` (seconds) stops starting new
        transactions once it is spent, leaving the rest for the next call, so a reader
        under heavy recording holds the store only briefly (the TUI drains this way).
        A drain with a budget also stops early when another process is waiting to
        open the store. With `give_way` (and no budget) the drain takes everything,
        in transactions of about a quarter of a second, and between them lets a
        process that waits for the store in first (`give_way()`), then goes on: a
        backlog of minutes then keeps nobody waiting for more than one transaction.
        `progress`, when given, is called with the spans of each committed
        transaction (a progress bar's `advance`).
        """
        if self.read_only:
            raise AgentreelError(
                "this store was opened read-only; open it without read_only to ingest"
            )
        try:
            if give_way and budget is None:
                report = self._drain_sharing(limit, progress)
            else:
                waiting = (lambda: readers_waiting(self.paths)) if budget is not None else None
                report = drain(
                    self._con,
                    self.paths,
                    limit=limit,
                    budget=budget,
                    give_way=waiting,
                    progress=progress,
                )
            # settled drained segments, within a budget that grows with the drain's work
            compress_archived(
                self.paths, budget_s=max(COMPRESS_BUDGET_S, COMPRESS_SHARE * report.seconds)
            )
            return report
        except duckdb.Error as e:
            if is_damage(e):
                raise damaged(self.path / DB_NAME, e) from None
            raise
        finally:
            self._tighten()

    def _drain_sharing(
        self, limit: int | None, progress: Callable[[int], None] | None
    ) -> IngestReport:
        # what is pending now, not what processes that start meanwhile add
        pending = len(self.paths.pending())
        limit = pending if limit is None else min(limit, pending)
        report = IngestReport()
        while True:
            step = drain(
                self._con,
                self.paths,
                limit=limit - report.segments - len(report.rejected),
                budget=SHARED_DRAIN_STEP_S,
                give_way=lambda: readers_waiting(self.paths),
                progress=progress,
            )
            report.add(step)
            taken = step.segments + len(step.rejected)
            if not taken or report.segments + len(report.rejected) >= limit:
                return report
            self.give_way()

    def gc(
        self,
        *,
        older_than: datetime | timedelta | str | None = None,
        max_size: int | str | None = None,
        dry_run: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> GcReport:
        """Remove old runs and compact the DuckDB file; returns what went.

        `older_than` (``"30d"``, ``"12h"``, a timedelta) removes runs that ended that
        long ago; `max_size` (``"500MB"``, ``"2GiB"``, bytes) then removes the oldest
        runs until the file fits. A run's spans, its ``runs`` row, processes no run
        needs any more and archived spool segments older than every kept run go with
        it; check results stay (they are the history of `agentreel check`). The file
        is then compacted: copied into a fresh file that replaces it atomically, so a
        gc killed midway leaves the old store whole. With no limits, gc only compacts.

        A `max_size` below what the store can shrink to (its size with every removable
        run gone: the empty tables' blocks, check history, runs still recording) raises
        `AgentreelError` before anything is removed. `dry_run` removes nothing; the
        size afterwards is measured on a scratch copy of what would be kept, so a dry
        run takes about as long as the compaction. `progress`, when given, is told the
        rows copied as the compaction goes (a call per chunk of rows).

        Drain the spool first (`ingest`) so its spans count too. Close any other
        `Store` on this directory in this process first (they share the open file,
        which compaction replaces): gc raises `AgentreelError` while one is open.

        Example::

            with Store.open() as store:
                store.ingest()
                report = store.gc(older_than="30d", max_size="500MB")
                print(len(report.runs), report.bytes_before, report.bytes_after)
        """
        if self.read_only:
            raise AgentreelError("this store was opened read-only; open it without read_only to gc")
        t0 = time.perf_counter()
        db = self.path / DB_NAME
        before = _when(older_than, "older_than") if older_than is not None else None
        limit = parse_size(max_size) if max_size is not None else None
        self._con.execute("CHECKPOINT")  # so the file's size counts what the WAL held
        # a gc killed while copying: its deletes may have committed, so compact again
        interrupted = not dry_run and clear_interrupted_compaction(db)
        report = GcReport(dry_run=dry_run, bytes_before=db.stat().st_size)
        size = float(report.bytes_before)
        chosen: list[str] = []

        def take(ids: list[str], spans: int) -> None:
            chosen.extend(ids)
            report.runs.extend(ids)
            report.spans += spans

        def measured(
            ids: list[str], segments_before: datetime | None, *, shown: bool = True
        ) -> float:
            """The compacted size without `ids` (what the dry run stands in for)."""
            doomed = doomed_segments(self._con, self.paths, ids, segments_before) if ids else []
            kept = kept_without(ids, doomed, live_processes(self.paths))
            return float(compacted_bytes(self._con, db, kept, progress if shown else None))

        floor = 0.0
        if limit is not None:  # a copy of what no gc removes: small, and not shown
            removable, _, _ = select_runs(self._con, self.paths)
            floor = measured(removable, before, shown=False)
            if limit < floor:
                least = math.ceil(floor / 1e5) / 10
                raise AgentreelError(
                    f"max size {max_size} is below {least:,.1f} MB, the least this store can "
                    f"shrink to (its size with every removable run gone: the empty tables, "
                    f"check history and runs still recording); nothing was removed"
                )
        if before is not None:
            ids, spans, _ = select_runs(self._con, self.paths, before=before)
            take(ids, spans)
            if ids:
                if dry_run:
                    size = measured(chosen, before)
                else:
                    report.segments += remove_runs(
                        self._con, self.paths, ids, segments_before=before, dry_run=False
                    )
                    size = self._compact(report, progress)
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
            size = measured([], None) if dry_run else self._compact(report, progress)
        for _ in range(12):  # each round removes runs; the estimate is usually right at once
            if limit is None or size <= limit:
                break
            total = estimated_bytes(self._con, chosen if dry_run else [])
            if not total:
                break
            # the share of the rows' bytes to remove is the share of their space to free
            need = total * (size - limit) / max(size - floor, 1.0) * 1.05
            ids, spans, _ = select_runs(
                self._con, self.paths, free_bytes=need, excluded=chosen if dry_run else None
            )
            if not ids:
                break
            take(ids, spans)
            if dry_run:
                size = measured(chosen, before)
            else:
                report.segments += remove_runs(
                    self._con, self.paths, ids, segments_before=None, dry_run=False
                )
                size = self._compact(report, progress)
        if dry_run:
            report.segments = remove_runs(
                self._con, self.paths, chosen, segments_before=before, dry_run=True
            )
        else:  # archived segments whose names the compression journal lost go back on it
            compress_archived(self.paths, sweep=True)
        report.bytes_after = int(size)
        report.fits = None if limit is None else size <= limit
        report.seconds = time.perf_counter() - t0
        return report

    def _compact(self, report: GcReport, progress: Callable[[int], None] | None) -> float:
        db = self.path / DB_NAME
        if holders(db) > 1:
            raise AgentreelError(
                f"cannot compact {db}: another Store in this process has it open; close "
                f"every other Store on it before gc"
            )

        def reconnect(let_go_of_copy: Callable[[], None]) -> duckdb.DuckDBPyConnection:
            self._release()
            let_go_of_copy()
            try:
                self._set_handle(_connect(db, False, 10.0))
            except duckdb.IOException as e:
                raise StoreBusy(
                    f"compacted {db}, but another process opened it before this one could "
                    f"reopen it: {str(e).splitlines()[0]}"
                ) from None
            return self._con

        compact(self._con, db, reconnect, progress)
        self._tighten()
        report.compacted = True
        return float(db.stat().st_size)

    # -- reading ---------------------------------------------------------------

    def sql(self, query: str, params: list[Any] | dict[str, Any] | None = None) -> pl.DataFrame:
        """Run a SQL query against the store's tables and return a polars frame.

        Example::

            store.sql("SELECT tool_name, count(*) n FROM spans WHERE kind = 'tool' GROUP BY 1")
        """
        cur = cursor(self._con)
        try:
            rel = cur.sql(query, params=params)
            if rel is None:  # a statement with no result
                return pl.DataFrame()
            frame: pl.DataFrame = rel.pl()
            return frame
        except duckdb.Error as e:
            raise self._query_failed(e) from None
        finally:
            cur.close()

    def runs(
        self,
        *,
        status: str | None = None,
        name: str | None = None,
        tag: dict[str, Any] | str | None = None,
        since: datetime | timedelta | str | None = None,
        until: datetime | timedelta | str | None = None,
        query: str | None = None,
        order_by: str = "start_time",
        descending: bool = True,
        limit: int | None = None,
        origin: str | None = None,
    ) -> pl.DataFrame:
        """Runs, newest first, optionally filtered.

        Args:
            status: ok, error, running or interrupted.
            name: exact name, or a glob with ``*`` (``nightly*``).
            tag: ``{"dataset": "qa-v2"}`` or ``"dataset=qa-v2"``; all must match.
            since, until: a datetime, a timedelta, or an age such as ``"24h"``.
            query: a filter expression (``status:error tool:search duration>2s``;
                docs/tui.md has the language); `FilterError` when it cannot be read.
            order_by, descending: the column to sort by (any column of ``runs``).
            limit: at most this many rows.
            origin: ``recorded`` (the default, unless `query` has an ``origin:`` term),
                ``replay``, ``fork`` or ``any``: runs that ``agentreel replay`` and
                ``fork`` recorded are left out unless asked for.
        """
        where, params = self._run_filter(status, name, tag, since, until, query, origin)
        status_expr = _STATUS_EXPR
        if order_by not in RUN_COLUMNS:
            raise AgentreelError(
                f"cannot sort runs by {order_by!r}; use one of {', '.join(RUN_COLUMNS)}"
            )
        q = f"SELECT * REPLACE ({status_expr} AS status) FROM runs"
        if where:
            q += " WHERE " + " AND ".join(where)
        q += f" ORDER BY {order_by} {'DESC' if descending else 'ASC'} NULLS LAST, run_id"
        if limit is not None:
            q += f" LIMIT {int(limit)}"
        return self.sql(q, params)

    def evaluate(
        self,
        run_id: str,
        name: str,
        *,
        score: float | None = None,
        label: str | None = None,
        explanation: str | None = None,
        span_id: str | None = None,
        source: str = "python",
    ) -> dict[str, Any]:
        """Attach an evaluation (a score and/or a label, with an explanation) to a run,
        or to one of its spans (`span_id`, a unique prefix). Returns the stored row.

        `source` says who or what made it (``user:ana``, ``evals:helpfulness``).
        See docs/data-model.md#evaluations.
        """
        from agentreel.store._evaluations import add_evaluation

        return add_evaluation(
            self,
            run_id,
            name,
            score=score,
            label=label,
            explanation=explanation,
            span_id=span_id,
            source=source,
        )

    def evaluations(
        self,
        run_id: str | None = None,
        *,
        name: str | None = None,
        since: datetime | timedelta | str | None = None,
    ) -> pl.DataFrame:
        """Evaluations, oldest first: of one run (a unique prefix), or all; by `name`."""
        from agentreel.store._evaluations import read_evaluations

        ids = [self.resolve_run(run_id)] if run_id is not None else None
        return read_evaluations(self, run_ids=ids, name=name, since=_when(since, "since"))

    def sessions(
        self,
        *,
        query: str | None = None,
        since: datetime | timedelta | str | None = None,
        until: datetime | timedelta | str | None = None,
        origin: str | None = None,
        limit: int | None = None,
    ) -> pl.DataFrame:
        """Sessions (runs grouped by ``session_id``) with a turn the filter selects.

        One row per session, newest activity first: turns, time span, tokens, cost,
        errors and how its last turn ``ended``. See docs/data-model.md#sessions.
        """
        from agentreel.store._sessions import sessions

        return sessions(self, query=query, since=since, until=until, origin=origin, limit=limit)

    def session_turns(self, session_id: str) -> pl.DataFrame:
        """The runs of one session in start order, with each root span's ``input``."""
        from agentreel.store._sessions import session_turns

        return session_turns(self, session_id)

    def count_runs(
        self,
        *,
        status: str | None = None,
        name: str | None = None,
        tag: dict[str, Any] | str | None = None,
        since: datetime | timedelta | str | None = None,
        until: datetime | timedelta | str | None = None,
        query: str | None = None,
        origin: str | None = None,
    ) -> int:
        """How many runs `runs` would return with these filters and no limit.

        Example::

            store.count_runs(query="status:error")  # 3
        """
        where, params = self._run_filter(status, name, tag, since, until, query, origin)
        q = "SELECT count(*) AS n FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        if "$live" not in q:
            params.pop("live")  # DuckDB refuses a parameter the statement does not use
        return int(self.sql(q, params)["n"][0])

    def _run_filter(
        self,
        status: str | None,
        name: str | None,
        tag: dict[str, Any] | str | None,
        since: datetime | timedelta | str | None,
        until: datetime | timedelta | str | None,
        query: str | None,
        origin: str | None,
    ) -> tuple[list[str], dict[str, Any]]:
        """The conditions over ``runs`` and their parameters that `runs` filters by."""
        where: list[str] = []
        params: dict[str, Any] = {"live": live_processes(self.paths)}
        status_expr = _STATUS_EXPR
        if status is not None:
            if status not in ("ok", "error", "running", "interrupted"):
                raise AgentreelError(
                    f"status {status!r} is not one of ok, error, running, interrupted"
                )
            where.append(f"{status_expr} = $status")
            params["status"] = status
        if name is not None:
            if "*" in name or "?" in name:
                where.append("name GLOB $name")
            else:
                where.append("name = $name")
            params["name"] = name
        if tag:
            tags = dict([tag.split("=", 1)]) if isinstance(tag, str) and "=" in tag else tag
            if not isinstance(tags, dict):
                raise AgentreelError(f"tag {tag!r} must look like key=value")
            for i, (k, v) in enumerate(tags.items()):
                where.append(
                    f"json_extract_string(tags, '$.' || to_json($tk{i})::VARCHAR) = $tv{i}"
                )
                params[f"tk{i}"] = str(k)
                params[f"tv{i}"] = str(v).lower() if isinstance(v, bool) else str(v)
        for key, op, v in (("since", ">=", since), ("until", "<", until)):
            t = _when(v, key)
            if t is not None:
                where.append(f"start_time {op} ${key}")
                params[key] = t
        origin_given = origin is not None
        if query:
            f = parse_filter(query, live=params["live"])
            where.append(f.where)
            params.update(f.params)
            origin_given = origin_given or f.origin_given
        if not origin_given or origin is not None:
            cond = origin_condition(origin or "recorded")
            if cond is not None:
                where.append(cond)
        return where, params

    def resolve_run(self, run_id: str) -> str:
        """The full id of the run named by `run_id` or an unambiguous prefix of it.

        A prefix that matches several runs raises `RunNotFound` naming the newest few
        (id, name, start time), so the user can pick one.
        """
        exact = self.sql("SELECT run_id FROM runs WHERE run_id = $r LIMIT 1", {"r": run_id})
        if exact.height:  # as stored, even when a sender's trace id was not proper hex
            return str(exact["run_id"][0])
        rid = run_id.strip().lower()
        if not _HEX.match(rid):
            raise RunNotFound(
                f"{run_id!r} is not a run id (32 hex digits, or a prefix of at least 4)"
            )
        if len(rid) < 4:
            raise RunNotFound(f"run id prefix {run_id!r} is too short; give at least 4 hex digits")
        rows = self.sql(
            "SELECT run_id, name, start_time, count(*) OVER () AS n FROM runs "
            "WHERE starts_with(run_id, $p) ORDER BY start_time DESC, run_id LIMIT $k",
            {"p": rid, "k": _AMBIGUOUS_SHOWN},
        )
        if not rows.height:
            raise RunNotFound(
                f"no run {run_id!r} in {self.path}; `agentreel runs` lists the recorded runs"
            )
        if rows.height > 1:
            n = int(rows["n"][0])
            shown = "; ".join(
                f"{r['run_id'][:12]} {r['name'] or '(unnamed)'} started {fmt_time(r['start_time'])}"
                for r in rows.iter_rows(named=True)
            )
            more = f"; and {n - rows.height} more" if n > rows.height else ""
            raise RunNotFound(
                f"run id prefix {run_id!r} matches {n} runs ({shown}{more}); give more digits"
            )
        return str(rows["run_id"][0])

    def run(self, run_id: str) -> dict[str, Any]:
        """One run's row as a dict (`run_id` may be a unique prefix)."""
        rid = self.resolve_run(run_id)
        return self.runs_by_id([rid]).row(0, named=True)

    def runs_by_id(self, run_ids: list[str]) -> pl.DataFrame:
        live = live_processes(self.paths)
        return self.sql(
            "SELECT * REPLACE (CASE WHEN status = 'running' AND (process_id IS NULL OR NOT "
            "list_contains($live, process_id)) THEN 'interrupted' ELSE status END AS status) "
            "FROM runs WHERE list_contains($ids, run_id)",
            {"ids": run_ids, "live": live},
        )

    def spans(self, run_id: str) -> pl.DataFrame:
        """The spans of one run, in start order (`run_id` may be a unique prefix).

        Inputs stored as content-addressed parts come back whole.
        """
        rid = self.resolve_run(run_id)
        return self.expand(
            self.sql(
                "SELECT * FROM spans WHERE run_id = $r ORDER BY start_time, span_id", {"r": rid}
            )
        )

    def expand(self, frame: pl.DataFrame) -> pl.DataFrame:
        """`frame` with the references in its ``input`` column replaced by the text they name.

        A long LLM input is stored with ``{"$list":"<hash>"}`` and
        ``{"$blob":"<hash>"}`` references to the ``blobs`` table (docs/data-model.md);
        `spans` expands them itself, and this does the same for the result of a `sql`
        query that selects ``input``.

        Example::

            store.expand(store.sql("SELECT span_id, input FROM spans WHERE kind = 'llm'"))
        """
        cur = cursor(self._con)
        try:
            return expand_frame(cur, frame)
        except duckdb.Error as e:
            raise self._query_failed(e) from None
        finally:
            cur.close()

    def agent_graph(self, run_id: str) -> AgentGraph:
        """The run's agents and the calls and handoffs between them, with each edge's
        invocations, errors, tokens and cost (docs/data-model.md#agent-graph)."""
        from agentreel.store._graph import agent_graph

        return agent_graph(self.spans(run_id))

    def tree(self, run_id: str) -> pl.DataFrame:
        """The spans of one run depth-first (parents before children), with a ``depth`` column."""
        return tree_order(self.spans(run_id))

    def save_check_results(self, rows: pl.DataFrame) -> int:
        """Append rows to ``check_results`` (``agentreel.checks`` makes them); returns how many."""
        if self.read_only:
            raise AgentreelError(
                "this store was opened read-only; open it without read_only to save check results"
            )
        try:
            return append_check_results(self._con, rows)
        finally:
            self._tighten()

    def check_results(
        self, *, check_run_id: str | None = None, check: str | None = None, limit: int | None = None
    ) -> pl.DataFrame:
        """Saved check results, newest first; optionally of one check run or one check."""
        return read_check_results(self._con, check_run_id=check_run_id, check=check, limit=limit)

    def diff(self, run_a: str, run_b: str) -> RunDiff:
        """Two runs aligned step by step, with what differs at each step.

        Example::

            d = store.diff("4bb9e718", "e92569cb")
            d.first_difference           # index of the first differing step, or None
        """
        a, b = self.run(run_a), self.run(run_b)
        return diff_runs(a, self.tree(a["run_id"]), b, self.tree(b["run_id"]))

    def events(self, run_id: str) -> pl.DataFrame:
        """The span events (exceptions and others) of one run, in time order."""
        rid = self.resolve_run(run_id)
        return self.sql("SELECT * FROM events WHERE run_id = $r ORDER BY time", {"r": rid})
