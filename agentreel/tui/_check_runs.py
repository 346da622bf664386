"""Saved check results shaped for the checks screen: check runs, their rows, a row's history.

The store keeps one flat ``check_results`` row per check, scope and statistic of each
check run; the screen wants the runs newest first, each run's rows with the failures
first, and one row's value over past runs. Pure functions over the frame, no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

__all__ = ["CheckRun", "check_runs", "failing_rows", "history", "result_key"]

_ORDER = {"error": 0, "warn": 1, "pass": 2, "skip": 3}


def _json(raw: str | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


@dataclass(frozen=True)
class CheckRun:
    """One `agentreel check`: when, its rows (errors, then warnings, passes, skips), its windows."""

    id: str
    checked_at: datetime
    rows: list[dict[str, Any]]
    current: dict[str, Any]
    baseline: dict[str, Any] | None

    @property
    def status(self) -> str:
        """The worst status of any row: error, warn or pass (a skip counts as a pass)."""
        found = {r["status"] for r in self.rows}
        return "error" if "error" in found else "warn" if "warn" in found else "pass"

    def counts(self) -> dict[str, int]:
        """Rows per status."""
        c = dict.fromkeys(("error", "warn", "pass", "skip"), 0)
        for r in self.rows:
            c[r["status"]] = c.get(r["status"], 0) + 1
        return c


def result_key(row: dict[str, Any]) -> tuple[str, str, str]:
    """What a row measures, the same across check runs: check, scope, statistic."""
    return (row["check_name"], row["scope"], row["statistic"])


def check_runs(results: pl.DataFrame) -> list[CheckRun]:
    """The check runs in `results` (as `Store.check_results` gives them), newest first."""
    if results.height == 0:
        return []
    runs: dict[str, list[dict[str, Any]]] = {}
    for r in results.sort("checked_at", "check_run_id", descending=True).iter_rows(named=True):
        runs.setdefault(r["check_run_id"], []).append(r)
    out = []
    for run_id, rows in runs.items():
        rows.sort(key=lambda r: (_ORDER.get(r["status"], 4), *result_key(r)))
        current = _json(rows[0]["current_window"])
        baseline = _json(rows[0]["baseline_window"])
        out.append(
            CheckRun(
                id=run_id,
                checked_at=rows[0]["checked_at"],
                rows=rows,
                current=current if isinstance(current, dict) else {},
                baseline=baseline if isinstance(baseline, dict) else None,
            )
        )
    return out


def history(runs: list[CheckRun], key: tuple[str, str, str]) -> list[dict[str, Any]]:
    """The row measuring `key` in each check run that has one, newest first."""
    return [r for run in runs for r in run.rows if result_key(r) == key]


def failing_rows(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The failing runs, spans or groups saved with a row (up to 20; none when it passed)."""
    found = _json(row.get("failures"))
    if not isinstance(found, list):
        return []
    return [f for f in found if isinstance(f, dict)]
