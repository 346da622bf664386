"""`CheckReport`: what one check run found, row by row, with the failing rows behind each."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import polars as pl

from agentreel.checks._metric import Metric
from agentreel.checks._timing import Timings

__all__ = ["CheckReport", "Status"]

Status = Literal["pass", "warn", "error", "skip"]
_RANK = {"skip": 0, "pass": 0, "warn": 1, "error": 2}


@dataclass
class CheckReport:
    """The result of `run_checks`.

    ``results`` has one row per check, scope and statistic: ``check``, ``scope``,
    ``statistic``, ``status`` (pass, warn, error, skip), ``severity``, ``value``,
    ``baseline``, ``op``, ``warn``, ``error`` (the limits, in the statistic's unit),
    ``n``, ``baseline_n``, ``min_n``, ``p_value``, ``alpha``, ``unit`` and
    ``message``. ``failures(i)`` gives the failing rows or runs behind row ``i``.

    Example::

        report = run_checks(store)
        report.status                 # "error"
        report.results.filter(pl.col("status") == "error")
        report.exit_code()            # 1
    """

    results: pl.DataFrame
    metrics: list[Metric]
    current: dict[str, Any]
    baseline: dict[str, Any] | None
    timings: Timings
    checked_at: datetime
    id: str
    failure_cases: pl.DataFrame = field(default_factory=pl.DataFrame)
    _failures: dict[int, pl.DataFrame | None] = field(default_factory=dict, repr=False)

    @property
    def status(self) -> Literal["pass", "warn", "error"]:
        """The worst status of any row (a skip counts as a pass)."""
        worst = max((_RANK[s] for s in self.results["status"]), default=0)
        return "error" if worst == 2 else "warn" if worst == 1 else "pass"

    def counts(self) -> dict[str, int]:
        """Rows per status."""
        c = dict.fromkeys(("pass", "warn", "error", "skip"), 0)
        for s in self.results["status"]:
            c[s] += 1
        return c

    def exit_code(self, fail_on: Literal["error", "warn"] = "error") -> int:
        """0 when nothing fails, 1 on an error (or on a warning with ``fail_on="warn"``)."""
        worst = self.status
        return 1 if worst == "error" or (worst == "warn" and fail_on == "warn") else 0

    def failures(self, i: int, limit: int | None = 20) -> pl.DataFrame | None:
        """The failing rows or runs behind result row `i` (fetched once, on demand)."""
        if i not in self._failures:
            f = self.metrics[i].failures
            self._failures[i] = f() if callable(f) else f
        out = self._failures[i]
        if out is None or limit is None:
            return out
        return out.head(limit)

    def rows(self) -> list[dict[str, Any]]:
        """The result rows as dicts."""
        return self.results.rows(named=True)

    def as_dict(self, failures: int = 20) -> dict[str, Any]:
        """A JSON-ready summary: windows, counts, timings, rows, and failing rows of non-passes."""
        rows = []
        for i, r in enumerate(self.rows()):
            f = self.failures(i, failures) if r["status"] in ("warn", "error") else None
            rows.append({**r, "failures": _records(f)})
        return {
            "id": self.id,
            "checked_at": self.checked_at.isoformat(),
            "status": self.status,
            "counts": self.counts(),
            "current": self.current,
            "baseline": self.baseline,
            "timings": self.timings.as_dict(),
            "results": rows,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, default=str)


def _records(frame: pl.DataFrame | None) -> list[dict[str, Any]] | None:
    if frame is None:
        return None
    return json.loads(frame.write_json())  # type: ignore[no-any-return]
