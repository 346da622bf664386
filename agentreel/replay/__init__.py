"""Deterministic re-execution of recorded runs: `replay` and `fork`.

A replay re-runs a run's entry point (its outermost ``@agentreel.agent``
function, with the recorded arguments) in a fresh Python process, and serves
every recorded LLM and tool result back through agentreel's decorators instead
of calling the model or running the tool. docs/replay.md explains what is
recorded, what breaks determinism and how to fix it.

This package reads the store (DuckDB) in the calling process only; the
replaying process imports the tracer alone.

Example::

    from agentreel.replay import replay

    result = replay("4623a6bd")
    if not result.reproduced:
        print(result.divergence["message"])
        print(result.divergence["diff"])
"""

from __future__ import annotations

from agentreel.replay._plan import NotReplayable, build_plan
from agentreel.replay._run import DEFAULT_TIMEOUT, ReplayResult, fork, replay, run_plan, steps
from agentreel.tracer.seams import NetworkBlocked, ReplayedError

__all__ = [
    "DEFAULT_TIMEOUT",
    "NetworkBlocked",
    "NotReplayable",
    "ReplayResult",
    "ReplayedError",
    "build_plan",
    "fork",
    "replay",
    "run_plan",
    "steps",
]
