"""The decorators `agent`, `llm`, `tool` and `retriever`.

Each works bare (``@agentreel.tool``) or with arguments
(``@agentreel.tool(name="web_search")``), on plain and ``async`` functions,
generators and async generators (the span ends when the stream ends) and methods.
Arguments and results are captured as JSON; exceptions are recorded on the span
and re-raised unchanged.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from agentreel._normalize import INPUT, KIND, OUTPUT
from agentreel.tracer import _recorder, _replay
from agentreel.tracer._canonical import canonical_request, module_name, request_hash
from agentreel.tracer._capture import dump_exact, dump_payload, extract_llm_response
from agentreel.tracer._fingerprint import environment_json
from agentreel.tracer._handle import record_error
from agentreel.tracer._steps import next_step

__all__ = ["agent", "llm", "retriever", "tool"]

F = TypeVar("F", bound=Callable[..., Any])
#: The key under which a step's `reads=` value is recorded with its arguments.
READS = "(reads)"
_MAX_STREAM_ITEMS = 10_000
_get_current_span = trace.get_current_span


class _Step:
    """What one decorated function records: its span name, kind and static attributes."""

    __slots__ = (
        "attrs",
        "capture_input",
        "capture_output",
        "dynamic_model",
        "kind",
        "names",
        "reads",
        "replayable",
        "skip_first",
        "span_kind",
        "span_name",
        "step_name",
        "var_args",
    )

    def __init__(
        self,
        fn: Callable[..., Any],
        kind: str,
        span_name: str,
        attrs: dict[str, Any],
        *,
        span_kind: SpanKind = SpanKind.INTERNAL,
        capture_input: bool = True,
        capture_output: bool = True,
        dynamic_model: bool = False,
        step_name: str = "",
        reads: Callable[[], Any] | None = None,
    ) -> None:
        self.kind = kind
        self.reads = reads
        self.step_name = step_name
        # LLM and tool calls are what replay serves back; agents are where it starts.
        self.replayable = kind in ("llm", "tool")
        if kind == "agent":
            f = getattr(fn, "__func__", fn)
            module = module_name(f)
            attrs = {**attrs, "agentreel.entry": f"{module}:{getattr(f, '__qualname__', '?')}"}
            code = getattr(f, "__code__", None)
            if module == "__main__" and code is not None:
                attrs["agentreel.entry.file"] = code.co_filename
        self.span_name = span_name
        self.attrs = {KIND: kind, **attrs}
        self.span_kind = span_kind
        self.capture_input = capture_input
        self.capture_output = capture_output
        self.dynamic_model = dynamic_model
        names: list[str] = []
        var_args: str | None = None
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            params = []
        for p in params:
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                names.append(p.name)
            elif p.kind is p.VAR_POSITIONAL:
                var_args = p.name
        self.skip_first = bool(names) and names[0] in ("self", "cls")
        self.names = names[1:] if self.skip_first else names
        self.var_args = var_args

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.skip_first:
            args = args[1:]
        n = len(self.names)
        d = dict(zip(self.names, args, strict=False))
        if len(args) > n:
            d[self.var_args or "args"] = list(args[n:])
        if kwargs:
            d.update(kwargs)
        if self.reads is not None:  # what the function reads besides its arguments
            d[READS] = self.reads()
        return d

    def start(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Span:
        rec = _recorder._recorder
        attrs = self.attrs
        name = self.span_name
        if self.dynamic_model:
            model = kwargs.get("model")
            if isinstance(model, str):
                attrs = {**attrs, "gen_ai.request.model": model}
                name = f"chat {model}"
        if rec is not None and rec.capture and self.capture_input:
            arguments = self.arguments(args, kwargs)
            if self.kind == "agent":
                text, truncated, _, lossy = dump_exact(
                    arguments, rec.max_payload_bytes, rec.redactor
                )
                attrs = {**attrs, INPUT: text}
                if lossy is not None:
                    attrs[INPUT + ".lossy"] = lossy
                parent = getattr(_get_current_span(), "attributes", None)
                if not parent or parent.get(KIND) != "agent":
                    attrs["agentreel.env"] = environment_json()
            else:
                text, truncated = dump_payload(arguments, rec.max_payload_bytes, rec.redactor)
                attrs = {**attrs, INPUT: text}
                if self.replayable:
                    attrs["agentreel.step"] = next_step(
                        _get_current_span().get_span_context().trace_id
                    )
                    attrs["agentreel.request.hash"] = request_hash(
                        canonical_request(self.kind, self.step_name, arguments)
                    )
            if truncated is not None:
                attrs[INPUT + ".truncated"] = truncated
        return _recorder._tracer.start_span(name, kind=self.span_kind, attributes=attrs)

    def canonical(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
        """This call's canonical request (see `agentreel.tracer._canonical`)."""
        return canonical_request(self.kind, self.step_name, self.arguments(args, kwargs))

    def finish(self, span: Span, result: Any) -> None:
        if span.is_recording():
            rec = _recorder._recorder
            if rec is not None and rec.capture and self.capture_output:
                if self.replayable:
                    text, truncated, rebuild, lossy = dump_exact(
                        result, rec.max_payload_bytes, rec.redactor
                    )
                    if rebuild is not None:
                        span.set_attribute(OUTPUT + ".type", rebuild)
                    if lossy is not None:
                        span.set_attribute(OUTPUT + ".lossy", lossy)
                else:
                    text, truncated = dump_payload(result, rec.max_payload_bytes, rec.redactor)
                span.set_attribute(OUTPUT, text)
                if truncated is not None:
                    span.set_attribute(OUTPUT + ".truncated", truncated)
            if self.kind == "llm":
                extra = extract_llm_response(result)
                if extra:
                    span.set_attributes(extra)
        span.end()


def _wrap(fn: Any, step_for: Callable[[Callable[..., Any]], _Step]) -> Any:
    if isinstance(fn, staticmethod | classmethod):
        return type(fn)(_wrap(fn.__func__, step_for))
    step = step_for(fn)
    attach = otel_context.attach
    detach = otel_context.detach
    in_context = trace.set_span_in_context

    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def agen_wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
            span = step.start(args, kwargs)
            if _replay.player is not None and step.replayable:
                served = _serve(step, span, args, kwargs, stream=True, is_async=True)
                if served is _PENDING:
                    await _pending(span)
                if served is not None:
                    for item in served:
                        yield item
                    return
            ctx = in_context(span)
            agen = fn(*args, **kwargs)
            items: list[Any] = []
            to_send: Any = None
            to_throw: BaseException | None = None
            try:
                while True:
                    token = attach(ctx)
                    try:
                        if to_throw is not None:
                            exc, to_throw = to_throw, None
                            item = await agen.athrow(exc)
                        else:
                            item = await agen.asend(to_send)
                    except StopAsyncIteration:
                        break
                    finally:
                        detach(token)
                    if len(items) < _MAX_STREAM_ITEMS:
                        items.append(item)
                    try:
                        to_send = yield item
                    except GeneratorExit:
                        await agen.aclose()
                        raise
                    except BaseException as e:
                        to_throw = e
            except GeneratorExit:
                step.finish(span, items)
                raise
            except BaseException as e:
                record_error(span, e)
                span.end()
                raise
            step.finish(span, items)

        return agen_wrapper

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
            span = step.start(args, kwargs)
            if _replay.player is not None and step.replayable:
                served = _serve(step, span, args, kwargs, stream=True)
                if served is not None:
                    yield from served
                    return None
            ctx = in_context(span)
            token = attach(ctx)
            try:
                gen = fn(*args, **kwargs)
            finally:
                detach(token)
            items: list[Any] = []
            to_send: Any = None
            to_throw: BaseException | None = None
            try:
                while True:
                    token = attach(ctx)
                    try:
                        if to_throw is not None:
                            exc, to_throw = to_throw, None
                            item = gen.throw(exc)
                        else:
                            item = gen.send(to_send)
                    except StopIteration as stop:
                        result = stop.value
                        break
                    finally:
                        detach(token)
                    if len(items) < _MAX_STREAM_ITEMS:
                        items.append(item)
                    try:
                        to_send = yield item
                    except GeneratorExit:
                        gen.close()
                        raise
                    except BaseException as e:
                        to_throw = e
            except GeneratorExit:
                step.finish(span, items)
                raise
            except BaseException as e:
                record_error(span, e)
                span.end()
                raise
            step.finish(span, items)
            return result

        return gen_wrapper

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            span = step.start(args, kwargs)
            if _replay.player is not None and step.replayable:
                served = _serve(step, span, args, kwargs, is_async=True)
                if served is _PENDING:
                    await _pending(span)
                if served is not None:
                    return served[0]
            token = attach(in_context(span))
            try:
                result = await fn(*args, **kwargs)
            except BaseException as e:
                record_error(span, e)
                span.end()
                raise
            finally:
                detach(token)
            step.finish(span, result)
            return result

        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        span = step.start(args, kwargs)
        if _replay.player is not None and step.replayable:
            served = _serve(step, span, args, kwargs)
            if served is not None:
                return served[0]
        token = attach(in_context(span))
        try:
            result = fn(*args, **kwargs)
        except BaseException as e:
            record_error(span, e)
            span.end()
            raise
        finally:
            detach(token)
        step.finish(span, result)
        return result

    return wrapper


_PENDING: list[Any] = []


async def _pending(span: Span) -> None:
    """Wait until cancelled, as the recorded call was; the span records the cancellation."""
    import asyncio

    try:
        await asyncio.get_running_loop().create_future()
    except BaseException as e:
        record_error(span, e)
        span.end()
        raise


def _serve(
    step: _Step,
    span: Span,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    stream: bool = False,
    is_async: bool = False,
) -> list[Any] | None:
    """In a replay: the recorded result of this call, or None to run it live.

    The result comes back in a one-item list (for generators: the list of items),
    so that a recorded ``None`` is told apart from "run it live". A recorded
    exception is raised again; the span records what happened either way.
    """
    player = _replay.player
    assert player is not None
    try:
        recorded = player.take(step.kind, step.step_name, step.canonical(args, kwargs))
        if recorded is None:
            span.set_attribute("agentreel.replay.live", True)
            return None
        span.set_attribute("agentreel.replay.step", recorded.index)
        if recorded.cancelled and is_async:
            return _PENDING  # cancelled from outside when recorded: wait to be cancelled again
        value = recorded.value()
    except BaseException as e:
        record_error(span, e)
        span.end()
        raise
    step.finish(span, value)
    if stream:
        return list(value) if isinstance(value, list) else [value]
    return [value]


def _fn_name(fn: Any) -> str:
    f = getattr(fn, "__func__", fn)
    return str(getattr(f, "__name__", "step"))


def _decorator(fn: Any, make: Callable[[Callable[..., Any]], _Step]) -> Any:
    if fn is None:
        return lambda f: _wrap(f, make)
    if not callable(fn) and not isinstance(fn, staticmethod | classmethod):
        raise TypeError(
            f"agentreel decorators take a function, got {type(fn).__name__}; did you mean name=...?"
        )
    return _wrap(fn, make)


@overload
def agent(fn: F, /) -> F: ...
@overload
def agent(*, name: str | None = None, capture: bool = True) -> Callable[[F], F]: ...
def agent(fn: Any = None, /, *, name: str | None = None, capture: bool = True) -> Any:
    """Record each call as an agent invocation (``gen_ai.operation.name = invoke_agent``).

    Example::

        @agentreel.agent(name="researcher")
        async def research(question: str) -> str: ...
    """

    def make(f: Callable[..., Any]) -> _Step:
        n = name or _fn_name(f)
        attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": n}
        return _Step(
            f, "agent", f"invoke_agent {n}", attrs, capture_input=capture, capture_output=capture
        )

    return _decorator(fn, make)


@overload
def llm(fn: F, /) -> F: ...
@overload
def llm(
    *,
    provider: str | None = None,
    model: str | None = None,
    name: str | None = None,
    capture: bool = True,
    reads: Callable[[], Any] | None = None,
) -> Callable[[F], F]: ...
def llm(
    fn: Any = None,
    /,
    *,
    provider: str | None = None,
    model: str | None = None,
    name: str | None = None,
    capture: bool = True,
    reads: Callable[[], Any] | None = None,
) -> Any:
    """Record each call as an LLM request (``gen_ai.operation.name = chat``).

    Token usage, response model and finish reason are read from the return value
    when it has them (OpenAI- and Anthropic-shaped responses, objects or dicts);
    otherwise report them with `agentreel.current_span().set_tokens(...)`. Without
    `model`, a ``model=`` keyword argument of the call is used.

    `reads` names what the function reads besides its arguments (a system prompt
    in a module global, a setting): called at each call, its value is recorded
    with the arguments, under ``"(reads)"``, and is part of the request replay
    matches, so a change to it is a divergence.

    Example::

        @agentreel.llm(provider="openai", model="gpt-4.1", reads=lambda: SYSTEM_PROMPT)
        def chat(messages: list[dict]) -> dict: ...
    """

    def make(f: Callable[..., Any]) -> _Step:
        attrs: dict[str, Any] = {"gen_ai.operation.name": "chat"}
        if provider:
            attrs["gen_ai.provider.name"] = provider
        if model:
            attrs["gen_ai.request.model"] = model
        span_name = f"chat {model or name or _fn_name(f)}"
        attrs["agentreel.llm.name"] = name or _fn_name(f)
        return _Step(
            f,
            "llm",
            span_name,
            attrs,
            step_name=name or _fn_name(f),
            span_kind=SpanKind.CLIENT,
            capture_input=capture,
            capture_output=capture,
            dynamic_model=model is None,
            reads=reads,
        )

    return _decorator(fn, make)


@overload
def tool(fn: F, /) -> F: ...
@overload
def tool(
    *, name: str | None = None, capture: bool = True, reads: Callable[[], Any] | None = None
) -> Callable[[F], F]: ...
def tool(
    fn: Any = None,
    /,
    *,
    name: str | None = None,
    capture: bool = True,
    reads: Callable[[], Any] | None = None,
) -> Any:
    """Record each call as a tool execution (``gen_ai.operation.name = execute_tool``).

    `reads` works as for `llm`: what the tool reads besides its arguments, made part
    of the request replay matches.

    Example::

        @agentreel.tool
        def search(query: str) -> list[str]: ...
    """

    def make(f: Callable[..., Any]) -> _Step:
        n = name or _fn_name(f)
        attrs = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": n,
            "gen_ai.tool.type": "function",
        }
        return _Step(
            f,
            "tool",
            f"execute_tool {n}",
            attrs,
            capture_input=capture,
            capture_output=capture,
            step_name=n,
            reads=reads,
        )

    return _decorator(fn, make)


@overload
def retriever(fn: F, /) -> F: ...
@overload
def retriever(*, name: str | None = None, capture: bool = True) -> Callable[[F], F]: ...
def retriever(fn: Any = None, /, *, name: str | None = None, capture: bool = True) -> Any:
    """Record each call as a retrieval step (documents fetched for a query).

    Example::

        @agentreel.retriever
        def lookup(query: str, k: int = 5) -> list[Doc]: ...
    """

    def make(f: Callable[..., Any]) -> _Step:
        n = name or _fn_name(f)
        return _Step(
            f,
            "retriever",
            f"retrieve {n}",
            {"agentreel.retriever.name": n},
            capture_input=capture,
            capture_output=capture,
        )

    return _decorator(fn, make)
