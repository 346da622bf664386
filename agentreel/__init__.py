"""agentreel: a local-first flight recorder for AI agent runs.

Record with the decorators and context managers here; read with
`agentreel.store`, check with `agentreel.checks`, look with ``agentreel tui``.

Example::

    import agentreel
    agentreel.init()

    @agentreel.tool
    def search(query: str) -> list[str]: ...

`import agentreel` loads only the tracer: never duckdb nor polars.
"""

from __future__ import annotations

from agentreel._errors import (
    AgentreelError,
    ConfigError,
    RunNotFound,
    StoreBusy,
    StoreCorrupt,
    StoreNotFound,
    StoreVersionError,
)
from agentreel._evaluate import evaluate
from agentreel.tracer import (
    Recorder,
    Redactor,
    SpanHandle,
    agent,
    current_span,
    flush,
    init,
    instrument,
    llm,
    recorder,
    retriever,
    run,
    shutdown,
    span,
    tool,
)

__version__ = "0.1.0"

__all__ = [
    "AgentreelError",
    "ConfigError",
    "Recorder",
    "Redactor",
    "RunNotFound",
    "SpanHandle",
    "StoreBusy",
    "StoreCorrupt",
    "StoreNotFound",
    "StoreVersionError",
    "__version__",
    "agent",
    "current_span",
    "evaluate",
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
