"""OTLP/protobuf trace export requests -> spool records (`decode_protobuf`).

The protobuf classes are imported on the first protobuf body, not before. Records
are validated and built by `agentreel.store._otlp._record`, shared with OTLP/JSON.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from agentreel._redact import redact_attributes, redact_name
from agentreel.store._otlp import (
    _ODD_VALUES,
    Decoded,
    OTLPDecodeError,
    _BadSpan,
    _double,
    _id_hex,
    _odd,
    _record,
    _resource,
    process_id_of,
)
from agentreel.store._otlp_mask import _masked_attributes

if TYPE_CHECKING:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

__all__ = ["decode_protobuf"]


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


def _pb_id(raw: bytes, size: int, what: str, span: str) -> str:
    if len(raw) != size:
        raise _BadSpan(f"span {span}: {what} is {len(raw)} bytes, not {size}")
    return _id_hex(raw, what, span)


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
