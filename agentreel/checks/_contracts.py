"""``span_schema`` and ``run_schema``: the current window's rows against the row contracts.

Pandera validates the whole frame lazily, so one pass collects every broken rule
(of the spans, only those that may break one: see `agentreel.checks._suspects`);
each broken rule becomes one row of the report (its scope is the column and the
Pandera check), with the failing spans or runs, taken from Pandera's
``failure_cases`` by row index, listed under it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

import pandera.polars as pa
import polars as pl

from agentreel.checks._check import BuiltinCheck, CommonParams, Inputs, Param
from agentreel.checks._load import WindowData
from agentreel.checks._metric import Metric
from agentreel.checks._models import RunModel, SpanModel
from agentreel.checks._timing import pandera_timer

__all__ = ["RunSchema", "SpanSchema", "contract_failures"]

_NUM = (float, int)


class ContractParams(CommonParams):
    """`span_schema` and `run_schema`: how many rows may break the contract."""

    max_warn: float | None
    max_error: float | None


def contract_failures(model: type[pa.DataFrameModel], frame: pl.DataFrame) -> pl.DataFrame:
    """Pandera's failure cases of `frame` against `model` (empty when it passes).

    Columns: ``failure_case``, ``schema_context``, ``column``, ``check``,
    ``check_number``, ``index`` (the failing row; null for a failure of the whole
    column, such as a wrong type).
    """
    try:
        with pandera_timer():
            model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as e:
        cases: pl.DataFrame = e.failure_cases
        return cases
    return pl.DataFrame(
        schema={
            "failure_case": pl.String,
            "schema_context": pl.String,
            "column": pl.String,
            "check": pl.String,
            "check_number": pl.Int32,
            "index": pl.Int32,
        }
    )


@runtime_checkable
class ValidatesContracts(Protocol):
    """A window whose engine validates the default row contracts itself (Spark does, in
    Spark): the failure cases of `rows`, its frame `frame`, as `contract_failures` gives
    them, or None to validate them here."""

    def contract_failures(self, frame: str, rows: pl.DataFrame) -> pl.DataFrame | None: ...


def _short(check: str, limit: int = 48) -> str:
    return check if len(check) <= limit else check[: limit - 1] + "…"


class RowContract(BuiltinCheck[ContractParams]):
    """Rows of one frame of the window against a Pandera model."""

    frame: ClassVar[str]
    default_model: ClassVar[type[pa.DataFrameModel]]
    show: ClassVar[list[str]]
    min_n = 1
    params: ClassVar[dict[str, Param]] = {
        "max_warn": Param(None, _NUM, "warn when more rows than this break the contract"),
        "max_error": Param(0, _NUM, "error when more rows than this break the contract"),
    }

    def __init__(self, model: type[pa.DataFrameModel] | None = None) -> None:
        self.model = model or self.default_model

    def rows_to_validate(self, data: WindowData) -> tuple[pl.DataFrame, int]:
        """(the rows Pandera validates, how many rows the window has)."""
        frame: pl.DataFrame = getattr(data, self.frame)
        return frame, frame.height

    def evaluate(self, inputs: Inputs, p: ContractParams) -> list[Metric]:
        frame, n = self.rows_to_validate(inputs.current)
        common: dict[str, Any] = {
            "check": self.name,
            "statistic": "rows breaking the contract",
            "n": n,
            "min_n": p["min_n"],
            "warn": p["max_warn"],
            "error": p["max_error"],
            "severity": p["severity"],
            "unit": "count",
        }
        data = inputs.current
        cases = None
        if self.model is self.default_model and isinstance(data, ValidatesContracts):
            cases = data.contract_failures(self.frame, frame)
        if cases is None:
            cases = contract_failures(self.model, frame)
        if cases.height == 0:
            return [Metric(scope=self.model.__name__, value=0, **common)]
        out: list[Metric] = []
        rules = cases.group_by("column", "check", maintain_order=True).agg(
            rows=pl.col("index").drop_nulls().n_unique(), first=pl.col("failure_case").first()
        )
        for column, check, rows, first in rules.iter_rows():
            rule = cases.filter((pl.col("column") == column) & (pl.col("check") == check))
            whole = rows == 0  # a failure of the column itself (missing, wrong type)
            scope = _short(check) if column == self.model.__name__ else f"{column}: {_short(check)}"
            out.append(
                Metric(
                    scope=scope,
                    value=n if whole else rows,
                    message=str(first)[:120] if whole else f"e.g. {str(first)[:80]}",
                    failures=rule.select("failure_case").head(20)
                    if whole
                    else self._rows(frame, rule),
                    **common,
                )
            )
        return out

    def _rows(self, frame: pl.DataFrame, rule: pl.DataFrame) -> pl.DataFrame:
        """The failing rows of `frame` (at most 1,000), each with its failure case."""
        cases = (
            rule.filter(pl.col("index").is_not_null())
            .unique("index", keep="first", maintain_order=True)
            .head(1000)
            .select(pl.col("index").cast(pl.UInt32), "failure_case")
        )
        rows = frame.with_row_index("index").join(cases, on="index", how="inner")
        return rows.select(*(c for c in self.show if c in rows.columns), "failure_case")


class SpanSchema(RowContract):
    name = "span_schema"
    summary = "spans that break the span contract (`SpanModel` or your subclass)"
    frame = "spans"
    default_model = SpanModel
    show: ClassVar[list[str]] = ["run_id", "span_id", "kind", "name"]

    def rows_to_validate(self, data: WindowData) -> tuple[pl.DataFrame, int]:
        """Only the spans that may break the default contract, when the window was read
        that way (`SPAN_SUSPECTS`): the others pass every rule."""
        if data.span_suspects is not None and self.model is SpanModel:
            return data.span_suspects, data.n_spans
        return data.all_spans(), data.n_spans


class RunSchema(RowContract):
    name = "run_schema"
    summary = "runs that break the run contract (`RunModel` or your subclass)"
    frame = "runs"
    default_model = RunModel
    show: ClassVar[list[str]] = ["run_id", "name", "status"]
