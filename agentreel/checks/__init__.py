"""Checks: Pandera row contracts and statistical failure and drift checks over the store.

``agentreel check`` runs them from the command line (and in CI); in Python::

    from agentreel.store import Store
    from agentreel.checks import Window, run_checks

    with Store.open() as store:
        report = run_checks(store, current=Window(since="24h"), baseline="main")
    print(report.status)
    print(report.results)

Row contracts are Pandera models (`SpanModel`, `RunModel`); aggregate and drift
statistics are computed in DuckDB and polars into a metrics frame whose thresholds
Pandera applies (`MetricsModel`). Importing this package also registers agentreel's
statistical checks as Pandera check methods (``psi_at_most``,
``ks_distance_at_most``, ``js_distance_at_most``, ``no_new_values``,
``chi_square_p_at_least``, ``rate_not_above``, ``impact_ratio_at_least``), for
models of your own. docs/checks.md describes every built-in check, and lists these
names under "Python".
"""

from __future__ import annotations

from agentreel.checks import _pandera_checks  # noqa: F401  (registers the check methods)
from agentreel.checks._baseline import SavedBaseline, read_baseline
from agentreel.checks._config import CheckConfig, load_config
from agentreel.checks._errors import BaselineError, CheckConfigError, CheckError
from agentreel.checks._formats import (
    format_limits,
    format_value,
    github_annotations,
    to_json,
    to_junit_xml,
    to_markdown,
)
from agentreel.checks._metric import Metric
from agentreel.checks._models import RunModel, SpanModel
from agentreel.checks._recorded import RecordedSpans
from agentreel.checks._report import CheckReport
from agentreel.checks._runner import in_ci, run_checks, save_baseline
from agentreel.checks._save import save_results
from agentreel.checks._stats import (
    chi_square,
    js_distance,
    ks_distance,
    ks_pvalue,
    psi,
    sketch,
    two_proportion_p,
)
from agentreel.checks._text import render_text
from agentreel.checks._thresholds import MetricsModel
from agentreel.checks._user import MetricCheck, enabled_checks, metric_check
from agentreel.checks._window import Window

__all__ = [
    "BaselineError",
    "CheckConfig",
    "CheckConfigError",
    "CheckError",
    "CheckReport",
    "Metric",
    "MetricCheck",
    "MetricsModel",
    "RecordedSpans",
    "RunModel",
    "SavedBaseline",
    "SpanModel",
    "Window",
    "chi_square",
    "enabled_checks",
    "format_limits",
    "format_value",
    "github_annotations",
    "in_ci",
    "js_distance",
    "ks_distance",
    "ks_pvalue",
    "load_config",
    "metric_check",
    "psi",
    "read_baseline",
    "render_text",
    "run_checks",
    "save_baseline",
    "save_results",
    "sketch",
    "to_json",
    "to_junit_xml",
    "to_markdown",
    "two_proportion_p",
]
