"""Group disparity: does the agent serve one group of users worse than another?

Runs are grouped by a tag or attribute (``by = ["tags.segment"]``). For each
measure, each group's *impact ratio* is its favourable outcome divided by the best
group's: success rate and non-refusal rate as they are; latency (p50) and cost
(mean) inverted, so that slower or dearer reads lower. The four-fifths rule of
US employment law flags a ratio below 0.8. A gap counts only when it is not
chance: a two-proportion z-test for rates, and below ``small_n`` a KS test for
latency and cost.
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from agentreel.checks._check import BuiltinCheck, CommonParams, Inputs, Param, scope_name, with_dims
from agentreel.checks._metric import Metric
from agentreel.checks._stats import ks_distance, ks_pvalue, sketch, two_proportion_p

__all__ = ["DEFAULT_REFUSAL", "GroupDisparity"]

_NUM = (float, int)

#: Phrases that open a refusal, in English (RE2/Rust regex syntax).
DEFAULT_REFUSAL = (
    r"(?i)\b(I('| a)m (sorry|unable|not able)|I can(no|')t (help|assist|do|provide)"
    r"|I (won't|will not) (help|assist|provide)|as an AI)\b"
)
_MEASURES = ("success", "refusal", "latency", "cost")


class DisparityParams(CommonParams):
    """`group_disparity`: impact-ratio limits across the groups of `by`."""

    by: list[str]
    measures: list[str]
    ratio_warn: float | None
    ratio_error: float | None
    alpha: float | None
    small_n: int
    refusal_pattern: str


def _fmt(v: float | None, measure: str) -> str:
    if v is None:
        return "-"
    return f"{v:.1%}" if measure in ("success", "refusal") else f"{v:.4g}"


class GroupDisparity(BuiltinCheck[DisparityParams]):
    name = "group_disparity"
    summary = "success, refusal, latency and cost compared across groups (four-fifths rule)"
    min_n = 30
    params: ClassVar[dict[str, Param]] = {
        "by": Param([], (list,), 'dimensions to compare across, e.g. ["tags.segment"]'),
        "measures": Param(list(_MEASURES), (list,), "any of success, refusal, latency, cost"),
        "ratio_warn": Param(0.8, _NUM, "warn below this impact ratio (the four-fifths rule)"),
        "ratio_error": Param(0.5, _NUM, "error below this impact ratio"),
        "alpha": Param(0.05, _NUM, "a gap counts only when its test's p is below this"),
        "small_n": Param(1000, (int,), "below this group size, latency and cost gaps are tested"),
        "refusal_pattern": Param(
            DEFAULT_REFUSAL, (str,), "regex on the final output that marks a refusal"
        ),
    }

    def evaluate(self, inputs: Inputs, p: DisparityParams) -> list[Metric]:
        """Compares groups within the current window; it needs no baseline."""
        if not p["by"]:
            return [
                Metric(
                    check=self.name,
                    scope="all",
                    statistic="impact ratio",
                    value=None,
                    op=">=",
                    skip='no groups: set by = ["tags.KEY"] under [tool.agentreel.checks.group_disparity]',
                )
            ]
        out: list[Metric] = []
        runs = inputs.current.runs
        for dim in p["by"]:
            framed = with_dims(runs, [dim], None).filter(pl.col(dim).is_not_null())
            groups = {
                str(k[0]): g
                for k, g in framed.partition_by(dim, as_dict=True, maintain_order=True).items()
            }
            big = {k: g for k, g in groups.items() if g.height >= p["min_n"]}
            for measure in p["measures"]:
                out += self._compare(dim, measure, groups, big, p)
        return out

    def _compare(
        self,
        dim: str,
        measure: str,
        groups: dict[str, pl.DataFrame],
        big: dict[str, pl.DataFrame],
        p: DisparityParams,
    ) -> list[Metric]:
        def value(g: pl.DataFrame) -> float | None:
            if measure == "success":
                return 1.0 - float(g["failed"].mean() or 0.0)  # type: ignore[arg-type]
            if measure == "refusal":
                return 1.0 - float(g["refused"].mean() or 0.0)  # type: ignore[arg-type]
            col = "duration_ms" if measure == "latency" else "cost_usd"
            v = g[col].quantile(0.5, "nearest") if measure == "latency" else g[col].mean()
            return None if v is None else float(v)  # type: ignore[arg-type]

        vals = {k: value(g) for k, g in groups.items()}
        judged = {k: v for k, v in vals.items() if k in big and v is not None}
        if not judged:
            best_key = None
        elif measure in ("success", "refusal"):
            best_key = max(judged, key=lambda k: judged[k] or 0.0)
        else:
            best_key = min(judged, key=lambda k: judged[k] or 0.0)
        table = pl.DataFrame(
            {
                dim: list(vals),
                "runs": [groups[k].height for k in vals],
                measure: list(vals.values()),
            },
            schema={dim: pl.String, "runs": pl.Int64, measure: pl.Float64},
        )
        out: list[Metric] = []
        for key, v in vals.items():
            g = groups[key]
            ratio, pv = None, None
            best = judged.get(best_key) if best_key is not None else None
            if best_key is not None and v is not None and best is not None:
                b = groups[best_key]
                if measure in ("success", "refusal"):
                    ratio = v / best if best > 0 else None
                    col = "failed" if measure == "success" else "refused"
                    pv = two_proportion_p(int(g[col].sum()), g.height, int(b[col].sum()), b.height)
                else:
                    ratio = best / v if v > 0 else 1.0
                    col = "duration_ms" if measure == "latency" else "cost_usd"
                    if min(g.height, b.height) < p["small_n"]:
                        ga, ba = sketch(g[col]), sketch(b[col])
                        pv = ks_pvalue(ks_distance(ba, ga), g.height, b.height)
            label = {"success": "success rate", "refusal": "non-refusal rate"}.get(measure, measure)
            msg = (
                f"{label} {_fmt(v, measure)} vs {_fmt(best, measure)} ({dim}={best_key})"
                if v is not None and best is not None and key != best_key
                else ""
            )
            out.append(
                Metric(
                    check=self.name,
                    scope=scope_name(dim, key),
                    statistic=f"{measure} impact ratio",
                    value=ratio,
                    op=">=",
                    warn=p["ratio_warn"],
                    error=p["ratio_error"],
                    n=g.height,
                    min_n=p["min_n"],
                    p_value=pv,
                    alpha=p["alpha"] if pv is not None else None,
                    severity=p["severity"],
                    message=msg,
                    skip=None if len(judged) > 1 else "fewer than two groups with min_n runs",
                    failures=table,
                )
            )
        return out
