"""The decorators `agent`, `llm`, `tool` and `retriever`.

Each works bare (``@agentreel.tool``) or with arguments
(``@agentreel.tool(name="web_search")``), on plain and ``async`` functions,
generators and async generators (the span ends when the stream ends) and methods.
Arguments and results are captured as JSON; exceptions are recorded on the span
and re-raised unchanged.

Every call is one small state machine on its `_Step`: `start` opens the span with
the arguments captured, then `finish` (with the result) or `fail` (with the
exception) ends it. Four thin adapters drive it from each flavour of function, and
replay enters through one hook, `_Step.runner`, which swaps the function for a
stand-in that gives back the recorded result.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from typing import Any, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.trace import Span, SpanKind

from agentreel._normalize import INPUT, KIND, OUTPUT
from agentreel.tracer import _recorder, _replay
from agentreel.tracer._canonical import canonical_request, module_name, request_hash
from agentreel.tracer._capture import (
    cut,
    dump_exact,
    encode,
    encode_exact,
    extract_llm_response,
)
from agentreel.tracer._exporter import RAW, RAW_INPUT, RAW_OUTPUT
from agentreel.tracer._fingerprint import environment_json
from agentreel.tracer._handle import record_error
from agentreel.tracer._steps import next_step

__all__ = ["agent", "create_agent", "llm", "retriever", "tool"]

F = TypeVar("F", bound=Callable[..., Any])
#: The key under which a step's `reads=` value is recorded with its arguments.
READS = "(reads)"
STEP = "agentreel.step"
HASH = "agentreel.request.hash"
_MAX_STREAM_ITEMS = 10_000
_get_current_span = trace.get_current_span
_attach = otel_context.attach
_detach = otel_context.detach
_in_context = trace.set_span_in_context


class _Step:
    """What one decorated function records: its span name, kind and static attributes."""

    __slots__ = (
        "attrs",
        "capture_input",
        "capture_output",
        "creates_agent",
        "dynamic_model",
        "entry",
        "kind",
        "names",
        "reads",
        "replayable",
        "skip_first",
        "span_kind",
        "span_name",
        "stand_in",
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
        creates_agent: bool = False,
    ) -> None:
        self.kind = kind
        self.reads = reads
        self.step_name = step_name
        # LLM and tool calls are what replay serves back; agents are where it starts
        # (an agent's creation is neither: it runs as it is).
        self.replayable = kind in ("llm", "tool")
        self.creates_agent = creates_agent
        self.entry = kind == "agent" and not creates_agent
        if self.entry:
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
        #: makes the stand-in replay runs instead of the function (set by `_wrap`)
        self.stand_in: Callable[[_replay.RecordedStep], Callable[..., Any]] = _served

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

    # -- the call's state machine: start -> finish | fail ---------------------------

    def start(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Span:
        """Open the call's span, with its arguments captured (and redacted, and hashed
        for replay) on the calling thread, since they may change once the call runs."""
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
            if self.entry:
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
                cap = rec.max_payload_bytes
                text = encode(arguments)
                if len(text) <= cap and rec.defers_redaction():
                    # redacted and cut with the rest of its batch, when written
                    attrs = {**attrs, INPUT: text, RAW: cap << 2 | RAW_INPUT}
                    truncated = None
                else:
                    redact = rec.redactor
                    text, truncated = cut(redact(text) if redact is not None else text, cap)
                    attrs = {**attrs, INPUT: text}
                if self.replayable:
                    attrs[STEP] = next_step(_get_current_span().get_span_context().trace_id)
                    attrs[HASH] = request_hash(
                        canonical_request(self.kind, self.step_name, arguments)
                    )
            if truncated is not None:
                attrs[INPUT + ".truncated"] = truncated
        if rec is not None and rec.writes_attributes():
            # opened bare, its attributes put straight in: the SDK would check each value
            # again, which costs more than the rest of the span's start together
            span = _recorder._tracer.start_span(name, kind=self.span_kind)
            _set_attributes(span, attrs, _attribute_dict(span))
            return span
        return _recorder._tracer.start_span(name, kind=self.span_kind, attributes=attrs)

    def finish(self, span: Span, result: Any) -> None:
        """End the call's span with its result captured (one attribute write)."""
        if span.is_recording():
            rec = _recorder._recorder
            out: dict[str, Any] | None = None
            attrs = _attribute_dict(span)
            if rec is not None and rec.capture and self.capture_output:
                rebuild = lossy = None
                if self.replayable:
                    text, rebuild, lossy = encode_exact(result)
                else:
                    text = encode(result)
                out = {}
                if rebuild is not None:
                    out[OUTPUT + ".type"] = rebuild
                if lossy is not None:
                    out[OUTPUT + ".lossy"] = lossy
                cap = rec.max_payload_bytes
                marker = (attrs if attrs is not None else _public_attributes(span)).get(RAW)
                if len(text) <= cap and rec.defers_redaction():
                    out[OUTPUT] = text
                    out[RAW] = (marker if marker is not None else cap << 2) | RAW_OUTPUT
                else:
                    redact = rec.redactor
                    text, truncated = cut(redact(text) if redact is not None else text, cap)
                    out[OUTPUT] = text
                    if truncated is not None:
                        out[OUTPUT + ".truncated"] = truncated
                    if marker is not None:
                        _settle_input(attrs or _public_attributes(span), marker, redact, out)
            if self.kind == "llm":
                extra = extract_llm_response(result)
                if extra:
                    out = {**out, **extra} if out else extra
            elif self.creates_agent and (agent_id := _agent_id(result)) is not None:
                out = {**out, "gen_ai.agent.id": agent_id} if out else {"gen_ai.agent.id": agent_id}
            if out:
                _set_attributes(span, out, attrs)
        span.end()

    def fail(self, span: Span, exc: BaseException) -> None:
        """End the call's span as failed by `exc` (which the caller re-raises)."""
        record_error(span, exc)
        span.end()

    # -- replay's one hook ------------------------------------------------------------

    def runner(self, span: Span, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """What runs this call: `fn`, or, in a replay that has this call recorded, a
        stand-in of the same flavour (plain, async, generator, async generator) that
        gives back the recorded result or raises the recorded exception. The adapters
        then record it on the span as they would the function's own."""
        player = _replay.player
        if player is None or not self.replayable:
            return fn
        try:
            recorded = player.take(self.kind, self.step_name, self.canonical(args, kwargs))
        except BaseException as e:  # a divergence, or a stop after a fork
            self.fail(span, e)
            raise
        if recorded is None:
            span.set_attribute("agentreel.replay.live", True)
            return fn
        span.set_attribute("agentreel.replay.step", recorded.index)
        return self.stand_in(recorded)

    def canonical(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
        """This call's canonical request (see `agentreel.tracer._canonical`)."""
        return canonical_request(self.kind, self.step_name, self.arguments(args, kwargs))


def _agent_id(result: Any) -> str | None:
    """The id of a created agent: the result itself if a string, else its ``id``."""
    if isinstance(result, str):
        return result
    found = result.get("id") if isinstance(result, dict) else getattr(result, "id", None)
    return found if isinstance(found, str) else None


def _attribute_dict(span: Span) -> dict[str, Any] | None:
    """The SDK span's own attribute dict, where attributes in OpenTelemetry's form may
    go straight in (no length limit on values); None for another kind of span."""
    bounded = getattr(span, "_attributes", None)
    if type(bounded) is not BoundedAttributes or bounded.max_value_len is not None:
        return None
    d = getattr(bounded, "_dict", None)
    return d if type(d) is dict else None


def _public_attributes(span: Span) -> Mapping[str, Any]:
    return getattr(span, "attributes", None) or {}


def _settle_input(
    attrs: Mapping[str, Any], marker: Any, redact: Callable[[str], str] | None, out: dict[str, Any]
) -> None:
    """Redact and cut, now, an input captured to be redacted later: another span
    processor joined the provider while the call ran, and it must see it masked."""
    text = attrs.get(INPUT)
    if type(marker) is int and marker & RAW_INPUT and isinstance(text, str):
        text, truncated = cut(redact(text) if redact is not None else text, marker >> 2)
        out[INPUT] = text
        if truncated is not None:
            out[INPUT + ".truncated"] = truncated
    out[RAW] = 0  # nothing left to settle; the exporter leaves the key out


def _set_attributes(span: Span, attrs: dict[str, Any], own: dict[str, Any] | None) -> None:
    """`span.set_attributes(attrs)` for attributes already in the form OpenTelemetry
    keeps (str, int, tuples of str): straight into the span's attribute dict `own` (see
    `_attribute_dict`) when it has room, else through the SDK. The SDK's own path takes
    two locks and inspects every value again, which is most of what a result costs.
    """
    if own is not None:
        limit = getattr(span, "_attributes", None).maxlen  # type: ignore[union-attr]
        if limit is None or len(own) + len(attrs) <= limit:
            own.update(attrs)
            return
    span.set_attributes(attrs)


def _served(recorded: _replay.RecordedStep) -> Callable[..., Any]:
    def served(*args: Any, **kwargs: Any) -> Any:
        return recorded.value()

    return served


async def _wait_to_be_cancelled() -> None:
    import asyncio

    await asyncio.get_running_loop().create_future()


def _served_async(recorded: _replay.RecordedStep) -> Callable[..., Any]:
    async def served(*args: Any, **kwargs: Any) -> Any:
        if recorded.cancelled:  # cancelled from outside when recorded: so again
            await _wait_to_be_cancelled()
        return recorded.value()

    return served


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _served_gen(recorded: _replay.RecordedStep) -> Callable[..., Any]:
    def served(*args: Any, **kwargs: Any) -> Generator[Any, Any, None]:
        yield from _items(recorded.value())

    return served


def _served_agen(recorded: _replay.RecordedStep) -> Callable[..., Any]:
    async def served(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        if recorded.cancelled:
            await _wait_to_be_cancelled()
        for item in _items(recorded.value()):
            yield item

    return served


# -- thin adapters: drive the state machine from each flavour of function --------------


def _wrap(fn: Any, step_for: Callable[[Callable[..., Any]], _Step]) -> Any:
    if isinstance(fn, staticmethod | classmethod):
        return type(fn)(_wrap(fn.__func__, step_for))
    step = step_for(fn)
    if inspect.isasyncgenfunction(fn):
        step.stand_in = _served_agen
        return functools.wraps(fn)(_async_gen_adapter(step, fn))
    if inspect.isgeneratorfunction(fn):
        step.stand_in = _served_gen
        return functools.wraps(fn)(_gen_adapter(step, fn))
    if inspect.iscoroutinefunction(fn):
        step.stand_in = _served_async
        return functools.wraps(fn)(_async_adapter(step, fn))
    step.stand_in = _served
    return functools.wraps(fn)(_sync_adapter(step, fn))


def _sync_adapter(step: _Step, fn: Callable[..., Any]) -> Callable[..., Any]:
    start, finish, fail, runner = step.start, step.finish, step.fail, step.runner

    def call(*args: Any, **kwargs: Any) -> Any:
        span = start(args, kwargs)
        run = fn if _replay.player is None else runner(span, fn, args, kwargs)
        token = _attach(_in_context(span))
        try:
            result = run(*args, **kwargs)
        except BaseException as e:
            fail(span, e)
            raise
        finally:
            _detach(token)
        finish(span, result)
        return result

    return call


def _async_adapter(step: _Step, fn: Callable[..., Any]) -> Callable[..., Any]:
    start, finish, fail, runner = step.start, step.finish, step.fail, step.runner

    async def call(*args: Any, **kwargs: Any) -> Any:
        span = start(args, kwargs)
        run = fn if _replay.player is None else runner(span, fn, args, kwargs)
        token = _attach(_in_context(span))
        try:
            result = await run(*args, **kwargs)
        except BaseException as e:
            fail(span, e)
            raise
        finally:
            _detach(token)
        finish(span, result)
        return result

    return call


def _gen_adapter(step: _Step, fn: Callable[..., Any]) -> Callable[..., Any]:
    start, finish, fail, runner = step.start, step.finish, step.fail, step.runner

    def call(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        span = start(args, kwargs)
        run = fn if _replay.player is None else runner(span, fn, args, kwargs)
        ctx = _in_context(span)
        token = _attach(ctx)
        try:
            gen = run(*args, **kwargs)
        finally:
            _detach(token)
        # Each step of the generator runs with the span current; what the consumer sends
        # or throws in is passed through; the span ends with the stream.
        items: list[Any] = []
        to_send: Any = None
        to_throw: BaseException | None = None
        try:
            while True:
                token = _attach(ctx)
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
                    _detach(token)
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
            finish(span, items)
            raise
        except BaseException as e:
            fail(span, e)
            raise
        finish(span, items)
        return result

    return call


def _async_gen_adapter(step: _Step, fn: Callable[..., Any]) -> Callable[..., Any]:
    start, finish, fail, runner = step.start, step.finish, step.fail, step.runner

    async def call(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        span = start(args, kwargs)
        run = fn if _replay.player is None else runner(span, fn, args, kwargs)
        ctx = _in_context(span)
        agen = run(*args, **kwargs)
        items: list[Any] = []
        to_send: Any = None
        to_throw: BaseException | None = None
        try:
            while True:
                token = _attach(ctx)
                try:
                    if to_throw is not None:
                        exc, to_throw = to_throw, None
                        item = await agen.athrow(exc)
                    else:
                        item = await agen.asend(to_send)
                except StopAsyncIteration:
                    break
                finally:
                    _detach(token)
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
            finish(span, items)
            raise
        except BaseException as e:
            fail(span, e)
            raise
        finish(span, items)

    return call


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
def agent(
    *,
    name: str | None = None,
    capture: bool = True,
    version: str | None = None,
    remote: bool = False,
    provider: str | None = None,
) -> Callable[[F], F]: ...
def agent(
    fn: Any = None,
    /,
    *,
    name: str | None = None,
    capture: bool = True,
    version: str | None = None,
    remote: bool = False,
    provider: str | None = None,
) -> Any:
    """Record each call as an agent invocation (``gen_ai.operation.name = invoke_agent``).

    `version` is written as ``gen_ai.agent.version``. The span is INTERNAL, as the
    GenAI conventions have it for an agent that runs in this process; `remote`
    makes it CLIENT, for a function that calls an agent running elsewhere (a
    service), and `provider` (``gen_ai.provider.name``) names who serves it.

    Example::

        @agentreel.agent(name="researcher", version="2.1")
        async def research(question: str) -> str: ...
    """

    def make(f: Callable[..., Any]) -> _Step:
        n = name or _fn_name(f)
        attrs = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": n}
        if version:
            attrs["gen_ai.agent.version"] = version
        if provider:
            attrs["gen_ai.provider.name"] = provider
        return _Step(
            f,
            "agent",
            f"invoke_agent {n}",
            attrs,
            span_kind=SpanKind.CLIENT if remote else SpanKind.INTERNAL,
            capture_input=capture,
            capture_output=capture,
        )

    return _decorator(fn, make)


def create_agent(
    *,
    provider: str,
    name: str | None = None,
    model: str | None = None,
    description: str | None = None,
    version: str | None = None,
    capture: bool = True,
) -> Callable[[F], F]:
    """Record each call as the creation of an agent on a service (``create_agent``).

    For a function that asks a provider to create an agent (an assistant, a hosted
    agent) rather than running one: the span is CLIENT, named ``create_agent {name}``,
    with ``gen_ai.provider.name`` (which the conventions require), and
    ``gen_ai.request.model``, ``gen_ai.agent.description`` and
    ``gen_ai.agent.version`` when given. The created agent's id, taken from the
    result (a string, or the ``id`` of a dict or object), becomes
    ``gen_ai.agent.id``. Replay runs the function as it is.

    Example::

        @agentreel.create_agent(provider="openai", name="researcher", model="gpt-4.1")
        def make_researcher() -> str: ...  # returns the new agent's id
    """

    def make(f: Callable[..., Any]) -> _Step:
        n = name or _fn_name(f)
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "create_agent",
            "gen_ai.provider.name": provider,
            "gen_ai.agent.name": n,
        }
        given = {
            "gen_ai.request.model": model,
            "gen_ai.agent.description": description,
            "gen_ai.agent.version": version,
        }
        attrs.update((k, v) for k, v in given.items() if v)
        return _Step(
            f,
            "agent",
            f"create_agent {n}",
            attrs,
            span_kind=SpanKind.CLIENT,
            capture_input=capture,
            capture_output=capture,
            creates_agent=True,
        )

    return lambda f: _decorator(f, make)


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
