"""The statistics, against textbook values and brute force."""

from __future__ import annotations

import math

import hypothesis.strategies as st
import polars as pl
import pytest
from hypothesis import given, settings

from agentreel.checks import (
    chi_square,
    js_distance,
    ks_distance,
    ks_pvalue,
    psi,
    sketch,
    two_proportion_p,
)
from agentreel.checks._stats import SKETCH_POINTS, chi2_sf, sketch_expr, sketch_quantile


@pytest.mark.parametrize(
    ("x", "df", "p"),
    [
        (3.841459, 1, 0.05),
        (5.991465, 2, 0.05),
        (18.307038, 10, 0.05),
        (6.634897, 1, 0.01),
        (0.0, 4, 1.0),
    ],
)
def test_chi_square_upper_tail_matches_the_tables(x: float, df: int, p: float) -> None:
    assert chi2_sf(x, df) == pytest.approx(p, abs=1e-5)


def test_ks_pvalue_is_about_alpha_at_the_critical_distance() -> None:
    # the 5 % critical value of the two-sample test is about 1.358 * sqrt((n + m) / (n m))
    n = m = 400
    d = 1.358 * math.sqrt((n + m) / (n * m))
    assert ks_pvalue(d, n, m) == pytest.approx(0.05, abs=0.01)
    assert ks_pvalue(0.0, n, m) == 1.0
    assert ks_pvalue(0.5, n, m) < 1e-12


def test_two_proportion_test() -> None:
    # z = 3.33 for 15 % against 5 % at n = 200 each
    assert two_proportion_p(30, 200, 10, 200) == pytest.approx(0.00043, abs=0.00005)
    assert two_proportion_p(10, 200, 30, 200) > 0.99  # one-sided: a fall is not a rise
    assert two_proportion_p(0, 50, 0, 50) == 1.0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 30), min_size=1, max_size=150),
    st.lists(st.integers(0, 30), min_size=1, max_size=150),
)
def test_ks_distance_of_small_samples_is_exact(a: list[int], b: list[int]) -> None:
    grid = sorted(set(a) | set(b))
    brute = max(
        abs(sum(x <= g for x in a) / len(a) - sum(x <= g for x in b) / len(b)) for g in grid
    )
    got = ks_distance(
        sketch(pl.Series(a, dtype=pl.Float64)), sketch(pl.Series(b, dtype=pl.Float64))
    )
    assert got == pytest.approx(brute)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=3000), st.floats(0, 1))
def test_sketch_quantiles_are_within_one_sketch_step_of_the_data(
    values: list[float], q: float
) -> None:
    s = pl.Series(values)
    sk = sketch(s)
    assert len(sk) == min(len(values), SKETCH_POINTS)
    got = sketch_quantile(sk, q)
    assert got is not None
    tol = 1 / (SKETCH_POINTS - 1) + 1 / len(values) + 1e-9
    below = sum(v < got for v in values) / len(values)
    at_or_below = sum(v <= got for v in values) / len(values)
    assert below <= q + tol
    assert at_or_below >= q - tol
    # the group-by expression gives the same sketch
    frame = pl.DataFrame({"g": [0] * len(values), "v": values})
    assert frame.group_by("g").agg(sk=sketch_expr("v"))["sk"][0].to_list() == sk


def test_psi_is_zero_for_the_same_distribution_and_grows_with_a_shift() -> None:
    base = sketch(pl.Series([float(i % 100) for i in range(5000)]))
    assert psi(base, base)[0] == pytest.approx(0.0)
    small = psi(base, sketch(pl.Series([float(i % 100) + 5 for i in range(5000)])))[0]
    large = psi(base, sketch(pl.Series([float(i % 100) + 40 for i in range(5000)])))[0]
    assert 0 < small < 0.1 < 0.25 < large


def test_js_distance_bounds() -> None:
    assert js_distance({"a": 5, "b": 5}, {"a": 50, "b": 50}) == pytest.approx(0.0)
    assert js_distance({"a": 1}, {"b": 1}) == pytest.approx(1.0)
    d = js_distance({"a": 3, "b": 1}, {"a": 1, "b": 3})
    assert d == pytest.approx(js_distance({"a": 1, "b": 3}, {"a": 3, "b": 1}))
    assert 0 < d < 1


def test_chi_square_homogeneity() -> None:
    stat, df, p = chi_square([10, 20, 30], [10, 20, 30])
    assert (stat, df, p) == (0.0, 2, 1.0)
    stat, df, p = chi_square([30, 20, 10], [10, 20, 30])
    assert stat == pytest.approx(20.0)
    assert df == 2
    assert p == pytest.approx(math.exp(-10), rel=1e-6)
