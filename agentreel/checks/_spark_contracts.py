"""The row contracts on Spark: `SpanModel` and `RunModel` as Pandera PySpark models.

``agentreel check --engine spark`` validates the window's runs, and its spans that may
break the contract, where they are: Pandera's PySpark backend runs each rule of
`SparkSpanModel` and `SparkRunModel` as a Spark job over the Spark DataFrame, and
reports which rules broke (``df.pandera.errors``). It gives no failing rows, so one
more Spark query flags, row by row, the rules that broke; the report's failure cases
(`contract_failures`, in the form the polars backend gives) are then written from
those rows of the frame the engine collected, which is the DuckDB engine's frame.

The models keep the polars models' fields and checks (a test compares them); their
times are longs, as Spark reads Parquet's nanosecond timestamps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentreel.checks._spark import ROW, spark_connect_or_nothing

# before Pandera imports PySpark's Spark Connect package (`spark_connect_or_nothing`)
spark_connect_or_nothing()

import pandera.pyspark as pa  # noqa: E402
import polars as pl  # noqa: E402
import pyspark.sql.types as T  # noqa: E402
from pyspark.sql import Column, DataFrame  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from agentreel.checks._models import (  # noqa: E402
    _SPAN_ID,
    _TRACE_ID,
    KINDS,
    MAX_INPUT_TOKENS,
    MAX_OUTPUT_TOKENS,
    MAX_RUN_COST_USD,
    MAX_SPAN_COST_USD,
)

__all__ = ["ROW_RULES", "SparkRunModel", "SparkSpanModel", "contract_failures"]


def _c(name: str) -> Column:
    return F.col(name)


def _not_operation(df: DataFrame, operation: str) -> Column:
    """`agentreel.checks._models._not_operation` on Spark."""
    if "operation" not in df.columns:
        return F.lit(False)
    return F.coalesce(_c("operation"), F.lit("")) != operation


#: Each dataframe check's condition for a row that keeps the rule (a null keeps it, as
#: in the polars backend, which filters on the check's output).
ROW_RULES: dict[str, Callable[[DataFrame], Column]] = {
    "end_not_before_start": lambda df: (
        _c("end_time").isNull() | (_c("end_time") >= _c("start_time"))
    ),
    "run_is_trace": lambda df: _c("run_id") == _c("trace_id"),
    "llm_names_model": lambda df: (
        (_c("kind") != "llm") | _c("request_model").isNotNull() | _c("response_model").isNotNull()
    ),
    "tool_names_tool": lambda df: (
        (_c("kind") != "tool") | _c("tool_name").isNotNull() | _not_operation(df, "execute_tool")
    ),
    "agent_names_agent": lambda df: (
        (_c("kind") != "agent") | _c("agent_name").isNotNull() | _not_operation(df, "invoke_agent")
    ),
    "counts_add_up": lambda df: (
        (
            _c("agent_count") + _c("llm_count") + _c("tool_count") + _c("retriever_count")
            <= _c("span_count")
        )
        & (_c("error_count") <= _c("span_count"))
    ),
    "failed_run_has_error": lambda df: (_c("status") != "error") | (_c("error_count") >= 1),
}


def _holds(df: DataFrame, rule: str) -> bool:
    return bool(df.filter(~ROW_RULES[rule](df)).limit(1).count() == 0)


# pandera.pyspark's DataFrameModel is generic in the frame and schema types it is
# built on, which a model subclassing it does not name (hence the type-arg ignores).
class SparkSpanModel(pa.DataFrameModel):  # type: ignore[type-arg]
    """`SpanModel` on Spark."""

    run_id: T.StringType = pa.Field(str_matches=_TRACE_ID)
    trace_id: T.StringType = pa.Field(str_matches=_TRACE_ID)
    span_id: T.StringType = pa.Field(str_matches=_SPAN_ID)
    parent_span_id: T.StringType = pa.Field(nullable=True, str_matches=_SPAN_ID)
    kind: T.StringType = pa.Field(isin=KINDS)
    status: T.StringType = pa.Field(isin=["ok", "error", "unset"])
    start_time: T.LongType = pa.Field()
    end_time: T.LongType = pa.Field(nullable=True)
    duration_ms: T.DoubleType = pa.Field(nullable=True, ge=0)
    input_tokens: T.LongType = pa.Field(nullable=True, ge=0, le=MAX_INPUT_TOKENS)
    output_tokens: T.LongType = pa.Field(nullable=True, ge=0, le=MAX_OUTPUT_TOKENS)
    cost_usd: T.DoubleType = pa.Field(nullable=True, ge=0, le=MAX_SPAN_COST_USD)
    agent_name: T.StringType = pa.Field(nullable=True)
    tool_name: T.StringType = pa.Field(nullable=True)
    request_model: T.StringType = pa.Field(nullable=True)
    response_model: T.StringType = pa.Field(nullable=True)

    @pa.dataframe_check()
    def end_not_before_start(cls, df: DataFrame) -> bool:
        return _holds(df, "end_not_before_start")

    @pa.dataframe_check()
    def run_is_trace(cls, df: DataFrame) -> bool:
        return _holds(df, "run_is_trace")

    @pa.dataframe_check()
    def llm_names_model(cls, df: DataFrame) -> bool:
        return _holds(df, "llm_names_model")

    @pa.dataframe_check()
    def tool_names_tool(cls, df: DataFrame) -> bool:
        return _holds(df, "tool_names_tool")

    @pa.dataframe_check()
    def agent_names_agent(cls, df: DataFrame) -> bool:
        return _holds(df, "agent_names_agent")

    class Config:
        strict = False


class SparkRunModel(pa.DataFrameModel):  # type: ignore[type-arg]
    """`RunModel` on Spark."""

    run_id: T.StringType = pa.Field(str_matches=_TRACE_ID)
    status: T.StringType = pa.Field(isin=["ok", "error", "running", "interrupted"])
    start_time: T.LongType = pa.Field()
    end_time: T.LongType = pa.Field(nullable=True)
    duration_ms: T.DoubleType = pa.Field(nullable=True, ge=0)
    span_count: T.LongType = pa.Field(ge=1)
    agent_count: T.LongType = pa.Field(ge=0)
    llm_count: T.LongType = pa.Field(ge=0)
    tool_count: T.LongType = pa.Field(ge=0)
    retriever_count: T.LongType = pa.Field(ge=0)
    error_count: T.LongType = pa.Field(ge=0)
    input_tokens: T.LongType = pa.Field(nullable=True, ge=0)
    output_tokens: T.LongType = pa.Field(nullable=True, ge=0)
    cost_usd: T.DoubleType = pa.Field(nullable=True, ge=0, le=MAX_RUN_COST_USD)

    @pa.dataframe_check()
    def end_not_before_start(cls, df: DataFrame) -> bool:
        return _holds(df, "end_not_before_start")

    @pa.dataframe_check()
    def counts_add_up(cls, df: DataFrame) -> bool:
        return _holds(df, "counts_add_up")

    @pa.dataframe_check()
    def failed_run_has_error(cls, df: DataFrame) -> bool:
        return _holds(df, "failed_run_has_error")

    class Config:
        strict = False


def _column_rule(column: str, check: Any) -> Column:
    """The row condition of one of the field checks the models use."""
    c, s = _c(column), check.statistics
    out: Column
    if check.name == "str_matches":
        out = c.rlike(s["pattern"])
    elif check.name == "isin":
        out = c.isin(list(s["allowed_values"]))
    elif check.name == "greater_than_or_equal_to":
        out = c >= s["min_value"]
    elif check.name == "less_than_or_equal_to":
        out = c <= s["max_value"]
    else:  # pragma: no cover
        raise ValueError(f"no row condition for the check {check.name!r}")
    return out


Rule = tuple[str, str, int | None, bool, Column]


def _rules(model: Any, df: DataFrame) -> list[Rule]:
    """Every rule of `model`, in the order the polars backend reports them: (column, check,
    its number among the column's checks, is it of the whole frame, the condition a row
    that keeps it meets)."""
    schema = model.to_schema()
    out: list[Rule] = []
    for name, col in schema.columns.items():
        if not col.nullable:
            out.append((name, "not_nullable", None, False, _c(name).isNotNull()))
        out.extend(
            (name, str(ch.error), i, False, _column_rule(name, ch))
            for i, ch in enumerate(col.checks)
        )
    out.extend(
        (model.__name__, str(ch.name), i, True, ROW_RULES[ch.name](df))
        for i, ch in enumerate(schema.checks)
    )
    return out


def _broken(df: DataFrame, model: Any) -> tuple[set[tuple[str, str]], list[dict[str, str]]]:
    """Pandera's PySpark validation of `df`: the (column, check) rules broken, and the
    failures of whole columns (a missing column, a wrong type)."""
    errors: dict[str, dict[str, list[dict[str, Any]]]] = model.validate(df).pandera.errors
    broken: set[tuple[str, str]] = set()
    whole: list[dict[str, str]] = []
    for reasons in errors.values():
        for reason, found in reasons.items():
            for e in found:
                if reason in ("DATAFRAME_CHECK", "SERIES_CONTAINS_NULLS"):
                    broken.add((str(e["column"]), str(e["check"])))
                else:
                    whole.append({k: str(v) for k, v in e.items()})
    return broken, whole


_CASES = {
    "failure_case": pl.String,
    "schema_context": pl.String,
    "column": pl.String,
    "check": pl.String,
    "check_number": pl.Int32,
    "index": pl.Int32,
}


def contract_failures(
    model: Any, df: DataFrame, rows: pl.DataFrame, ids: pl.Series
) -> pl.DataFrame:
    """The failure cases of Spark DataFrame `df` against `model`, in the polars backend's form.

    `rows` is `df` collected (without its `ROW` column), `ids` that column: a failure's
    ``index`` is its row's place in `rows`, and its ``failure_case`` is written from
    that row (the value, or for a rule of the whole frame, the row as JSON).
    """
    if rows.height == 0:
        return pl.DataFrame(schema=_CASES)
    broken, whole = _broken(df, model)
    cases: list[dict[str, Any]] = [
        {
            "failure_case": e.get("error", ""),
            "schema_context": "Column",
            "column": e.get("column"),
            "check": e.get("check"),
            "check_number": None,
            "index": None,
        }
        for e in whole
    ]
    rules = [r for r in _rules(model, df) if (r[0], r[1]) in broken]
    if rules:
        # one Spark job: the rows that break any of the broken rules, flagged per rule
        flags = [F.coalesce(~r[4], F.lit(False)).alias(f"f{i}") for i, r in enumerate(rules)]
        failing = pl.from_arrow(
            df.select(ROW, *flags).filter(" OR ".join(f"f{i}" for i in range(len(rules)))).toArrow()
        )
        assert isinstance(failing, pl.DataFrame)
        where = {int(v): i for i, v in enumerate(ids.to_list())}
        for i, (column, check, number, of_frame, _) in enumerate(rules):
            hit = sorted(where[int(r)] for r in failing.filter(pl.col(f"f{i}"))[ROW].to_list())
            values = (
                _rows_json(rows[hit])
                if of_frame
                else rows[column].cast(pl.String).gather(hit).to_list()
            )
            cases.extend(
                {
                    "failure_case": value,
                    "schema_context": "DataFrameSchema" if of_frame else "Column",
                    # a rule of the frame is reported under the polars model's name
                    "column": column.removeprefix("Spark") if of_frame else column,
                    "check": check,
                    "check_number": number,
                    "index": at,
                }
                for at, value in zip(hit, values, strict=True)
            )
    return pl.DataFrame(cases, schema=_CASES)


def _rows_json(rows: pl.DataFrame) -> list[str]:
    """Rows as the polars backend writes the failing rows of a frame rule (through Python
    values: a time to its microseconds)."""
    if rows.height == 0:
        return []
    return pl.Series(rows.rows(named=True)).struct.json_encode().to_list()
