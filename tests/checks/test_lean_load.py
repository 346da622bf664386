"""A window read lean (counts, calls, orphans and the spans that may break the span
contract, in DuckDB) gives the checks what the full spans frame gives them.

`SPAN_SUSPECTS` may flag too many spans, never too few: every span Pandera finds
breaking `SpanModel` is flagged, so ``span_schema`` reports the same rows from the
suspects as from every span.
"""

from __future__ import annotations

from typing import Any

import duckdb
import hypothesis.strategies as st
import pandera.polars as pa
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings

from agentreel.checks import SpanModel, Window
from agentreel.checks._check import Inputs
from agentreel.checks._disparity import DEFAULT_REFUSAL
from agentreel.checks._load import WindowData, load_window
from agentreel.checks._registry import BUILTINS
from agentreel.checks._suspects import SPAN_SUSPECTS
from agentreel.store import Store
from tests.checks.test_contracts import valid_spans

#: One row made to break one rule of `SpanModel` (or, for the last, to pass a rule a
#: stricter reading would flag: an OpenInference handoff names no tool).
BREAKS: dict[str, pl.Expr] = {
    "negative tokens": pl.lit(-5, dtype=pl.Int64).alias("input_tokens"),
    "too many output tokens": pl.lit(2_000_000, dtype=pl.Int64).alias("output_tokens"),
    "absurd cost": pl.lit(1e6).alias("cost_usd"),
    "NaN cost": pl.lit(float("nan")).alias("cost_usd"),
    "negative duration": pl.lit(-1.0).alias("duration_ms"),
    "unknown kind": pl.lit("robot").alias("kind"),
    "unknown status": pl.lit("fine").alias("status"),
    "no status": pl.lit(None, dtype=pl.String).alias("status"),
    "short span id": pl.lit("abc").alias("span_id"),
    "upper-case parent": pl.lit("ABCDEF0123456789").alias("parent_span_id"),
    "no trace": pl.lit(None, dtype=pl.String).alias("trace_id"),
    "end before start": (pl.col("start_time") - pl.duration(seconds=1))
    .cast(pl.Datetime("ns"))
    .alias("end_time"),
    "run is not the trace": pl.lit("f" * 32).alias("trace_id"),
    "llm without a model": pl.lit("llm").alias("kind"),
    "execute_tool without a tool": pl.lit("tool").alias("kind"),
    "invoke_agent without an agent": pl.lit("agent").alias("kind"),
}
#: Columns set alongside a break (a model-less LLM call has no model, and so on).
WITH = {
    "llm without a model": [
        pl.lit(None, dtype=pl.String).alias("request_model"),
        pl.lit(None, dtype=pl.String).alias("response_model"),
    ],
    "execute_tool without a tool": [
        pl.lit(None, dtype=pl.String).alias("tool_name"),
        pl.lit("execute_tool").alias("operation"),
    ],
    "invoke_agent without an agent": [
        pl.lit(None, dtype=pl.String).alias("agent_name"),
        pl.lit("invoke_agent").alias("operation"),
    ],
}


def _flagged(spans: pl.DataFrame) -> set[int]:
    """Row numbers of `spans` the SQL condition flags, run by DuckDB over the frame."""
    con = duckdb.connect()
    try:
        frame = spans.with_row_index("row")
        con.register("frame", frame)
        con.execute("CREATE TABLE spans AS SELECT * FROM frame")
        rows = con.execute(f"SELECT s.row FROM spans s WHERE {SPAN_SUSPECTS}").fetchall()
    finally:
        con.close()
    return {int(r[0]) for r in rows}


def _failing(spans: pl.DataFrame) -> set[int]:
    """Row numbers Pandera reports breaking `SpanModel`."""
    try:
        SpanModel.validate(spans, lazy=True)
    except pa.errors.SchemaErrors as e:
        return {int(i) for i in e.failure_cases["index"].drop_nulls()}
    return set()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_spans, st.data())
def test_every_span_breaking_the_contract_is_a_suspect(
    spans: pl.DataFrame, data: st.DataObject
) -> None:
    spans = spans.with_columns(
        operation=pl.when(pl.col("kind") == "tool")
        .then(pl.lit("execute_tool"))
        .when(pl.col("kind") == "agent")
        .then(pl.lit("invoke_agent"))
    )
    assert _flagged(spans) == set()  # a valid frame has no suspects
    broken = data.draw(
        st.dictionaries(st.integers(0, spans.height - 1), st.sampled_from(sorted(BREAKS)))
    )
    for row, name in broken.items():
        at = pl.int_range(pl.len()) == row
        for expr in [BREAKS[name], *WITH.get(name, [])]:
            col = expr.meta.output_name()
            spans = spans.with_columns(pl.when(at).then(expr).otherwise(pl.col(col)).alias(col))
    failing, flagged = _failing(spans), _flagged(spans)
    assert failing <= flagged
    assert flagged <= set(broken)


def test_a_tool_span_outside_the_genai_conventions_is_no_suspect() -> None:
    # an OpenInference handoff: a TOOL span that names no tool, and no operation
    row = {
        "run_id": "a" * 32,
        "trace_id": "a" * 32,
        "span_id": "b" * 16,
        "parent_span_id": None,
        "kind": "tool",
        "status": "ok",
        "start_time": 0,
        "end_time": 1,
        "duration_ms": 0.001,
        "input_tokens": None,
        "output_tokens": None,
        "cost_usd": None,
        "agent_name": None,
        "tool_name": None,
        "request_model": None,
        "response_model": None,
        "operation": None,
    }
    types = {"input_tokens": pl.Int64, "output_tokens": pl.Int64, "cost_usd": pl.Float64}
    handoff = pl.DataFrame(
        [row],
        schema_overrides={k: types.get(k, pl.String) for k, v in row.items() if v is None},
    )
    assert _flagged(handoff) == set()
    assert _flagged(handoff.with_columns(operation=pl.lit("execute_tool"))) == {0}


@pytest.mark.parametrize(
    "span_id",
    [
        "0123456789abcdef",
        "0123456789ABCDEF",
        "0123456789abcde",
        "0123456789abcdef0",
        "0123456789abcde\n",
        "0123456789abcdeé",
        "0123456789abcdeg",
        " 123456789abcdef",
        "",
    ],
)
def test_an_id_is_a_suspect_exactly_when_it_breaks_the_pattern(span_id: str) -> None:
    row = {
        "run_id": "a" * 32,
        "trace_id": "a" * 32,
        "span_id": span_id,
        "parent_span_id": span_id,
        "kind": "chain",
        "status": "ok",
        "start_time": 0,
        "end_time": 1,
        "duration_ms": 0.001,
        "input_tokens": 1,
        "output_tokens": 1,
        "cost_usd": 0.0,
        "agent_name": None,
        "tool_name": None,
        "request_model": None,
        "response_model": None,
        "operation": None,
    }
    spans = pl.DataFrame(
        [row], schema_overrides={k: pl.String for k, v in row.items() if v is None}
    )
    spans = spans.with_columns(pl.col("start_time", "end_time").cast(pl.Datetime("ns")))
    assert _flagged(spans) == _failing(spans)


def _metrics(data: WindowData) -> list[dict[str, Any]]:
    check = BUILTINS["span_schema"]()
    out = []
    for m in check.evaluate(Inputs(data, {}, None, ""), check.defaults()):
        f = m.failures() if callable(m.failures) else m.failures
        out.append(
            {
                "scope": m.scope,
                "value": m.value,
                "n": m.n,
                "message": m.message,
                "failures": None if f is None else f.sort(f.columns).to_dicts(),
            }
        )
    return out


def test_span_schema_reports_the_same_from_the_suspects_as_from_every_span(
    store_of: Any,
) -> None:
    store: Store = store_of(runs=60)
    # break rules in the store itself: a negative count, an unknown kind, an end
    # before the start, a trace that is not the run
    store.sql(
        "UPDATE spans SET input_tokens = -5 WHERE span_id IN "
        "(SELECT span_id FROM spans WHERE kind = 'llm' ORDER BY span_id LIMIT 3)"
    )
    store.sql(
        "UPDATE spans SET kind = 'robot' WHERE span_id IN "
        "(SELECT span_id FROM spans WHERE kind = 'tool' ORDER BY span_id LIMIT 2)"
    )
    store.sql(
        "UPDATE spans SET end_time = start_time - INTERVAL 1 SECOND WHERE span_id IN "
        "(SELECT span_id FROM spans WHERE kind = 'tool' ORDER BY span_id DESC LIMIT 2)"
    )
    window = Window().resolve()
    lean = load_window(
        store, window, refusal_pattern=DEFAULT_REFUSAL, full_spans=False, suspects=SPAN_SUSPECTS
    )
    full = load_window(store, window, refusal_pattern=DEFAULT_REFUSAL, full_spans=True)
    assert lean.spans is None
    assert full.spans is not None
    assert lean.span_suspects is not None
    assert 0 < lean.span_suspects.height < full.spans.height
    assert lean.n_spans == full.spans.height
    got, want = _metrics(lean), _metrics(full)
    assert {m["scope"] for m in want} >= {"input_tokens: greater_than_or_equal_to(0)"}
    assert len(want) >= 3
    assert got == want


def _oracle(spans: pl.DataFrame) -> pl.DataFrame:
    """Per run, straight from the spans frame in polars: what DuckDB aggregates, with the
    tied winners for the columns that name one (DuckDB takes the greatest)."""
    llm = spans.filter(pl.col("kind") == "llm")
    calls = spans.filter(pl.col("kind") == "tool").sort("run_id", "start_time", "span_id")
    call = ["run_id", "tool_name", "args_hash"]
    ok = pl.col("status") != "error"
    final = llm.group_by("run_id").agg(
        final_finish_reason=pl.col("finish_reason")
        .sort_by("end_time", nulls_last=True)
        .drop_nulls()
        .last()
    )
    models = (
        llm.filter(pl.col("model").is_not_null())
        .group_by("run_id", "model")
        .agg(n=pl.len())
        .group_by("run_id")
        .agg(models=pl.col("model").filter(pl.col("n") == pl.col("n").max()))
    )
    loops = (
        calls.filter(ok)
        .group_by(call)
        .agg(n=pl.len())
        .group_by("run_id")
        .agg(
            max_repeat=pl.col("n").max(),
            loop_tools=pl.col("tool_name").filter(pl.col("n") == pl.col("n").max()),
        )
    )
    storms = (
        calls.with_columns(streak=ok.cum_sum().over(call))
        .filter(~ok)
        .group_by(*call, "streak")
        .agg(n=pl.len())
        .group_by("run_id")
        .agg(
            max_failed_repeat=pl.col("n").max(),
            retry_tools=pl.col("tool_name").filter(pl.col("n") == pl.col("n").max()),
        )
    )
    out = spans.select("run_id").unique()
    for f in (final, models, loops, storms):
        out = out.join(f, on="run_id", how="left")
    return out.with_columns(
        pl.col("max_repeat").fill_null(0).cast(pl.Int64),
        pl.col("max_failed_repeat").fill_null(0).cast(pl.Int64),
    )


@pytest.mark.parametrize("regression", ["loop", "retry_storm", "truncated"])
def test_the_lean_window_counts_and_derives_what_the_spans_frame_gives(
    store_of: Any, regression: str
) -> None:
    store: Store = store_of(runs=80, regression=regression)
    # one orphan: a span whose parent is nowhere in the window
    store.sql(
        "UPDATE spans SET parent_span_id = '0123456789abcdef' WHERE span_id = "
        "(SELECT min(span_id) FROM spans WHERE kind = 'tool')"
    )
    window = Window().resolve()
    lean = load_window(store, window, refusal_pattern=DEFAULT_REFUSAL, full_spans=False)
    full = load_window(store, window, refusal_pattern=DEFAULT_REFUSAL, full_spans=True)
    assert full.spans is not None
    want = _oracle(full.spans)
    got = lean.runs.join(want, on="run_id", how="left", suffix="_want")
    assert got.height == want.height == 80
    for col in ("final_finish_reason", "max_repeat", "max_failed_repeat"):
        assert got[col].to_list() == got[f"{col}_want"].to_list(), col
    for col, ties in (
        ("model", "models"),
        ("loop_tool", "loop_tools"),
        ("retry_tool", "retry_tools"),
    ):
        for value, tied in got.select(col, ties).iter_rows():
            assert value == (max(tied) if tied else None), col
    assert int(got["max_repeat"].max() or 0) >= (4 if regression == "loop" else 1)
    assert int(got["max_failed_repeat"].max() or 0) >= (4 if regression == "retry_storm" else 0)

    assert lean.runs.equals(full.runs)  # ties broken the same way, in the runs' order

    for kind in ("llm", "tool", "retriever", "agent", "chain"):
        assert lean.count_of_kind(kind) == full.count_of_kind(kind)
    for kind, frame in lean._kinds.items():
        assert frame.sort("span_id").equals(
            full.of_kind(kind).select(frame.columns).sort("span_id")
        )
    for name in ("orphan_spans", "missing_data", "tool_error_rate", "tool_args", "latency_p95"):
        check = BUILTINS[name]()
        p = check.defaults()
        assert check.measure(lean, p) == check.measure(full, p), name
    orphans = BUILTINS["orphan_spans"]()
    assert orphans.measure(lean, orphans.defaults())["scopes"]["all"][0] == 1
    assert orphans.failing(lean, orphans.defaults(), "all").equals(
        orphans.failing(full, orphans.defaults(), "all")
    )
