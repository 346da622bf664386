"""OTLP trace export requests -> spool records.

Reads both encodings of an OTLP ``ExportTraceServiceRequest``: protobuf (what
OTLP/HTTP exporters send by default) and OTLP/JSON (the proto3 JSON mapping with
hex ids, which OTLP/HTTP JSON exporters send and the Collector's file exporter
writes). Each span becomes the record the tracer's own exporter writes for an SDK
span (`agentreel.tracer._exporter.record_from_span`), so a span received over the
wire and one recorded in-process land in the same columns.

Each distinct resource is a *process*: its id is the first 16 hex digits of the
sha256 of the resource's attributes as canonical JSON, so the same sender always
maps to the same process row.

A span that cannot be placed (bad trace or span id, no start time, an end before
its start, a malformed field) is rejected and counted, and the rest of the
request goes in; a body that is not an export request at all raises
`OTLPDecodeError`.

Example::

    decoded = decode_protobuf(body)
    decoded.records, decoded.rejected   # spool records, spans refused
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentreel._errors import AgentreelError
from agentreel._normalize import normalize_into
from agentreel._redact import Redactor, redact_attributes, redact_many, redact_name

if TYPE_CHECKING:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

__all__ = ["Decoded", "OTLPDecodeError", "decode_json", "decode_protobuf", "process_id_of"]


class OTLPDecodeError(AgentreelError):
    """A body or file is not an OTLP trace export request."""


#: OTLP SpanKind enum -> the tracer's lowercase names. UNSPECIFIED (0) is read as
#: internal, as the OTLP specification allows.
_SPAN_KINDS = ("internal", "internal", "server", "client", "producer", "consumer")
_STATUS = ("unset", "ok", "error")
_ENUM_NAMES = {
    **{
        f"SPAN_KIND_{n}": i
        for i, n in enumerate(
            ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
        )
    },
    "STATUS_CODE_UNSET": 0,
    "STATUS_CODE_OK": 1,
    "STATUS_CODE_ERROR": 2,
}
_MAX_REASONS = 5
#: Latest time accepted (2200-01-01): the store keeps times as 64-bit nanoseconds, which
#: end in 2262, and a span from further ahead is a garbled one anyway.
_MAX_NS = 7_258_118_400_000_000_000


@dataclass
class Decoded:
    """Spool records decoded from one or more export requests.

    A record holds the fields of `RECORD_FIELDS` that have a value (a missing one is
    null, as in the tracer's own records); `resources` maps each process id in
    `records` to its resource attributes; `rejected` counts spans refused, and
    `reasons` keeps the first few why. `contents` holds the content records decoded
    from OTLP log records (store/_otlp_logs.py): messages meant for a span's payload
    columns.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)
    contents: list[dict[str, Any]] = field(default_factory=list)
    #: what `rejected` counts, for the error message
    unit: str = "span"

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < _MAX_REASONS and reason not in self.reasons:
            self.reasons.append(reason)

    def extend(self, other: Decoded) -> None:
        self.records.extend(other.records)
        self.contents.extend(other.contents)
        self.resources.update(other.resources)
        self.rejected += other.rejected
        for r in other.reasons:
            if len(self.reasons) < _MAX_REASONS and r not in self.reasons:
                self.reasons.append(r)

    @property
    def error_message(self) -> str:
        """Why spans were rejected, in one line ('' when none were)."""
        if not self.rejected:
            return ""
        return f"{self.rejected} {self.unit}(s) rejected: " + "; ".join(self.reasons)


class _BadSpan(ValueError):
    """One span cannot be placed; it is rejected, the request goes on."""


# What reading an unforeseen shape of value may raise: such a span is rejected like a
# bad one, so that no input, however odd, fails the whole request or the receiver.
_ODD_VALUES = (TypeError, ValueError, KeyError, IndexError, OverflowError, RecursionError)


def _odd(span_id: str, e: BaseException) -> str:
    return f"span {span_id or '(no id)'} holds a value that cannot be read ({type(e).__name__})"


def process_id_of(resource: Mapping[str, Any]) -> str:
    """The process id of a resource: 16 hex digits of the sha256 of its canonical JSON."""
    canonical = json.dumps(
        resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(canonical.encode("utf-8", "replace")).hexdigest()[:16]


def _resource(attributes: dict[str, Any], redact: Callable[[str], str] | None) -> dict[str, Any]:
    """A resource's attributes, masked before its process id is computed from them."""
    return redact_attributes(attributes, redact) if redact is not None else attributes


def _double(v: float) -> float | str:
    # JSON has no NaN or infinity; a spool segment holding one would be unreadable.
    return v if math.isfinite(v) else str(v)


def _record(
    dec: Decoded,
    *,
    trace_id: str,
    span_id: str,
    parent_span_id: str | None,
    name: str,
    kind: int,
    start_ns: int | None,
    end_ns: int | None,
    status_code: int,
    status_message: str | None,
    attributes: dict[str, Any],
    events: list[dict[str, Any]],
    scope: str | None,
    process_id: str,
    redact: Callable[[str], str] | None = None,
    links: list[dict[str, Any]] | None = None,
    masked: bool = False,
) -> None:
    """Validate one span's times and append its record, built as `record_from_span` does.

    With `redact`, the span's texts are masked first (attributes with their nested
    maps and lists, name, status message, scope name, events' names and attributes),
    so no field of the record is ever filled from an unmasked value; `masked` says
    the attributes and the scope name were masked already (a request's at once, see
    `_masked_attributes`).
    """
    if start_ns is None:
        raise _BadSpan(f"span {span_id} has no start time")
    if start_ns > _MAX_NS or (end_ns is not None and end_ns > _MAX_NS):
        raise _BadSpan(f"span {span_id} has a time after the year 2200")
    if end_ns is not None and end_ns < start_ns:
        raise _BadSpan(f"span {span_id} ends before it starts")
    is_open = end_ns is None  # no end: read as a span still open, like a start record
    if redact is not None:
        if not masked:
            attributes = redact_attributes(attributes, redact)
            scope = redact_name(scope, redact) if scope else scope
        name = redact_name(name, redact)
        status_message = redact(status_message) if status_message else status_message
        for e in events:
            e["name"] = redact_name(e["name"], redact)
            e["attributes"] = redact_attributes(e["attributes"], redact)
        for link in links or ():
            link["attributes"] = redact_attributes(link["attributes"], redact)
    rec: dict[str, Any] = {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent_span_id,
        "name": name,
        "span_kind": _SPAN_KINDS[kind] if 0 <= kind < len(_SPAN_KINDS) else None,
        "start_ns": start_ns,
        "end_ns": end_ns,
        "status": "unset"
        if is_open
        else (_STATUS[status_code] if 0 <= status_code < 3 else "unset"),
        "status_message": status_message or None,
        "scope": scope or None,
        "process_id": process_id,
        "links": links or None,
    }
    normalize_into(rec, attributes)
    if events:
        for e in events:
            if e["time_ns"] is not None and e["time_ns"] > _MAX_NS:
                e["time_ns"] = None  # an event time that cannot be a time: the event stays
            if e["name"] == "exception":
                ea = e["attributes"]
                if rec.get("error_type") is None:
                    rec["error_type"] = ea.get("exception.type")
                if rec.get("error_message") is None:
                    rec["error_message"] = ea.get("exception.message")
        rec["events"] = events
    if rec["status"] == "error" and rec.get("error_message") is None:
        rec["error_message"] = rec["status_message"]
    # Fields with no value are left out, as `record_from_span` leaves them (the drain
    # reads a missing field as null): shorter lines to write, keep and parse.
    dec.records.append(rec)


# -- protobuf -----------------------------------------------------------------


#: AnyValue fields read as they are (the common case, read with one getattr)
_PB_PLAIN = frozenset(("string_value", "int_value", "bool_value"))


def _pb_value(v: AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which in _PB_PLAIN:
        return getattr(v, which)
    if which == "double_value":
        return _double(v.double_value)
    if which == "array_value":
        return [_pb_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode("ascii")
    return None


def _pb_attributes(kvs: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: _pb_value(kv.value) for kv in kvs}


class _Known(Redactor):
    """A `Redactor` that answers from `known` (texts already masked, a request's at once)
    and masks anything else as `base` does, sharing its memory of keys and names."""

    def __init__(self, base: Redactor, known: dict[str, str]) -> None:
        self.__dict__.update(base.__dict__)
        self._known = known

    def __call__(self, text: str) -> str:
        masked = self._known.get(text)
        return super().__call__(text) if masked is None else masked


def _masked_attributes(
    attributes: list[dict[str, Any]], redact: Callable[[str], str]
) -> tuple[list[dict[str, Any]], Callable[[str], str]]:
    """Many spans' attributes masked as `redact_attributes` masks each, but cheaper.

    With the default `Redactor`, the string values are first masked together by
    `redact_many` (the built-in patterns run once over all of them, and only the
    texts a match touches are masked one by one), and `redact_attributes` then takes
    each from that table. Also returns the redactor to mask the rest of the request
    with (a name or a scope seen among the values is then found in the table too).
    """
    if type(redact) is Redactor:
        texts = list({v for a in attributes for v in a.values() if type(v) is str})
        redact = _Known(redact, dict(zip(texts, redact_many(texts, redact), strict=True)))
    return [redact_attributes(a, redact) for a in attributes], redact


def _pb_id(raw: bytes, size: int, what: str, span: str) -> str:
    if len(raw) != size:
        raise _BadSpan(f"span {span}: {what} is {len(raw)} bytes, not {size}")
    if not any(raw):
        raise _BadSpan(f"span {span}: {what} is all zeros")
    return raw.hex()


def _pb_span(
    dec: Decoded,
    s: PbSpan,
    attributes: dict[str, Any],
    scope: str | None,
    process_id: str,
    redact: Callable[[str], str] | None,
) -> None:
    """Append the record of span `s`, whose `attributes` (and `scope`) are masked already."""
    label = s.span_id.hex() or "(no id)"
    trace_id = _pb_id(s.trace_id, 16, "trace id", label)
    span_id = _pb_id(s.span_id, 8, "span id", label)
    parent = None
    if s.parent_span_id and any(s.parent_span_id):  # all zeros: some SDKs' way to say root
        parent = _pb_id(s.parent_span_id, 8, "parent span id", label)
    events = [
        {
            "name": e.name,
            "time_ns": e.time_unix_nano or None,
            "attributes": _pb_attributes(e.attributes),
        }
        for e in s.events
    ]
    # a link that names no span is dropped, not the span that holds it
    links = [
        {
            "trace_id": link.trace_id.hex(),
            "span_id": link.span_id.hex(),
            "attributes": _pb_attributes(link.attributes),
        }
        for link in s.links
        if len(link.trace_id) == 16 and len(link.span_id) == 8 and any(link.span_id)
    ]
    status = s.status
    _record(
        dec,
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=s.name,
        kind=s.kind,
        start_ns=s.start_time_unix_nano or None,
        end_ns=s.end_time_unix_nano or None,
        status_code=status.code,
        status_message=status.message,
        attributes=attributes,
        events=events,
        scope=scope,
        process_id=process_id,
        redact=redact,
        links=links,
        masked=True,
    )


def decode_protobuf(body: bytes, redact: Callable[[str], str] | None = None) -> Decoded:
    """Decode a protobuf ``ExportTraceServiceRequest`` into spool records.

    `redact` masks every text of every span and resource as it is decoded (see
    `_record`).

    Example::

        decoded = decode_protobuf(request_body)
    """
    try:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )
    except ImportError:  # pragma: no cover - a declared dependency
        raise OTLPDecodeError(
            "reading OTLP/protobuf needs the opentelemetry-proto package; pip install it"
        ) from None
    req = ExportTraceServiceRequest()
    try:
        req.ParseFromString(body)
    except Exception as e:  # protobuf's DecodeError, or upb's limits
        raise OTLPDecodeError(
            f"the body is not a valid OTLP/protobuf ExportTraceServiceRequest ({e})"
        ) from None
    dec = Decoded()
    for rs in req.resource_spans:
        resource = _resource(_pb_attributes(rs.resource.attributes), redact)
        pid = process_id_of(resource)
        placed = len(dec.records)
        for ss in rs.scope_spans:
            _pb_scope_spans(dec, ss, pid, redact)
        if len(dec.records) > placed:
            dec.resources[pid] = resource
    return dec


def _pb_scope_spans(
    dec: Decoded, ss: Any, process_id: str, redact: Callable[[str], str] | None
) -> None:
    """Append the records of one ``ScopeSpans``: their attributes read, then masked
    together (`_masked_attributes`), then each span's record built."""
    spans: list[PbSpan] = []
    attributes: list[dict[str, Any]] = []
    for s in ss.spans:
        try:
            attributes.append(_pb_attributes(s.attributes))
        except _ODD_VALUES as e:
            dec.reject(_odd(s.span_id.hex(), e))
            continue
        spans.append(s)
    scope = ss.scope.name or None
    if redact is not None and spans:
        try:
            attributes, redact = _masked_attributes(attributes, redact)
        except _ODD_VALUES:  # some value cannot be masked: find which, span by span
            kept: list[tuple[PbSpan, dict[str, Any]]] = []
            for s, a in zip(spans, attributes, strict=True):
                try:
                    kept.append((s, redact_attributes(a, redact)))
                except _ODD_VALUES as e:
                    dec.reject(_odd(s.span_id.hex(), e))
            spans = [s for s, _ in kept]
            attributes = [a for _, a in kept]
        scope = redact_name(scope, redact) if scope else scope
    for s, a in zip(spans, attributes, strict=True):
        try:
            _pb_span(dec, s, a, scope, process_id, redact)
        except _BadSpan as e:
            dec.reject(str(e))
        except _ODD_VALUES as e:
            dec.reject(_odd(s.span_id.hex(), e))


# -- OTLP/JSON ----------------------------------------------------------------


@functools.lru_cache(maxsize=128)
def _snake(key: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in key)


def _get(d: Mapping[str, Any], key: str) -> Any:
    """``d[key]`` by its lowerCamelCase name, else by its snake_case name."""
    v = d.get(key)
    return d.get(_snake(key)) if v is None else v


def _list(d: Mapping[str, Any], key: str, where: str) -> list[Any]:
    v = _get(d, key)
    if v is None:
        return []
    if not isinstance(v, list):
        raise _BadSpan(f"{where}: {key} must be an array")
    return v


def _obj(v: Any, where: str) -> Mapping[str, Any]:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise _BadSpan(f"{where} must be an object")
    return v


def _int_field(v: Any, what: str) -> int:
    """A proto3 JSON int64 (a JSON number or a decimal string)."""
    if isinstance(v, bool):
        raise _BadSpan(f"{what} must be an integer")
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        try:
            return int(v)
        except ValueError:
            pass
    raise _BadSpan(f"{what} must be an integer, got {v!r}")


def _nanos(v: Any, what: str) -> int | None:
    if v is None or v == "":
        return None
    n = _int_field(v, what)
    if n < 0:
        raise _BadSpan(f"{what} is negative")
    return n or None


def _enum(v: Any, what: str) -> int:
    if v is None:
        return 0
    if isinstance(v, str) and v in _ENUM_NAMES:
        return _ENUM_NAMES[v]
    return _int_field(v, what)


def _json_value(v: Any) -> Any:
    if not isinstance(v, dict):
        raise _BadSpan("an attribute value must be an AnyValue object")
    s = _get(v, "stringValue")
    if s is not None:
        if not isinstance(s, str):
            raise _BadSpan("stringValue must be a string")
        return s
    b = _get(v, "boolValue")
    if b is not None:
        if not isinstance(b, bool):
            raise _BadSpan("boolValue must be true or false")
        return b
    i = _get(v, "intValue")
    if i is not None:
        return _int_field(i, "intValue")
    d = _get(v, "doubleValue")
    if d is not None:
        if isinstance(d, bool) or not isinstance(d, int | float | str):
            raise _BadSpan("doubleValue must be a number")
        try:
            return _double(float(d))
        except ValueError:
            raise _BadSpan(f"doubleValue {d!r} is not a number") from None
    a = _get(v, "arrayValue")
    if a is not None:
        return [_json_value(x) for x in _list(_obj(a, "arrayValue"), "values", "arrayValue")]
    kv = _get(v, "kvlistValue")
    if kv is not None:
        return _json_attributes(_list(_obj(kv, "kvlistValue"), "values", "kvlistValue"))
    by = _get(v, "bytesValue")
    if by is not None:
        if not isinstance(by, str):
            raise _BadSpan("bytesValue must be a base64 string")
        return by
    return None


def _json_attributes(kvs: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in kvs:
        if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
            raise _BadSpan("an attribute must be an object with a string key")
        out[kv["key"]] = _json_value(kv.get("value", {}))
    return out


def _json_id(v: Any, size: int, what: str, span: str) -> str:
    """A hex id (the OTLP/JSON form); base64 (plain proto3 JSON) is accepted too."""
    if not isinstance(v, str) or not v:
        raise _BadSpan(f"span {span}: {what} is missing")
    if len(v) == 2 * size:
        try:
            raw = bytes.fromhex(v)
        except ValueError:
            raise _BadSpan(f"span {span}: {what} {v!r} is not hex") from None
    else:
        try:
            raw = base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != size:
            raise _BadSpan(f"span {span}: {what} {v!r} is not {2 * size} hex digits")
    if not any(raw):
        raise _BadSpan(f"span {span}: {what} is all zeros")
    return raw.hex()


def _json_span(
    dec: Decoded,
    s: Any,
    scope: str | None,
    process_id: str,
    redact: Callable[[str], str] | None,
) -> None:
    if not isinstance(s, dict):
        raise _BadSpan("a span must be an object")
    raw_id = _get(s, "spanId")
    label = raw_id if isinstance(raw_id, str) and raw_id else "(no id)"
    trace_id = _json_id(_get(s, "traceId"), 16, "trace id", label)
    span_id = _json_id(raw_id, 8, "span id", label)
    p = _get(s, "parentSpanId")
    parent = None
    if p and not (isinstance(p, str) and p.strip("0") == ""):
        parent = _json_id(p, 8, "parent span id", label)
    name = _get(s, "name") or ""
    if not isinstance(name, str):
        raise _BadSpan(f"span {label}: name must be a string")
    events = []
    for raw_event in _list(s, "events", f"span {label}"):
        e = _obj(raw_event, f"span {label}: an event")
        ename = _get(e, "name") or ""
        if not isinstance(ename, str):
            raise _BadSpan(f"span {label}: an event name must be a string")
        events.append(
            {
                "name": ename,
                "time_ns": _nanos(_get(e, "timeUnixNano"), "event time"),
                "attributes": _json_attributes(_list(e, "attributes", "event")),
            }
        )
    links = []
    for raw_link in _list(s, "links", f"span {label}"):
        link = _obj(raw_link, f"span {label}: a link")
        try:
            ids = (
                _json_id(_get(link, "traceId"), 16, "linked trace id", label),
                _json_id(_get(link, "spanId"), 8, "linked span id", label),
            )
        except _BadSpan:
            continue  # a link that names no span is dropped, not the span that holds it
        attributes = _json_attributes(_list(link, "attributes", "link"))
        links.append({"trace_id": ids[0], "span_id": ids[1], "attributes": attributes})
    status = _obj(_get(s, "status"), f"span {label}: status")
    message = _get(status, "message")
    _record(
        dec,
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind=_enum(_get(s, "kind"), "kind"),
        start_ns=_nanos(_get(s, "startTimeUnixNano"), "startTimeUnixNano"),
        end_ns=_nanos(_get(s, "endTimeUnixNano"), "endTimeUnixNano"),
        status_code=_enum(_get(status, "code"), "status code"),
        status_message=message if isinstance(message, str) else None,
        attributes=_json_attributes(_list(s, "attributes", f"span {label}")),
        events=events,
        scope=scope,
        process_id=process_id,
        redact=redact,
        links=links,
    )


def decode_json_object(doc: Any, redact: Callable[[str], str] | None = None) -> Decoded:
    """Decode one parsed OTLP/JSON ``ExportTraceServiceRequest`` into spool records
    (masked with `redact` as they are decoded, as in `decode_protobuf`)."""
    if not isinstance(doc, dict):
        raise OTLPDecodeError(
            "an OTLP/JSON trace request must be a JSON object with a resourceSpans array"
        )
    dec = Decoded()
    try:
        rss = _list(doc, "resourceSpans", "request")
        for raw_rs in rss:
            rs = _obj(raw_rs, "an item of resourceSpans")
            res = _obj(_get(rs, "resource"), "resource")
            resource = _resource(_json_attributes(_list(res, "attributes", "resource")), redact)
            pid = process_id_of(resource)
            placed = len(dec.records)
            # instrumentationLibrarySpans: the name before OTLP 0.15, still in old files
            groups = _list(rs, "scopeSpans", "resourceSpans") or _list(
                rs, "instrumentationLibrarySpans", "resourceSpans"
            )
            for raw_ss in groups:
                ss = _obj(raw_ss, "an item of scopeSpans")
                sc = _obj(_get(ss, "scope") or _get(ss, "instrumentationLibrary"), "scope")
                scope = _get(sc, "name")
                scope = scope if isinstance(scope, str) and scope else None
                for s in _list(ss, "spans", "scopeSpans"):
                    try:
                        _json_span(dec, s, scope, pid, redact)
                    except _BadSpan as e:
                        dec.reject(str(e))
                    except _ODD_VALUES as e:
                        sid = _get(s, "spanId") if isinstance(s, dict) else None
                        dec.reject(_odd(sid if isinstance(sid, str) else "", e))
            if len(dec.records) > placed:
                dec.resources[pid] = resource
    except _BadSpan as e:  # outside any one span: the request's shape is wrong
        raise OTLPDecodeError(f"malformed OTLP/JSON trace request: {e}") from None
    return dec


def decode_json(body: bytes | str, redact: Callable[[str], str] | None = None) -> Decoded:
    """Decode an OTLP/JSON ``ExportTraceServiceRequest`` body into spool records
    (masked with `redact` as they are decoded, as in `decode_protobuf`).

    Example::

        decoded = decode_json(b'{"resourceSpans": []}')
    """
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise OTLPDecodeError(f"the body is not valid JSON ({e})") from None
    return decode_json_object(doc, redact)
