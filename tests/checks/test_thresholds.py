"""MetricsModel: how limits, severity, skips and the significance gate decide a status."""

from __future__ import annotations

import polars as pl
import pytest

from agentreel.checks import Metric, MetricsModel
from agentreel.checks._metric import metrics_frame
from agentreel.checks._thresholds import ERROR_CHECK, WARN_CHECK, statuses


def m(value: float | None, **kw: object) -> Metric:
    base: dict[str, object] = {
        "check": "c",
        "scope": "all",
        "statistic": "s",
        "value": value,
        "warn": 1.0,
        "error": 2.0,
        "n": 100,
    }
    return Metric(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("metric", "status"),
    [
        (m(0.5), "pass"),
        (m(1.5), "warn"),
        (m(2.5), "error"),
        (m(2.5, severity="warn"), "warn"),  # severity caps the status
        (m(0.5, op=">=", warn=0.8, error=0.6), "error"),
        (m(0.7, op=">=", warn=0.8, error=0.6), "warn"),
        (m(2.5, p_value=0.2, alpha=0.05), "pass"),  # not significant: noise
        (m(2.5, p_value=0.01, alpha=0.05), "error"),
        (m(2.5, n=5, min_n=20), "skip"),
        (m(2.5, skip="no baseline"), "skip"),
        (m(None), "skip"),
        (m(2.5, warn=None), "error"),
        (m(1.5, error=None), "warn"),
        (m(float("nan")), "skip"),
    ],
)
def test_status(metric: Metric, status: str) -> None:
    assert statuses(metrics_frame([metric]))[0] == [status]


def test_failures_come_out_of_pandera_with_their_statistic() -> None:
    frame = metrics_frame([m(0.5), m(2.5, check="latency_p95", scope="tool=x"), m(1.5)])
    out, cases = statuses(frame)
    assert out == ["pass", "error", "warn"]
    assert set(cases["check"]) == {ERROR_CHECK, WARN_CHECK}
    by_check = {c: sorted(g["index"].to_list()) for (c,), g in cases.group_by("check")}
    assert by_check == {ERROR_CHECK: [1], WARN_CHECK: [1, 2]}
    case = cases.filter(pl.col("check") == ERROR_CHECK)["failure_case"][0]
    assert '"check":"latency_p95"' in case
    assert '"value":2.5' in case


def test_the_metrics_frame_itself_is_validated() -> None:
    frame = metrics_frame([m(1.0)]).with_columns(op=pl.lit("<"))
    with pytest.raises(RuntimeError, match="invalid metrics frame"):
        statuses(frame)
    MetricsModel.validate(metrics_frame([m(1.0)]))
