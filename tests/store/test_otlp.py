"""Decoding OTLP requests into spool records: protobuf, OTLP/JSON, validation."""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import agentreel
from agentreel._normalize import normalize_into
from agentreel._redact import Redactor, redact_attributes
from agentreel._spool import RECORD_FIELDS, SpoolPaths
from agentreel.store import OTLPDecodeError
from agentreel.store._otlp import process_id_of
from agentreel.store._otlp_json import decode_json
from agentreel.store._otlp_protobuf import decode_protobuf
from agentreel.store._spooler import Spooler
from tests._secrets import surrounded
from tests.conftest import Recorded

TRACE = "0af7651916cd43dd8448eb211c80319c"


def _otlp_json_from_protobuf(body: bytes, *, enums_as_ints: bool) -> dict[str, Any]:
    """The OTLP/JSON form of a protobuf request: proto3 JSON, with ids as hex not base64."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    doc = MessageToDict(
        ExportTraceServiceRequest.FromString(body), use_integers_for_enums=enums_as_ints
    )
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                for k in ("traceId", "spanId", "parentSpanId"):
                    if k in s:
                        s[k] = base64.b64decode(s[k]).hex()
    return doc


def _jsonable(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Records as they read back from a spool segment, by span id."""
    return {r["span_id"]: json.loads(json.dumps(r)) for r in records}


def _record_with_decorators(recorded: Recorded) -> tuple[bytes, dict[str, dict[str, Any]]]:
    """Spans recorded by agentreel's decorators: their OTLP/protobuf body and spool records."""
    memory = InMemorySpanExporter()
    recorded.provider.add_span_processor(SimpleSpanProcessor(memory))

    @agentreel.llm(provider="anthropic", model="claude-sonnet-4-5")
    def chat(prompt: str) -> dict[str, Any]:
        return {
            "model": "claude-sonnet-4-5-20250929",
            "usage": {"input_tokens": 321, "output_tokens": 54},
            "stop_reason": "end_turn",
            "content": [{"type": "text", "text": "hi"}],
        }

    @agentreel.tool
    def lookup(key: str) -> str:
        raise KeyError(key)

    @agentreel.agent(name="helper")
    def helper(q: str) -> str:
        chat(q)
        with contextlib.suppress(KeyError):
            lookup("missing")
        with agentreel.span("custom", kind="retriever") as h:
            h.set_attribute("custom.list", ["a", "b"])
            h.set_attribute("custom.float", 0.25)
        return "done"

    with agentreel.run("decoded", tags={"suite": "otlp"}):
        helper("what?")
    agentreel.flush()
    spans = memory.get_finished_spans()
    assert len(spans) == 5
    body = encode_spans(spans).SerializeToString()
    return body, {r["span_id"]: r for r in recorded.records()}


def test_protobuf_and_json_give_the_records_agentreels_own_exporter_writes(
    recorded: Recorded,
) -> None:
    body, spooled = _record_with_decorators(recorded)
    decoded = decode_protobuf(body)
    assert decoded.rejected == 0
    from_pb = _jsonable(decoded.records)
    assert set(from_pb) == set(spooled)
    for span_id, rec in spooled.items():
        got = from_pb[span_id]
        assert set(got) <= set(RECORD_FIELDS)
        fields = [k for k in RECORD_FIELDS if k != "process_id"]
        # a field the tracer leaves out of its record reads as null
        assert {k: got.get(k) for k in fields} == {k: rec.get(k) for k in fields}, rec["name"]
    by_name = {r["name"]: r for r in from_pb.values()}
    chat = by_name["chat claude-sonnet-4-5"]
    assert (chat["kind"], chat["input_tokens"], chat["output_tokens"]) == ("llm", 321, 54)
    assert by_name["execute_tool lookup"]["error_type"] == "KeyError"
    assert by_name["custom"]["attributes"]["custom.list"] == ["a", "b"]
    for enums_as_ints in (True, False):
        doc = _otlp_json_from_protobuf(body, enums_as_ints=enums_as_ints)
        assert _jsonable(decode_json(json.dumps(doc)).records) == from_pb


def test_one_process_per_resource_and_its_file_written_once(tmp_path: Path) -> None:
    assert process_id_of({"a": 1, "b": "x"}) == process_id_of({"b": "x", "a": 1})
    assert process_id_of({"a": 1}) != process_id_of({"a": 2})
    doc = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": f"svc{i}"}},
                        {"key": "host.name", "value": {"stringValue": "h1"}},
                        {"key": "process.pid", "value": {"intValue": "4242"}},
                    ]
                },
                "scopeSpans": [{"spans": [_json_span(f"{i + 1:016x}")]}],
            }
            for i in range(2)
        ]
    }
    decoded = decode_json(json.dumps(doc))
    assert len(decoded.resources) == 2
    assert len({r["process_id"] for r in decoded.records}) == 2
    paths = SpoolPaths(tmp_path)
    spooler = Spooler(paths)
    spooler.write(decoded)
    files = sorted(paths.processes.glob("*.json"))
    assert len(files) == 2
    info = json.loads(files[0].read_text())
    assert set(info) == {"process_id", "pid", "host", "started_ns", "argv", "resource"}
    assert (info["pid"], info["host"], info["argv"]) == (4242, "h1", None)
    mtime = files[0].stat().st_mtime_ns
    Spooler(paths).write(decode_json(json.dumps(doc)))
    assert files[0].stat().st_mtime_ns == mtime  # not rewritten
    assert len(paths.pending()) == 2


def _json_span(span_id: str, **over: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "traceId": TRACE,
        "spanId": span_id,
        "name": "s",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001000000000",
    }
    s.update(over)
    return {k: v for k, v in s.items() if v is not None}


def _one(**over: Any) -> dict[str, Any]:
    return {
        "resourceSpans": [{"scopeSpans": [{"spans": [_json_span("00f067aa0ba902b7", **over)]}]}]
    }


def test_otlp_json_forms_snake_case_int_times_enum_names_and_any_values() -> None:
    doc = {
        "resource_spans": [
            {
                "scope_spans": [
                    {
                        "scope": {"name": "openinference.instrumentation"},
                        "spans": [
                            {
                                "trace_id": TRACE,
                                "span_id": "00F067AA0BA902B7",
                                "parent_span_id": "0000000000000000",
                                "name": "llm",
                                "kind": "SPAN_KIND_CLIENT",
                                "start_time_unix_nano": 1700000000000000000,
                                "end_time_unix_nano": 1700000000000001000,
                                "status": {"code": "STATUS_CODE_ERROR", "message": "rate limited"},
                                "attributes": [
                                    {
                                        "key": "openinference.span.kind",
                                        "value": {"string_value": "LLM"},
                                    },
                                    {"key": "llm.model_name", "value": {"stringValue": "gpt-4o"}},
                                    {"key": "llm.token_count.prompt", "value": {"intValue": "7"}},
                                    {"key": "llm.token_count.completion", "value": {"intValue": 3}},
                                    {"key": "input.value", "value": {"stringValue": "hi"}},
                                    {"key": "x.double", "value": {"doubleValue": "NaN"}},
                                    {"key": "x.bool", "value": {"boolValue": False}},
                                    {"key": "x.bytes", "value": {"bytesValue": "AAE="}},
                                    {
                                        "key": "x.array",
                                        "value": {
                                            "arrayValue": {
                                                "values": [{"intValue": "1"}, {"stringValue": "b"}]
                                            }
                                        },
                                    },
                                    {
                                        "key": "x.kv",
                                        "value": {
                                            "kvlistValue": {
                                                "values": [
                                                    {"key": "k", "value": {"doubleValue": 1.5}}
                                                ]
                                            }
                                        },
                                    },
                                    {"key": "x.empty", "value": {}},
                                ],
                                "events": [
                                    {
                                        "time_unix_nano": "1700000000000000500",
                                        "name": "exception",
                                        "attributes": [
                                            {
                                                "key": "exception.type",
                                                "value": {"stringValue": "RateLimitError"},
                                            }
                                        ],
                                    }
                                ],
                            }
                        ],
                    }
                ]
            }
        ]
    }
    (rec,) = decode_json(json.dumps(doc)).records
    assert set(rec) <= set(RECORD_FIELDS)
    assert (rec["span_id"], rec["parent_span_id"], rec["span_kind"]) == (
        "00f067aa0ba902b7",
        None,
        "client",
    )
    assert (rec["kind"], rec["request_model"], rec["input_tokens"], rec["output_tokens"]) == (
        "llm",
        "gpt-4o",
        7,
        3,
    )
    assert (rec["status"], rec["status_message"]) == ("error", "rate limited")
    assert (rec["error_type"], rec["error_message"]) == ("RateLimitError", "rate limited")
    assert rec["input"] == "hi"
    assert "input.value" not in rec["attributes"]
    assert rec["attributes"]["x.double"] == "nan"  # JSON has no NaN: kept readable
    assert rec["attributes"]["x.bool"] is False
    assert rec["attributes"]["x.bytes"] == "AAE="
    assert rec["attributes"]["x.array"] == [1, "b"]
    assert rec["attributes"]["x.kv"] == {"k": 1.5}
    assert rec["attributes"]["x.empty"] is None
    assert rec["events"] == [
        {
            "name": "exception",
            "time_ns": 1700000000000000500,
            "attributes": {"exception.type": "RateLimitError"},
        }
    ]
    assert rec["scope"] == "openinference.instrumentation"
    assert rec["end_ns"] - rec["start_ns"] == 1000


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"spanId": "00f067aa0ba902"}, "not 16 hex digits"),
        ({"spanId": "zzf067aa0ba902b7"}, "is not hex"),
        ({"spanId": "0000000000000000"}, "all zeros"),
        ({"traceId": "0" * 32}, "all zeros"),
        ({"traceId": TRACE[:30]}, "not 32 hex digits"),
        ({"traceId": None}, "trace id is missing"),
        ({"parentSpanId": "abc"}, "parent span id"),
        ({"startTimeUnixNano": None}, "no start time"),
        ({"startTimeUnixNano": "0"}, "no start time"),
        ({"endTimeUnixNano": "1600000000000000000"}, "ends before it starts"),
        ({"startTimeUnixNano": "soon"}, "must be an integer"),
        ({"attributes": [{"key": "a", "value": {"intValue": "x"}}]}, "must be an integer"),
        ({"attributes": [{"value": {"stringValue": "no key"}}]}, "string key"),
        ({"attributes": {"a": 1}}, "attributes must be an array"),
        ({"status": "ok"}, "status must be an object"),
    ],
)
def test_a_bad_span_is_rejected_and_counted_and_the_rest_kept(
    over: dict[str, Any], reason: str
) -> None:
    doc = _one(**over)
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"].append(_json_span("1111111111111111"))
    decoded = decode_json(json.dumps(doc))
    assert decoded.rejected == 1
    assert [r["span_id"] for r in decoded.records] == ["1111111111111111"]
    assert reason in decoded.error_message
    assert decoded.error_message.startswith("1 span(s) rejected: ")


def test_a_span_without_an_end_is_read_as_open() -> None:
    (rec,) = decode_json(json.dumps(_one(endTimeUnixNano=None, status={"code": 1}))).records
    assert (rec["end_ns"], rec["status"]) == (None, "unset")


def test_base64_ids_from_plain_proto3_json_are_accepted() -> None:
    b64 = base64.b64encode(bytes.fromhex(TRACE)).decode()
    (rec,) = decode_json(json.dumps(_one(traceId=b64))).records
    assert rec["trace_id"] == TRACE


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"resourceSpans": {}}', "resourceSpans must be an array"),
        (b'{"resourceSpans": [7]}', "must be an object"),
        (b'{"resourceSpans": [{"resource": {"attributes": [{"key": 1}]}}]}', "string key"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": 3}]}]}', "spans must be an array"),
        (b"[" * 100_000, "not valid JSON"),
        (b"\xff\xfe\xfd", "not valid JSON"),
    ],
)
def test_malformed_json_raises_a_clear_error(body: bytes, message: str) -> None:
    with pytest.raises(OTLPDecodeError, match=message):
        decode_json(body)


def test_empty_requests_decode_to_nothing() -> None:
    assert decode_json(b"{}").records == []
    assert decode_json(b'{"resourceSpans": []}').records == []
    assert decode_protobuf(b"").records == []


@pytest.mark.parametrize("body", [b"\xff\xff\xff\xff", b"\x0a\x05abc", b"\x0a\x02\x12\xff"])
def test_malformed_protobuf_raises_a_clear_error(body: bytes) -> None:
    with pytest.raises(OTLPDecodeError, match="not a valid OTLP/protobuf"):
        decode_protobuf(body)


def test_protobuf_is_loaded_only_when_a_protobuf_body_is_decoded() -> None:
    code = (
        "import sys, agentreel, agentreel.store\n"
        "from agentreel.store._otlp_json import decode_json\n"
        "from agentreel.store._otlp_protobuf import decode_protobuf\n"
        "decode_json(b'{}')\n"
        "print(sorted(m for m in ('opentelemetry.proto', 'google.protobuf') if m in sys.modules))\n"
        "decode_protobuf(b'')\n"
        "print('opentelemetry.proto' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split("\n")[:2] == ["[]", "True"]


# -- a request's attributes are masked together, exactly as one by one ------------------

_texts = st.one_of(
    st.text(max_size=30),
    st.builds(lambda s: s[1], surrounded()),  # a secret with arbitrary text around it
    st.sampled_from(["execute_tool", "gpt-4.1-mini", '{"q": "hi"}', "line\nbreak"]),
)
_values = st.one_of(
    _texts,
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.lists(_texts, max_size=3),
)
_keys = st.one_of(
    st.sampled_from(["input.value", "api_key", "password", "gen_ai.tool.call.arguments", "x"]),
    st.text(max_size=12),
)


def _pb_value_of(v: Any) -> Any:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue

    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, list):
        return AnyValue(array_value=ArrayValue(values=[_pb_value_of(x) for x in v]))
    return AnyValue(string_value=v)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spans=st.lists(st.dictionaries(_keys, _values, max_size=5), min_size=1, max_size=6))
def test_a_protobuf_requests_spans_are_masked_as_each_alone_would_be(
    spans: list[dict[str, Any]],
) -> None:
    """Masking a request's values together (the receiver's fast path) changes nothing:
    every span's attributes come out as `redact_attributes` masks them one at a time."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import KeyValue

    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    for i, attributes in enumerate(spans):
        s = ss.spans.add(
            trace_id=bytes.fromhex(TRACE),
            span_id=(i + 1).to_bytes(8, "big"),
            name="span",
            start_time_unix_nano=10**18,
            end_time_unix_nano=10**18 + 5,
        )
        s.attributes.extend(KeyValue(key=k, value=_pb_value_of(v)) for k, v in attributes.items())
    decoded = decode_protobuf(req.SerializeToString(), Redactor())
    assert decoded.rejected == 0
    for rec, attributes in zip(decoded.records, spans, strict=True):
        want: dict[str, Any] = {}
        normalize_into(want, redact_attributes(attributes, Redactor()))
        got = {k: rec.get(k) for k in want}
        assert json.loads(json.dumps(got)) == json.loads(json.dumps(want))
