"""agentreel: a local-first flight recorder for AI agent runs.

Record with the decorators and context managers here; read with
`agentreel.store`, check with `agentreel.checks`, look with ``agentreel tui``.

Example::

    import agentreel
    agentreel.init()

    @agentreel.tool
    def search(query: str) -> list[str]: ...

`import agentreel` loads never duckdb nor polars, and the tracer only when one of
its names is first used (``agentreel --version`` and the CLI's reading commands
never need it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from agentreel.tracer import (
        Recorder,
        Redactor,
        SpanHandle,
        agent,
        create_agent,
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
    "create_agent",
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

# what __all__ promises that is not defined above: the tracer's names
_TRACER = frozenset(__all__) - frozenset(globals())


def __getattr__(name: str) -> Any:
    """The tracer's names, imported on first use (about 0.1 s of CPU the CLI does without)."""
    if name not in _TRACER:
        raise AttributeError(f"module 'agentreel' has no attribute {name!r}")
    from agentreel import tracer

    value = getattr(tracer, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | _TRACER)
