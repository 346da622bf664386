"""What `Store` derives from runs and spans (sessions, the agent graph, a diff of two
runs), and what is attached to them (evaluations, check results).

`Store` inherits these from `Derived`, which builds on `Queries`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

import polars as pl

from agentreel._errors import AgentreelError
from agentreel.store._check_results import append_check_results, read_check_results
from agentreel.store._diff import RunDiff, diff_runs
from agentreel.store._graph import AgentGraph
from agentreel.store._queries import Queries, _when
from agentreel.store._records import Evaluation

if TYPE_CHECKING:
    from agentreel.store._store import Store

__all__ = ["Derived"]


class Derived(Queries):
    """Sessions, agent graphs, diffs, evaluations and check results; mixed into `Store`."""

    read_only: bool

    def _tighten(self) -> None:
        raise NotImplementedError  # `Store`'s

    @property
    def _store(self) -> Store:
        """This object as the `Store` it always is (the helpers below take a `Store`)."""
        return cast("Store", self)

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
    ) -> Evaluation:
        """Attach an evaluation (a score and/or a label, with an explanation) to a run,
        or to one of its spans (`span_id`, a unique prefix). Returns the stored row.

        `source` says who or what made it (``user:ana``, ``evals:helpfulness``).
        See docs/data-model.md#evaluations.
        """
        from agentreel.store._evaluations import add_evaluation

        return add_evaluation(
            self._store,
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
        return read_evaluations(self._store, run_ids=ids, name=name, since=_when(since, "since"))

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

        return sessions(
            self._store, query=query, since=since, until=until, origin=origin, limit=limit
        )

    def session_turns(self, session_id: str) -> pl.DataFrame:
        """The runs of one session in start order, with each root span's ``input``."""
        from agentreel.store._sessions import session_turns

        return session_turns(self._store, session_id)

    def agent_graph(self, run_id: str) -> AgentGraph:
        """The run's agents and the calls and handoffs between them, with each edge's
        invocations, errors, tokens and cost (docs/data-model.md#agent-graph)."""
        from agentreel.store._graph import agent_graph

        return agent_graph(self.spans(run_id))

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
