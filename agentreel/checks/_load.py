"""`load_window`: one window's runs and spans as polars frames, in two SQL queries.

The heavy lifting happens in DuckDB: only the columns checks use are read, payloads
never leave the database (tool arguments come back as a hash, a JSON-validity flag
and their sorted key names; a run's final output as two flags), and everything
per run is then derived in polars from the spans frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from agentreel.checks._window import Window
from agentreel.store import Store

__all__ = ["RUN_COLUMNS", "SPAN_COLUMNS", "TRUNCATED", "WindowData", "load_window"]

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
    ``attributes.KEY`` asked for. ``spans`` has `SPAN_COLUMNS` plus ``model``,
    ``args_hash``, ``args_json`` (does a tool input written as a JSON object parse; null
    for other text, such as a handoff's agent name) and ``args_keys``
    (its sorted top-level keys, comma-joined).
    """

    window: Window
    runs: pl.DataFrame
    spans: pl.DataFrame
    hours: float | None
    loaded_at: datetime
    store: Store | None = None
    _kinds: dict[str, pl.DataFrame] = field(default_factory=dict, repr=False)

    def of_kind(self, kind: str) -> pl.DataFrame:
        """The spans of one kind (``tool``, ``llm``, ...), filtered once and kept."""
        if kind not in self._kinds:
            self._kinds[kind] = self.spans.filter(pl.col("kind") == kind)
        return self._kinds[kind]


#: An LLM span's finish reason: its own, else the one in the response it recorded as its
#: output (OpenInference's OpenAI and Anthropic spans keep the reason only there:
#: ``choices[0].finish_reason``, ``stop_reason``).
_FINISH_REASON = """
    CASE WHEN s.finish_reason IS NULL AND s.kind = 'llm' AND ltrim(s.output) LIKE '{%'
              AND json_valid(s.output)
         THEN coalesce(json_extract_string(s.output, '$.choices[0].finish_reason'),
                       json_extract_string(s.output, '$.stop_reason'))
         ELSE s.finish_reason END AS finish_reason"""


def _spans_sql(where: str, extra: Sequence[str]) -> str:
    cols = ", ".join(
        _FINISH_REASON if c == "finish_reason" else f"s.{c}" for c in [*SPAN_COLUMNS, *extra]
    )
    return f"""
        SELECT {cols},
            coalesce(s.response_model, s.request_model) AS model,
            CASE WHEN s.kind = 'tool' THEN hash(s.input) END AS args_hash,
            CASE WHEN s.kind = 'tool' AND ltrim(s.input) LIKE '{{%' THEN json_valid(s.input) END
                AS args_json,
            CASE WHEN s.kind = 'tool' AND json_valid(s.input) AND json_type(s.input) = 'OBJECT'
                 THEN array_to_string(list_sort(json_keys(s.input)), ',') END AS args_keys
        FROM spans s
        WHERE s.run_id IN (SELECT r.run_id FROM runs r WHERE {where})
    """


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


def load_window(
    store: Store,
    window: Window,
    *,
    refusal_pattern: str,
    span_extra: Sequence[str] = (),
    run_extra: Sequence[str] = (),
    attributes: Sequence[str] = (),
) -> WindowData:
    """Read `window`'s runs and spans from `store`.

    `span_extra` and `run_extra` name more table columns to load (for models of your
    own); `attributes` names root-span attributes to expose as ``attributes.KEY``.
    """
    now = datetime.now()
    resolved = window.resolve()
    where, params = resolved.where("w_")
    span_extra = [c for c in dict.fromkeys(span_extra) if c not in SPAN_COLUMNS]
    run_extra = [c for c in dict.fromkeys(run_extra) if c not in RUN_COLUMNS and c != "tags"]
    spans = store.sql(_spans_sql(where, span_extra), params)
    store.give_way()  # another command waits for one query, not for the whole check
    run_params = {**params, "refusal": refusal_pattern}
    run_params.update({f"attr{i}": a for i, a in enumerate(attributes)})
    runs = store.sql(_runs_sql(where, run_extra, attributes), run_params)
    return WindowData(
        window=resolved,
        runs=_derive_runs(runs, spans),
        spans=spans,
        hours=resolved.hours(),
        loaded_at=now,
        store=store,
    )


def _derive_runs(runs: pl.DataFrame, spans: pl.DataFrame) -> pl.DataFrame:
    """Per-run columns computed from the spans: model, final finish reason, loops, retries."""
    llm = spans.lazy().filter(pl.col("kind") == "llm")
    per_run = (
        llm.group_by("run_id")
        .agg(
            # of the last call that recorded one: a call described by two spans (a
            # decorator around an instrumented client) may have it on one of them only
            final_finish_reason=pl.col("finish_reason")
            .sort_by("end_time", nulls_last=True)
            .drop_nulls()
            .last(),
            any_refusal_reason=pl.col("finish_reason").str.to_lowercase().is_in(REFUSED).any(),
        )
        .collect()
    )
    model = (
        llm.filter(pl.col("model").is_not_null())
        .group_by("run_id", "model")
        .agg(calls=pl.len())
        .group_by("run_id")
        .agg(pl.col("model").top_k_by("calls", 1).first())
        .collect()
    )
    calls = spans.lazy().filter((pl.col("kind") == "tool") & pl.col("args_hash").is_not_null())
    call = ["run_id", "tool_name", "args_hash"]
    failed = pl.col("status") == "error"
    # A loop: identical calls that succeeded. Failed ones are retries, counted apart.
    loops = (
        calls.filter(~failed)
        .group_by(call)
        .agg(repeat=pl.len())
        .group_by("run_id")
        .agg(
            max_repeat=pl.col("repeat").max(),
            loop_tool=pl.col("tool_name").top_k_by("repeat", 1).first(),
        )
        .collect()
    )
    # A retry storm: identical calls failing one after another, no success between them.
    # Each success of a call starts a new streak of that call's failures.
    storms = (
        calls.sort("run_id", "start_time", "span_id")
        .with_columns(streak=(~failed).cum_sum().over(call))
        .filter(failed)
        .group_by(*call, "streak")
        .agg(repeat=pl.len())
        .group_by("run_id")
        .agg(
            max_failed_repeat=pl.col("repeat").max(),
            retry_tool=pl.col("tool_name").top_k_by("repeat", 1).first(),
        )
        .collect()
    )
    out = (
        runs.join(per_run, on="run_id", how="left")
        .join(model, on="run_id", how="left")
        .join(loops, on="run_id", how="left")
        .join(storms, on="run_id", how="left")
    )
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
