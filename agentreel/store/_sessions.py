"""Sessions: the runs that are turns of one conversation, grouped by ``runs.session_id``.

A run's session comes from ``gen_ai.conversation.id`` or ``session.id`` on its spans
(``agentreel.run(..., session=...)`` writes the first). docs/data-model.md#sessions
defines each column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from agentreel.store._queries import _STATUS_EXPR

if TYPE_CHECKING:
    from agentreel.store._store import Store

__all__ = ["SESSION_COLUMNS", "session_turns", "sessions"]

#: The columns of `Store.sessions`, in order.
SESSION_COLUMNS = (
    "session_id",
    "turns",
    "start_time",
    "end_time",
    "duration_ms",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "error_count",
    "failed_turns",
    "ended",
    "last_run_id",
    "names",
)


def sessions(
    store: Store,
    *,
    query: str | None = None,
    since: Any = None,
    until: Any = None,
    origin: str | None = None,
    limit: int | None = None,
) -> pl.DataFrame:
    """Sessions with at least one turn the filter selects, newest activity first.

    Every turn of such a session is counted, not only the matching ones. `ended` is
    the status of the session's last turn: ``ok``, ``error``, ``running`` or
    ``interrupted`` (the process that ran it is gone: the conversation was
    abandoned mid-turn).
    """
    where, params = store._run_filter(None, None, None, since, until, query, origin)
    matching = "SELECT DISTINCT session_id FROM runs WHERE session_id IS NOT NULL"
    if where:
        matching += " AND " + " AND ".join(where)
    # the turns counted are the matching sessions' runs of the same origin rule
    own, oparams = store._run_filter(None, None, None, None, None, None, origin)
    turns = (
        f"SELECT * REPLACE ({_STATUS_EXPR} AS status) FROM runs WHERE session_id IN ({matching})"
    )
    if own:
        turns += " AND " + " AND ".join(own)
    params.update({k: v for k, v in oparams.items() if k != "live"})
    q = f"""
        WITH t AS ({turns})
        SELECT session_id,
               count(*) AS turns,
               min(start_time) AS start_time,
               max(end_time) AS end_time,
               date_diff('microsecond', min(start_time), max(coalesce(end_time, start_time)))
                   / 1000.0 AS duration_ms,
               sum(input_tokens)::BIGINT AS input_tokens,
               sum(output_tokens)::BIGINT AS output_tokens,
               sum(cost_usd) AS cost_usd,
               sum(error_count)::BIGINT AS error_count,
               count(*) FILTER (WHERE status = 'error') AS failed_turns,
               arg_max(status, start_time) AS ended,
               arg_max(run_id, start_time) AS last_run_id,
               list(DISTINCT name ORDER BY name) AS names
        FROM t GROUP BY session_id
        ORDER BY max(start_time) DESC, session_id
    """
    if limit is not None:
        q += f" LIMIT {int(limit)}"
    return store.sql(q, params)


def session_turns(store: Store, session_id: str) -> pl.DataFrame:
    """The runs of one session in order, each with its input and output: the transcript.

    Replays and forks are left out. Raises `RunNotFound` when no run has the session.
    """
    from agentreel._errors import RunNotFound

    where, params = store._run_filter(None, None, None, None, None, None, None)
    turns = f"SELECT * REPLACE ({_STATUS_EXPR} AS status) FROM runs WHERE session_id = $session"
    if where:
        turns += " AND " + " AND ".join(f"({w})" for w in where)
    q = (
        f"WITH r AS ({turns}) SELECT r.*, "
        # what the turn was given: its root span's input, else its first agent's
        "coalesce(s.input, (SELECT a.input FROM spans a WHERE a.run_id = r.run_id "
        "AND a.kind = 'agent' AND a.input IS NOT NULL ORDER BY a.start_time LIMIT 1)) AS input "
        "FROM r LEFT JOIN spans s ON s.run_id = r.run_id AND s.span_id = r.root_span_id"
    )
    params["session"] = session_id
    frame = store.sql(q + " ORDER BY r.start_time, r.run_id", params)
    if not frame.height:
        raise RunNotFound(
            f"no session {session_id!r} in {store.path}; `agentreel sessions` lists them"
        )
    return frame
