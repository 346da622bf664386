"""Handoffs of the OpenAI Agents SDK written as span links between the agents' spans.

OpenInference's instrumentation of the SDK names the agent a handoff came from only
by name, on the new agent's span and only when it ends (``graph.node.parent_id``).
While `instrument("openai-agents")` is on, the recorder's span processor tells this
module of each span that starts and ends. It keeps the agent spans open in each trace;
a handoff span (``handoff to NAME``, somewhere inside the agent handing off) is
remembered when it ends with the innermost open span of the agent it names as its
source (``input.value``), and the next span of the agent NAME started in the same
trace gets a link to that agent's span, with ``agentreel.link.kind = handoff``, as
`agentreel.span(handoff_from=...)` writes. A handoff whose agent never starts is
forgotten after `MAX_PENDING` others.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, Span
from opentelemetry.trace import SpanContext

__all__ = ["HandoffLinks", "set_linker"]

#: Handoffs remembered at most while their agents have not started.
MAX_PENDING = 1024
_KIND = "openinference.span.kind"
_PREFIX = "handoff to "


class HandoffLinks:
    """Remembers handoffs as they end and links the agent spans they lead to."""

    def __init__(self) -> None:
        self._pending: OrderedDict[tuple[int, str], SpanContext] = OrderedDict()
        #: the agent spans open in each trace, innermost last: (name, context)
        self._agents: dict[int, list[tuple[str, SpanContext]]] = {}
        self._lock = threading.Lock()

    def started(self, span: Span) -> None:
        attrs: Any = span.attributes or {}
        if attrs.get(_KIND) != "AGENT":
            return
        ctx = span.context
        with self._lock:
            source = self._pending.pop((ctx.trace_id, span.name), None)
            self._agents.setdefault(ctx.trace_id, []).append((span.name, ctx))
        if source is not None:
            span.add_link(source, {"agentreel.link.kind": "handoff"})

    def ended(self, span: ReadableSpan) -> None:
        ctx = span.context
        if ctx is None:
            return
        attrs: Any = span.attributes or {}
        kind = attrs.get(_KIND)
        if kind == "AGENT":
            with self._lock:
                open_ = self._agents.get(ctx.trace_id, [])
                for i in range(len(open_) - 1, -1, -1):
                    if open_[i][1].span_id == ctx.span_id:
                        del open_[i]
                        break
                if not open_:
                    self._agents.pop(ctx.trace_id, None)
            return
        if kind != "TOOL" or not span.name.startswith(_PREFIX):
            return
        to = str(attrs.get("output.value") or span.name[len(_PREFIX) :])
        came_from = attrs.get("input.value")
        with self._lock:
            open_ = self._agents.get(ctx.trace_id, [])
            source = next(
                (c for n, c in reversed(open_) if came_from is None or n == came_from), None
            )
            if source is None:
                return
            self._pending[(ctx.trace_id, to)] = source
            while len(self._pending) > MAX_PENDING:
                self._pending.popitem(last=False)


#: The linker while the OpenAI Agents SDK is instrumented, else None (read per span by
#: the recorder's span processor).
_linker: HandoffLinks | None = None


def set_linker(on: bool) -> None:
    global _linker
    _linker = HandoffLinks() if on else None
