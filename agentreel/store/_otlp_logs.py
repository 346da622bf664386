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

This module reads log export requests, protobuf or OTLP/JSON; the event names and
the gathering of one span's events into its content record are
store/_genai_events.py's.

Example::

    decoded = decode_logs_protobuf(body)
    decoded.contents, decoded.rejected   # content records, log records refused
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentreel.store._genai_events import _Gather
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

__all__ = ["decode_logs_json", "decode_logs_json_object", "decode_logs_protobuf"]


def _decoded() -> Decoded:
    return Decoded(unit="log record")


# -- protobuf -----------------------------------------------------------------


def _take(
    dec: Decoded, read: Callable[[_Gather, Any, str], None], g: _Gather, r: Any, pid: str
) -> None:
    """`read` one log record into `g`; a record that cannot be read is refused, not fatal."""
    try:
        read(g, r, pid)
    except _BadSpan as e:
        dec.reject(str(e))
    except _ODD_VALUES as e:
        dec.reject(f"a log record holds a value that cannot be read ({type(e).__name__})")


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
                _take(dec, _pb_record, g, r, pid)
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
                    _take(dec, _json_record, g, r, pid)
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
