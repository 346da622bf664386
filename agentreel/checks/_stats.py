"""The statistics the checks use, in polars and plain Python (no scipy).

Distributions are summarised as *sketches*: the values at ``SKETCH_POINTS``
evenly spaced quantiles (0 %, 0.5 %, ..., 100 %). A sketch is small enough to
save in a baseline file, and every distance here (PSI, KS) is computed from two
sketches, so a live baseline and a saved one give the same answer. Rank error of
a sketch is at most 1 / (SKETCH_POINTS - 1), far below any threshold we use.

Example::

    import polars as pl
    a = sketch(pl.Series([1.0, 2.0, 3.0]))
    b = sketch(pl.Series([2.0, 3.0, 4.0]))
    ks_distance(a, b)   # 0.33...
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import polars as pl

__all__ = [
    "SKETCH_POINTS",
    "chi2_sf",
    "chi_square",
    "js_distance",
    "ks_distance",
    "ks_pvalue",
    "psi",
    "psi_bins",
    "sketch",
    "sketch_expr",
    "sketch_quantile",
    "two_proportion_p",
]

#: Points in a sketch: quantiles at 0, 1/200, ..., 1.
SKETCH_POINTS = 201
_EPS = 1e-4  # floor for empty bins in PSI and logs


def sketch_expr(col: str, points: int = SKETCH_POINTS) -> pl.Expr:
    """A polars expression giving the sketch of `col`, for ``group_by().agg``.

    Filter out nulls of `col` first: every group must have at least one value.
    """
    n = pl.len().cast(pl.Int64)
    i = pl.int_range(0, pl.min_horizontal(n, points), dtype=pl.Int64)
    idx = pl.when(n <= points).then(i).otherwise((i * (n - 1) / (points - 1)).round())
    return pl.col(col).sort().gather(idx.cast(pl.Int64))


def sketch(values: pl.Series, points: int = SKETCH_POINTS) -> list[float]:
    """The sketch of a series (nulls dropped) as a list of floats.

    Up to `points` values it is the sorted values themselves, so small samples
    are compared exactly.
    """
    v = values.drop_nulls().cast(pl.Float64).sort()
    if v.len() <= points:
        return [float(x) for x in v.to_list()]
    idx = [round(i * (v.len() - 1) / (points - 1)) for i in range(points)]
    return [float(x) for x in v.gather(idx).to_list()]


def sketch_quantile(sk: Sequence[float], q: float) -> float | None:
    """The q-quantile (nearest rank) read from a sketch."""
    if not sk:
        return None
    return float(sk[round(q * (len(sk) - 1))])


def _cdf(sk: Sequence[float], at: pl.Series) -> pl.Series:
    """P(X <= x) for each x in `at`, from a sketch of X."""
    s = pl.Series(sk, dtype=pl.Float64)
    return s.search_sorted(at, side="right").cast(pl.Float64) / max(len(sk), 1)


def ks_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """Kolmogorov–Smirnov distance: the largest gap between the two CDFs, in [0, 1]."""
    if not a or not b:
        return 0.0
    grid = pl.Series([*a, *b], dtype=pl.Float64).unique().sort()
    return float((_cdf(a, grid) - _cdf(b, grid)).abs().max() or 0.0)  # type: ignore[arg-type]


def ks_pvalue(d: float, n: int, m: int) -> float:
    """Asymptotic two-sample KS p-value of distance `d` between samples of sizes n and m."""
    if n <= 0 or m <= 0 or d <= 0:
        return 1.0
    en = math.sqrt(n * m / (n + m))
    lam = (en + 0.12 + 0.11 / en) * d
    if lam < 0.2:
        return 1.0
    total = 0.0
    for j in range(1, 101):
        term = 2.0 * (-1) ** (j - 1) * math.exp(-2.0 * j * j * lam * lam)
        total += term
        if abs(term) < 1e-12:
            break
    return min(1.0, max(0.0, total))


def psi_bins(base: Sequence[float], bins: int = 10) -> list[float]:
    """Inner bin edges for PSI: the baseline's deciles (fewer when values repeat)."""
    if not base:
        return []
    return sorted({float(sketch_quantile(base, i / bins) or 0.0) for i in range(1, bins)})


def _shares(sk: Sequence[float], edges: Sequence[float]) -> list[float]:
    """Share of the sketched distribution in each bin ``(-inf, e0], (e0, e1], ..., (en, inf)``."""
    idx = pl.Series(edges, dtype=pl.Float64).search_sorted(
        pl.Series(sk, dtype=pl.Float64), side="left"
    )
    counts = [0] * (len(edges) + 1)
    for i in idx.to_list():
        counts[int(i)] += 1
    total = max(len(sk), 1)
    return [c / total for c in counts]


def psi(
    base: Sequence[float], cur: Sequence[float], bins: int = 10
) -> tuple[float, list[float], list[float]]:
    """Population stability index of `cur` against `base` over the baseline's deciles.

    Returns (psi, baseline shares, current shares). 0.1 is a moderate shift and
    0.25 a large one, by the usual rule of thumb.
    """
    edges = psi_bins(base, bins)
    pb, pc = _shares(base, edges), _shares(cur, edges)
    total = 0.0
    for e, a in zip(pb, pc, strict=True):
        e1, a1 = max(e, _EPS), max(a, _EPS)
        total += (a1 - e1) * math.log(a1 / e1)
    return total, pb, pc


def js_distance(base: Mapping[str, float], cur: Mapping[str, float]) -> float:
    """Jensen–Shannon distance (base 2, the square root of the divergence) in [0, 1]."""
    tb, tc = sum(base.values()), sum(cur.values())
    if tb <= 0 or tc <= 0:
        return 0.0
    jsd = 0.0
    for k in sorted(set(base) | set(cur)):  # one order: the same sum on every run
        p, q = base.get(k, 0.0) / tb, cur.get(k, 0.0) / tc
        m = (p + q) / 2
        if p > 0:
            jsd += 0.5 * p * math.log2(p / m)
        if q > 0:
            jsd += 0.5 * q * math.log2(q / m)
    return math.sqrt(max(0.0, min(1.0, jsd)))


def chi_square(a: Sequence[float], b: Sequence[float]) -> tuple[float, int, float]:
    """Pearson's chi-square test of homogeneity for two count vectors over the same cells.

    Returns (statistic, degrees of freedom, p-value). Cells empty in both are dropped.
    """
    cells = [(x, y) for x, y in zip(a, b, strict=True) if x + y > 0]
    na, nb = sum(x for x, _ in cells), sum(y for _, y in cells)
    if len(cells) < 2 or na <= 0 or nb <= 0:
        return 0.0, 0, 1.0
    n = na + nb
    stat = 0.0
    for x, y in cells:
        col = x + y
        ea, eb = na * col / n, nb * col / n
        stat += (x - ea) ** 2 / ea + (y - eb) ** 2 / eb
    df = len(cells) - 1
    return stat, df, chi2_sf(stat, df)


def chi2_sf(x: float, df: int) -> float:
    """Upper tail of the chi-square distribution: the regularised gamma Q(df/2, x/2)."""
    if df <= 0:
        return 1.0
    if x <= 0:
        return 1.0
    return _gammaq(df / 2.0, x / 2.0)


def _gammaq(a: float, x: float) -> float:
    # Series for x < a + 1, continued fraction otherwise (Numerical Recipes, gser/gcf).
    gln = math.lgamma(a)
    if x < a + 1.0:
        ap, s, d = a, 1.0 / a, 1.0 / a
        for _ in range(1000):
            ap += 1.0
            d *= x / ap
            s += d
            if abs(d) < abs(s) * 1e-15:
                break
        return max(0.0, 1.0 - s * math.exp(-x + a * math.log(x) - gln))
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return min(1.0, math.exp(-x + a * math.log(x) - gln) * h)


def two_proportion_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """One-sided two-proportion z-test: the p-value of ``k1/n1 > k2/n2`` by chance.

    Example: 30 errors in 200 runs against 10 in 200 gives p ≈ 0.0006.
    """
    if n1 <= 0 or n2 <= 0:
        return 1.0
    p1, p2 = k1 / n1, k2 / n2
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0 if p1 > p2 else 1.0
    z = (p1 - p2) / se
    return 0.5 * math.erfc(z / math.sqrt(2))
