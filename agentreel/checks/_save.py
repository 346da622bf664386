"""Keep a report in the store's ``check_results`` table, for the TUI and later runs."""

from __future__ import annotations

import json

import polars as pl

from agentreel.checks._report import CheckReport
from agentreel.store import Store

__all__ = ["results_rows", "save_results"]


def results_rows(report: CheckReport, failures: int = 20) -> pl.DataFrame:
    """The report as ``check_results`` rows (failing rows of warnings and errors as JSON).

    Example: ``store.save_check_results(results_rows(report))`` (what `save_results` does).
    """
    body = report.as_dict(failures=failures)
    rows = [
        {
            "check_run_id": report.id,
            "checked_at": report.checked_at,
            "check_name": r["check"],
            "scope": r["scope"],
            "statistic": r["statistic"],
            "status": r["status"],
            "severity": r["severity"],
            "value": r["value"],
            "baseline": r["baseline"],
            "op": r["op"],
            "warn_threshold": r["warn"],
            "error_threshold": r["error"],
            "n": r["n"],
            "baseline_n": r["baseline_n"],
            "p_value": r["p_value"],
            "unit": r["unit"],
            "message": r["message"],
            "failures": None if r["failures"] is None else json.dumps(r["failures"], default=str),
            "current_window": json.dumps(report.current, default=str),
            "baseline_window": None
            if report.baseline is None
            else json.dumps(report.baseline, default=str),
        }
        for r in body["results"]
    ]
    return pl.DataFrame(
        rows,
        schema={
            "check_run_id": pl.String,
            "checked_at": pl.Datetime("ns"),
            "check_name": pl.String,
            "scope": pl.String,
            "statistic": pl.String,
            "status": pl.String,
            "severity": pl.String,
            "value": pl.Float64,
            "baseline": pl.Float64,
            "op": pl.String,
            "warn_threshold": pl.Float64,
            "error_threshold": pl.Float64,
            "n": pl.Int64,
            "baseline_n": pl.Int64,
            "p_value": pl.Float64,
            "unit": pl.String,
            "message": pl.String,
            "failures": pl.String,
            "current_window": pl.String,
            "baseline_window": pl.String,
        },
    )


def save_results(store: Store, report: CheckReport) -> int:
    """Append `report` to the store's ``check_results``; returns the rows written.

    Example::

        save_results(store, run_checks(store))
        store.check_results(limit=50)
    """
    return store.save_check_results(results_rows(report))
