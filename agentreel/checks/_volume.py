"""Volume: are there far more or far fewer runs than the baseline's rate predicts?"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from agentreel.checks._check import BuiltinCheck, CommonParams, Inputs, Param
from agentreel.checks._load import WindowData
from agentreel.checks._metric import Metric
from agentreel.checks._shape import Shape, count, fields, finite, nullable

__all__ = ["Volume"]

_NUM = (float, int)


class VolumeParams(CommonParams):
    """`volume`: fold-change limits on the number of runs an hour."""

    fold_warn: float | None
    fold_error: float | None
    alpha: float | None


class Volume(BuiltinCheck[VolumeParams]):
    """Runs in the current window against the baseline's runs per hour times its length.

    The statistic is the fold change, ``max(current / expected, expected / current)``
    (counts smoothed by one), so a halving and a doubling both read 2. A change
    counts only when a Poisson test (normal approximation) gives ``p < alpha``.
    Both windows must be time ranges (a saved baseline keeps its length).
    """

    measure_shape: ClassVar[Shape] = fields(optional=True, runs=count, hours=nullable(finite))

    name = "volume"
    summary = "runs in the window against the baseline's rate (fold change)"
    severity = "warn"
    params: ClassVar[dict[str, Param]] = {
        "fold_warn": Param(2.0, _NUM, "warn at this fold change (half or double)"),
        "fold_error": Param(5.0, _NUM, "error at this fold change"),
        "alpha": Param(0.05, _NUM, "a change counts only when the Poisson p is below this"),
    }

    def measure(self, data: WindowData, p: VolumeParams) -> dict[str, Any]:
        return {"runs": data.runs.height, "hours": data.hours}

    def evaluate(self, inputs: Inputs, p: VolumeParams) -> list[Metric]:
        c, hours = int(inputs.measured["runs"]), inputs.measured["hours"]
        common: dict[str, Any] = {
            "check": self.name,
            "scope": "all",
            "statistic": "fold change in runs",
            "n": c,
            "severity": p["severity"],
        }
        b = inputs.baseline
        if b is None:
            return [Metric(value=None, skip="no baseline", **common)]
        bruns, bhours = int(b["runs"]), b.get("hours")
        if not hours or not bhours:
            return [
                Metric(
                    value=None,
                    baseline_n=bruns,
                    skip="volume compares time windows; give both windows a time range",
                    **common,
                )
            ]
        expected = bruns * hours / bhours
        fold = max((c + 1) / (expected + 1), (expected + 1) / (c + 1))
        z = abs(c - expected) / math.sqrt(max(expected, 1.0))
        pv = math.erfc(z / math.sqrt(2))
        skip = (
            f"baseline has {bruns} runs, below min_n={p['min_n']}" if bruns < p["min_n"] else None
        )
        return [
            Metric(
                value=fold,
                warn=p["fold_warn"],
                error=p["fold_error"],
                baseline_n=bruns,
                p_value=pv,
                alpha=p["alpha"],
                skip=skip,
                message=f"{c} runs, expected {expected:.0f} ({bruns} in {bhours:.0f} h)",
                **common,
            )
        ]
