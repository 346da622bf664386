"""`span()` and `run()`: context managers for steps and whole runs."""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

from agentreel._errors import ConfigError
from agentreel._normalize import INPUT, KIND, KINDS
from agentreel.tracer import _recorder
from agentreel.tracer._handle import (
    LINK_KIND,
    SpanHandle,
    linked_context,
    record_error,
    set_payload,
)
from agentreel.tracer._semconv import latest_genai

__all__ = ["run", "span"]

_OPERATIONS = {
    "agent": "invoke_agent",
    "llm": "chat",
    "tool": "execute_tool",
    "embedding": "embeddings",
}


class _SpanScope:
    """A span made current for the body of a ``with`` (or ``async with``) block."""

    def __init__(
        self,
        name: str,
        attrs: dict[str, Any],
        *,
        new_trace: bool,
        input: Any,
        links: list[trace.Link] | None = None,
    ) -> None:
        self._name = name
        self._links = links
        self._attrs = attrs
        self._new_trace = new_trace
        self._input = input
        self._token: object | None = None
        self._handle: SpanHandle | None = None

    def __enter__(self) -> SpanHandle:
        ctx = Context() if self._new_trace else None
        kind = SpanKind.CLIENT if self._attrs.get(KIND) == "llm" else SpanKind.INTERNAL
        s = _recorder._tracer.start_span(
            self._name, context=ctx, kind=kind, attributes=self._attrs, links=self._links
        )
        self._token = otel_context.attach(trace.set_span_in_context(s))
        self._handle = SpanHandle(s)
        if self._input is not None:
            set_payload(s, INPUT, self._input)
        return self._handle

    def __exit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._handle is not None
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            self._token = None
        if exc is not None:
            record_error(self._handle.span, exc)
        self._handle.span.end()

    async def __aenter__(self) -> SpanHandle:
        return self.__enter__()

    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(et, exc, tb)


def _masked(name: str) -> str:
    """A name given at run time, through the recorder's redactor: the span's name, and
    the agent or tool name read from it, are masked before anything copies them."""
    rec = _recorder.recorder()
    redact = rec.redactor if rec is not None else None
    return redact(name) if redact is not None and isinstance(name, str) else name


def span(
    name: str,
    kind: str = "other",
    *,
    input: Any = None,
    attributes: dict[str, Any] | None = None,
    handoff_from: SpanHandle | None = None,
) -> _SpanScope:
    """Record the enclosed block as one step; yields a `SpanHandle`.

    `kind` is one of agent, llm, tool, retriever, embedding, chain, other. Works as
    ``with`` and ``async with``; an exception escaping the block is recorded and
    re-raised unchanged. `handoff_from` links the step, from its start, to the step
    it takes over from (``SpanHandle.link`` with kind ``handoff``): an agent that is
    handed a conversation by another it is not nested in.

    Example::

        with agentreel.span("rerank", kind="retriever", input=query) as s:
            s.set_output(rerank(query, docs))
    """
    if kind not in KINDS:
        raise ConfigError(f"span kind {kind!r} is not one of {', '.join(KINDS)}")
    name = _masked(name)
    attrs: dict[str, Any] = {KIND: kind}
    op = _OPERATIONS.get(kind)
    if op:
        attrs["gen_ai.operation.name"] = op
    if kind == "tool":
        attrs["gen_ai.tool.name"] = name
    elif kind == "agent":
        attrs["gen_ai.agent.name"] = name
    if attributes:
        attrs.update(attributes)
    links = None
    if handoff_from is not None:
        context = linked_context(handoff_from, "agentreel.span(handoff_from=...)")
        links = [trace.Link(context, {LINK_KIND: "handoff"})]
    return _SpanScope(name, attrs, new_trace=False, input=input, links=links)


_TagValue = str | int | float | bool


def run(
    name: str,
    *,
    tags: dict[str, _TagValue] | None = None,
    input: Any = None,
    session: str | None = None,
) -> _SpanScope:
    """Record the enclosed block as one run: a new trace whose root span is named `name`.

    `tags` are kept with the run and are what the CLI, checks and TUI filter on.
    `session` names the conversation (or user session) the run is one turn of
    (written as ``gen_ai.conversation.id``); ``agentreel sessions`` groups runs by it.
    The handle's ``run_id`` names the run in ``agentreel show``.

    With ``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`` the root span is
    the GenAI conventions' workflow span: named ``invoke_workflow NAME``, with
    ``gen_ai.operation.name = invoke_workflow`` and ``gen_ai.workflow.name = NAME``;
    by default it is named ``NAME`` (docs/conventions.md).

    Example::

        with agentreel.run("nightly-eval", tags={"dataset": "qa-v2"}) as r:
            asyncio.run(research("..."))
        print(r.run_id)
    """
    if not isinstance(name, str) or not name:
        raise ConfigError("agentreel.run() needs a non-empty name")
    name = _masked(name)
    attrs: dict[str, Any] = {KIND: "chain", "agentreel.run.name": name}
    if tags:
        for k, v in tags.items():
            if not isinstance(k, str) or not isinstance(v, _TagValue):
                raise ConfigError(
                    f"run tag {k!r}={v!r} is not a string key with a str, int, float or bool value"
                )
        attrs["agentreel.run.tags"] = json.dumps(tags, sort_keys=True)
    if session is not None:
        if not isinstance(session, str) or not session:
            raise ConfigError(f"agentreel.run(session={session!r}) must be a non-empty string")
        attrs["gen_ai.conversation.id"] = _masked(session)
    span_name = name
    if latest_genai():
        attrs["gen_ai.operation.name"] = "invoke_workflow"
        attrs["gen_ai.workflow.name"] = name
        span_name = f"invoke_workflow {name}"
    return _SpanScope(span_name, attrs, new_trace=True, input=input)
