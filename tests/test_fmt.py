"""Numbers as people read them: a sub-cent cost keeps its significant digits."""

from __future__ import annotations

import pytest

from agentreel._fmt import fmt_cost


@pytest.mark.parametrize(
    ("usd", "shown"),
    [
        (None, "—"),
        (0, "$0"),
        (0.000056, "$0.000056"),  # a real cost of one small call, not "$0.0000"
        (0.00004, "$0.000040"),
        (0.0123456, "$0.0123"),
        (0.5, "$0.5000"),
        (1234.5, "$1,234.50"),
    ],
)
def test_a_cost_shows_its_significant_digits(usd: float | None, shown: str) -> None:
    assert fmt_cost(usd) == shown
