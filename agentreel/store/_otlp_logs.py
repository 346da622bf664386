"""OTLP log export requests -> content records: GenAI messages carried in log events.

The GenAI conventions let an instrumentation record a model call's messages as
OpenTelemetry *events* (log records with an event name) instead of, or as well
as, span attributes:

- ``gen_ai.client.inference.operation.details``, the current form: the same
  ``gen_ai.input.messages``, ``gen_ai.output.messages`` and
  ``gen_ai.system_instructions`` attributes a span may carry, in structured form;
- the older per-message events: ``gen_ai.system.message``, ``gen_ai.user.message``,
  ``gen_ai.assistant.message`` and ``gen_ai.tool.message`` (one input message each,
  in the body) and ``gen_ai.choice`` (one output choice each);
- ``gen_ai.evaluation.result``, an evaluation of the span's output, which becomes an
  event of the span (as if sent as a span event), so `evaluations` reads it.

A record that carries a trace id and a span id becomes a *content record* for
that span (`agentreel._spool.CONTENT_FIELDS`): its input and output exactly as
`normalize_into` reads them from span attributes, so they land in the same
columns. The older events of one span in one request are gathered into one
message list each (input in the order sent, choices by index), the shape the
older flattened ``gen_ai.prompt.N.*`` attributes give. The drain fills the span's
payload columns from it whichever of the two arrives first (store/_content.py).

Records without a span, and records that are not GenAI content events (plain
application logs sent to the same endpoint), are refused and counted, as the
OTLP partial-success answer allows; a body that is not a logs export request at
all raises `OTLPDecodeError`.

Example::

    decoded = decode_logs_protobuf(body)
    decoded.contents, decoded.rejected   # content records, log records refused
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from agentreel._normalize import normalize_into
from agentreel._redact import redact_attributes, redact_name
from agentreel.store._otlp import (
    _ODD_VALUES,
    Decoded,
    OTLPDecodeError,
    _BadSpan,
    _resource,
    process_id_of,
)
from agentreel.store._otlp_json import (
    _get,
    _json_attributes,
    _json_id,
    _json_value,
    _list,
    _nanos,
    _obj,
)
from agentreel.store._otlp_protobuf import _pb_attributes, _pb_id, _pb_value

if TYPE_CHECKING:
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

__all__ = [
    "CHOICE_EVENT",
    "DETAILS_EVENT",
    "EVALUATION_EVENT",
    "MESSAGE_EVENTS",
    "decode_logs_json",
    "decode_logs_json_object",
    "decode_logs_protobuf",
]

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


def _decoded() -> Decoded:
    return Decoded(unit="log record")


# -- protobuf -----------------------------------------------------------------


def _pb_record(g: _Gather, r: LogRecord, process_id: str) -> None:
    label = r.span_id.hex() or "(no span)"
    trace_id = _pb_id(r.trace_id, 16, "trace id", label) if any(r.trace_id) else None
    span_id = _pb_id(r.span_id, 8, "span id", label) if any(r.span_id) else None
    g.add(
        trace_id=trace_id,
        span_id=span_id,
        event=r.event_name,
        time_ns=r.time_unix_nano or r.observed_time_unix_nano or None,
        attributes=_pb_attributes(r.attributes),
        body=_pb_value(r.body) if r.HasField("body") else None,
        process_id=process_id,
    )


def decode_logs_protobuf(body: bytes, redact: Callable[[str], str] | None = None) -> Decoded:
    """Decode a protobuf ``ExportLogsServiceRequest`` into content records.

    `redact` masks every text of every record and resource as it is decoded.

    Example::

        decoded = decode_logs_protobuf(request_body)
    """
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    req = ExportLogsServiceRequest()
    try:
        req.ParseFromString(body)
    except Exception as e:  # protobuf's DecodeError, or upb's limits
        raise OTLPDecodeError(
            f"the body is not a valid OTLP/protobuf ExportLogsServiceRequest ({e})"
        ) from None
    dec = _decoded()
    g = _Gather(dec, redact)
    for rl in req.resource_logs:
        resource = _resource(_pb_attributes(rl.resource.attributes), redact)
        pid = process_id_of(resource)
        placed = len(g.spans)
        for sl in rl.scope_logs:
            for r in sl.log_records:
                try:
                    _pb_record(g, r, pid)
                except _BadSpan as e:
                    dec.reject(str(e))
                except _ODD_VALUES as e:
                    dec.reject(
                        f"a log record holds a value that cannot be read ({type(e).__name__})"
                    )
        if len(g.spans) > placed:
            dec.resources[pid] = resource
    g.finish()
    return dec


# -- OTLP/JSON ----------------------------------------------------------------


def _json_record(g: _Gather, r: Any, process_id: str) -> None:
    rec = _obj(r, "a log record")
    raw_span = _get(rec, "spanId")
    label = raw_span if isinstance(raw_span, str) and raw_span else "(no span)"
    raw_trace = _get(rec, "traceId")
    trace_id = _json_id(raw_trace, 16, "trace id", label) if raw_trace else None
    span_id = _json_id(raw_span, 8, "span id", label) if raw_span else None
    event = _get(rec, "eventName") or ""
    if not isinstance(event, str):
        raise _BadSpan(f"log record of span {label}: eventName must be a string")
    body = _get(rec, "body")
    g.add(
        trace_id=trace_id,
        span_id=span_id,
        event=event,
        time_ns=_nanos(_get(rec, "timeUnixNano"), "timeUnixNano")
        or _nanos(_get(rec, "observedTimeUnixNano"), "observedTimeUnixNano"),
        attributes=_json_attributes(_list(rec, "attributes", f"log record of span {label}")),
        body=_json_value(body) if body is not None else None,
        process_id=process_id,
    )


def decode_logs_json_object(doc: Any, redact: Callable[[str], str] | None = None) -> Decoded:
    """Decode one parsed OTLP/JSON ``ExportLogsServiceRequest`` into content records."""
    if not isinstance(doc, dict):
        raise OTLPDecodeError(
            "an OTLP/JSON logs request must be a JSON object with a resourceLogs array"
        )
    dec = _decoded()
    g = _Gather(dec, redact)
    try:
        for raw_rl in _list(doc, "resourceLogs", "request"):
            rl = _obj(raw_rl, "an item of resourceLogs")
            res = _obj(_get(rl, "resource"), "resource")
            resource = _resource(_json_attributes(_list(res, "attributes", "resource")), redact)
            pid = process_id_of(resource)
            placed = len(g.spans)
            for raw_sl in _list(rl, "scopeLogs", "resourceLogs"):
                sl = _obj(raw_sl, "an item of scopeLogs")
                for r in _list(sl, "logRecords", "scopeLogs"):
                    try:
                        _json_record(g, r, pid)
                    except _BadSpan as e:
                        dec.reject(str(e))
                    except _ODD_VALUES as e:
                        dec.reject(
                            f"a log record holds a value that cannot be read ({type(e).__name__})"
                        )
            if len(g.spans) > placed:
                dec.resources[pid] = resource
    except _BadSpan as e:  # outside any one record: the request's shape is wrong
        raise OTLPDecodeError(f"malformed OTLP/JSON logs request: {e}") from None
    g.finish()
    return dec


def decode_logs_json(body: bytes | str, redact: Callable[[str], str] | None = None) -> Decoded:
    """Decode an OTLP/JSON ``ExportLogsServiceRequest`` body into content records.

    Example::

        decoded = decode_logs_json(b'{"resourceLogs": []}')
    """
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise OTLPDecodeError(f"the body is not valid JSON ({e})") from None
    return decode_logs_json_object(doc, redact)
