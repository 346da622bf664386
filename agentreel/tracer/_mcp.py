"""MCP: the client's tool calls, resource reads and prompt gets, and the server's handling.

`agentreel.instrument("mcp")` wraps three methods of the official SDK's
`ClientSession` (`call_tool`, `read_resource`, `get_prompt`; the high-level
`Client` calls them too). Each call is a span named after the OpenTelemetry
MCP conventions, ``{mcp.method.name} {target}`` (``tools/call get_weather``),
with ``mcp.method.name``, ``mcp.protocol.version`` and ``jsonrpc.request.id``:

- a ``tools/call`` is an ``@agentreel.tool`` step (``gen_ai.operation.name =
  execute_tool``, ``gen_ai.tool.name``), so ``agentreel replay`` serves its
  recorded result and the server is never asked; a result with ``isError`` marks
  the span failed with ``error.type = tool_error`` and is still served back as a
  result, not raised;
- a ``resources/read`` is a retriever span, a ``prompts/get`` a span of kind
  ``other``; both run live in a replay;
- when the call is made inside an ``@agentreel.tool`` function, the MCP
  attributes are added to that function's span instead of opening a second one
  (a replay serves that span). Inside a framework's own ``execute_tool`` span the
  call is a step of its own: the framework runs again in a replay, and the step
  is what serves the call there.

The SDK traces every request itself (its dispatcher opens an ``MCP send ...``
client span and puts the W3C ``traceparent`` in ``params._meta``; its server
middleware opens a server span whose parent is that traceparent). While this
integration is on, the dispatcher's span for a call made through the methods
above is the call's own span (its request id and JSON-RPC error land there), so
the traceparent the server receives is that span's, and a server process that
records to the same store (``agentreel.init()`` is all it needs: the SDK's spans
go to the global tracer provider) joins the client's run. Other requests keep
the SDK's span, renamed to the conventions' ``{method} {target}``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Generator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from agentreel._normalize import INPUT, KIND, OUTPUT
from agentreel.tracer._decorators import tool
from agentreel.tracer._handle import record_error, set_payload

__all__ = ["disable", "enable"]

_WRAPPED = ("call_tool", "read_resource", "get_prompt")
_SEND_PREFIX = "MCP send "
# not `__wrapped__`: the SDK's `contextmanager` helpers carry one of their own
_ORIGINAL = "_agentreel_original"
_call: contextvars.ContextVar[Callable[[], Awaitable[Any]]] = contextvars.ContextVar(
    "agentreel_mcp_call"
)
_steps: dict[str, Callable[..., Awaitable[Any]]] = {}
_tracer: trace.Tracer | None = None


def _attributes(span: Span) -> Any:
    return getattr(span, "attributes", None) or {}


def _protocol(session: Any) -> dict[str, Any]:
    try:
        version = session.protocol_version
    except Exception:  # an SDK without the property
        version = None
    return {"mcp.protocol.version": version} if isinstance(version, str) else {}


def _tool_error(span: Span, result: Any) -> None:
    if getattr(result, "is_error", None) is True or getattr(result, "isError", None) is True:
        span.set_attribute("error.type", "tool_error")
        span.set_status(Status(StatusCode.ERROR, "the tool reported an error (isError)"))


def _dump(result: Any) -> Any:
    dump = getattr(result, "model_dump", None)
    if dump is None:
        return result
    return dump(mode="json", by_alias=True, exclude_none=True)


def _tool_step(name: str) -> Callable[..., Awaitable[Any]]:
    """The replayable step of MCP tool `name`: one decorated function per tool.

    It returns the SDK's result model as it is (a `CallToolResult`, or what the
    high-level `Client` lets through: an `InputRequiredResult`, a claimed result), so
    the recording names its type and a replay rebuilds that very type.
    """
    step = _steps.get(name)
    if step is not None:
        return step

    @tool(name=name)
    async def call(arguments: Any) -> Any:
        span = trace.get_current_span()
        result = await _call.get()()
        _tool_error(span, result)
        return result

    _steps[name] = call
    return call


def _covering_tool_span() -> Span | None:
    """The current span, if it is an ``@agentreel.tool`` span not yet given an MCP call.

    Only agentreel's own tool spans take the call's attributes: a replay serves them,
    so the call inside needs no step of its own. A framework's execute_tool span
    (pydantic-ai's, say) is not served (the framework runs again in a replay), so the
    call inside it is a step of its own, as a model call inside a framework's chat
    span is.
    """
    span = trace.get_current_span()
    a = _attributes(span)
    if a.get(KIND) == "tool" and "mcp.method.name" not in a:
        return span
    return None


def _wrap_call_tool(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def call_tool(
        self: Any, name: str, arguments: dict[str, Any] | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        attrs = {"mcp.method.name": "tools/call", **_protocol(self)}
        covering = _covering_tool_span()
        if covering is not None:
            covering.set_attributes(attrs)
            result = await original(self, name, arguments, *args, **kwargs)
            _tool_error(covering, result)
            return result

        async def send() -> Any:
            span = trace.get_current_span()
            span.update_name(f"tools/call {name}")
            span.set_attributes(attrs)
            return await original(self, name, arguments, *args, **kwargs)

        token = _call.set(send)
        try:
            return await _tool_step(name)(arguments)
        finally:
            _call.reset(token)

    call_tool._agentreel_original = original  # type: ignore[attr-defined]
    return call_tool


def _wrap_request(
    original: Callable[..., Awaitable[Any]], method: str, kind: str
) -> Callable[..., Awaitable[Any]]:
    async def request(self: Any, target: Any, *args: Any, **kwargs: Any) -> Any:
        attrs: dict[str, Any] = {"mcp.method.name": method, **_protocol(self)}
        covering = _covering_tool_span()
        if covering is not None or _tracer is None:
            if covering is not None:
                covering.set_attributes(attrs)
            return await original(self, target, *args, **kwargs)
        if method == "prompts/get":
            attrs["gen_ai.prompt.name"] = str(target)
        else:
            attrs["mcp.resource.uri"] = str(target)
        attrs[KIND] = kind
        with _tracer.start_as_current_span(
            f"{method} {target}",
            kind=SpanKind.CLIENT,
            attributes=attrs,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            arguments = args[0] if args and method == "prompts/get" else kwargs.get("arguments")
            set_payload(span, INPUT, {"target": str(target), "arguments": arguments})
            try:
                result = await original(self, target, *args, **kwargs)
            except BaseException as e:
                record_error(span, e)
                raise
            set_payload(span, OUTPUT, _dump(result))
            return result

    request._agentreel_original = original  # type: ignore[attr-defined]
    return request


def _wrap_otel_span(original: Callable[..., Any]) -> Callable[..., Any]:
    """The SDK dispatcher's span helper: the call's own span when one is open for it."""

    @contextmanager
    def otel_span(
        name: str, *, kind: SpanKind, attributes: Any = None, **kw: Any
    ) -> Generator[Any]:
        attrs = dict(attributes or {})
        current = trace.get_current_span()
        mine = _attributes(current)
        if (
            kind is SpanKind.CLIENT
            and mine.get("mcp.method.name") == attrs.get("mcp.method.name")
            and "jsonrpc.request.id" not in mine
        ):
            current.set_attributes(attrs)  # the request id, on the call's own span
            yield current
            return
        if name.startswith(_SEND_PREFIX):
            name = name[len(_SEND_PREFIX) :]
        with original(name, kind=kind, attributes=attrs, **kw) as span:
            yield span

    otel_span._agentreel_original = original  # type: ignore[attr-defined]
    return otel_span


def _wrap_server_middleware(
    original: Callable[..., Awaitable[Any]],
) -> Callable[..., Awaitable[Any]]:
    """The SDK's server span, except for a notification that carries no trace context.

    A client sends ``notifications/initialized`` with no ``_meta``: its span would be
    a run of its own for every session, holding nothing.
    """

    async def call(self: Any, ctx: Any, call_next: Any) -> Any:
        if getattr(ctx, "request_id", None) is None and "traceparent" not in (
            getattr(ctx, "meta", None) or {}
        ):
            return await call_next(ctx)
        return await original(self, ctx, call_next)

    call._agentreel_original = original  # type: ignore[attr-defined]
    return call


def enable(provider: TracerProvider) -> dict[str, Any]:
    """Wrap the SDK's client methods and its dispatcher's span helper; returns what to undo."""
    global _tracer
    from mcp.client.session import ClientSession

    _tracer = provider.get_tracer("agentreel.mcp")
    undo: dict[str, Any] = {}
    for attr in _WRAPPED:
        current = ClientSession.__dict__.get(attr)
        if current is None:
            continue
        original = getattr(current, _ORIGINAL, current)
        undo[attr] = original
        if attr == "call_tool":
            wrapped = _wrap_call_tool(original)
        elif attr == "read_resource":
            wrapped = _wrap_request(original, "resources/read", "retriever")
        else:
            wrapped = _wrap_request(original, "prompts/get", "other")
        setattr(ClientSession, attr, wrapped)
    try:
        from mcp.server._otel import OpenTelemetryMiddleware
        from mcp.shared import jsonrpc_dispatcher
    except ImportError:  # an SDK without its own tracing: only the client spans above
        return undo
    helper = getattr(jsonrpc_dispatcher, "otel_span", None)
    if helper is not None:
        original = getattr(helper, _ORIGINAL, helper)
        undo["otel_span"] = original
        jsonrpc_dispatcher.otel_span = _wrap_otel_span(original)  # type: ignore[attr-defined]
    middleware: Any = OpenTelemetryMiddleware.__dict__.get("__call__")
    if middleware is not None:
        original = getattr(middleware, _ORIGINAL, middleware)
        undo["middleware"] = original
        OpenTelemetryMiddleware.__call__ = _wrap_server_middleware(original)  # type: ignore[method-assign,assignment]
    return undo


def disable(undo: object) -> None:
    """Put back what `enable` wrapped."""
    global _tracer
    from mcp.client.session import ClientSession

    assert isinstance(undo, dict)
    for attr, original in undo.items():
        if attr == "otel_span":
            from mcp.shared import jsonrpc_dispatcher

            jsonrpc_dispatcher.otel_span = original  # type: ignore[attr-defined]
        elif attr == "middleware":
            from mcp.server._otel import OpenTelemetryMiddleware

            OpenTelemetryMiddleware.__call__ = original  # type: ignore[method-assign]
        else:
            setattr(ClientSession, attr, original)
    _tracer = None
