"""`load_window`: one window's runs, and as much of its spans as the checks need.

The heavy lifting happens in DuckDB: payloads never leave the database (tool
arguments come back as a JSON-validity flag and their sorted key names; a run's
final output as two flags), and everything per run (its model, last finish reason,
loops and retry storms) is aggregated there. A window of a million spans is then
held in memory only as its tool and LLM calls, in the few columns the built-in
checks read, plus counts: spans of each kind, and the spans whose parent is
missing. The full spans frame (`SPAN_COLUMNS`) is loaded only for checks of your
own that read it (``full_spans=True``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from agentreel.checks._window import Window
from agentreel.store import Store

__all__ = [
    "CALL_COLUMNS",
    "RUN_COLUMNS",
    "SPAN_COLUMNS",
    "TRUNCATED",
    "WindowData",
    "load_window",
]

#: Columns of ``spans`` every window loads.
SPAN_COLUMNS = [
    "run_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "kind",
    "status",
    "start_time",
    "end_time",
    "duration_ms",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "agent_name",
    "tool_name",
    "operation",
    "request_model",
    "response_model",
    "finish_reason",
    "error_type",
]
#: Columns of the tool and the LLM calls the built-in checks read, when the full spans
#: frame is not loaded (``args_json`` and ``args_keys`` are worked out from the input).
CALL_COLUMNS = {
    "tool": ["run_id", "span_id", "status", "duration_ms", "tool_name", "error_type"],
    "llm": ["run_id", "span_id", "status", "duration_ms", "model", "finish_reason"],
}
#: Columns of ``runs`` every window loads.
RUN_COLUMNS = [
    "run_id",
    "name",
    "status",
    "start_time",
    "end_time",
    "duration_ms",
    "span_count",
    "agent_count",
    "llm_count",
    "tool_count",
    "retriever_count",
    "error_count",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "service_name",
    "code_version",
    "error_type",
    "session_id",
]
#: Finish reasons that mean the model stopped because it ran out of tokens.
TRUNCATED = ["length", "max_tokens", "model_length", "max_output_tokens"]
#: Finish reasons that mean the model (or its provider) refused.
REFUSED = ["content_filter", "refusal", "safety"]

_EMPTY_OUTPUTS = "('', '\"\"', 'null', '[]', '{}')"


@dataclass
class WindowData:
    """The runs and spans of one window, with what the checks derive from them.

    ``runs`` has one row per run: the store's columns plus ``tags`` (JSON text),
    ``failed`` (error or interrupted), ``tokens``, ``steps`` (LLM, tool and retriever
    calls), ``model`` (the run's most used model), ``final_finish_reason``,
    ``truncated``, ``output_empty``, ``refused``, ``max_repeat`` and ``loop_tool``
    (the most repeated identical tool call that succeeded: the calls of a loop),
    ``max_failed_repeat`` and ``retry_tool`` (the longest streak of one identical
    tool call failing, with no success of it between: a retry storm), and one column per
    ``attributes.KEY`` asked for.

    ``spans``, when loaded in full, has `SPAN_COLUMNS` plus ``model``, ``args_hash`` (63
    bits: Pandera, which writes a failing row into its failure case, takes no unsigned
    64-bit number),
    ``args_json`` (does a tool input written as a JSON object parse; null for other
    text, such as a handoff's agent name) and ``args_keys`` (its sorted top-level
    keys, comma-joined). Otherwise it is None, and the window holds instead its tool
    and LLM calls (`of_kind`, in `CALL_COLUMNS`, the tool calls with ``args_json`` and
    ``args_keys``), its span count and counts per kind, the spans whose parent is in
    no run of the window (``orphans``) and the spans that may break the default span
    contract (``span_suspects``, in the full frame's columns).
    """

    window: Window
    runs: pl.DataFrame
    spans: pl.DataFrame | None
    hours: float | None
    loaded_at: datetime
    store: Store | None = None
    span_count: int | None = None
    kind_counts: dict[str, int] | None = None
    orphans: pl.DataFrame | None = None
    span_suspects: pl.DataFrame | None = None
    #: The scored evaluations of the window's runs (the ``evaluations`` view): run_id,
    #: span_id, evaluation (its name), score, label, source.
    evaluations: pl.DataFrame | None = None
    _kinds: dict[str, pl.DataFrame] = field(default_factory=dict, repr=False)

    @property
    def n_spans(self) -> int:
        """Spans in the window."""
        if self.span_count is not None:
            return self.span_count
        return self.spans.height if self.spans is not None else 0

    def all_spans(self) -> pl.DataFrame:
        """The full spans frame (only when it was loaded: ``full_spans=True``)."""
        if self.spans is None:
            raise RuntimeError("the spans frame was not loaded for this window")
        return self.spans

    def of_kind(self, kind: str) -> pl.DataFrame:
        """The spans of one kind (``tool``, ``llm``, ...), filtered once and kept."""
        if kind not in self._kinds:
            self._kinds[kind] = self.all_spans().filter(pl.col("kind") == kind)
        return self._kinds[kind]

    def count_of_kind(self, kind: str) -> int:
        """How many spans of `kind` the window has."""
        if self.kind_counts is not None:
            return self.kind_counts.get(kind, 0)
        return self.of_kind(kind).height


#: An LLM span's finish reason: its own, else the one in the response it recorded as its
#: output (OpenInference's OpenAI and Anthropic spans keep the reason only there:
#: ``choices[0].finish_reason``, ``stop_reason``).
_FINISH_REASON_EXPR = """(
    CASE WHEN s.finish_reason IS NULL AND s.kind = 'llm' AND ltrim(s.output) LIKE '{%'
              AND json_valid(s.output)
         THEN coalesce(json_extract_string(s.output, '$.choices[0].finish_reason'),
                       json_extract_string(s.output, '$.stop_reason'))
         ELSE s.finish_reason END)"""
_FINISH_REASON = _FINISH_REASON_EXPR + " AS finish_reason"

_ARGS = """
    CASE WHEN s.kind = 'tool' AND ltrim(s.input) LIKE '{%' THEN json_valid(s.input) END
        AS args_json,
    CASE WHEN s.kind = 'tool' AND json_valid(s.input) AND json_type(s.input) = 'OBJECT'
         THEN array_to_string(list_sort(json_keys(s.input)), ',') END AS args_keys"""

_IN_WINDOW = "s.run_id IN (SELECT r.run_id FROM runs r WHERE {where})"


def _spans_sql(where: str, columns: Sequence[str]) -> str:
    """The window's spans in `columns`, plus ``model`` and the tool arguments' hash and
    flags."""
    cols = ", ".join(_FINISH_REASON if c == "finish_reason" else f"s.{c}" for c in columns)
    return f"""
        SELECT {cols},
            coalesce(s.response_model, s.request_model) AS model,
            CASE WHEN s.kind = 'tool' THEN (hash(s.input) >> 1)::BIGINT END AS args_hash,
            {_ARGS}
        FROM spans s
        WHERE {_IN_WINDOW.format(where=where)}
    """


def _calls_sql(where: str, kind: str, columns: Sequence[str], only: str = "") -> str:
    """The window's spans of one `kind` in `columns` (``model`` included), plus the tool
    arguments' flags for tool calls; `only` is one more condition on the spans (as ``s``)."""
    exprs = {
        "finish_reason": _FINISH_REASON,
        "model": "coalesce(s.response_model, s.request_model) AS model",
    }
    cols = ", ".join(exprs.get(c, f"s.{c}") for c in columns)
    args = f", {_ARGS}" if kind == "tool" else ""
    cond = f"s.kind = '{kind}' AND {_IN_WINDOW.format(where=where)}"
    return f"SELECT {cols}{args} FROM spans s WHERE {cond}{f' AND ({only})' if only else ''}"


def _runs_sql(where: str, extra: Sequence[str], attributes: Sequence[str]) -> str:
    cols = ", ".join(f"r.{c}" for c in [*RUN_COLUMNS, *extra])
    attrs = "".join(
        f", json_extract_string(root.attributes, '$.' || to_json($attr{i})::VARCHAR) "
        f'AS "attributes.{a}"'
        for i, a in enumerate(attributes)
    )
    join = (
        " LEFT JOIN spans root ON root.run_id = r.run_id AND root.span_id = r.root_span_id"
        if attributes
        else ""
    )
    return f"""
        SELECT {cols}, CAST(r.tags AS VARCHAR) AS tags,
            (r.output IS NULL OR trim(r.output) IN {_EMPTY_OUTPUTS}) AS output_empty,
            coalesce(regexp_matches(r.output, $refusal), false) AS output_refusal{attrs}
        FROM runs r{join}
        WHERE {where}
    """


def _list(values: Sequence[str]) -> str:
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


#: Per run, from its LLM and tool calls: the last finish reason recorded, whether any
#: call was refused, the most used model, the most repeated identical call that
#: succeeded (a loop) and the longest streak of one identical call failing (a retry
#: storm; each success of the call starts a new streak). A tie goes to the greatest
#: name, so the same runs give the same answer every time.
_PER_RUN_LLM = """
WITH llm_calls AS NOT MATERIALIZED (
    SELECT s.run_id, s.end_time, {finish_reason} AS finish_reason,
        coalesce(s.response_model, s.request_model) AS model
    FROM spans s
    WHERE s.kind = 'llm' AND {in_window}
),
llm AS (
    SELECT run_id,
        -- of the last call that recorded one (an unfinished call counts as the last): a
        -- call described by two spans (a decorator around an instrumented client) may
        -- have it on one of them only
        arg_max(finish_reason, (coalesce(end_time, 'infinity'::TIMESTAMP), finish_reason))
            FILTER (WHERE finish_reason IS NOT NULL) AS final_finish_reason,
        bool_or(lower(finish_reason) IN {refused}) AS any_refusal_reason
    FROM llm_calls GROUP BY run_id
),
models AS (
    SELECT run_id, arg_max(model, (n, model)) AS model
    FROM (SELECT run_id, model, count(*) AS n FROM llm_calls
          WHERE model IS NOT NULL GROUP BY run_id, model)
    GROUP BY run_id
)
SELECT llm.run_id, llm.final_finish_reason, llm.any_refusal_reason, models.model
FROM llm LEFT JOIN models ON models.run_id = llm.run_id
"""

_PER_RUN_TOOL = """
WITH calls AS NOT MATERIALIZED (
    SELECT s.run_id, s.tool_name, hash(s.input) AS args, s.status, s.start_time, s.span_id
    FROM spans s
    WHERE s.kind = 'tool' AND {in_window}
),
loops AS (
    SELECT run_id, max(n) AS max_repeat, arg_max(tool_name, (n, tool_name)) AS loop_tool
    FROM (SELECT run_id, tool_name, args, count(*) AS n FROM calls
          WHERE status <> 'error' GROUP BY run_id, tool_name, args)
    GROUP BY run_id
),
streaks AS (
    SELECT run_id, tool_name, args, status,
        sum(CASE WHEN status <> 'error' THEN 1 ELSE 0 END) OVER (
            PARTITION BY run_id, tool_name, args
            ORDER BY start_time ASC NULLS FIRST, span_id ASC NULLS FIRST
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS streak
    -- only a call that failed at least once can make a streak
    FROM calls SEMI JOIN (SELECT DISTINCT run_id, tool_name, args FROM calls
                          WHERE status = 'error') f
        ON calls.run_id = f.run_id AND calls.tool_name IS NOT DISTINCT FROM f.tool_name
            AND calls.args = f.args
),
storms AS (
    SELECT run_id, max(n) AS max_failed_repeat, arg_max(tool_name, (n, tool_name)) AS retry_tool
    FROM (SELECT run_id, tool_name, args, streak, count(*) AS n FROM streaks
          WHERE status = 'error' GROUP BY run_id, tool_name, args, streak)
    GROUP BY run_id
)
SELECT coalesce(loops.run_id, storms.run_id) AS run_id, loops.max_repeat, loops.loop_tool,
    storms.max_failed_repeat, storms.retry_tool
FROM loops FULL JOIN storms ON storms.run_id = loops.run_id
"""


def _per_run_sql(where: str) -> tuple[str, str]:
    """The per-run aggregates of the LLM calls and of the tool calls: two queries, so
    DuckDB holds the working memory of one at a time."""
    values = {
        "finish_reason": _FINISH_REASON_EXPR,
        "in_window": _IN_WINDOW.format(where=where),
        "refused": _list(REFUSED),
    }
    return _PER_RUN_LLM.format(**values), _PER_RUN_TOOL.format(**values)


def _orphans_sql(where: str) -> str:
    """The window's spans whose parent is in none of its runs (runs are whole in a window,
    so the parent is missing from its own run).

    Ids are compared by 64-bit hash: a hash table of a million ids is a sixth of one of
    the ids themselves, and a collision among a million ids has a chance of about 1 in
    30 million.
    """
    in_window = _IN_WINDOW.format(where=where)
    return f"""
        SELECT s.run_id, s.span_id, s.parent_span_id, s.kind FROM spans s
        WHERE s.parent_span_id IS NOT NULL AND {in_window}
            AND hash(s.parent_span_id) NOT IN (
                SELECT hash(s.span_id) FROM spans s WHERE s.span_id IS NOT NULL AND {in_window})
    """


def _evaluations(store: Store, where: str, params: dict[str, Any]) -> pl.DataFrame | None:
    """The scored evaluations of the window's runs; None in a store older than them
    (opened read-only, so not migrated)."""
    has_view = store.sql(
        "SELECT count(*) AS n FROM duckdb_views() WHERE view_name = 'evaluations' "
        "AND database_name = current_database()"
    )["n"][0]
    if not has_view:
        return None
    return store.sql(
        "SELECT e.run_id, e.span_id, e.name AS evaluation, e.score, e.label, e.source "
        f"FROM evaluations e WHERE e.score IS NOT NULL AND e.run_id IN "
        f"(SELECT r.run_id FROM runs r WHERE {where})",
        params,
    )


def load_window(
    store: Store,
    window: Window,
    *,
    refusal_pattern: str,
    span_extra: Sequence[str] = (),
    run_extra: Sequence[str] = (),
    attributes: Sequence[str] = (),
    full_spans: bool = True,
    suspects: str | None = None,
) -> WindowData:
    """Read `window`'s runs and spans from `store`.

    `span_extra` and `run_extra` name more table columns to load (for models of your
    own); `attributes` names root-span attributes to expose as ``attributes.KEY``.
    With `full_spans` false, the spans are read as counts, the tool and LLM calls and
    the orphans only (see `WindowData`), and `suspects`, a SQL condition on the spans
    (as ``s``), selects the ``span_suspects`` to read in the full frame's columns.
    """
    now = datetime.now()
    resolved = window.resolve()
    where, params = resolved.where("w_")
    span_extra = [c for c in dict.fromkeys(span_extra) if c not in SPAN_COLUMNS]
    run_extra = [c for c in dict.fromkeys(run_extra) if c not in RUN_COLUMNS and c != "tags"]
    run_params = {**params, "refusal": refusal_pattern}
    run_params.update({f"attr{i}": a for i, a in enumerate(attributes)})
    runs = store.sql(_runs_sql(where, run_extra, attributes), run_params)
    data = WindowData(
        window=resolved,
        runs=runs,
        spans=None,
        hours=resolved.hours(),
        loaded_at=now,
        store=store,
    )
    store.give_way()  # another command waits for one query, not for the whole check
    llm_sql, tool_sql = _per_run_sql(where)
    per_llm = store.sql(llm_sql, params)
    store.give_way()
    data.runs = _derive_runs(runs, per_llm, store.sql(tool_sql, params))
    store.give_way()
    data.evaluations = _evaluations(store, where, params)
    if full_spans:
        data.spans = store.sql(_spans_sql(where, [*SPAN_COLUMNS, *span_extra]), params)
        return data
    counts = store.sql(
        f"SELECT s.kind, count(*) AS n FROM spans s WHERE {_IN_WINDOW.format(where=where)} "
        "GROUP BY s.kind",
        params,
    )
    data.kind_counts = {str(k): int(n) for k, n in counts.iter_rows()}
    data.span_count = sum(data.kind_counts.values())
    for kind, columns in CALL_COLUMNS.items():
        store.give_way()
        data._kinds[kind] = store.sql(_calls_sql(where, kind, columns), params)
    store.give_way()
    data.orphans = store.sql(_orphans_sql(where), params)
    if suspects is not None:
        store.give_way()
        data.span_suspects = store.sql(
            _spans_sql(where, [*SPAN_COLUMNS, *span_extra]) + f" AND ({suspects})", params
        )
    return data


def _derive_runs(runs: pl.DataFrame, llm: pl.DataFrame, tools: pl.DataFrame) -> pl.DataFrame:
    """The runs with their calls' aggregates, and the columns worked out from both."""
    out = runs.join(llm, on="run_id", how="left").join(tools, on="run_id", how="left")
    return out.with_columns(
        failed=pl.col("status").is_in(["error", "interrupted"]),
        tokens=pl.sum_horizontal("input_tokens", "output_tokens"),
        steps=pl.col("llm_count") + pl.col("tool_count") + pl.col("retriever_count"),
        truncated=pl.col("final_finish_reason")
        .str.to_lowercase()
        .is_in(TRUNCATED)
        .fill_null(False),
        refused=pl.col("output_refusal") | pl.col("any_refusal_reason").fill_null(False),
        max_repeat=pl.col("max_repeat").fill_null(0).cast(pl.Int64),
        max_failed_repeat=pl.col("max_failed_repeat").fill_null(0).cast(pl.Int64),
    ).drop("any_refusal_reason", "output_refusal")
