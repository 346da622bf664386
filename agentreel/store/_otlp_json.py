"""OTLP/JSON trace export requests -> spool records (`decode_json`, `decode_json_object`).

The proto3 JSON mapping with hex ids, as OTLP/HTTP JSON exporters send it and the
Collector's file exporter writes it: field names in lowerCamelCase or snake_case,
64-bit integers as numbers or strings, enums as numbers or names. Records are
validated and built by `agentreel.store._otlp._record`, shared with protobuf.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

from agentreel.store._otlp import (
    _ENUM_NAMES,
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

__all__ = ["decode_json", "decode_json_object"]


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
    return _id_hex(raw, what, span)


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
