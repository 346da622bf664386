"""Row contracts: Pandera models of the store's ``spans`` and ``runs`` frames.

The ``span_schema`` and ``run_schema`` checks validate the current window's rows
against these models. Subclass them to add rules of your own (in a file listed in
``files`` of the checks config); the check then uses your subclass::

    import pandera.polars as pa
    import polars as pl
    from agentreel.checks import SpanModel

    class Spans(SpanModel):
        # every LLM call in our agent names its provider
        @pa.dataframe_check
        def llm_names_provider(cls, data):
            return data.lazyframe.select(
                (pl.col("kind") != "llm") | pl.col("provider").is_not_null()
            )

Columns a subclass names that the checks do not load by default (``provider``,
``name``, ``attributes``, ...) are loaded for it.
"""

from __future__ import annotations

from typing import Annotated

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

__all__ = [
    "MAX_INPUT_TOKENS",
    "MAX_OUTPUT_TOKENS",
    "MAX_RUN_COST_USD",
    "MAX_SPAN_COST_USD",
    "RunModel",
    "SpanModel",
]

KINDS = ["agent", "llm", "tool", "retriever", "embedding", "chain", "other"]
#: More than any model's context window: a larger count is a unit or parsing bug.
MAX_INPUT_TOKENS = 10_000_000
#: More output than any model produces in one call.
MAX_OUTPUT_TOKENS = 1_000_000
#: One LLM call costing more than this is a price or unit bug, not a call.
MAX_SPAN_COST_USD = 100.0
#: Likewise for a whole run.
MAX_RUN_COST_USD = 10_000.0

_TRACE_ID = r"^[0-9a-f]{32}$"
_SPAN_ID = r"^[0-9a-f]{16}$"
Timestamp = Annotated[pl.Datetime, "ns", None]


class SpanModel(pa.DataFrameModel):
    """One span: ids, kind, status, times (end not before start), tokens and cost in range,
    and the GenAI fields each kind needs (a model for ``llm``; a tool name for an
    ``execute_tool`` span, an agent name for an ``invoke_agent`` one)."""

    run_id: str = pa.Field(str_matches=_TRACE_ID)
    trace_id: str = pa.Field(str_matches=_TRACE_ID)
    span_id: str = pa.Field(str_matches=_SPAN_ID)
    parent_span_id: str = pa.Field(nullable=True, str_matches=_SPAN_ID)
    kind: str = pa.Field(isin=KINDS)
    status: str = pa.Field(isin=["ok", "error", "unset"])
    start_time: Timestamp
    end_time: Timestamp = pa.Field(nullable=True)
    duration_ms: float = pa.Field(nullable=True, ge=0)
    input_tokens: int = pa.Field(nullable=True, ge=0, le=MAX_INPUT_TOKENS)
    output_tokens: int = pa.Field(nullable=True, ge=0, le=MAX_OUTPUT_TOKENS)
    cost_usd: float = pa.Field(nullable=True, ge=0, le=MAX_SPAN_COST_USD)
    agent_name: str = pa.Field(nullable=True)
    tool_name: str = pa.Field(nullable=True)
    request_model: str = pa.Field(nullable=True)
    response_model: str = pa.Field(nullable=True)

    @pa.dataframe_check()
    def end_not_before_start(cls, data: PolarsData) -> pl.LazyFrame:
        """A finished span ends at or after its start."""
        end, start = pl.col("end_time"), pl.col("start_time")
        return data.lazyframe.select(end.is_null() | (end >= start))

    @pa.dataframe_check()
    def run_is_trace(cls, data: PolarsData) -> pl.LazyFrame:
        """A span's run is its trace."""
        return data.lazyframe.select(pl.col("run_id") == pl.col("trace_id"))

    @pa.dataframe_check()
    def llm_names_model(cls, data: PolarsData) -> pl.LazyFrame:
        """An LLM call names its model (requested or responding)."""
        named = pl.col("request_model").is_not_null() | pl.col("response_model").is_not_null()
        return data.lazyframe.select((pl.col("kind") != "llm") | named)

    @pa.dataframe_check()
    def tool_names_tool(cls, data: PolarsData) -> pl.LazyFrame:
        """A tool call in the GenAI conventions (``execute_tool``) names its tool."""
        named = pl.col("tool_name").is_not_null() | _not_operation(data, "execute_tool")
        return data.lazyframe.select((pl.col("kind") != "tool") | named)

    @pa.dataframe_check()
    def agent_names_agent(cls, data: PolarsData) -> pl.LazyFrame:
        """An agent step in the GenAI conventions (``invoke_agent``) names its agent."""
        named = pl.col("agent_name").is_not_null() | _not_operation(data, "invoke_agent")
        return data.lazyframe.select((pl.col("kind") != "agent") | named)

    class Config:
        strict = False  # the frame carries more columns than the contract names


def _not_operation(data: PolarsData, operation: str) -> pl.Expr:
    """Spans not written as `operation` of the GenAI conventions, which require a name there.

    OpenInference requires no name: its workflow span (an ``AGENT`` with no agent) and
    a handoff (a ``TOOL`` with no tool) are how a healthy openai-agents run looks. A
    frame without the ``operation`` column holds every span of the kind to the rule.
    """
    if "operation" not in data.lazyframe.collect_schema().names():
        return pl.lit(False)
    return pl.col("operation").fill_null("") != operation


class RunModel(pa.DataFrameModel):
    """One run: id, status, times, span counts consistent with each other, tokens and cost
    in range."""

    run_id: str = pa.Field(str_matches=_TRACE_ID)
    status: str = pa.Field(isin=["ok", "error", "running", "interrupted"])
    start_time: Timestamp
    end_time: Timestamp = pa.Field(nullable=True)
    duration_ms: float = pa.Field(nullable=True, ge=0)
    span_count: int = pa.Field(ge=1)
    agent_count: int = pa.Field(ge=0)
    llm_count: int = pa.Field(ge=0)
    tool_count: int = pa.Field(ge=0)
    retriever_count: int = pa.Field(ge=0)
    error_count: int = pa.Field(ge=0)
    input_tokens: int = pa.Field(nullable=True, ge=0)
    output_tokens: int = pa.Field(nullable=True, ge=0)
    cost_usd: float = pa.Field(nullable=True, ge=0, le=MAX_RUN_COST_USD)

    @pa.dataframe_check()
    def end_not_before_start(cls, data: PolarsData) -> pl.LazyFrame:
        """A finished run ends at or after its start."""
        end, start = pl.col("end_time"), pl.col("start_time")
        return data.lazyframe.select(end.is_null() | (end >= start))

    @pa.dataframe_check()
    def counts_add_up(cls, data: PolarsData) -> pl.LazyFrame:
        """Spans of each kind, and failed spans, are no more than all the run's spans."""
        kinds = (pl.col("agent_count") + pl.col("llm_count") + pl.col("tool_count")) + pl.col(
            "retriever_count"
        )
        return data.lazyframe.select(
            (kinds <= pl.col("span_count")) & (pl.col("error_count") <= pl.col("span_count"))
        )

    @pa.dataframe_check()
    def failed_run_has_error(cls, data: PolarsData) -> pl.LazyFrame:
        """A run that failed has at least one failed span (its root)."""
        return data.lazyframe.select((pl.col("status") != "error") | (pl.col("error_count") >= 1))

    class Config:
        strict = False
