"""agentreel's statistical checks, registered as Pandera check methods, in users' own models."""

from __future__ import annotations

import random

import pandera.polars as pa
import polars as pl
import pytest

import agentreel.checks  # noqa: F401  (registers the check methods)

rng = random.Random(7)
BASE = [rng.gauss(100, 10) for _ in range(2000)]
SAME = [rng.gauss(100, 10) for _ in range(2000)]
SHIFTED = [rng.gauss(115, 10) for _ in range(2000)]


class Latency(pa.DataFrameModel):
    duration_ms: float = pa.Field(
        psi_at_most={"baseline": BASE, "max_psi": 0.2},
        ks_distance_at_most={"baseline": BASE, "max_distance": 0.1},
    )


def test_drift_checks_pass_on_the_same_distribution_and_fail_on_a_shift() -> None:
    Latency.validate(pl.DataFrame({"duration_ms": SAME}))
    with pytest.raises(pa.errors.SchemaErrors) as info:
        Latency.validate(pl.DataFrame({"duration_ms": SHIFTED}), lazy=True)
    cases = info.value.failure_cases
    assert sorted(cases["check"]) == [
        "ks_distance_at_most(baseline=<2000 values>, max_distance=0.1)",
        "psi_at_most(baseline=<2000 values>, max_psi=0.2)",
    ]
    assert set(cases["column"]) == {"duration_ms"}


def test_categorical_checks_in_a_schema() -> None:
    schema = pa.DataFrameSchema(
        {
            "model": pa.Column(
                str,
                [
                    pa.Check.js_distance_at_most(
                        {"gpt-4.1-mini": 90, "gpt-4.1": 10}, max_distance=0.2
                    ),
                    pa.Check.no_new_values(["gpt-4.1-mini", "gpt-4.1"]),
                    pa.Check.chi_square_p_at_least({"gpt-4.1-mini": 900, "gpt-4.1": 100}),
                ],
            )
        }
    )
    schema.validate(pl.DataFrame({"model": ["gpt-4.1-mini"] * 88 + ["gpt-4.1"] * 12}))
    with pytest.raises(pa.errors.SchemaErrors) as info:
        schema.validate(
            pl.DataFrame({"model": ["claude-sonnet-4"] * 50 + ["gpt-4.1"] * 50}), lazy=True
        )
    failed = {c.split("(")[0] for c in info.value.failure_cases["check"]}
    assert failed == {"js_distance_at_most", "no_new_values", "chi_square_p_at_least"}


def test_rate_not_above_uses_the_two_proportion_test() -> None:
    class Runs(pa.DataFrameModel):
        failed: bool = pa.Field(
            rate_not_above={"baseline_rate": 0.05, "baseline_n": 1000, "max_increase": 0.02}
        )

    # 8 % at n = 50: above 5 % + 2 points, but not significantly: passes
    Runs.validate(pl.DataFrame({"failed": [True] * 4 + [False] * 46}))
    # 20 % at n = 500: fails
    with pytest.raises(pa.errors.SchemaErrors):
        Runs.validate(pl.DataFrame({"failed": [True] * 100 + [False] * 400}), lazy=True)


def test_impact_ratio_compares_groups_within_the_frame() -> None:
    """Pandera on polars ignores groupby=; impact_ratio_at_least groups by a column itself."""

    class Outcomes(pa.DataFrameModel):
        segment: str
        ok: bool = pa.Field(
            impact_ratio_at_least={"by": "segment", "min_ratio": 0.8, "alpha": 0.05}
        )

    fair = pl.DataFrame(
        {
            "segment": ["a"] * 100 + ["b"] * 100,
            "ok": [True] * 95 + [False] * 5 + [True] * 90 + [False] * 10,
        }
    )
    Outcomes.validate(fair)
    unfair = pl.DataFrame(
        {
            "segment": ["a"] * 100 + ["b"] * 100,
            "ok": [True] * 95 + [False] * 5 + [True] * 60 + [False] * 40,
        }
    )
    with pytest.raises(pa.errors.SchemaErrors) as info:
        Outcomes.validate(unfair, lazy=True)
    assert info.value.failure_cases["check"][0].startswith("impact_ratio_at_least(by='segment'")
