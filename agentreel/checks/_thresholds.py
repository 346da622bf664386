"""`MetricsModel`: the Pandera model that applies every check's thresholds.

The metrics frame (one row per check and scope) is validated with Pandera; the
rows that break their error or warn limit come back in Pandera's
``failure_cases``, each with its statistic, and that is what decides a status.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from agentreel.checks._timing import pandera_timer

__all__ = ["ERROR_CHECK", "WARN_CHECK", "MetricsModel", "statuses"]

ERROR_CHECK = "within_error_threshold"
WARN_CHECK = "within_warn_threshold"


def _breaks(limit: str) -> pl.Expr:
    """True where `value` is past the `limit` column, is judged, and is not noise."""
    value, bound = pl.col("value"), pl.col(limit)
    past = pl.when(pl.col("op") == "<=").then(value > bound).otherwise(value < bound)
    noise = pl.col("p_value").is_not_null() & pl.col("alpha").is_not_null()
    noise = noise & (pl.col("p_value") >= pl.col("alpha"))
    return past.fill_null(False) & ~pl.col("skipped") & ~noise.fill_null(False)


class MetricsModel(pa.DataFrameModel):
    """One row per check and scope: the statistic, its baseline, its limits and n."""

    check: str
    scope: str
    statistic: str
    value: float = pa.Field(nullable=True)
    baseline: float = pa.Field(nullable=True)
    op: str = pa.Field(isin=["<=", ">="])
    warn: float = pa.Field(nullable=True)
    error: float = pa.Field(nullable=True)
    severity: str = pa.Field(isin=["warn", "error"])
    n: int = pa.Field(ge=0)
    baseline_n: int = pa.Field(nullable=True, ge=0)
    min_n: int = pa.Field(ge=0)
    p_value: float = pa.Field(nullable=True, in_range={"min_value": 0.0, "max_value": 1.0})
    alpha: float = pa.Field(nullable=True, in_range={"min_value": 0.0, "max_value": 1.0})
    skipped: bool
    unit: str

    @pa.dataframe_check(name=ERROR_CHECK)
    def within_error_threshold(cls, data: PolarsData) -> pl.LazyFrame:
        """The statistic respects its error limit (or is a skip, or is noise)."""
        return data.lazyframe.select(~_breaks("error"))

    @pa.dataframe_check(name=WARN_CHECK)
    def within_warn_threshold(cls, data: PolarsData) -> pl.LazyFrame:
        """The statistic respects its warn limit (or is a skip, or is noise)."""
        return data.lazyframe.select(~_breaks("warn"))

    class Config:
        strict = True


def statuses(metrics: pl.DataFrame) -> tuple[list[str], pl.DataFrame]:
    """Validate the metrics frame; returns each row's status and Pandera's failure cases.

    A row is ``skip`` when skipped; ``error`` when it breaks its error limit and its
    severity is error; ``warn`` when it breaks its warn limit, or its error limit
    with severity warn; ``pass`` otherwise.
    """
    err: set[int] = set()
    warn: set[int] = set()
    cases = pl.DataFrame()
    try:
        with pandera_timer():
            MetricsModel.validate(metrics, lazy=True)
    except pa.errors.SchemaErrors as e:
        cases = e.failure_cases
        other = cases.filter(~pl.col("check").is_in([ERROR_CHECK, WARN_CHECK]))
        if other.height:  # a malformed metrics frame is a bug in a check, not a result
            raise RuntimeError(f"invalid metrics frame: {other.rows(named=True)[:3]}") from e
        for check, index in cases.select("check", "index").iter_rows():
            (err if check == ERROR_CHECK else warn).add(int(index))
    out: list[str] = []
    for i, (skipped, severity) in enumerate(metrics.select("skipped", "severity").iter_rows()):
        if skipped:
            out.append("skip")
        elif i in err and severity == "error":
            out.append("error")
        elif i in err or i in warn:
            out.append("warn")
        else:
            out.append("pass")
    return out, cases
