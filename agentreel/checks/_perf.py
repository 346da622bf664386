"""Performance checks: latency quantiles, tokens, cost and steps per run, against the baseline.

Each scope's statistic (a quantile or a mean) may grow to ``ratio_warn`` /
``ratio_error`` times the baseline's before it warns or errors; the limits are shown
in the statistic's own unit. There is no significance test: ``min_n`` keeps small
samples out (a p95 of fewer than 50 values is mostly its largest value). A latency
must also grow by ``min_increase_ms``: a tool that answers in a millisecond takes
half as long again whenever the machine is busy, and nobody waits on that.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar, TypeVar

import polars as pl

from agentreel.checks._check import BuiltinCheck, CommonParams, Inputs, Param, scope_name, with_dims
from agentreel.checks._load import WindowData
from agentreel.checks._metric import Metric, Unit
from agentreel.checks._shape import Shape, count, fields, finite, mapping, nullable, pair

__all__ = ["CostPerRun", "LatencyP50", "LatencyP95", "StepsPerRun", "TokensPerRun"]

_NUM = (float, int)


class RatioParams(CommonParams):
    """The settings of a ratio check (docs/checks.md#tokens_per_run-and-cost_per_run)."""

    ratio_warn: float | None
    ratio_error: float | None
    group_by: list[str]


class LatencyParams(RatioParams):
    """`latency_p50` and `latency_p95`: a ratio, and at least `min_increase_ms` more."""

    min_increase_ms: float | None


class StepsParams(RatioParams):
    """`steps_per_run`: a ratio, and no run over `hard_max` steps."""

    hard_max: int | None


QP = TypeVar("QP", bound=RatioParams)


def ratio_params(warn: float, error: float, group_by: list[str]) -> dict[str, Param]:
    return {
        "ratio_warn": Param(
            warn, _NUM, "warn when the statistic exceeds this times the baseline's"
        ),
        "ratio_error": Param(error, _NUM, "error when it exceeds this times the baseline's"),
        "group_by": Param(group_by, (list,), "also report each group of these dimensions"),
    }


class RatioCheck(BuiltinCheck[QP]):
    """A per-scope statistic of one column, compared with the baseline's as a ratio."""

    measure_shape: ClassVar[Shape] = fields(
        optional=True, scopes=mapping(pair(count, nullable(finite)))
    )

    label: ClassVar[str]
    column: ClassVar[str]
    unit: ClassVar[Unit] = "number"

    def stat(self, col: str) -> pl.Expr:
        return pl.col(col).mean()

    def limit(self, base: float | None, ratio: float | None, p: QP) -> float | None:
        """The largest value allowed: `ratio` times the baseline's value (None: no limit)."""
        return base * ratio if base is not None and ratio is not None else None

    def sources(self, data: WindowData, dim: str | None) -> tuple[pl.DataFrame, str, list[str]]:
        """(frame, value column, columns to show as failures) for one dimension."""
        return data.runs, self.column, ["run_id", "name", self.column]

    def measure(self, data: WindowData, p: QP) -> dict[str, Any]:
        scopes: dict[str, list[float | int | None]] = {}
        for dim in [None, *p["group_by"]]:
            frame, col, _ = self.sources(data, dim)
            # only the columns used: a filtered copy of every column of a million spans
            # would double the memory the check needs
            values = frame.select(*([dim] if dim else []), col).filter(pl.col(col).is_not_null())
            if dim is None:
                scopes["all"] = [values.height, values.select(self.stat(col)).item()]
                continue
            g = values.group_by(dim).agg(n=pl.len(), v=self.stat(col)).drop_nulls(dim).sort(dim)
            for value, n, v in g.select(dim, "n", "v").iter_rows():
                scopes[scope_name(dim, value)] = [int(n), v]
        return {"scopes": scopes}

    def failing(self, data: WindowData, p: QP, scope: str) -> pl.DataFrame:
        dim, value = (None, None) if scope == "all" else scope.split("=", 1)
        frame, col, show = self.sources(data, dim)
        if dim is not None:
            frame = frame.filter(pl.col(dim).cast(pl.String) == value)
        top = frame.filter(pl.col(col).is_not_null()).sort(col, descending=True)
        return top.select(c for c in show if c in top.columns).head(20)

    def evaluate(self, inputs: Inputs, p: QP) -> list[Metric]:
        out: list[Metric] = []
        base = inputs.baseline.get("scopes", {}) if inputs.baseline is not None else None
        data = inputs.current
        for scope, (n, v) in inputs.measured["scopes"].items():
            bn, b = (base or {}).get(scope, (None, None))
            if base is None:
                skip: str | None = "no baseline"
            elif b is None or bn is None:
                skip = "not in the baseline"
            elif bn < p["min_n"]:
                skip = f"baseline n={bn} is below min_n={p['min_n']}"
            elif b <= 0:
                skip = "the baseline's value is 0"
            else:
                skip = None
            if skip and base is None and scope != "all":
                continue  # one skip row for a missing baseline, not one per group
            ratio = f"×{v / b:.2f} the baseline" if v is not None and b else ""
            out.append(
                Metric(
                    check=self.name,
                    scope=scope,
                    statistic=self.label,
                    value=v,
                    baseline=b,
                    warn=self.limit(b, p["ratio_warn"], p),
                    error=self.limit(b, p["ratio_error"], p),
                    n=int(n),
                    baseline_n=bn,
                    min_n=p["min_n"],
                    severity=p["severity"],
                    unit=self.unit,
                    message=ratio,
                    skip=skip,
                    failures=partial(self.failing, data, p, scope),
                )
            )
        return out


class _Latency(RatioCheck[LatencyParams]):
    column = "duration_ms"
    unit = "ms"
    q: ClassVar[float]

    def stat(self, col: str) -> pl.Expr:
        return pl.col(col).quantile(self.q, "nearest")

    def limit(self, base: float | None, ratio: float | None, p: LatencyParams) -> float | None:
        """`ratio` times the baseline's latency, and at least `min_increase_ms` more."""
        if base is None or ratio is None:
            return None
        return max(base * ratio, base + float(p["min_increase_ms"] or 0))

    def sources(self, data: WindowData, dim: str | None) -> tuple[pl.DataFrame, str, list[str]]:
        if dim == "tool":
            spans = data.of_kind("tool").rename({"tool_name": "tool"})
            return spans, "duration_ms", ["run_id", "span_id", "tool", "duration_ms", "status"]
        if dim == "model":
            llm = data.of_kind("llm")
            return llm, "duration_ms", ["run_id", "span_id", "model", "duration_ms", "status"]
        runs = with_dims(data.runs, [dim], None) if dim else data.runs
        return runs, "duration_ms", ["run_id", "name", "duration_ms", "status"]


class LatencyP50(_Latency):
    name = "latency_p50"
    summary = "median duration of runs (and of each tool's calls and each model's LLM calls)"
    label = "p50 latency"
    q = 0.50
    params: ClassVar[dict[str, Param]] = {
        **ratio_params(1.2, 1.5, ["tool", "model"]),
        "min_increase_ms": Param(
            20, _NUM, "a latency within this many ms of the baseline's passes"
        ),
    }


class LatencyP95(_Latency):
    name = "latency_p95"
    summary = "95th-percentile duration of runs, tool calls per tool and LLM calls per model"
    label = "p95 latency"
    q = 0.95
    min_n = 50
    params: ClassVar[dict[str, Param]] = {
        **ratio_params(1.25, 1.5, ["tool", "model"]),
        "min_increase_ms": LatencyP50.params["min_increase_ms"],
    }


class _PerRun(RatioCheck[QP]):
    def sources(self, data: WindowData, dim: str | None) -> tuple[pl.DataFrame, str, list[str]]:
        runs = with_dims(data.runs, [dim], None) if dim else data.runs
        return runs, self.column, ["run_id", "name", self.column]


class TokensPerRun(_PerRun[RatioParams]):
    name = "tokens_per_run"
    summary = "mean tokens (input + output) of a run's LLM calls"
    label = "mean tokens per run"
    column = "tokens"
    unit = "count"
    params: ClassVar[dict[str, Param]] = ratio_params(1.2, 1.5, [])


class CostPerRun(_PerRun[RatioParams]):
    name = "cost_per_run"
    summary = "mean cost of a run's LLM calls in US dollars (runs with a known price)"
    label = "mean cost per run"
    column = "cost_usd"
    unit = "usd"
    params: ClassVar[dict[str, Param]] = ratio_params(1.2, 1.5, [])


class StepsPerRun(_PerRun[StepsParams]):
    measure_shape: ClassVar[Shape] = fields(
        optional=True, scopes=mapping(pair(count, nullable(finite))), max=nullable(count)
    )
    name = "steps_per_run"
    summary = "mean LLM, tool and retriever calls per run, and a hard maximum for any one run"
    label = "mean steps per run"
    column = "steps"
    params: ClassVar[dict[str, Param]] = {
        **ratio_params(1.25, 1.5, []),
        "hard_max": Param(100, (int,), "error when any run takes more steps than this"),
    }

    def measure(self, data: WindowData, p: StepsParams) -> dict[str, Any]:
        out = super().measure(data, p)
        out["max"] = data.runs["steps"].max() if data.runs.height else None
        return out

    def evaluate(self, inputs: Inputs, p: StepsParams) -> list[Metric]:
        out = super().evaluate(inputs, p)
        if p["hard_max"] is None:
            return out
        data, hard = inputs.current, int(p["hard_max"])
        over = data.runs.filter(pl.col("steps") > hard)
        out.append(
            Metric(
                check=self.name,
                scope="all",
                statistic="max steps in one run",
                value=inputs.measured.get("max"),
                error=hard,
                n=data.runs.height,
                min_n=1,
                severity=p["severity"],
                unit="count",
                message=f"{over.height} runs over {hard}" if over.height else "",
                failures=over.sort("steps", descending=True).select("run_id", "name", "steps"),
            )
        )
        return out
