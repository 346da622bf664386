"""The instrumentation SDK: decorators and context managers that emit OpenTelemetry spans.

Everything here runs in the agent's process. It writes only the spool and never
imports duckdb, polars or any other agentreel package but the shared spool format.
"""

from __future__ import annotations

from agentreel._redact import Redactor
from agentreel.tracer._decorators import agent, create_agent, llm, retriever, tool
from agentreel.tracer._handle import SpanHandle, current_span
from agentreel.tracer._integrations import instrument
from agentreel.tracer._recorder import Recorder, default_dir, flush, init, recorder, shutdown
from agentreel.tracer._span import run, span

__all__ = [
    "Recorder",
    "Redactor",
    "SpanHandle",
    "agent",
    "create_agent",
    "current_span",
    "default_dir",
    "flush",
    "init",
    "instrument",
    "llm",
    "recorder",
    "retriever",
    "run",
    "shutdown",
    "span",
    "tool",
]
