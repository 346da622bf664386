"""Statistical checks for Pandera on polars, registered as Pandera check methods.

Pandera's statistical ``Hypothesis`` checks are pandas-only, and its polars backend
ignores ``groupby=``. Importing `agentreel.checks` registers these instead, usable
in any polars `DataFrameModel` (as ``pa.Field(name={...})``) or schema (as
``pa.Check.name(...)``):

=========================  ===================================================
``psi_at_most``            PSI of a numeric column against a baseline sample
``ks_distance_at_most``    KS distance against a baseline sample (optional p gate)
``js_distance_at_most``    Jensen–Shannon distance of a categorical column
``no_new_values``          share of values the baseline never had
``chi_square_p_at_least``  chi-square homogeneity test against baseline counts
``rate_not_above``         two-proportion test of a boolean column's rate
``impact_ratio_at_least``  four-fifths rule across the groups of another column
=========================  ===================================================

Example::

    import pandera.polars as pa
    import agentreel.checks  # registers the checks

    class Latency(pa.DataFrameModel):
        duration_ms: float = pa.Field(psi_at_most={"baseline": last_week, "max_psi": 0.2})
        ok: bool = pa.Field(impact_ratio_at_least={"by": "segment", "min_ratio": 0.8})

Each returns one boolean for the whole column, so Pandera reports a failure as the
check's name and limits (``failure_case`` False); the statistic itself comes from
the functions of the same name in `agentreel.checks` (``psi``, ``ks_distance``, ...).

pandera's ``register_check_method`` imports its pandas data-synthesis module (and so
numpy and pandas) even for polars checks; these are put in the same registry,
``Check.REGISTERED_CUSTOM_CHECKS``, without that import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import polars as pl
from pandera.api.checks import Check
from pandera.api.polars.types import PolarsData

from agentreel.checks._stats import (
    chi_square,
    js_distance,
    ks_distance,
    ks_pvalue,
    psi,
    sketch,
    two_proportion_p,
)

__all__ = ["REGISTERED"]

Counts = Mapping[str, float] | Sequence[Any]


def _column(data: PolarsData) -> pl.Series:
    return data.lazyframe.select(pl.col(data.key)).collect().to_series()


def _counts(values: Counts) -> dict[str, float]:
    if isinstance(values, Mapping):
        return {str(k): float(v) for k, v in values.items()}
    out: dict[str, float] = {}
    for v in values:
        if v is not None:
            out[str(v)] = out.get(str(v), 0.0) + 1.0
    return out


def _brief(v: Any) -> str:
    if isinstance(v, Mapping | list | tuple | pl.Series):
        return f"<{len(v)} values>"
    return repr(v)


def _register(name: str, fn: Callable[..., bool], statistics: list[str]) -> None:
    def constructor(*args: Any, **kwargs: Any) -> Check:
        if len(args) > len(statistics):
            raise TypeError(f"{name}() takes at most {len(statistics)} positional arguments")
        stats = dict(zip(statistics, args, strict=False))
        check_kwargs = {k: v for k, v in kwargs.items() if k not in statistics}
        stats.update({k: v for k, v in kwargs.items() if k in statistics})
        error = f"{name}(" + ", ".join(f"{k}={_brief(v)}" for k, v in stats.items()) + ")"
        check_kwargs.setdefault("error", error)
        return Check(partial(fn, **stats), name=name, statistics=stats, **check_kwargs)

    constructor.__name__ = name
    constructor.__doc__ = fn.__doc__
    Check.REGISTERED_CUSTOM_CHECKS[name] = constructor


def psi_at_most(
    data: PolarsData, *, baseline: Sequence[float], max_psi: float = 0.25, bins: int = 10
) -> bool:
    """The column's PSI against the `baseline` sample, over its deciles, is at most `max_psi`."""
    base = sketch(pl.Series(list(baseline), dtype=pl.Float64))
    return psi(base, sketch(_column(data)), bins)[0] <= max_psi


def ks_distance_at_most(
    data: PolarsData,
    *,
    baseline: Sequence[float],
    max_distance: float = 0.2,
    alpha: float | None = None,
) -> bool:
    """The KS distance to the `baseline` sample is at most `max_distance` (or, with `alpha`,
    the KS test's p is at least `alpha`)."""
    col = _column(data).drop_nulls()
    base = pl.Series(list(baseline), dtype=pl.Float64).drop_nulls()
    d = ks_distance(sketch(base), sketch(col))
    if d <= max_distance:
        return True
    return alpha is not None and ks_pvalue(d, col.len(), base.len()) >= alpha


def js_distance_at_most(data: PolarsData, *, baseline: Counts, max_distance: float = 0.2) -> bool:
    """The Jensen–Shannon distance of the value counts to the baseline's is at most `max_distance`.

    `baseline` is a sample of values or a mapping of value to count.
    """
    return js_distance(_counts(baseline), _counts(_column(data).to_list())) <= max_distance


def no_new_values(data: PolarsData, *, baseline: Counts, max_share: float = 0.0) -> bool:
    """At most `max_share` of the column's (non-null) values are missing from `baseline`."""
    col = _column(data).drop_nulls().cast(pl.String)
    if col.len() == 0:
        return True
    known = pl.Series(list(_counts(baseline)), dtype=pl.String)
    return float((~col.is_in(known.implode())).mean() or 0.0) <= max_share  # type: ignore[arg-type]


def chi_square_p_at_least(data: PolarsData, *, baseline: Counts, alpha: float = 0.05) -> bool:
    """A chi-square test finds no difference from the baseline's value counts (p ≥ `alpha`)."""
    b, c = _counts(baseline), _counts(_column(data).to_list())
    keys = sorted(set(b) | set(c))
    return chi_square([b.get(k, 0.0) for k in keys], [c.get(k, 0.0) for k in keys])[2] >= alpha


def rate_not_above(
    data: PolarsData,
    *,
    baseline_rate: float,
    baseline_n: int,
    max_increase: float = 0.0,
    alpha: float = 0.05,
) -> bool:
    """The share of true values does not rise more than `max_increase` over `baseline_rate`,
    unless a one-sided two-proportion z-test says the rise may be chance (p ≥ `alpha`)."""
    col = _column(data).drop_nulls().cast(pl.Boolean)
    n, k = col.len(), int(col.sum())
    if n == 0 or k / n <= baseline_rate + max_increase:
        return True
    return two_proportion_p(k, n, round(baseline_rate * baseline_n), baseline_n) >= alpha


def impact_ratio_at_least(
    data: PolarsData, *, by: str, min_ratio: float = 0.8, alpha: float | None = None
) -> bool:
    """Every group of column `by` has a rate of true values at least `min_ratio` times the
    best group's (the four-fifths rule at 0.8); with `alpha`, a lower ratio fails only
    when a two-proportion test says it is not chance."""
    rates = (
        data.lazyframe.select(pl.col(by), pl.col(data.key).cast(pl.Boolean))
        .drop_nulls()
        .group_by(by)
        .agg(k=pl.col(data.key).sum(), n=pl.len())
        .collect()
    )
    if rates.height < 2:
        return True
    best = max(rates.iter_rows(named=True), key=lambda r: r["k"] / r["n"])
    top = best["k"] / best["n"]
    for r in rates.iter_rows(named=True):
        if top > 0 and (r["k"] / r["n"]) / top < min_ratio:
            bad = r["n"] - r["k"], best["n"] - best["k"]
            if alpha is None or two_proportion_p(bad[0], r["n"], bad[1], best["n"]) < alpha:
                return False
    return True


REGISTERED: dict[str, tuple[Callable[..., bool], list[str]]] = {
    "psi_at_most": (psi_at_most, ["baseline", "max_psi", "bins"]),
    "ks_distance_at_most": (ks_distance_at_most, ["baseline", "max_distance", "alpha"]),
    "js_distance_at_most": (js_distance_at_most, ["baseline", "max_distance"]),
    "no_new_values": (no_new_values, ["baseline", "max_share"]),
    "chi_square_p_at_least": (chi_square_p_at_least, ["baseline", "alpha"]),
    "rate_not_above": (rate_not_above, ["baseline_rate", "baseline_n", "max_increase", "alpha"]),
    "impact_ratio_at_least": (impact_ratio_at_least, ["by", "min_ratio", "alpha"]),
}

for _name, (_fn, _stats) in REGISTERED.items():
    _register(_name, _fn, _stats)
