"""`Metric`: one row of the metrics frame — a check's statistic for one scope, with its limits.

Every check, built-in or yours, reduces what it measured to metrics. Thresholds
are absolute numbers in the statistic's unit (a check that compares with the
baseline works out its limits from the baseline first), so one Pandera model,
`MetricsModel`, can apply them all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

__all__ = ["Failures", "Metric", "Op", "Severity", "Unit"]

Op = Literal["<=", ">="]
Severity = Literal["warn", "error"]
#: How the statistic is shown: a share, milliseconds, US dollars, a count, a plain number.
Unit = Literal["share", "ms", "usd", "count", "number"]
#: The failing rows or runs behind a metric, or a function that fetches them on demand.
Failures = pl.DataFrame | Callable[[], pl.DataFrame] | None


def _finite(v: float | None) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


@dataclass
class Metric:
    """One statistic of one check for one scope, with the limits it must respect.

    Example::

        Metric("cost_per_run", "all", "mean cost per run", value=0.031, baseline=0.02,
               warn=0.024, error=0.03, n=412, unit="usd")

    `value` breaks a limit when it is above it (``op="<="``, the default) or below it
    (``op=">="``). A breach is ignored as noise when a `p_value` and an `alpha` are
    given and ``p_value >= alpha``. `skip` (a reason) or ``n < min_n`` makes the row
    a skip. `severity` caps the status: a ``warn`` check never errors.
    """

    check: str
    scope: str
    statistic: str
    value: float | None
    baseline: float | None = None
    op: Op = "<="
    warn: float | None = None
    error: float | None = None
    n: int = 0
    baseline_n: int | None = None
    min_n: int = 0
    p_value: float | None = None
    alpha: float | None = None
    severity: Severity = "error"
    unit: Unit = "number"
    message: str = ""
    skip: str | None = None
    failures: Failures = field(default=None, repr=False)

    def skip_reason(self) -> str | None:
        """Why this row is not judged, or None."""
        if self.skip:
            return self.skip
        if self.n < self.min_n:
            return f"n={self.n} is below min_n={self.min_n}"
        if self.value is None or _finite(self.value) is None:
            return "no value"
        return None

    def row(self) -> dict[str, object]:
        """The metrics-frame row (what `MetricsModel` validates)."""
        return {
            "check": self.check,
            "scope": self.scope,
            "statistic": self.statistic,
            "value": _finite(self.value),
            "baseline": _finite(self.baseline),
            "op": self.op,
            "warn": _finite(self.warn),
            "error": _finite(self.error),
            "severity": self.severity,
            "n": int(self.n),
            "baseline_n": self.baseline_n,
            "min_n": int(self.min_n),
            "p_value": _finite(self.p_value),
            "alpha": _finite(self.alpha),
            "skipped": self.skip_reason() is not None,
            "unit": self.unit,
        }


METRICS_SCHEMA: dict[str, pl.DataType] = {
    "check": pl.String(),
    "scope": pl.String(),
    "statistic": pl.String(),
    "value": pl.Float64(),
    "baseline": pl.Float64(),
    "op": pl.String(),
    "warn": pl.Float64(),
    "error": pl.Float64(),
    "severity": pl.String(),
    "n": pl.Int64(),
    "baseline_n": pl.Int64(),
    "min_n": pl.Int64(),
    "p_value": pl.Float64(),
    "alpha": pl.Float64(),
    "skipped": pl.Boolean(),
    "unit": pl.String(),
}


def metrics_frame(metrics: list[Metric]) -> pl.DataFrame:
    """The metrics frame: one row per metric, in order."""
    return pl.DataFrame([m.row() for m in metrics], schema=METRICS_SCHEMA)
