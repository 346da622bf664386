"""`instrument()`: record the agent frameworks and LLM clients already in the process.

Each integration uses the framework's own OpenTelemetry support where it has one
(pydantic-ai), else the OpenInference instrumentor maintained for it; agentreel
writes no monkey patch of its own. The spans they emit go through the same
provider, spool and normaliser as agentreel's decorators, so they land in the
same columns.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

from agentreel._errors import ConfigError
from agentreel.tracer import _recorder

__all__ = [
    "INTEGRATIONS",
    "bridge_langchain_context",
    "ensure_instrumented",
    "instrument",
    "unbridge_langchain_context",
    "uninstrument",
]


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


def _openinference_on(module: str, cls: str) -> Callable[[TracerProvider], object]:
    def on(provider: TracerProvider) -> object:
        inst: Any = getattr(importlib.import_module(module), cls)()
        if inst.is_instrumented_by_opentelemetry:
            inst.uninstrument()  # re-point an earlier instrumentation at this provider
        inst.instrument(tracer_provider=provider)
        return inst

    return on


def _openinference_off(inst: object) -> None:
    i: Any = inst
    if i.is_instrumented_by_opentelemetry:
        i.uninstrument()


def _openinference(
    module: str, cls: str
) -> tuple[Callable[[TracerProvider], object], Callable[[object], None]]:
    return _openinference_on(module, cls), _openinference_off


# LangChain's OpenInference tracer makes a span for each runnable but never makes it
# the current OpenTelemetry span (its callbacks cannot promise to detach it), so what
# a graph node calls (an OpenAI client, a decorated tool) would start a trace of its
# own: one invocation split into several runs. LangChain and LangGraph run each
# runnable in a fresh copy of the context after setting its config there; the bridge
# wraps that setter and, in the same copy, makes the runnable's span current. The copy
# is dropped when the runnable returns, so nothing outlives it.
_CONFIG_SETTERS = ("langchain_core.runnables.config", "langgraph._internal._runnable")


def _bridge(original: Callable[..., Any]) -> Callable[..., Any]:
    from openinference.instrumentation.langchain import get_current_span
    from opentelemetry import context, trace

    def set_config_context(*args: Any, **kwargs: Any) -> Any:
        token = original(*args, **kwargs)
        span = get_current_span()
        if span is not None:
            context.attach(trace.set_span_in_context(span))
        return token

    set_config_context.__wrapped__ = original  # type: ignore[attr-defined]
    return set_config_context


def bridge_langchain_context() -> None:
    """Make the current LangChain runnable's OpenInference span the current OpenTelemetry span.

    `instrument("langchain")` calls it; a program that sets up OpenInference's
    `LangChainInstrumentor` itself (exporting OTLP to `agentreel serve`, say) calls it
    once so that what a graph node calls nests in the graph's trace.
    """
    for name in _CONFIG_SETTERS:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        setter = getattr(module, "_set_config_context", None)
        if setter is not None and not hasattr(setter, "__wrapped__"):
            module._set_config_context = _bridge(setter)  # type: ignore[attr-defined]


def unbridge_langchain_context() -> None:
    """Undo `bridge_langchain_context`."""
    for name in _CONFIG_SETTERS:
        module = sys.modules.get(name)
        setter = getattr(module, "_set_config_context", None)
        if setter is not None and hasattr(setter, "__wrapped__"):
            module._set_config_context = setter.__wrapped__  # type: ignore[union-attr]


def _langchain_on(provider: TracerProvider) -> object:
    inst = _openinference_on("openinference.instrumentation.langchain", "LangChainInstrumentor")(
        provider
    )
    bridge_langchain_context()
    return inst


def _langchain_off(inst: object) -> None:
    unbridge_langchain_context()
    _openinference_off(inst)


def _mcp_on(provider: TracerProvider) -> object:
    from agentreel.tracer import _mcp

    return _mcp.enable(provider)


def _mcp_off(undo: object) -> None:
    from agentreel.tracer import _mcp

    _mcp.disable(undo)


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
            (_langchain_on, _langchain_off),
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
        # The MCP SDK traces its requests itself; agentreel shapes its client side.
        ("mcp", "mcp", "mcp", "mcp", (_mcp_on, _mcp_off)),
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


def ensure_instrumented(name: str) -> bool:
    """Switch integration `name` on if agentreel records and it is installed and not on yet.

    For agentreel's own seams, which see one call where the framework's tracing sees
    the structure around it (the agents and handoffs of the OpenAI Agents SDK). Never
    starts a recorder of its own. Returns whether the integration is on.
    """
    if name in _active:
        return True
    spec = INTEGRATIONS[_ALIASES.get(name, name)]
    if _recorder.recorder() is None or not (
        _installed(spec.framework) and _installed(spec.instrumentor)
    ):
        return False
    instrument(spec.name)
    return True


def uninstrument() -> None:
    """Stop every integration `instrument()` started (called by `agentreel.shutdown()`)."""
    for n in list(_active):
        INTEGRATIONS[n].off(_active.pop(n))
