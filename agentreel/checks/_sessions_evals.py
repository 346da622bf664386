"""Checks over what runs belong to and what was said of them: sessions and evaluations.

``session_failure_rate``: of the sessions with a turn in the window (runs grouped by
``session_id``, docs/data-model.md#sessions), the share whose last turn failed or was
abandoned mid-turn (its process gone: ``interrupted``).

``evaluation_below``: of the scored evaluations of the window's runs (agentreel's
records and ``gen_ai.evaluation.result`` events alike), the share whose score is
below `threshold`, overall and per evaluation name; with a baseline, a rise of that
share is a drift of the scores.
"""

from __future__ import annotations

from typing import Any, ClassVar

import polars as pl

from agentreel.checks._check import Inputs, Param
from agentreel.checks._load import WindowData
from agentreel.checks._metric import Metric
from agentreel.checks._rates import RateCheck, RateParams, rate_params
from agentreel.checks._shape import Shape, count, fields, finite, mapping, pair

__all__ = ["EvaluationBelow", "SessionFailureRate"]


class EvaluationParams(RateParams):
    """`evaluation_below`: the share of scores below `threshold`, and the mean score."""

    threshold: float
    mean_decrease_warn: float | None
    mean_decrease_error: float | None


class SessionFailureRate(RateCheck[RateParams]):
    name = "session_failure_rate"
    summary = (
        "share of sessions (conversations) whose last turn ended in error or was abandoned mid-turn"
    )
    label = "failed sessions"
    counted = "sessions"
    failure_columns: ClassVar[list[str]] = ["session_id", "turns", "status", "run_id", "name"]
    params: ClassVar[dict[str, Param]] = rate_params(0.10, 0.25, 0.02, 0.05, [])

    def rows(self, data: WindowData, p: RateParams) -> pl.DataFrame:
        runs = data.runs
        if "session_id" not in runs.columns:
            return pl.DataFrame(schema={"session_id": pl.String, "status": pl.String})
        return (
            runs.filter(pl.col("session_id").is_not_null())
            .sort("start_time", "run_id")
            .group_by("session_id", maintain_order=True)
            .agg(
                turns=pl.len(),
                status=pl.col("status").last(),
                run_id=pl.col("run_id").last(),
                name=pl.col("name").last(),
                **{
                    c: pl.col(c).last()
                    for c in ("service_name", "code_version", "model")
                    if c in runs.columns
                },
            )
        )

    def event(self, p: RateParams) -> pl.Expr:
        return pl.col("status").is_in(["error", "interrupted"])


class EvaluationBelow(RateCheck[EvaluationParams]):
    measure_shape: ClassVar[Shape] = fields(
        optional=True,
        scopes=mapping(pair(count, count)),
        means=mapping(pair(finite, count)),
    )
    name = "evaluation_below"
    summary = "share of scored evaluations below `threshold`, overall and per evaluation name"
    label = "scores below threshold"
    counted = "scored evaluations"
    min_n = 10
    failure_columns: ClassVar[list[str]] = [
        "run_id",
        "span_id",
        "evaluation",
        "score",
        "label",
        "source",
    ]
    params: ClassVar[dict[str, Param]] = {
        **rate_params(None, None, 0.05, 0.10, ["evaluation"]),
        "threshold": Param(0.5, (float, int), "a score below this counts", off=False),
        "mean_decrease_warn": Param(
            0.05, (float, int), "warn when the mean score falls this much below the baseline's"
        ),
        "mean_decrease_error": Param(
            0.10, (float, int), "error when the mean score falls this much below the baseline's"
        ),
    }

    def measure(self, data: WindowData, p: EvaluationParams) -> dict[str, Any]:
        out = super().measure(data, p)
        frame = self._frame(data, p)
        means: dict[str, list[float]] = {}
        if frame.height:
            means["all"] = [float(frame["score"].mean()), frame.height]  # type: ignore[arg-type]
            for d in p["group_by"]:
                g = frame.group_by(d).agg(m=pl.col("score").mean(), n=pl.len()).drop_nulls(d)
                for value, m, n in g.sort(d).iter_rows():
                    means[f"{d}={value}"] = [float(m), int(n)]
        out["means"] = means
        return out

    def evaluate(self, inputs: Inputs, p: EvaluationParams) -> list[Metric]:
        out = super().evaluate(inputs, p)
        base = (inputs.baseline or {}).get("means") if inputs.baseline is not None else None
        for scope, (mean, n) in inputs.measured.get("means", {}).items():
            bmean, bn = (base or {}).get(scope, (None, None))
            skip = None
            if base is None:
                if scope != "all":
                    continue
                skip = "no baseline"
            elif bmean is None:
                skip = "not in the baseline"
            out.append(
                Metric(
                    check=self.name,
                    scope=scope,
                    statistic="mean score vs baseline",
                    value=mean,
                    baseline=bmean,
                    op=">=",
                    warn=None if bmean is None else bmean - p["mean_decrease_warn"],
                    error=None if bmean is None else bmean - p["mean_decrease_error"],
                    n=int(n),
                    baseline_n=None if bn is None else int(bn),
                    min_n=p["min_n"],
                    severity=p["severity"],
                    message=f"mean {mean:.3g} of {int(n)} scores"
                    + ("" if bmean is None else f" vs {bmean:.3g}"),
                    skip=skip,
                )
            )
        return out

    def rows(self, data: WindowData, p: EvaluationParams) -> pl.DataFrame:
        empty = pl.DataFrame(
            schema={
                "run_id": pl.String,
                "span_id": pl.String,
                "evaluation": pl.String,
                "score": pl.Float64,
                "label": pl.String,
                "source": pl.String,
            }
        )
        frame = data.evaluations
        if frame is None or frame.height == 0:
            return empty
        # the run's own dimensions, so that group_by name, model, ... work here too
        keep = [c for c in ("name", "service_name", "code_version", "model") if c in data.runs]
        return frame.join(data.runs.select("run_id", *keep), on="run_id", how="left")

    def event(self, p: EvaluationParams) -> pl.Expr:
        return pl.col("score") < float(p["threshold"])
