"""The reading half of `Store`: SQL, runs and spans as polars frames.

`Store` inherits these; they need only its connection (`_con`) and its paths. A run's
status is read, not only stored: one still ``running`` whose process has no fresh
heartbeat (`agentreel.store._markers`) reads as ``interrupted``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import duckdb
import polars as pl

from agentreel._errors import AgentreelError, RunNotFound
from agentreel._fmt import fmt_time
from agentreel._spool import SpoolPaths
from agentreel._when import BadTime, point_in_time, range_hint
from agentreel.store._attach import DB_NAME, cursor
from agentreel.store._blobs import expand_frame
from agentreel.store._damage import damaged, is_damage
from agentreel.store._filter import origin_condition, parse_filter
from agentreel.store._markers import live_processes
from agentreel.store._records import Run
from agentreel.store._tree import tree_order

__all__ = ["RUN_COLUMNS", "Queries"]

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

#: How many of the runs an ambiguous run id prefix matches the error names.
_AMBIGUOUS_SHOWN = 5


#: A run's status as read: one still "running" whose process has no fresh heartbeat
#: (``$live`` lists the live ones) is interrupted.
_STATUS_EXPR = (
    "CASE WHEN status = 'running' AND (process_id IS NULL OR NOT list_contains($live, process_id)) "
    "THEN 'interrupted' ELSE status END"
)


def _when(v: datetime | timedelta | str | None, name: str) -> datetime | None:
    """A point in time from a datetime, an age (timedelta or '90s', '15m', '2h', '7d'), or None.

    One outside what the store holds (1677 to 2262) is refused with `AgentreelError`.
    """
    try:
        return point_in_time(v, datetime.now(UTC).replace(tzinfo=None))
    except BadTime as e:
        if e.kind == "out_of_range" and e.date is not None:
            raise AgentreelError(
                f"{name}={e.date.isoformat()} is out of range: {range_hint()}"
            ) from None
        if e.kind == "unreadable":
            raise AgentreelError(
                f"{name}={v!r} is neither an age like 90s, 15m, 2h, 7d nor an ISO date"
            ) from None
        shown = v if isinstance(v, str) else str(v)
        raise AgentreelError(
            f"{name}={shown!r} reaches back too far: {range_hint()}; give a shorter age or a date"
        ) from None


class Queries:
    """Queries over a store's tables; mixed into `Store`, which supplies `_con`."""

    path: Path
    paths: SpoolPaths

    @property
    def _con(self) -> duckdb.DuckDBPyConnection:
        raise NotImplementedError  # `Store`'s

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

    def _query_failed(self, e: duckdb.Error) -> AgentreelError:
        if is_damage(e):
            return damaged(self.path / DB_NAME, e)
        return AgentreelError(f"query failed: {str(e).splitlines()[0]}")

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

    def run(self, run_id: str) -> Run:
        """One run's row as a dict (`run_id` may be a unique prefix)."""
        rid = self.resolve_run(run_id)
        return cast("Run", self.runs_by_id([rid]).row(0, named=True))

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

    def tree(self, run_id: str) -> pl.DataFrame:
        """The spans of one run depth-first (parents before children), with a ``depth`` column."""
        return tree_order(self.spans(run_id))

    def events(self, run_id: str) -> pl.DataFrame:
        """The span events (exceptions and others) of one run, in time order."""
        rid = self.resolve_run(run_id)
        return self.sql("SELECT * FROM events WHERE run_id = $r ORDER BY time", {"r": rid})
