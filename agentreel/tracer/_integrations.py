"""`instrument()`: record the agent frameworks and LLM clients the process uses.

An integration switches on when the program imports its framework (at once if it
already has), so a program pays only for the frameworks it imports and never
loads one it does not use (`_on_import`). Each integration uses the framework's own OpenTelemetry support where it has one
(pydantic-ai), else the OpenInference instrumentor maintained for it; agentreel
writes no monkey patch of its own. The spans they emit go through the same
provider, spool and normaliser as agentreel's decorators, so they land in the
same columns.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

from agentreel._errors import ConfigError
from agentreel.tracer import _handoffs, _on_import, _recorder

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


def _bridge_module(module: ModuleType) -> None:
    setter = getattr(module, "_set_config_context", None)
    if setter is not None and not hasattr(setter, "__wrapped__"):
        module._set_config_context = _bridge(setter)  # type: ignore[attr-defined]


def bridge_langchain_context() -> None:
    """Make the current LangChain runnable's OpenInference span the current OpenTelemetry span.

    `instrument("langchain")` calls it; a program that sets up OpenInference's
    `LangChainInstrumentor` itself (exporting OTLP to `agentreel serve`, say) calls it
    once so that what a graph node calls nests in the graph's trace. The LangChain and
    LangGraph modules it changes are changed when they are imported, if they are not
    yet; it imports neither.
    """
    for name in _CONFIG_SETTERS:
        _on_import.when_imported(name, _bridge_module)


def unbridge_langchain_context() -> None:
    """Undo `bridge_langchain_context`."""
    for name in _CONFIG_SETTERS:
        _on_import.cancel(name, _bridge_module)
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


_oi_agents_on, _oi_agents_off = _openinference(
    "openinference.instrumentation.openai_agents", "OpenAIAgentsInstrumentor"
)


def _openai_agents_on(provider: TracerProvider) -> object:
    """OpenInference's instrumentation, and its handoffs linked (tracer/_handoffs.py)."""
    inst = _oi_agents_on(provider)
    _handoffs.set_linker(True)
    return inst


def _openai_agents_off(inst: object) -> None:
    _handoffs.set_linker(False)
    _oi_agents_off(inst)


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
            (_openai_agents_on, _openai_agents_off),
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
_lock = threading.Lock()
_wanted: set[str] = set()  # asked for by instrument(): on, or waiting for the framework's import
_starting: set[str] = set()  # being switched on by some thread
_active: dict[str, object] = {}  # on: what `off` needs


def _installed(module: str) -> bool:
    """Whether `module` can be imported, found without running any package's code.

    ``importlib.util.find_spec("a.b.c")`` would import ``a`` and ``a.b`` (tens of
    milliseconds for ``openinference.instrumentation``); asking the finders for each
    part in turn along the parent's search path imports nothing.
    """
    path: Any = None
    name = ""
    for part in module.split("."):
        if name and path is None:
            return False  # the parent is not a package
        name = f"{name}.{part}" if name else part
        loaded = sys.modules.get(name)
        if loaded is not None:
            path = getattr(loaded, "__path__", None)
            continue
        spec = _find(name, path)
        if spec is None:
            return False
        path = spec.submodule_search_locations
    return True


def _find(name: str, path: Any) -> ModuleSpec | None:
    for finder in list(sys.meta_path):
        find = getattr(finder, "find_spec", None)
        if find is None or isinstance(finder, _on_import._Finder):
            continue
        try:
            spec: ModuleSpec | None = find(name, path)
        except (ImportError, ValueError):
            return None
        if spec is not None:
            return spec
    return None


def _switch_on(name: str) -> None:
    """Switch integration `name` on now, if it is still wanted and a recorder records.

    The lock guards the bookkeeping only: `on` imports modules, and holding a lock
    of ours across an import could deadlock against a thread importing the framework.
    """
    with _lock:
        rec = _recorder.recorder()
        if name not in _wanted or name in _active or name in _starting or rec is None:
            return
        _starting.add(name)
    try:
        handle = INTEGRATIONS[name].on(rec.provider)
        with _lock:
            _active[name] = handle
    finally:
        with _lock:
            _starting.discard(name)


def _hook(name: str) -> _on_import.Hook:
    return lambda module: _switch_on(name)


#: Each integration's `when_imported` hook: one object per integration, so it can be cancelled.
_HOOKS = {n: _hook(n) for n in INTEGRATIONS}
_NOT_ON = object()


def instrument(*names: str) -> list[str]:
    """Record the named frameworks (all installed ones when none are named).

    Calls `agentreel.init()` first if it has not been called. An integration whose
    framework the program has imported switches on now; the others switch on when
    the program imports their framework, so `instrument()` itself imports no
    framework (and costs milliseconds). Returns the names of the integrations
    recording or waiting for their framework's import.

    Example::

        import agentreel
        agentreel.instrument()                       # whatever is installed
        agentreel.instrument("pydantic-ai", "openai")  # or exactly these

    Naming an integration that is not installed raises `ConfigError` with the
    extra to install, e.g. ``pip install "agentreel[langchain]"``.
    """
    _recorder.recorder() or _recorder.init()
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
        with _lock:
            _wanted.add(n)
            handle = _active.pop(n, _NOT_ON)
        if handle is not _NOT_ON:
            spec.off(handle)  # re-pointed at the current recorder below
        _on_import.when_imported(spec.framework, _HOOKS[n])
    with _lock:
        return sorted(_wanted)


def ensure_instrumented(name: str) -> bool:
    """Switch integration `name` on if agentreel records and it is installed and not on yet.

    For agentreel's own seams, which see one call where the framework's tracing sees
    the structure around it (the agents and handoffs of the OpenAI Agents SDK); the
    seam's module imports the framework, so the integration is on when this returns
    True. Never starts a recorder of its own. Returns whether the integration is on.
    """
    n = _ALIASES.get(name, name)
    if n in _active:
        return True
    spec = INTEGRATIONS[n]
    if _recorder.recorder() is None or not (
        _installed(spec.framework) and _installed(spec.instrumentor)
    ):
        return False
    instrument(n)
    return n in _active


def uninstrument() -> None:
    """Stop every integration `instrument()` started or waits to start (called by `agentreel.shutdown()`)."""
    with _lock:
        waiting = list(_wanted)
        _wanted.clear()
        handles = [(n, _active.pop(n)) for n in list(_active)]
    for n in waiting:
        _on_import.cancel(INTEGRATIONS[n].framework, _HOOKS[n])
    for n, handle in handles:
        INTEGRATIONS[n].off(handle)
