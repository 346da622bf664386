"""Row contracts, property-tested: any valid frame passes; a corrupted one fails, and the
failing rows reported are exactly the corrupted ones."""

from __future__ import annotations

from datetime import datetime

import hypothesis.strategies as st
import pandera.polars as pa
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from polars.testing.parametric import column, dataframes

from agentreel.checks import RunModel, SpanModel, Window
from agentreel.checks._check import Inputs
from agentreel.checks._load import WindowData
from agentreel.checks._registry import BUILTINS

HEX = "0123456789abcdef"
KINDS = ["agent", "llm", "tool", "retriever", "embedding", "chain", "other"]
T0 = datetime(2026, 1, 1)

span_columns = [
    column(
        "run_id", dtype=pl.String, strategy=st.text(HEX, min_size=32, max_size=32), allow_null=False
    ),
    column(
        "span_id",
        dtype=pl.String,
        strategy=st.text(HEX, min_size=16, max_size=16),
        allow_null=False,
    ),
    column("parent_span_id", dtype=pl.String, strategy=st.text(HEX, min_size=16, max_size=16)),
    column("kind", dtype=pl.String, strategy=st.sampled_from(KINDS), allow_null=False),
    column(
        "status",
        dtype=pl.String,
        strategy=st.sampled_from(["ok", "error", "unset"]),
        allow_null=False,
    ),
    column("start_us", dtype=pl.Int64, strategy=st.integers(0, 10**12), allow_null=False),
    column("duration_us", dtype=pl.Int64, strategy=st.integers(0, 10**9)),
    column("input_tokens", dtype=pl.Int64, strategy=st.integers(0, 10_000_000)),
    column("output_tokens", dtype=pl.Int64, strategy=st.integers(0, 1_000_000)),
    column("cost_usd", dtype=pl.Float64, strategy=st.floats(0, 100, allow_nan=False)),
    column("name", dtype=pl.String, strategy=st.text(min_size=1, max_size=12), allow_null=False),
]


def _spans(raw: pl.DataFrame) -> pl.DataFrame:
    """A spans frame as the store gives it, derived so that cross-column rules hold."""
    start = pl.lit(T0) + pl.duration(microseconds=pl.col("start_us"))
    return raw.select(
        "run_id",
        trace_id=pl.col("run_id"),
        span_id="span_id",
        parent_span_id="parent_span_id",
        kind="kind",
        status="status",
        start_time=start.cast(pl.Datetime("ns")),
        end_time=(start + pl.duration(microseconds=pl.col("duration_us"))).cast(pl.Datetime("ns")),
        duration_ms=pl.col("duration_us") / 1000,
        input_tokens="input_tokens",
        output_tokens="output_tokens",
        cost_usd="cost_usd",
        agent_name=pl.when(pl.col("kind") == "agent").then(pl.col("name")),
        tool_name=pl.when(pl.col("kind") == "tool").then(pl.col("name")),
        request_model=pl.when(pl.col("kind") == "llm").then(pl.col("name")),
        response_model=pl.lit(None, dtype=pl.String),
    )


valid_spans = dataframes(span_columns, min_size=1, max_size=40).map(_spans)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_spans)
def test_any_valid_span_frame_passes(spans: pl.DataFrame) -> None:
    SpanModel.validate(spans, lazy=True)


#: How to corrupt one row, and the rule that must catch it.
CORRUPTIONS = {
    "negative tokens": (pl.lit(-5, dtype=pl.Int64).alias("input_tokens"), "input_tokens"),
    "absurd cost": (pl.lit(1e6).alias("cost_usd"), "cost_usd"),
    "unknown kind": (pl.lit("robot").alias("kind"), "kind"),
    "short span id": (pl.lit("abc").alias("span_id"), "span_id"),
    "end before start": (
        (pl.col("start_time") - pl.duration(seconds=1)).cast(pl.Datetime("ns")).alias("end_time"),
        "end_not_before_start",
    ),
    "run is not the trace": (pl.lit("f" * 32).alias("trace_id"), "run_is_trace"),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_spans, st.sampled_from(sorted(CORRUPTIONS)), st.data())
def test_a_corrupted_span_frame_fails_with_exactly_the_corrupted_rows(
    spans: pl.DataFrame, corruption: str, data: st.DataObject
) -> None:
    expr, rule = CORRUPTIONS[corruption]
    bad_rows = sorted(data.draw(st.sets(st.integers(0, spans.height - 1), min_size=1)))
    if corruption == "run is not the trace":
        # make sure the new trace id differs from every run id it replaces
        spans = spans.with_columns(run_id=pl.lit("0" * 32), trace_id=pl.lit("0" * 32))
    mask = pl.int_range(pl.len()).is_in(bad_rows)
    corrupted = spans.with_columns(
        pl.when(mask).then(expr).otherwise(pl.col(expr.meta.output_name()))
    )
    with pytest.raises(pa.errors.SchemaErrors) as info:
        SpanModel.validate(corrupted, lazy=True)
    cases = info.value.failure_cases
    broken = {
        c if col == "SpanModel" else col for col, c in cases.select("column", "check").iter_rows()
    }
    assert broken == {rule}
    assert sorted(set(cases["index"].drop_nulls().to_list())) == bad_rows

    # and the span_schema check lists those spans under its failure
    check = BUILTINS["span_schema"]()
    window = WindowData(Window(), pl.DataFrame(), corrupted, None, T0)
    metrics = check.evaluate(Inputs(window, {}, None, ""), check.defaults())
    assert metrics, "a broken rule gives a metric row"
    listed: set[str] = set()
    for m in metrics:
        assert m.value is not None
        assert m.value >= 1
        f = m.failures() if callable(m.failures) else m.failures
        assert f is not None
        listed |= set(f["span_id"])
    assert listed == set(corrupted[bad_rows]["span_id"])


def _runs(raw: pl.DataFrame) -> pl.DataFrame:
    start = (pl.lit(T0) + pl.duration(microseconds=pl.col("start_us"))).cast(pl.Datetime("ns"))
    return raw.select(
        "run_id",
        status="status",
        start_time=start,
        end_time=(start + pl.duration(microseconds=pl.col("duration_us"))).cast(pl.Datetime("ns")),
        duration_ms=pl.col("duration_us") / 1000,
        span_count=pl.col("agent_count") + pl.col("llm_count") + pl.col("tool_count") + 1,
        agent_count="agent_count",
        llm_count="llm_count",
        tool_count="tool_count",
        retriever_count=pl.lit(0, dtype=pl.Int64),
        error_count=pl.when(pl.col("status") == "error").then(1).otherwise(0).cast(pl.Int64),
        input_tokens="tokens",
        output_tokens="tokens",
        cost_usd="cost_usd",
    )


valid_runs = dataframes(
    [
        column(
            "run_id",
            dtype=pl.String,
            strategy=st.text(HEX, min_size=32, max_size=32),
            allow_null=False,
        ),
        column(
            "status",
            dtype=pl.String,
            strategy=st.sampled_from(["ok", "error", "running", "interrupted"]),
            allow_null=False,
        ),
        column("start_us", dtype=pl.Int64, strategy=st.integers(0, 10**12), allow_null=False),
        column("duration_us", dtype=pl.Int64, strategy=st.integers(0, 10**10)),
        column("agent_count", dtype=pl.Int64, strategy=st.integers(0, 50), allow_null=False),
        column("llm_count", dtype=pl.Int64, strategy=st.integers(0, 50), allow_null=False),
        column("tool_count", dtype=pl.Int64, strategy=st.integers(0, 500), allow_null=False),
        column("tokens", dtype=pl.Int64, strategy=st.integers(0, 10**8)),
        column("cost_usd", dtype=pl.Float64, strategy=st.floats(0, 10_000, allow_nan=False)),
    ],
    min_size=1,
    max_size=40,
).map(_runs)


@settings(max_examples=60, deadline=None)
@given(valid_runs)
def test_any_valid_run_frame_passes(runs: pl.DataFrame) -> None:
    RunModel.validate(runs, lazy=True)


@settings(max_examples=60, deadline=None)
@given(valid_runs, st.data())
def test_a_run_with_more_errors_than_spans_is_reported(
    runs: pl.DataFrame, data: st.DataObject
) -> None:
    bad = sorted(data.draw(st.sets(st.integers(0, runs.height - 1), min_size=1)))
    mask = pl.int_range(pl.len()).is_in(bad)
    corrupted = runs.with_columns(
        error_count=pl.when(mask).then(pl.col("span_count") + 1).otherwise(pl.col("error_count"))
    )
    with pytest.raises(pa.errors.SchemaErrors) as info:
        RunModel.validate(corrupted, lazy=True)
    cases = info.value.failure_cases.filter(pl.col("check") == "counts_add_up")
    assert sorted(cases["index"].to_list()) == bad


def test_names_are_required_where_the_genai_conventions_write_them() -> None:
    """An ``invoke_agent`` or ``execute_tool`` span must name its agent or tool; an
    OpenInference workflow span (an AGENT with no agent) and a handoff (a TOOL with no
    tool), as openai-agents records every healthy run, are no breach."""
    rows = [  # kind, operation, agent_name, tool_name, broken rule or None
        ("agent", "invoke_agent", "triage", None, None),
        ("agent", "invoke_agent", None, None, "agent_names_agent"),
        ("agent", None, None, None, None),
        ("tool", "execute_tool", None, "get_weather", None),
        ("tool", "execute_tool", None, None, "tool_names_tool"),
        ("tool", None, None, None, None),
    ]
    spans = pl.DataFrame(
        {
            "run_id": ["a" * 32] * len(rows),
            "trace_id": ["a" * 32] * len(rows),
            "span_id": [f"{i:016x}" for i in range(len(rows))],
            "parent_span_id": [None] * len(rows),
            "kind": [r[0] for r in rows],
            "operation": [r[1] for r in rows],
            "status": ["ok"] * len(rows),
            "start_time": [T0] * len(rows),
            "end_time": [T0] * len(rows),
            "duration_ms": [0.0] * len(rows),
            "input_tokens": [None] * len(rows),
            "output_tokens": [None] * len(rows),
            "cost_usd": [None] * len(rows),
            "agent_name": [r[2] for r in rows],
            "tool_name": [r[3] for r in rows],
            "request_model": [None] * len(rows),
            "response_model": [None] * len(rows),
        },
        schema_overrides={
            "start_time": pl.Datetime("ns"),
            "end_time": pl.Datetime("ns"),
            "input_tokens": pl.Int64,
            "output_tokens": pl.Int64,
            "cost_usd": pl.Float64,
            "parent_span_id": pl.String,
            "request_model": pl.String,
            "response_model": pl.String,
        },
    )
    with pytest.raises(pa.errors.SchemaErrors) as info:
        SpanModel.validate(spans, lazy=True)
    cases = info.value.failure_cases
    assert sorted(cases.select("check", "index").iter_rows()) == [
        ("agent_names_agent", 1),
        ("tool_names_tool", 4),
    ]
