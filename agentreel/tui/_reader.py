"""The TUI's only way to the data: short store sessions run in worker threads.

DuckDB lets one process hold the file at a time, so the TUI never keeps it open:
each read opens the store (waiting briefly if a CLI command has it), asks it for
frames, and closes. Draining the spool is a separate, bounded step (`drain`),
run by the app's own worker: a read never waits for a drain, because within one
process both share the open database and a read sees what was last committed.
Between sessions the file is free for CLI commands and checks, and a drain lets
go early when one of them is waiting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from agentreel._errors import AgentreelError, StoreBusy
from agentreel._spool import SpoolPaths
from agentreel.store import (
    DB_NAME,
    IngestReport,
    RunDiff,
    Store,
    keep_draining,
    parquet_dataset,
    spool_status,
)

__all__ = ["RunDetail", "RunsPage", "StoreReader"]

T = TypeVar("T")

#: Seconds of draining per drain step at most (then the store is let go; a process
#: waiting for the store makes it let go sooner).
INGEST_BUDGET_S = 2.0


@dataclass(frozen=True)
class RunsPage:
    """What the runs screen shows: a page of the runs that match, how many match, and how
    many runs the store holds."""

    runs: pl.DataFrame
    total: int
    matching: int


@dataclass(frozen=True)
class RunDetail:
    """One run and its spans in tree order."""

    run: dict[str, Any]
    tree: pl.DataFrame
    #: The run's evaluations (scores, labels, comments), oldest first.
    evaluations: list[dict[str, Any]] = field(default_factory=list)


class StoreReader:
    """Reads a store in short sessions. Every method may raise `AgentreelError`."""

    def __init__(self, path: Path, *, wait: float = 2.0) -> None:
        self.path = path
        self.wait = wait
        self._live: frozenset[str] | None = None
        #: A Parquet dataset is read in place: it has no spool and is never drained.
        self.dataset = parquet_dataset(path) is not None

    def exists(self) -> bool:
        if self.dataset:
            return True
        return (self.path / DB_NAME).exists() or (self.path / "spool").is_dir()

    def drain(self) -> IngestReport | None:
        """One bounded drain of the spool; None when the store was not opened.

        Called over and over, it also marks the store as kept drained, so commands
        that read while agents record leave the draining to it. The store is opened only when a segment waits or the set of recording
        processes changed (a process that stopped may leave runs to mark
        interrupted), and not while another process waits to open it. Returns the
        report, whose `segments` may leave some pending for the next call.
        """
        if self.dataset:
            return None
        keep_draining(SpoolPaths(self.path))
        status = spool_status(self.path)
        if not status.pending_segments and status.live_processes == self._live:
            return None
        if status.readers_waiting:
            return None  # a command or check is waiting for the file: it goes first
        try:
            # never waits: a drain that waited would say so, and a check would hand
            # the store over to it between its queries
            store = Store.open(self.path, wait=0)
        except StoreBusy:
            return None  # another process has the file; the next tick tries again
        with store:
            report = store.ingest(budget=INGEST_BUDGET_S)
        self._live = status.live_processes
        return report

    @contextmanager
    def session(self) -> Iterator[Store]:
        with Store.open(self.path, wait=self.wait) as store:
            yield store

    def _with(self, fn: Callable[[Store], T]) -> T:
        """`fn` on an open store. Any failure is an `AgentreelError`, which every screen's
        worker shows on its status line: a read that failed must not close the app."""
        try:
            with self.session() as store:
                return fn(store)
        except AgentreelError:
            raise
        except Exception as e:
            raise AgentreelError(
                f"reading {self.path} failed: {type(e).__name__}: {e}".strip()
            ) from e

    def runs(self, query: str, order_by: str, descending: bool, limit: int = 200) -> RunsPage:
        def read(store: Store) -> RunsPage:
            runs = store.runs(
                query=query or None, order_by=order_by, descending=descending, limit=limit
            )
            total = int(store.sql("SELECT count(*) AS n FROM runs")["n"][0])
            matching = runs.height
            if matching == limit:  # a full page: there may be more
                matching = store.count_runs(query=query or None)
            return RunsPage(runs, total, matching)

        return self._with(read)

    def diff(self, run_a: str, run_b: str) -> RunDiff:
        return self._with(lambda store: store.diff(run_a, run_b))

    def check_results(self, limit: int = 20_000) -> pl.DataFrame:
        """Saved check results, newest check run first; empty when `agentreel check` never ran.

        At most `limit` rows; the oldest check run, cut short by the limit, is left out.
        """
        frame = self._with(lambda store: store.check_results(limit=limit))
        if frame.height >= limit:
            frame = frame.filter(pl.col("check_run_id") != frame["check_run_id"][-1])
        return frame

    def evaluate(self, run_id: str, name: str, **kwargs: Any) -> dict[str, Any]:
        """Store an evaluation of a run (`Store.evaluate`), made by this user in the TUI."""
        from agentreel._evaluate import user_source

        who = user_source()
        return self._with(lambda store: store.evaluate(run_id, name, source=who, **kwargs))

    def sessions(self) -> pl.DataFrame:
        """Sessions, newest activity first (`Store.sessions`)."""
        return self._with(lambda store: store.sessions(limit=1000))

    def session_turns(self, session_id: str) -> pl.DataFrame:
        """One session's runs in order, with their inputs (`Store.session_turns`)."""
        return self._with(lambda store: store.session_turns(session_id))

    def run(self, run_id: str) -> RunDetail:
        def read(store: Store) -> RunDetail:
            run = store.run(run_id)
            judged = store.evaluations(run["run_id"]).to_dicts()
            return RunDetail(run, store.tree(run["run_id"]), judged)

        return self._with(read)
