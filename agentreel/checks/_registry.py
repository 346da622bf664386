"""The built-in checks, in the order they are reported."""

from __future__ import annotations

from typing import Any

from agentreel.checks._check import BuiltinCheck
from agentreel.checks._contracts import RunSchema, SpanSchema
from agentreel.checks._disparity import GroupDisparity
from agentreel.checks._drift import CategoricalDrift, NumericDrift
from agentreel.checks._missing import MissingData
from agentreel.checks._perf import CostPerRun, LatencyP50, LatencyP95, StepsPerRun, TokensPerRun
from agentreel.checks._rates import (
    EmptyOutput,
    Loops,
    OrphanSpans,
    RetryStorm,
    RunErrorRate,
    ToolErrorRate,
    TruncatedOutput,
)
from agentreel.checks._sessions_evals import EvaluationBelow, SessionFailureRate
from agentreel.checks._tool_args import ToolArgs
from agentreel.checks._volume import Volume

__all__ = ["BUILTINS"]

#: Every built-in check class by name, in report order.
BUILTINS: dict[str, type[BuiltinCheck[Any]]] = {
    c.name: c
    for c in (
        MissingData,
        SpanSchema,
        RunSchema,
        RunErrorRate,
        SessionFailureRate,
        ToolErrorRate,
        LatencyP50,
        LatencyP95,
        TokensPerRun,
        CostPerRun,
        StepsPerRun,
        Loops,
        RetryStorm,
        EmptyOutput,
        TruncatedOutput,
        ToolArgs,
        NumericDrift,
        CategoricalDrift,
        OrphanSpans,
        Volume,
        GroupDisparity,
        EvaluationBelow,
    )
}
