"""GenAI content events gathered per span into content records, for store/_otlp_logs.py.

The event names the GenAI conventions give (the current details event, the older
one-message-per-event ones and ``gen_ai.choice``, evaluation results), and `_Gather`,
which collects one request's events per span and turns them into the content
records (`agentreel._spool.CONTENT_FIELDS`) the drain merges into spans
(store/_content.py). Reading the log records off the wire is store/_otlp_logs.py's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from agentreel._normalize import normalize_into
from agentreel._redact import redact_attributes, redact_name
from agentreel.store._otlp import Decoded, _BadSpan

__all__ = ["CHOICE_EVENT", "DETAILS_EVENT", "EVALUATION_EVENT", "MESSAGE_EVENTS"]

#: The current conventions' event: a model call's messages and parameters as attributes.
DETAILS_EVENT = "gen_ai.client.inference.operation.details"
#: The older events, one message each, and the role a message has when its body names none.
MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
CHOICE_EVENT = "gen_ai.choice"
#: An evaluation of the span's output: kept as an event of the span, as if sent on it.
EVALUATION_EVENT = "gen_ai.evaluation.result"
#: Attributes that make any event a carrier of a span's content (as on a span).
_CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions")
#: The attribute older SDKs name an event by, before log records had an event name.
_EVENT_NAME_ATTRIBUTE = "event.name"
#: Fields of an older message event's body kept in the message, besides role and content.
_MESSAGE_FIELDS = ("tool_calls", "id")


class _Span:
    """What one request's log records say about one span."""

    __slots__ = (
        "attributes",
        "choices",
        "events",
        "input",
        "messages",
        "output",
        "span_events",
        "time_ns",
    )

    def __init__(self) -> None:
        self.events: dict[str, None] = {}  # the event names, in the order first seen
        self.time_ns: int | None = None
        self.input: str | None = None
        self.output: str | None = None
        self.attributes: dict[str, Any] = {}
        self.messages: list[tuple[int, int, dict[str, Any]]] = []  # (time, order, message)
        self.choices: list[tuple[int, int, dict[str, Any]]] = []  # (index, order, choice)
        self.span_events: list[dict[str, Any]] = []  # evaluation results, as span events


class _Gather:
    """The content records of one request, gathered per span."""

    def __init__(self, dec: Decoded, redact: Callable[[str], str] | None) -> None:
        self.dec = dec
        self.redact = redact
        self.spans: dict[tuple[str, str, str], _Span] = {}
        self.order = 0

    def add(
        self,
        *,
        trace_id: str | None,
        span_id: str | None,
        event: str,
        time_ns: int | None,
        attributes: dict[str, Any],
        body: Any,
        process_id: str,
    ) -> None:
        event = event or _str(attributes.get(_EVENT_NAME_ATTRIBUTE)) or ""
        if self.redact is not None:
            attributes = redact_attributes(attributes, self.redact)
            body = redact_attributes({"body": body}, self.redact)["body"]
        if isinstance(body, dict) and any(k in body for k in _CONTENT_KEYS):
            attributes = {**body, **attributes}  # the details carried in the body instead
        details = event == DETAILS_EVENT or any(k in attributes for k in _CONTENT_KEYS)
        known = event in MESSAGE_EVENTS or event in (CHOICE_EVENT, EVALUATION_EVENT)
        if not details and not known:
            raise _BadSpan(
                f"log record {event or '(no event name)'!r} is not a GenAI content event; "
                "only those are kept"
            )
        if trace_id is None or span_id is None:
            raise _BadSpan(
                f"log record {event!r} carries no trace and span id; only records made "
                "inside a span are kept"
            )
        span = self.spans.setdefault((trace_id, span_id, process_id), _Span())
        if time_ns is not None and (span.time_ns is None or time_ns < span.time_ns):
            span.time_ns = time_ns
        self.order += 1
        if details:  # named first: the record carries whole message lists (store/_content.py)
            if event and event != DETAILS_EVENT and self.redact is not None:
                event = redact_name(event, self.redact)  # a name of the sender's own
            span.events = {event or DETAILS_EVENT: None, **span.events}
        else:
            span.events[event] = None
        attributes.pop(_EVENT_NAME_ATTRIBUTE, None)
        if event == EVALUATION_EVENT:
            span.span_events.append({"name": event, "time_ns": time_ns, "attributes": attributes})
        elif details:
            rec: dict[str, Any] = {"name": None}
            normalize_into(rec, attributes)
            span.input = span.input or rec.get("input")
            span.output = span.output or rec.get("output")
            for k, v in rec["attributes"].items():
                span.attributes.setdefault(k, v)
        elif event == CHOICE_EVENT:
            b = body if isinstance(body, dict) else {}
            index = b.get("index")
            span.choices.append(
                (index if isinstance(index, int) else 0, self.order, _choice(b, body))
            )
            _common(span, attributes)
        else:
            span.messages.append((time_ns or 0, self.order, _message(MESSAGE_EVENTS[event], body)))
            _common(span, attributes)

    def finish(self) -> None:
        for (trace_id, span_id, process_id), span in self.spans.items():
            if span.messages and span.input is None:
                span.input = json.dumps([m for *_, m in sorted(span.messages)], ensure_ascii=False)
            if span.choices and span.output is None:
                span.output = json.dumps([c for *_, c in sorted(span.choices)], ensure_ascii=False)
            self.dec.contents.append(
                {
                    "trace_id": trace_id,
                    "span_id": span_id,
                    "time_ns": span.time_ns,
                    "event": ",".join(span.events),
                    "input": span.input,
                    "output": span.output,
                    "attributes": span.attributes or None,
                    "events": span.span_events or None,
                    "process_id": process_id,
                }
            )


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _common(span: _Span, attributes: Mapping[str, Any]) -> None:
    """An older event's attributes (``gen_ai.system``, say) that the span may lack."""
    for k, v in attributes.items():
        span.attributes.setdefault(k, v)


def _message(role: str, body: Any) -> dict[str, Any]:
    """An older message event's body as a message: role, content, and its tool calls or id."""
    if not isinstance(body, dict):
        return {"role": role, "content": body}
    msg: dict[str, Any] = {"role": _str(body.get("role")) or role}
    if "content" in body:
        msg["content"] = body["content"]
    for k in _MESSAGE_FIELDS:
        if k in body:
            msg[k] = body[k]
    return msg


def _choice(b: Mapping[str, Any], body: Any) -> dict[str, Any]:
    """A ``gen_ai.choice`` body as an output message."""
    if not b:
        return {"role": "assistant", "content": body}
    message = b.get("message")
    m = message if isinstance(message, dict) else {}
    out: dict[str, Any] = {"role": _str(m.get("role")) or "assistant"}
    if "content" in m:
        out["content"] = m["content"]
    if "tool_calls" in b:
        out["tool_calls"] = b["tool_calls"]
    if "finish_reason" in b:
        out["finish_reason"] = b["finish_reason"]
    return out
