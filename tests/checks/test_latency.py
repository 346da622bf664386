"""Latency checks count a slowdown only when it is both a ratio and some milliseconds."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from agentreel.checks import Window
from agentreel.checks._check import Inputs
from agentreel.checks._load import WindowData
from agentreel.checks._metric import metrics_frame
from agentreel.checks._registry import BUILTINS
from agentreel.checks._thresholds import statuses

WINDOW = WindowData(Window(), pl.DataFrame(), pl.DataFrame(), None, datetime(2026, 1, 1))


def _status(check: str, base_ms: float, now_ms: float, **settings: object) -> str:
    c = BUILTINS[check]()
    p = {**c.defaults(), **settings}
    scopes = {"scopes": {"tool=lookup": [200, now_ms]}}
    base = {"scopes": {"tool=lookup": [200, base_ms]}}
    metrics = c.evaluate(Inputs(WINDOW, scopes, base, "baseline"), p)
    status, _ = statuses(metrics_frame(metrics))
    return status[0]


@pytest.mark.parametrize("check", ["latency_p50", "latency_p95"])
def test_a_fast_call_a_few_ms_slower_is_noise(check: str) -> None:
    # a lookup of 2 ms taking 5 ms on a busy machine: x2.5, but 3 ms
    assert _status(check, 2.0, 5.0) == "pass"
    assert _status(check, 2.0, 5.0, min_increase_ms=False) == "error"


@pytest.mark.parametrize("check", ["latency_p50", "latency_p95"])
def test_a_slower_call_past_both_limits_fails(check: str) -> None:
    assert _status(check, 2.0, 30.0) == "error"  # x15 and 28 ms more
    assert _status(check, 100.0, 119.0) == "pass"  # x1.19
    assert _status(check, 100.0, 160.0) == "error"  # x1.6 and 60 ms more
