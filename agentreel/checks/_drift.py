"""Drift checks: did a column's distribution move away from the baseline's?

Numeric columns are compared by PSI (over the baseline's deciles) and the KS
distance; categorical ones by the Jensen–Shannon distance and by the share of
values the baseline never saw. These are effect sizes: they do not grow with n.
p-values gate them only below ``small_n`` observations, where a chance wobble can
cross a threshold; at large n a test would call every harmless shift significant.
"""

from __future__ import annotations

from typing import Any, ClassVar

import polars as pl

from agentreel.checks._check import BuiltinCheck, CommonParams, Inputs, Param, dim_expr
from agentreel.checks._formats import format_value
from agentreel.checks._load import WindowData
from agentreel.checks._metric import Metric, Unit
from agentreel.checks._shape import Shape, count, fields, finite, list_of, mapping
from agentreel.checks._stats import (
    chi_square,
    js_distance,
    ks_distance,
    ks_pvalue,
    psi,
    psi_bins,
    sketch,
    sketch_quantile,
)

__all__ = ["CategoricalDrift", "NumericDrift"]

_NUM = (float, int)


class NumericDriftParams(CommonParams):
    """`numeric_drift`: PSI and KS limits over numeric run columns."""

    columns: list[str]
    psi_warn: float | None
    psi_error: float | None
    ks_warn: float | None
    ks_error: float | None
    bins: int
    alpha: float | None
    small_n: int


class CategoricalDriftParams(CommonParams):
    """`categorical_drift`: Jensen–Shannon and new-value limits over categories."""

    columns: list[str]
    js_warn: float | None
    js_error: float | None
    new_warn: float | None
    new_error: float | None
    alpha: float | None
    small_n: int


def _gate(
    n: int, bn: int, p: NumericDriftParams | CategoricalDriftParams, pvalue: float
) -> tuple[float | None, float | None]:
    """(p_value, alpha) for the metrics frame: a gate only at small n."""
    if min(n, bn) < p["small_n"]:
        return pvalue, p["alpha"]
    return None, None


class NumericDrift(BuiltinCheck[NumericDriftParams]):
    measure_shape: ClassVar[Shape] = fields(
        optional=True, columns=mapping(fields(n=count, sketch=list_of(finite)))
    )
    name = "numeric_drift"
    summary = "PSI and KS distance of numeric run columns against the baseline"
    severity = "warn"
    min_n = 50
    params: ClassVar[dict[str, Param]] = {
        "columns": Param(
            ["duration_ms", "tokens", "cost_usd", "steps"], (list,), "numeric run columns"
        ),
        "psi_warn": Param(0.1, _NUM, "warn at this PSI (a moderate shift)"),
        "psi_error": Param(0.25, _NUM, "error at this PSI (a large shift)"),
        "ks_warn": Param(0.1, _NUM, "warn at this KS distance"),
        "ks_error": Param(0.2, _NUM, "error at this KS distance"),
        "bins": Param(10, (int,), "PSI bins (quantiles of the baseline)"),
        "alpha": Param(0.05, _NUM, "below small_n, a shift counts only when p < alpha"),
        "small_n": Param(1000, (int,), "below this n (either window) p-values gate the shift"),
    }

    def measure(self, data: WindowData, p: NumericDriftParams) -> dict[str, Any]:
        cols: dict[str, Any] = {}
        for c in p["columns"]:
            if c in data.runs.columns:
                s = data.runs[c].drop_nulls()
                cols[c] = {"n": s.len(), "sketch": sketch(s)}
        return {"columns": cols}

    def evaluate(self, inputs: Inputs, p: NumericDriftParams) -> list[Metric]:
        base = inputs.baseline.get("columns") if inputs.baseline is not None else None
        out: list[Metric] = []
        for col, cur in inputs.measured["columns"].items():
            n, sk = int(cur["n"]), cur["sketch"]
            common: dict[str, Any] = {
                "check": self.name,
                "scope": col,
                "n": n,
                "min_n": p["min_n"],
                "severity": p["severity"],
            }
            b = (base or {}).get(col)
            if base is None:
                why: str | None = "no baseline"
            elif b is None:
                why = "not in the baseline"
            elif not b["sketch"]:
                why = f"the baseline has no values of {col}"
            elif not sk:
                why = _none_in(inputs.current, f"no values of {col}")
            else:
                why = None
            if why is not None or b is None:
                out.append(Metric(statistic="psi", value=None, skip=why, **common))
                continue
            bn, bsk = int(b["n"]), b["sketch"]
            common["baseline_n"] = bn
            skip = f"baseline n={bn} is below min_n={p['min_n']}" if bn < p["min_n"] else None
            value, pb, pc = psi(bsk, sk, p["bins"])
            _, _, chi_p = chi_square([x * bn for x in pb], [x * n for x in pc])
            pv, alpha = _gate(n, bn, p, chi_p)
            edges = psi_bins(bsk, p["bins"])
            bins = pl.DataFrame(
                {
                    "bin_upper": [*edges, None],
                    "baseline_share": pb,
                    "current_share": pc,
                },
                schema={
                    "bin_upper": pl.Float64,
                    "baseline_share": pl.Float64,
                    "current_share": pl.Float64,
                },
            )
            out.append(
                Metric(
                    statistic="psi",
                    value=value,
                    warn=p["psi_warn"],
                    error=p["psi_error"],
                    p_value=pv,
                    alpha=alpha,
                    skip=skip,
                    message=f"median {_q(sk, 0.5, col)} vs {_q(bsk, 0.5, col)}",
                    failures=bins,
                    **common,
                )
            )
            d = ks_distance(bsk, sk)
            pv, alpha = _gate(n, bn, p, ks_pvalue(d, n, bn))
            qs = [0.1, 0.25, 0.5, 0.75, 0.9]
            quantiles = pl.DataFrame(
                {
                    "quantile": qs,
                    "baseline": [sketch_quantile(bsk, q) for q in qs],
                    "current": [sketch_quantile(sk, q) for q in qs],
                }
            )
            out.append(
                Metric(
                    statistic="ks distance",
                    value=d,
                    warn=p["ks_warn"],
                    error=p["ks_error"],
                    p_value=pv,
                    alpha=alpha,
                    skip=skip,
                    message=f"p90 {_q(sk, 0.9, col)} vs {_q(bsk, 0.9, col)}",
                    failures=quantiles,
                    **common,
                )
            )
        return out


_UNITS: dict[str, Unit] = {"duration_ms": "ms", "cost_usd": "usd"}


def _none_in(data: WindowData, what: str) -> str:
    """Why the current window has nothing to compare: no runs at all, or none of `what`."""
    runs = data.runs.height
    if runs == 0:
        return "no runs in the current window"
    return f"{what} in the current window ({runs} runs)"


def _q(sk: list[float], q: float, col: str) -> str:
    return format_value(sketch_quantile(sk, q), _UNITS.get(col, "count"))


class CategoricalDrift(BuiltinCheck[CategoricalDriftParams]):
    measure_shape: ClassVar[Shape] = fields(optional=True, columns=mapping(mapping(count)))
    name = "categorical_drift"
    summary = "Jensen–Shannon distance and unseen values of models, tools and finish reasons"
    severity = "warn"
    min_n = 50
    params: ClassVar[dict[str, Param]] = {
        "columns": Param(
            ["model", "tool", "finish_reason"],
            (list,),
            "`model`, `tool`, `finish_reason` (of LLM and tool calls) or run dimensions",
        ),
        "js_warn": Param(0.1, _NUM, "warn at this Jensen–Shannon distance"),
        "js_error": Param(0.2, _NUM, "error at this Jensen–Shannon distance"),
        "new_warn": Param(0.0, _NUM, "warn when more than this share of values are new"),
        "new_error": Param(0.05, _NUM, "error when more than this share of values are new"),
        "alpha": Param(0.05, _NUM, "below small_n, a shift counts only when p < alpha"),
        "small_n": Param(1000, (int,), "below this n (either window) p-values gate the shift"),
    }

    @staticmethod
    def _values(data: WindowData, col: str) -> pl.Series:
        if col == "model":
            return data.of_kind("llm")["model"]
        if col == "tool":
            return data.of_kind("tool")["tool_name"]
        if col == "finish_reason":
            return data.of_kind("llm")["finish_reason"]
        return data.runs.select(dim_expr(col).cast(pl.String).alias(col))[col]

    @staticmethod
    def _nothing(col: str) -> str:
        """What a window without values of `col` lacks: ``no LLM calls``, ``no tool calls``..."""
        if col == "model":
            return "no LLM calls with a model"
        if col == "finish_reason":
            return "no LLM calls with a finish reason"
        if col == "tool":
            return "no tool calls"
        return f"no values of {col}"

    def _vanished(
        self,
        data: WindowData,
        col: str,
        b: dict[str, int],
        skip: str | None,
        p: CategoricalDriftParams,
        common: dict[str, Any],
    ) -> list[Metric]:
        """The rows of a column the baseline had values of and the current window has none.

        With no runs at all there is nothing to compare (``missing_data`` judges an
        empty window). Otherwise the mix is gone entirely: the largest distance, 1,
        judged whatever `min_n` is (none of the baseline's values is no small sample).
        """
        kind = {"model": "llm", "finish_reason": "llm", "tool": "tool"}.get(col)
        if kind is not None and data.count_of_kind(kind) == 0:
            what = "no LLM calls" if kind == "llm" else "no tool calls"
        else:
            what = self._nothing(col)
        why = _none_in(data, what)
        if data.runs.height == 0:
            return [Metric(statistic="js distance", value=None, skip=why, **common)]
        table = pl.DataFrame(
            {"value": list(b), "baseline": list(b.values()), "current": [0] * len(b)},
            schema={"value": pl.String, "baseline": pl.Int64, "current": pl.Int64},
        ).sort("baseline", descending=True)
        return [
            Metric(
                statistic="js distance",
                value=1.0,
                warn=p["js_warn"],
                error=p["js_error"],
                skip=skip,
                message=f"{why}; the baseline had {sum(b.values())}",
                failures=table,
                **{**common, "min_n": 0},
            ),
            Metric(
                statistic="new values",
                value=None,
                unit="share",
                skip=why,
                **{k: v for k, v in common.items() if k != "unit"},
            ),
        ]

    def measure(self, data: WindowData, p: CategoricalDriftParams) -> dict[str, Any]:
        cols: dict[str, dict[str, int]] = {}
        for c in p["columns"]:
            vc = self._values(data, c).drop_nulls().value_counts()
            cols[c] = {str(v): int(k) for v, k in vc.iter_rows()}
        return {"columns": cols}

    def evaluate(self, inputs: Inputs, p: CategoricalDriftParams) -> list[Metric]:
        base = inputs.baseline.get("columns") if inputs.baseline is not None else None
        out: list[Metric] = []
        for col, cur in inputs.measured["columns"].items():
            n = sum(cur.values())
            common: dict[str, Any] = {
                "check": self.name,
                "scope": col,
                "n": n,
                "min_n": p["min_n"],
                "severity": p["severity"],
                "unit": "number",
            }
            b: dict[str, int] | None = (base or {}).get(col)
            if not b:
                if base is None:
                    why = "no baseline"
                elif b is None:
                    why = "not in the baseline"
                else:
                    why = f"the baseline had {self._nothing(col)}"
                out.append(Metric(statistic="js distance", value=None, skip=why, **common))
                continue
            bn = sum(b.values())
            common["baseline_n"] = bn
            skip = f"baseline n={bn} is below min_n={p['min_n']}" if bn < p["min_n"] else None
            if n == 0:
                out += self._vanished(inputs.current, col, b, skip, p, common)
                continue
            keys = sorted(set(b) | set(cur))
            table = pl.DataFrame(
                {
                    "value": keys,
                    "baseline": [b.get(k, 0) for k in keys],
                    "current": [cur.get(k, 0) for k in keys],
                },
                schema={"value": pl.String, "baseline": pl.Int64, "current": pl.Int64},
            ).sort(["current", "value"], descending=[True, False])
            js = js_distance(
                {k: float(v) for k, v in b.items()}, {k: float(v) for k, v in cur.items()}
            )
            _, _, chi_p = chi_square([b.get(k, 0) for k in keys], [cur.get(k, 0) for k in keys])
            pv, alpha = _gate(n, bn, p, chi_p)
            top = table.head(3).rows()
            out.append(
                Metric(
                    statistic="js distance",
                    value=js,
                    warn=p["js_warn"],
                    error=p["js_error"],
                    p_value=pv,
                    alpha=alpha,
                    skip=skip,
                    message=", ".join(f"{v} {c / n:.1%} vs {bc / bn:.1%}" for v, bc, c in top),
                    failures=table,
                    **common,
                )
            )
            new = table.filter(pl.col("baseline") == 0)
            new_n = int(new["current"].sum())
            out.append(
                Metric(
                    statistic="new values",
                    value=new_n / n if n else None,
                    warn=p["new_warn"],
                    error=p["new_error"],
                    unit="share",
                    skip=skip,
                    message="new: " + ", ".join(new["value"].head(5).to_list())
                    if new.height
                    else "",
                    failures=new if new.height else None,
                    **{k: v for k, v in common.items() if k != "unit"},
                )
            )
        return out
