"""Rate checks: a share of runs or calls that went wrong, against ceilings and the baseline.

Each scope gives up to two rows. ``<label>`` holds the rate to absolute ceilings
(``max_warn``, ``max_error``) and needs no baseline. ``<label> vs baseline`` allows
the rate to rise by ``increase_warn`` / ``increase_error`` (in points, 0.02 = 2 %)
over the baseline's, and counts a rise only when a one-sided two-proportion z-test
says it is not chance (``p < alpha``): at small n that keeps noise quiet, and at
large n, where every difference is significant, the increase limit decides.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar, TypeVar

import polars as pl

from agentreel.checks._check import (
    BuiltinCheck,
    CommonParams,
    Inputs,
    Param,
    grouped_counts,
    with_dims,
)
from agentreel.checks._load import WindowData
from agentreel.checks._metric import Metric
from agentreel.checks._shape import Shape, count, fields, mapping, pair
from agentreel.checks._stats import two_proportion_p

__all__ = [
    "EmptyOutput",
    "Loops",
    "OrphanSpans",
    "RateCheck",
    "RetryStorm",
    "RunErrorRate",
    "ToolErrorRate",
    "TruncatedOutput",
]

_NUM = (float, int)


class RateParams(CommonParams):
    """The settings of a rate check (docs/checks.md#run_error_rate)."""

    max_warn: float | None
    max_error: float | None
    increase_warn: float | None
    increase_error: float | None
    alpha: float | None
    group_by: list[str]


class RepeatParams(RateParams):
    """`loops` and `retry_storm`: a rate check of runs with a streak of `repeat` calls."""

    repeat: int


RP = TypeVar("RP", bound=RateParams)


def rate_params(
    max_warn: float | None,
    max_error: float | None,
    increase_warn: float | None,
    increase_error: float | None,
    group_by: list[str],
) -> dict[str, Param]:
    return {
        "max_warn": Param(max_warn, _NUM, "warn when the rate is above this"),
        "max_error": Param(max_error, _NUM, "error when the rate is above this"),
        "increase_warn": Param(
            increase_warn, _NUM, "warn when the rate rises this much over the baseline's"
        ),
        "increase_error": Param(
            increase_error, _NUM, "error when the rate rises this much over the baseline's"
        ),
        "alpha": Param(0.05, _NUM, "a rise counts only when the z-test's p is below this"),
        "group_by": Param(group_by, (list,), "also report each group of these dimensions"),
    }


class RateCheck(BuiltinCheck[RP]):
    """A share of rows (runs or spans) for which `event` holds."""

    measure_shape: ClassVar[Shape] = fields(optional=True, scopes=mapping(pair(count, count)))

    label: ClassVar[str]
    #: What the rows are, for a skip message ("no runs in the current window").
    counted: ClassVar[str] = "runs"
    #: True when the rows are spans (group dims ``tool``/``model``/``kind`` are the span's).
    span_level: ClassVar[bool] = False
    failure_columns: ClassVar[list[str]] = ["run_id", "name", "status", "error_type"]

    def rows(self, data: WindowData, p: RP) -> pl.DataFrame:
        return data.runs

    def event(self, p: RP) -> pl.Expr:
        raise NotImplementedError

    def _frame(self, data: WindowData, p: RP) -> pl.DataFrame:
        return with_dims(self.rows(data, p), p["group_by"], data.runs if self.span_level else None)

    def measure(self, data: WindowData, p: RP) -> dict[str, Any]:
        return {"scopes": grouped_counts(self._frame(data, p), self.event(p), p["group_by"])}

    def failing(self, data: WindowData, p: RP, scope: str) -> pl.DataFrame:
        f = self._frame(data, p).filter(self.event(p))
        if scope != "all":
            dim, value = scope.split("=", 1)
            f = f.filter(pl.col(dim).cast(pl.String) == value)
        return f.select(c for c in self.failure_columns if c in f.columns)

    def message(self, k: int, n: int) -> str:
        return f"{k} of {n}"

    def evaluate(self, inputs: Inputs, p: RP) -> list[Metric]:
        out: list[Metric] = []
        base_scopes: dict[str, list[int]] | None = (
            inputs.baseline.get("scopes") if inputs.baseline is not None else None
        )
        ceilings = p["max_warn"] is not None or p["max_error"] is not None
        increases = p["increase_warn"] is not None or p["increase_error"] is not None
        data = inputs.current
        for scope, (k, n) in inputs.measured["scopes"].items():
            rate = k / n if n else None
            bk, bn = (base_scopes or {}).get(scope, (None, None))
            brate = bk / bn if bk is not None and bn else None
            common: dict[str, Any] = {
                "check": self.name,
                "scope": scope,
                "value": rate,
                "baseline": brate,
                "n": n,
                "baseline_n": bn,
                "min_n": p["min_n"],
                "severity": p["severity"],
                "unit": "share",
                "failures": partial(self.failing, data, p, scope) if k else None,
            }
            if ceilings:
                out.append(
                    Metric(
                        statistic=self.label,
                        warn=p["max_warn"],
                        error=p["max_error"],
                        message=self.message(k, n),
                        skip=f"no {self.counted} in the current window" if n == 0 else None,
                        **common,
                    )
                )
            if not increases:
                continue
            if base_scopes is None:
                if scope == "all":  # one skip row, not one per group
                    out.append(
                        Metric(
                            statistic=f"{self.label} vs baseline",
                            skip="no baseline",
                            **common,
                        )
                    )
                continue
            if brate is None or bk is None or bn is None:
                why = f"the baseline had no {self.counted}" if bn == 0 else "not in the baseline"
                out.append(Metric(statistic=f"{self.label} vs baseline", skip=why, **common))
                continue
            pv = two_proportion_p(k, n, bk, bn)
            skip = f"baseline n={bn} is below min_n={p['min_n']}" if bn < p["min_n"] else None
            out.append(
                Metric(
                    statistic=f"{self.label} vs baseline",
                    warn=None if p["increase_warn"] is None else brate + p["increase_warn"],
                    error=None if p["increase_error"] is None else brate + p["increase_error"],
                    p_value=pv,
                    alpha=p["alpha"],
                    message=f"{self.message(k, n)}; {100 * ((rate or 0) - brate):+.1f} points "
                    f"vs {bk} of {bn} (p={pv:.2g})",
                    skip=skip,
                    **common,
                )
            )
        return out


class RunErrorRate(RateCheck[RateParams]):
    name = "run_error_rate"
    summary = "share of runs that ended in error or were interrupted"
    label = "error rate"
    params: ClassVar[dict[str, Param]] = rate_params(0.10, 0.25, 0.02, 0.05, [])

    def event(self, p: RateParams) -> pl.Expr:
        return pl.col("failed")


class ToolErrorRate(RateCheck[RateParams]):
    name = "tool_error_rate"
    summary = "share of tool calls that failed, overall and per tool"
    label = "tool error rate"
    counted = "tool calls"
    span_level = True
    failure_columns: ClassVar[list[str]] = [
        "run_id",
        "span_id",
        "tool_name",
        "error_type",
        "duration_ms",
    ]
    params: ClassVar[dict[str, Param]] = rate_params(None, None, 0.02, 0.05, ["tool"])

    def rows(self, data: WindowData, p: RateParams) -> pl.DataFrame:
        return data.of_kind("tool")

    def event(self, p: RateParams) -> pl.Expr:
        return pl.col("status").eq("error")


class Loops(RateCheck[RepeatParams]):
    name = "loops"
    summary = (
        "share of runs that call one tool with the same arguments, successfully, "
        "`repeat` times or more"
    )
    label = "looping runs"
    min_n = 1
    failure_columns: ClassVar[list[str]] = ["run_id", "name", "loop_tool", "max_repeat"]
    params: ClassVar[dict[str, Param]] = {
        **rate_params(0.0, 0.05, None, None, []),
        "repeat": Param(
            4, (int,), "identical calls of one tool in one run that succeeded and make a loop"
        ),
    }

    def event(self, p: RepeatParams) -> pl.Expr:
        return pl.col("max_repeat").ge(int(p["repeat"]))


class RetryStorm(RateCheck[RepeatParams]):
    name = "retry_storm"
    summary = (
        "share of runs in which one tool call with the same arguments fails `repeat` times "
        "or more in a row"
    )
    label = "retry-storm runs"
    min_n = 1
    failure_columns: ClassVar[list[str]] = [
        "run_id",
        "name",
        "retry_tool",
        "max_failed_repeat",
        "status",
        "error_type",
    ]
    params: ClassVar[dict[str, Param]] = {
        **rate_params(0.0, 0.05, None, None, []),
        "repeat": Param(
            4,
            (int,),
            "identical calls of one tool in one run failing in a row that make a retry storm",
        ),
    }

    def event(self, p: RepeatParams) -> pl.Expr:
        return pl.col("max_failed_repeat").ge(int(p["repeat"]))


class EmptyOutput(RateCheck[RateParams]):
    name = "empty_output"
    summary = "share of successful runs whose final output is empty"
    label = "empty outputs"
    counted = "successful runs"
    failure_columns: ClassVar[list[str]] = ["run_id", "name", "final_finish_reason"]
    params: ClassVar[dict[str, Param]] = rate_params(0.01, 0.05, None, None, [])

    def rows(self, data: WindowData, p: RateParams) -> pl.DataFrame:
        return data.runs.filter(pl.col("status") == "ok")

    def event(self, p: RateParams) -> pl.Expr:
        return pl.col("output_empty")


class TruncatedOutput(RateCheck[RateParams]):
    name = "truncated_output"
    summary = "share of runs whose last LLM call stopped on its token limit (finish reason length)"
    label = "truncated outputs"
    # OpenInference's LLM spans carry no finish reason: runs recorded through it have none
    counted = "runs whose last LLM call recorded a finish reason"
    failure_columns: ClassVar[list[str]] = ["run_id", "name", "model", "final_finish_reason"]
    params: ClassVar[dict[str, Param]] = rate_params(0.05, 0.20, 0.02, 0.05, [])

    def rows(self, data: WindowData, p: RateParams) -> pl.DataFrame:
        return data.runs.filter(pl.col("final_finish_reason").is_not_null())

    def event(self, p: RateParams) -> pl.Expr:
        return pl.col("truncated")


class OrphanSpans(RateCheck[RateParams]):
    name = "orphan_spans"
    summary = "share of spans whose parent is not in the store (lost or never flushed)"
    label = "orphan spans"
    counted = "spans"
    severity = "warn"
    min_n = 1
    span_level = True
    failure_columns: ClassVar[list[str]] = ["run_id", "span_id", "parent_span_id", "kind"]
    params: ClassVar[dict[str, Param]] = rate_params(0.0, 0.01, None, None, [])

    def measure(self, data: WindowData, p: RateParams) -> dict[str, Any]:
        if data.orphans is not None and not p["group_by"]:
            return {"scopes": {"all": [data.orphans.height, data.n_spans]}}
        return super().measure(data, p)

    def failing(self, data: WindowData, p: RateParams, scope: str) -> pl.DataFrame:
        if data.orphans is not None and scope == "all":
            return data.orphans.select(self.failure_columns)
        return super().failing(data, p, scope)

    def rows(self, data: WindowData, p: RateParams) -> pl.DataFrame:
        # Runs are whole in a window, so a parent found nowhere in it is missing from its
        # run. Ids are compared by 64-bit hash: four times faster, and a collision among
        # a million ids has a chance of about 1 in 30 million.
        known = pl.col("span_id").hash().implode()
        return data.all_spans().with_columns(
            orphan=pl.col("parent_span_id").is_not_null()
            & ~pl.col("parent_span_id").hash().is_in(known)
        )

    def event(self, p: RateParams) -> pl.Expr:
        return pl.col("orphan")
