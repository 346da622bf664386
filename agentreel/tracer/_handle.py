"""`SpanHandle`: what code inside a span uses to add its output, tokens and attributes."""

from __future__ import annotations

import traceback
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from agentreel._errors import ConfigError
from agentreel._normalize import INPUT, OUTPUT
from agentreel.tracer import _recorder
from agentreel.tracer._canonical import module_name
from agentreel.tracer._capture import dump_payload
from agentreel.tracer._exporter import RAW, RAW_INPUT, RAW_OUTPUT

__all__ = ["LINK_KIND", "SpanHandle", "current_span", "record_error", "set_payload"]

#: The attribute of a link `SpanHandle.link` makes that says what the link stands for.
LINK_KIND = "agentreel.link.kind"


def set_payload(span: Span, key: str, value: Any) -> None:
    """Capture `value` as the span's input or output payload, if capture is on."""
    rec = _recorder.recorder()
    if rec is None or not rec.capture or not span.is_recording():
        return
    text, truncated = dump_payload(value, rec.max_payload_bytes, rec.redactor)
    span.set_attribute(key, text)
    if truncated is not None:
        span.set_attribute(key + ".truncated", truncated)
    marker = (getattr(span, "attributes", None) or {}).get(RAW)
    if type(marker) is int:  # this payload is redacted already: not again when written
        span.set_attribute(RAW, marker & ~(RAW_INPUT if key == INPUT else RAW_OUTPUT))


def record_error(span: Span, exc: BaseException) -> None:
    """Mark `span` failed by `exc`: an exception event with its traceback, status and error.type.

    The message and traceback pass through the recorder's redactor first.
    """
    if not span.is_recording():
        return
    t = type(exc)
    qualified = (
        t.__qualname__ if t.__module__ == "builtins" else f"{module_name(t)}.{t.__qualname__}"
    )
    message = str(exc)
    stack = "".join(traceback.format_exception(t, exc, exc.__traceback__))
    rec = _recorder.recorder()
    redact = rec.redactor if rec is not None else None
    if redact is not None:
        message = redact(message)
        stack = redact(stack)
    span.add_event(
        "exception",
        {
            "exception.type": qualified,
            "exception.message": message,
            "exception.stacktrace": stack,
            "exception.escaped": True,
        },
    )
    span.set_attribute("error.type", qualified)
    span.set_status(Status(StatusCode.ERROR, f"{t.__name__}: {message}"))


class SpanHandle:
    """A handle on one recorded step, to report what the step produced.

    Example::

        with agentreel.span("rerank", kind="retriever") as s:
            docs = rerank(query, docs)
            s.set_output(docs)
            s.set_tokens(input=812, output=40)
    """

    __slots__ = ("span",)

    def __init__(self, span: Span) -> None:
        self.span = span

    @property
    def trace_id(self) -> str:
        """The trace id as 32 hex digits (also the run id of the run it belongs to)."""
        return f"{self.span.get_span_context().trace_id:032x}"

    @property
    def span_id(self) -> str:
        """The span id as 16 hex digits."""
        return f"{self.span.get_span_context().span_id:016x}"

    @property
    def run_id(self) -> str:
        """The id of the run this span belongs to (its trace id)."""
        return self.trace_id

    def set_input(self, value: Any) -> None:
        """Record the step's input (JSON where possible, capped and redacted like arguments)."""
        set_payload(self.span, INPUT, value)

    def set_output(self, value: Any) -> None:
        """Record the step's output."""
        set_payload(self.span, OUTPUT, value)

    def set_tokens(self, input: int | None = None, output: int | None = None) -> None:
        """Record token usage (GenAI ``gen_ai.usage.*_tokens``)."""
        if input is not None:
            self.span.set_attribute("gen_ai.usage.input_tokens", int(input))
        if output is not None:
            self.span.set_attribute("gen_ai.usage.output_tokens", int(output))

    def set_model(
        self, request: str | None = None, response: str | None = None, provider: str | None = None
    ) -> None:
        """Record the model asked for, the model that answered, and the provider."""
        rec = _recorder.recorder()
        redact = rec.redactor if rec is not None else None
        if redact is not None:  # these attributes are not masked again when written
            request = redact(request) if isinstance(request, str) else request
            response = redact(response) if isinstance(response, str) else response
            provider = redact(provider) if isinstance(provider, str) else provider
        if request is not None:
            self.span.set_attribute("gen_ai.request.model", request)
        if response is not None:
            self.span.set_attribute("gen_ai.response.model", response)
        if provider is not None:
            self.span.set_attribute("gen_ai.provider.name", provider)

    def set_attribute(self, key: str, value: Any) -> None:
        """Set one OpenTelemetry attribute (str, bool, int, float or a list of one of them)."""
        self.span.set_attribute(key, value)

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        """Set several OpenTelemetry attributes at once."""
        self.span.set_attributes(attributes)

    def record_error(self, exc: BaseException) -> None:
        """Mark the step failed by `exc` without raising it."""
        record_error(self.span, exc)

    def link(self, other: SpanHandle, *, kind: str = "handoff") -> None:
        """Link this step to `other`'s with an OpenTelemetry span link.

        For agents that are not nested in one another: an agent taking over from
        another (`kind` ``handoff``), or one called from another trace. The link
        carries ``agentreel.link.kind = kind``; the store keeps it (``span_links``)
        and the agent graph draws it as an edge from `other`'s agent to this one.

        Example::

            @agentreel.agent
            def billing(question: str, handed_by: agentreel.SpanHandle) -> str:
                agentreel.current_span().link(handed_by)
                ...
        """
        self.span.add_link(linked_context(other, "SpanHandle.link"), {LINK_KIND: kind})


def linked_context(other: object, where: str) -> trace.SpanContext:
    """The span context of the step `other`, which must be a `SpanHandle`."""
    if not isinstance(other, SpanHandle):
        raise ConfigError(
            f"{where} takes the SpanHandle of a step (what `with agentreel.span(...) as s`"
            f" gives), not {type(other).__name__} {other!r:.40}"
        )
    return other.span.get_span_context()


def current_span() -> SpanHandle:
    """A handle on the innermost active span (a no-op handle outside any span).

    Useful inside a decorated function to add what only it knows::

        @agentreel.llm(provider="acme")
        def chat(messages):
            reply = client.complete(messages)
            agentreel.current_span().set_tokens(reply.tokens_in, reply.tokens_out)
            return reply.text
    """
    return SpanHandle(trace.get_current_span())
