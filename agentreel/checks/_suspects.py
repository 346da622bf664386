"""Which spans may break the default span contract, as one SQL condition.

`SpanModel`'s rules are simple per-row tests, so DuckDB can pick out the spans that
may break one without loading a million rows: ``span_schema`` then hands only those
to Pandera, which judges them exactly as it would judge the whole frame (same
columns, same types, same rules, same failure cases). The condition may flag too
much (a flagged span that is fine simply passes), never too little: a span it does
not flag breaks no rule of `SpanModel`. A subclass with rules of its own is
validated over every span instead.
"""

from __future__ import annotations

from agentreel.checks._models import (
    KINDS,
    MAX_INPUT_TOKENS,
    MAX_OUTPUT_TOKENS,
    MAX_SPAN_COST_USD,
)

__all__ = ["SPAN_SUSPECTS"]

_HEX = "0123456789abcdef"


def _quoted(values: list[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _id(col: str, digits: int, *, nullable: bool = False, repeats: bool = False) -> str:
    """Not `digits` lowercase hex digits (`SpanModel`'s id patterns, ``^[0-9a-f]{32}$`` and
    ``^[0-9a-f]{16}$``). For ids that `repeats` (a run's, on each of its spans: DuckDB
    runs a function once per distinct value of such a column) trimming the hex digits
    from the left is quickest, leaving nothing of a good id; for unique ids RE2 is."""
    if repeats:
        bad = f"strlen(s.{col}) <> {digits} OR ltrim(s.{col}, '{_HEX}') <> ''"
    else:
        bad = f"NOT regexp_full_match(s.{col}, '[0-9a-f]{{{digits}}}')"
    return f"(s.{col} IS NOT NULL AND ({bad}))" if nullable else f"(s.{col} IS NULL OR {bad})"


def _in_range(col: str, high: float | None) -> str:
    """A number out of [0, high]; NaN counts as out of range (Pandera judges it)."""
    cond = f"isnan(s.{col}::DOUBLE) OR s.{col} < 0"
    if high is not None:
        cond += f" OR s.{col} > {high!r}"
    return f"({cond})"


#: True for a span that may break a rule of `SpanModel` (with the spans as ``s``).
SPAN_SUSPECTS = " OR ".join(
    f"({cond})"
    for cond in [
        _id("run_id", 32, repeats=True),
        _id("trace_id", 32, repeats=True),
        _id("span_id", 16),
        _id("parent_span_id", 16, nullable=True),
        f"s.kind IS NULL OR s.kind NOT IN {_quoted(KINDS)}",
        f"s.status IS NULL OR s.status NOT IN {_quoted(['ok', 'error', 'unset'])}",
        "s.start_time IS NULL",
        _in_range("duration_ms", None),
        _in_range("input_tokens", MAX_INPUT_TOKENS),
        _in_range("output_tokens", MAX_OUTPUT_TOKENS),
        _in_range("cost_usd", MAX_SPAN_COST_USD),
        # end_not_before_start, run_is_trace
        "s.end_time < s.start_time",
        "s.run_id IS DISTINCT FROM s.trace_id",
        # llm_names_model, tool_names_tool, agent_names_agent
        "s.kind = 'llm' AND s.request_model IS NULL AND s.response_model IS NULL",
        "s.kind = 'tool' AND s.tool_name IS NULL AND s.operation = 'execute_tool'",
        "s.kind = 'agent' AND s.agent_name IS NULL AND s.operation = 'invoke_agent'",
    ]
)
