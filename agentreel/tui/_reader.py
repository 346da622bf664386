"""The TUI's only way to the data: short store sessions run in worker threads.

DuckDB lets one process hold the file at a time, so the TUI never keeps it open:
each read opens the store for the ``tui`` purpose (waiting briefly if a CLI command
has it), asks it for frames, and closes. Draining the spool is a separate, bounded
step (`drain`, the store's `Keeper`), run by the app's own worker: a read never
waits for a drain, because within one process both share the open database and a
read sees what was last committed. The rules of sharing the store are the store's
(docs/architecture.md, "Sharing the store").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from agentreel._errors import AgentreelError
from agentreel.store import (
    DB_NAME,
    Evaluation,
    IngestReport,
    Keeper,
    Run,
    RunDiff,
    Store,
    parquet_dataset,
    records,
)

__all__ = ["RunDetail", "RunsPage", "StoreReader"]

T = TypeVar("T")


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

    run: Run
    tree: pl.DataFrame
    #: The run's evaluations (scores, labels, comments), oldest first.
    evaluations: list[Evaluation] = field(default_factory=list)


class StoreReader:
    """Reads a store in short sessions. Every method may raise `AgentreelError`."""

    def __init__(self, path: Path, *, wait: float = 2.0) -> None:
        self.path = path
        self.wait = wait
        #: A Parquet dataset is read in place: it has no spool and is never drained.
        self.dataset = parquet_dataset(path) is not None
        self._keeper = None if self.dataset else Keeper(path)

    def exists(self) -> bool:
        if self.dataset:
            return True
        return (self.path / DB_NAME).exists() or (self.path / "spool").is_dir()

    def drain(self) -> IngestReport | None:
        """One bounded drain of the spool; None when the store was not opened.

        Called over and over, it keeps the store drained for every process that reads
        it (`Keeper`: docs/architecture.md, "Sharing the store"). Returns the report,
        whose `segments` may leave some pending for the next call.
        """
        if self._keeper is None:
            return None
        return self._keeper.turn()

    def stop_draining(self) -> None:
        """Stop keeping the store drained: commands drain for themselves again."""
        if self._keeper is not None:
            self._keeper.stop()

    @contextmanager
    def session(self) -> Iterator[Store]:
        with Store.open(self.path, purpose="tui", wait=self.wait) as store:
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

    def evaluate(self, run_id: str, name: str, **kwargs: Any) -> Evaluation:
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
            judged = list(records(store.evaluations(run["run_id"]), Evaluation))
            return RunDetail(run, store.tree(run["run_id"]), judged)

        return self._with(read)
