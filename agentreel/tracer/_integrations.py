"""`instrument()`: record the agent frameworks and LLM clients already in the process.

Each integration uses the framework's own OpenTelemetry support where it has one
(pydantic-ai), else the OpenInference instrumentor maintained for it; agentreel
writes no monkey patch of its own. The spans they emit go through the same
provider, spool and normaliser as agentreel's decorators, so they land in the
same columns.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

from agentreel._errors import ConfigError
from agentreel.tracer import _recorder

__all__ = ["INTEGRATIONS", "instrument", "uninstrument"]


@dataclass(frozen=True)
class Integration:
    """One framework: how to tell it is installed, and how to switch recording on and off."""

    name: str
    extra: str
    framework: str  # a module of the framework itself
    instrumentor: str  # the instrumentation's top-level package (found without importing it)
    on: Callable[[TracerProvider], object]
    off: Callable[[object], None]


def _pydantic_ai_on(provider: TracerProvider) -> object:
    from pydantic_ai import Agent
    from pydantic_ai.models.instrumented import InstrumentationSettings

    Agent.instrument_all(InstrumentationSettings(tracer_provider=provider))
    return None


def _pydantic_ai_off(_: object) -> None:
    from pydantic_ai import Agent

    Agent.instrument_all(False)


def _openinference(
    module: str, cls: str
) -> tuple[Callable[[TracerProvider], object], Callable[[object], None]]:
    def on(provider: TracerProvider) -> object:
        inst: Any = getattr(importlib.import_module(module), cls)()
        if inst.is_instrumented_by_opentelemetry:
            inst.uninstrument()  # re-point an earlier instrumentation at this provider
        inst.instrument(tracer_provider=provider)
        return inst

    def off(inst: object) -> None:
        i: Any = inst
        if i.is_instrumented_by_opentelemetry:
            i.uninstrument()

    return on, off


def _make() -> dict[str, Integration]:
    specs = [
        (
            "pydantic-ai",
            "pydantic-ai",
            "pydantic_ai",
            "pydantic_ai",
            (_pydantic_ai_on, _pydantic_ai_off),
        ),
        (
            "openai-agents",
            "openai-agents",
            "agents",
            "openinference.instrumentation.openai_agents",
            _openinference(
                "openinference.instrumentation.openai_agents", "OpenAIAgentsInstrumentor"
            ),
        ),
        (
            "langchain",
            "langchain",
            "langchain_core",
            "openinference.instrumentation.langchain",
            _openinference("openinference.instrumentation.langchain", "LangChainInstrumentor"),
        ),
        (
            "openai",
            "openai",
            "openai",
            "openinference.instrumentation.openai",
            _openinference("openinference.instrumentation.openai", "OpenAIInstrumentor"),
        ),
        (
            "anthropic",
            "anthropic",
            "anthropic",
            "openinference.instrumentation.anthropic",
            _openinference("openinference.instrumentation.anthropic", "AnthropicInstrumentor"),
        ),
    ]
    return {n: Integration(n, extra, fw, inst, on, off) for n, extra, fw, inst, (on, off) in specs}


#: The supported integrations by name. ``langgraph`` records through ``langchain``.
INTEGRATIONS = _make()
_ALIASES = {
    "langgraph": "langchain",
    "pydantic_ai": "pydantic-ai",
    "openai_agents": "openai-agents",
}
_active: dict[str, object] = {}


def _installed(module: str) -> bool:
    # find_spec of a dotted name imports its parents; those are small namespace packages here.
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def instrument(*names: str) -> list[str]:
    """Record the named frameworks (all installed ones when none are named).

    Calls `agentreel.init()` first if it has not been called. Returns the names of
    the integrations now recording.

    Example::

        import agentreel
        agentreel.instrument()                       # whatever is installed
        agentreel.instrument("pydantic-ai", "openai")  # or exactly these

    Naming an integration that is not installed raises `ConfigError` with the
    extra to install, e.g. ``pip install "agentreel[langchain]"``.
    """
    rec = _recorder.recorder() or _recorder.init()
    wanted: list[str] = []
    for raw in names:
        n = _ALIASES.get(raw, raw)
        if n not in INTEGRATIONS:
            raise ConfigError(
                f"unknown integration {raw!r}; choose from {', '.join(sorted(INTEGRATIONS))} (or langgraph)"
            )
        wanted.append(n)
    explicit = bool(wanted)
    for n in wanted or list(INTEGRATIONS):
        spec = INTEGRATIONS[n]
        if not (_installed(spec.framework) and _installed(spec.instrumentor)):
            if explicit:
                raise ConfigError(
                    f'{n} support is not installed; pip install "agentreel[{spec.extra}]"'
                )
            continue
        if n in _active:
            spec.off(_active.pop(n))
        _active[n] = spec.on(rec.provider)
    return sorted(_active)


def uninstrument() -> None:
    """Stop every integration `instrument()` started (called by `agentreel.shutdown()`)."""
    for n in list(_active):
        INTEGRATIONS[n].off(_active.pop(n))
