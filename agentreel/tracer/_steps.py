"""Per-run numbering of LLM and tool calls (``agentreel.step``), the order replay serves in."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator

#: The next ``agentreel.step`` (replay's order of LLM and tool calls) of each open trace,
#: dropped when the trace's root span ends (see `release_trace`); capped so that roots
#: that never end cannot grow it without bound.
_step_counters: dict[int, Iterator[int]] = {}
_MAX_OPEN_TRACES = 10_000


def next_step(trace_id: int) -> int:
    """The order of the next LLM or tool call in the trace: 1, 2, 3 ... per run."""
    if not trace_id:
        return 1  # no parent: the call is a run of its own
    counter = _step_counters.get(trace_id)
    if counter is None:
        if len(_step_counters) >= _MAX_OPEN_TRACES:
            # another thread may have emptied or changed it meanwhile
            with contextlib.suppress(StopIteration, KeyError, RuntimeError):
                del _step_counters[next(iter(_step_counters))]
        counter = _step_counters.setdefault(trace_id, itertools.count(1))
    return next(counter)


def release_trace(trace_id: int) -> None:
    """Forget a trace's step counter: its root span has ended."""
    _step_counters.pop(trace_id, None)
