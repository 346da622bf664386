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

This module owns what both encodings share: `Decoded`, `OTLPDecodeError`, the
process id of a resource, and `_record`, which validates one span and builds its
record. The encodings are read by store/_otlp_protobuf.py (`decode_protobuf`) and
store/_otlp_json.py (`decode_json`, `decode_json_object`); a request's attributes
are masked at once by store/_otlp_mask.py.

Example::

    decoded = decode_protobuf(body)
    decoded.records, decoded.rejected   # spool records, spans refused
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentreel._errors import AgentreelError
from agentreel._normalize import normalize_into
from agentreel._redact import redact_attributes, redact_name

__all__ = ["Decoded", "OTLPDecodeError", "process_id_of"]


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


def _id_hex(raw: bytes, what: str, span: str) -> str:
    """A trace or span id of the right length, as hex; all zeros is no id (either encoding)."""
    if not any(raw):
        raise _BadSpan(f"span {span}: {what} is all zeros")
    return raw.hex()


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
