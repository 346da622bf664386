"""Bad OTLP input never crashes anything and never costs the good spans sent with it.

Hypothesis draws OTLP/JSON requests whose spans carry anything: ids of any length or
type, times out of range or ending before they start, attribute values nested deep,
of unknown types, huge numbers, lone surrogates, NUL characters. Each request also
carries one good span. The decoder either refuses the request with
`OTLPDecodeError` or keeps every span it can place, and what it keeps always goes
into the store (no segment set aside) and reads back, through `Store.tree` and
`agentreel show`. The same for protobuf bodies with bytes flipped, and for the
receiver, which answers 200 or 400 with a message, never 500.
"""

from __future__ import annotations

import gzip
import http.client
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from agentreel._spool import SpoolPaths
from agentreel.cli import main
from agentreel.store import OTLPDecodeError, Receiver, Store
from agentreel.store._otlp import Decoded
from agentreel.store._otlp_json import decode_json
from agentreel.store._otlp_protobuf import decode_protobuf
from agentreel.store._spooler import Spooler

GOOD_TRACE = "5b8efff798038103d269b633813fc60c"
GOOD_SPAN = "eee19b7ec3c1b174"
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))

# -- strategies ----------------------------------------------------------------

weird_text = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()), max_size=12
) | st.sampled_from(["", "\x00", "\ud800", "a\udfffb", "é" * 3, "{not json", "[1,"])
weird_int = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**30]),
)
weird_number = st.one_of(
    weird_int,
    weird_int.map(str),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "soon", ""]),
    st.booleans(),
    st.none(),
)
scalar_value = st.one_of(
    weird_text.map(lambda s: {"stringValue": s}),
    weird_number.map(lambda n: {"intValue": n}),
    weird_number.map(lambda n: {"doubleValue": n}),
    st.booleans().map(lambda b: {"boolValue": b}),
    weird_text.map(lambda s: {"bytesValue": s}),
    st.just({}),  # no value at all
    st.just({"fooValue": 1}),  # a type from a future OTLP
    weird_number,  # not even an AnyValue object
    weird_text.map(lambda s: {"stringValue": {"nested": s}}),
)


def _nest(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=3).map(lambda vs: {"arrayValue": {"values": vs}}),
        st.lists(st.tuples(weird_text, children), max_size=3).map(
            lambda kvs: {"kvlistValue": {"values": [{"key": k, "value": v} for k, v in kvs]}}
        ),
        children.map(lambda v: {"arrayValue": v}),  # values missing
    )


any_value = st.recursive(scalar_value, _nest, max_leaves=12)
#: values the decoder accepts, odd as they are: they go on to the normaliser and the store
readable_value = st.recursive(
    st.one_of(
        weird_text.map(lambda s: {"stringValue": s}),
        weird_int.map(lambda n: {"intValue": n}),
        weird_int.map(lambda n: {"intValue": str(n)}),
        st.floats(allow_nan=True, allow_infinity=True).map(lambda f: {"doubleValue": f}),
        st.booleans().map(lambda b: {"boolValue": b}),
        weird_text.map(lambda s: {"bytesValue": s}),
        st.just({}),
        st.just({"fooValue": 1}),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(lambda vs: {"arrayValue": {"values": vs}}),
        st.lists(st.tuples(weird_text, children), max_size=3).map(
            lambda kvs: {"kvlistValue": {"values": [{"key": k, "value": v} for k, v in kvs]}}
        ),
    ),
    max_leaves=12,
)
#: keys the normaliser reads, so odd values reach every typed field
known_keys = st.sampled_from(
    [
        "gen_ai.operation.name",
        "gen_ai.agent.name",
        "gen_ai.tool.name",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.response.finish_reasons",
        "gen_ai.request.model",
        "gen_ai.provider.name",
        "gen_ai.conversation.id",
        "gen_ai.prompt.0.content",
        "gen_ai.completion.x.role",
        "openinference.span.kind",
        "agentreel.span.kind",
        "agentreel.input",
        "agentreel.output",
        "agentreel.run.name",
        "agentreel.run.tags",
        "error.type",
        "input.value",
        "llm.token_count.prompt",
    ]
)
readable_attribute = st.tuples(known_keys | weird_text, readable_value).map(
    lambda kv: {"key": kv[0], "value": kv[1]}
)
attribute = st.sampled_from([True] * 8 + [False]).flatmap(
    lambda readable: (
        readable_attribute
        if readable
        else st.one_of(
            st.tuples(weird_text, any_value).map(lambda kv: {"key": kv[0], "value": kv[1]}),
            st.just({"value": {"stringValue": "no key"}}),
            weird_number,
        )
    )
)
hex_id = st.binary(min_size=0, max_size=20).map(bytes.hex)
some_id = st.one_of(
    st.binary(min_size=16, max_size=16).map(bytes.hex),
    st.binary(min_size=8, max_size=8).map(bytes.hex),
    hex_id,
    weird_text,
    weird_number,
    st.just("0" * 32),
)
good_trace = st.binary(min_size=16, max_size=16).map(bytes.hex)
good_id = st.binary(min_size=8, max_size=8).map(bytes.hex)
good_time = st.integers(1_600_000_000_000_000_000, 1_800_000_000_000_000_000).map(str)


def usually(good: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly `good`, so that a span gets past its ids and times to its odd attributes."""
    return st.sampled_from([True] * 5 + [False]).flatmap(lambda g: good if g else odd)


span = st.fixed_dictionaries(
    {
        "traceId": usually(good_trace, some_id),
        "spanId": usually(good_id, some_id),
        "startTimeUnixNano": usually(good_time, weird_number),
        "attributes": usually(st.lists(attribute, min_size=1, max_size=6), weird_number),
    },
    optional={
        "parentSpanId": some_id,
        "name": usually(weird_text, weird_number),
        "kind": usually(
            st.sampled_from([1, 2, 3, 7, 2**40, "SPAN_KIND_CLIENT", "SPAN_KIND_NOPE"]),
            weird_number,
        ),
        "endTimeUnixNano": usually(good_time, weird_number),
        "events": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "name": weird_text | weird_number,
                    "timeUnixNano": usually(good_time, weird_number),
                    "attributes": st.lists(attribute, max_size=3),
                },
            ).map(lambda e: {"name": "exception", **e}),
            max_size=3,
        )
        | st.lists(
            weird_number,
            max_size=3,
        ),
        "status": usually(
            st.fixed_dictionaries(
                {},
                optional={
                    "code": st.sampled_from([0, 1, 2, 9, "STATUS_CODE_ERROR"]),
                    "message": weird_text | weird_number,
                },
            ),
            weird_number,
        ),
    },
)


def good_span(**over: Any) -> dict[str, Any]:
    s = {
        "traceId": GOOD_TRACE,
        "spanId": GOOD_SPAN,
        "name": "good",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000500000000",
        "attributes": [{"key": "gen_ai.tool.name", "value": {"stringValue": "kept"}}],
    }
    s.update(over)
    return s


def request(spans: list[Any], resource: list[Any] | None = None) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": resource or []},
                "scopeSpans": [{"scope": {"name": "fuzz"}, "spans": spans}],
            }
        ]
    }


# -- the store a decoded batch must always go into ------------------------------


class Sink:
    """One store for many examples; each example's records go in as their own segments."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="agentreel-fuzz-"))
        self.spooler = Spooler(SpoolPaths(self.dir))
        self.store = Store.open(self.dir, create=True)

    def put(self, decoded: Decoded) -> None:
        """Spool and ingest `decoded`: nothing set aside, every kept span stored and readable."""
        self.spooler.write(decoded)
        report = self.store.ingest()
        assert report.rejected == [], report.rejected
        assert report.invalid_records == 0
        wanted = {(r["trace_id"], r["span_id"]) for r in decoded.records}
        if not wanted:
            return
        stored = set(
            self.store.sql(
                "SELECT trace_id, span_id FROM spans WHERE (trace_id, span_id) IN "
                "(SELECT unnest($t), unnest($s))",
                {"t": [t for t, _ in wanted], "s": [s for _, s in wanted]},
            ).rows()
        )
        assert stored == wanted
        for trace in {t for t, _ in wanted}:
            tree = self.store.tree(trace)
            assert tree.height >= 1
            self.store.events(trace)

    def close(self) -> None:
        self.store.close()


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    s = Sink()
    yield s
    s.close()


# -- OTLP/JSON -------------------------------------------------------------------


@FUZZ
@given(
    bad=st.lists(usually(span, weird_number), max_size=4),
    resource=usually(st.just([]), st.lists(attribute, max_size=3)),
)
def test_any_json_spans_are_refused_one_by_one_and_the_good_one_is_stored(
    sink: Sink, bad: list[Any], resource: list[Any]
) -> None:
    body = json.dumps(request([*bad, good_span()], resource))
    try:
        decoded = decode_json(body)
    except OTLPDecodeError as e:  # the request's own shape is wrong (a resource attribute)
        refused = str(e)
    else:
        refused = ""
    if refused:
        return
    assert (GOOD_TRACE, GOOD_SPAN) in {(r["trace_id"], r["span_id"]) for r in decoded.records}
    assert len(decoded.records) + decoded.rejected == len(bad) + 1
    assert len(decoded.reasons) <= 5
    sink.put(decoded)


@FUZZ
@given(body=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_as_json_decode_or_raise_the_decode_error(body: bytes) -> None:
    refused = "(decoded)"
    try:
        decode_json(body)
    except OTLPDecodeError as e:
        refused = str(e)
    assert refused  # a refusal always says why


@pytest.mark.parametrize("depth", [50, 400, 5000])
def test_deeply_nested_values_are_kept_or_refused_without_a_crash(sink: Sink, depth: int) -> None:
    deep = '{"stringValue": "bottom"}'
    for _ in range(depth):
        deep = '{"arrayValue": {"values": [' + deep + "]}}"
    attr = '{"key": "deep", "value": ' + deep + "}"
    nested = good_span(spanId="00000000000000a1", attributes=[])
    body = json.dumps(request([nested, good_span()])).replace(
        '"attributes": []', '"attributes": [' + attr + "]"
    )
    try:
        decoded = decode_json(body)
    except OTLPDecodeError as e:  # deeper than the JSON parser goes: refused, with a reason
        refused = str(e)
    else:
        refused = ""
    if refused:
        assert "not valid JSON" in refused
        return
    assert GOOD_SPAN in {r["span_id"] for r in decoded.records}
    sink.put(decoded)


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"startTimeUnixNano": str(2**64)}, "after the year 2200"),
        ({"endTimeUnixNano": str(2**63)}, "after the year 2200"),
        ({"startTimeUnixNano": 1e30}, "after the year 2200"),
        ({"endTimeUnixNano": "1600000000000000000"}, "ends before it starts"),
        ({"spanId": "zz" * 8}, "not hex"),
        ({"traceId": "00" * 16}, "all zeros"),
        ({"traceId": "abc"}, "not 32 hex digits"),
        ({"attributes": [{"key": "k", "value": {"intValue": "1.5"}}]}, "must be an integer"),
    ],
)
def test_each_kind_of_bad_span_is_refused_with_its_reason(
    sink: Sink, over: dict[str, Any], reason: str
) -> None:
    bad = good_span(spanId="00000000000000b2", **{k: v for k, v in over.items() if k != "spanId"})
    if "spanId" in over:
        bad["spanId"] = over["spanId"]
    decoded = decode_json(json.dumps(request([bad, good_span()])))
    assert decoded.rejected == 1
    assert reason in decoded.error_message
    assert [r["span_id"] for r in decoded.records] == [GOOD_SPAN]
    sink.put(decoded)


@pytest.mark.parametrize(
    "value",
    [
        {"kvlistValue": {"values": [{"key": "a", "value": {"intValue": 1}}]}},  # KeyError once
        {"arrayValue": {"values": []}},  # unhashable once
        {"intValue": str(10**30)},  # past BIGINT once: the whole segment was set aside
        {"doubleValue": 1e300},
        {"stringValue": "{not json"},
    ],
)
def test_odd_values_of_the_normalised_attributes_keep_the_span(
    sink: Sink, value: dict[str, Any]
) -> None:
    keys = [
        "gen_ai.response.finish_reasons",
        "gen_ai.operation.name",
        "agentreel.span.kind",
        "gen_ai.usage.input_tokens",
        "agentreel.run.tags",
        "agentreel.run.name",
    ]
    odd = good_span(attributes=[{"key": k, "value": value} for k in keys])
    decoded = decode_json(json.dumps(request([odd])))
    assert (decoded.rejected, len(decoded.records)) == (0, 1)
    (rec,) = decoded.records
    assert rec.get("input_tokens") is None or -(2**63) <= rec["input_tokens"] < 2**63
    sink.put(decoded)


# -- protobuf ------------------------------------------------------------------------


def _pb_request() -> bytes:
    spans = []
    for i in range(1, 4):
        s = Span(
            trace_id=bytes.fromhex(GOOD_TRACE),
            span_id=i.to_bytes(8, "big"),
            name=f"pb {i}",
            start_time_unix_nano=1_700_000_000_000_000_000,
            end_time_unix_nano=1_700_000_000_100_000_000,
        )
        s.attributes.append(KeyValue(key="gen_ai.tool.name", value=AnyValue(string_value="t")))
        spans.append(s)
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]
    ).SerializeToString()


PB = _pb_request()


@FUZZ
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(PB) - 1), st.integers(0, 255), st.sampled_from("rid")),
        min_size=1,
        max_size=6,
    )
)
def test_protobuf_with_bytes_flipped_decodes_or_raises_the_decode_error(
    sink: Sink, edits: list[tuple[int, int, str]]
) -> None:
    body = bytearray(PB)
    for pos, byte, op in edits:
        pos = min(pos, len(body) - 1)
        if op == "r":
            body[pos] = byte
        elif op == "i":
            body.insert(pos, byte)
        elif len(body) > 1:
            del body[pos]
    try:
        decoded = decode_protobuf(bytes(body))
    except OTLPDecodeError as e:
        refused = str(e)
    else:
        refused = ""
    if refused:
        assert "not a valid OTLP/protobuf" in refused
        return
    sink.put(decoded)


def test_protobuf_edge_values_are_refused_per_span_and_the_rest_stored(sink: Sink) -> None:
    good = Span(
        trace_id=bytes.fromhex(GOOD_TRACE),
        span_id=bytes.fromhex(GOOD_SPAN),
        name="good",
        start_time_unix_nano=1_700_000_000_000_000_000,
        end_time_unix_nano=1_700_000_000_100_000_000,
    )
    far = Span()
    far.CopyFrom(good)
    far.span_id = b"\x01" * 8
    far.end_time_unix_nano = 2**64 - 1  # fixed64's maximum
    short = Span()
    short.CopyFrom(good)
    short.span_id = b"\x02" * 3
    deep = AnyValue(string_value="bottom")
    for _ in range(20):  # within protobuf's own nesting limit (deeper: a DecodeError, 400)
        deep = AnyValue(array_value=ArrayValue(values=[deep]))
    nested = Span()
    nested.CopyFrom(good)
    nested.span_id = b"\x03" * 8
    nested.attributes.append(KeyValue(key="deep", value=deep))
    nested.attributes.append(
        KeyValue(key="gen_ai.usage.input_tokens", value=AnyValue(double_value=1e300))
    )
    body = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[far, short, nested, good])])]
    ).SerializeToString()
    decoded = decode_protobuf(body)
    assert decoded.rejected == 2
    assert sorted(r["span_id"] for r in decoded.records) == sorted([GOOD_SPAN, "03" * 8])
    sink.put(decoded)


def test_invalid_utf8_in_a_protobuf_string_is_a_decode_error() -> None:
    # field 1 (resource_spans) > field 2 (scope_spans) > field 2 (spans) > field 5 (name)
    name = b"\x2a\x02\xff\xfe"
    span_ = b"\x12" + bytes([len(name)]) + name
    scope = b"\x12" + bytes([len(span_)]) + span_
    body = b"\x0a" + bytes([len(scope)]) + scope
    with pytest.raises(OTLPDecodeError, match="not a valid OTLP/protobuf"):
        decode_protobuf(body)


# -- the receiver ------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    bad=st.lists(span | weird_number, max_size=3),
    raw=st.binary(max_size=64),
    form=st.sampled_from(["json", "raw-json", "raw-protobuf", "gzip-json"]),
)
def test_the_receiver_answers_200_or_400_with_a_message_never_500(
    bad: list[Any], raw: bytes, form: str
) -> None:
    with tempfile.TemporaryDirectory() as d, Receiver(Path(d), port=0) as r:
        body = json.dumps(request([*bad, good_span()])).encode()
        ctype = "application/json"
        headers = {}
        if form == "raw-json":
            body = raw
        elif form == "raw-protobuf":
            body, ctype = raw, "application/x-protobuf"
        elif form == "gzip-json":
            body = gzip.compress(body)[: max(10, len(raw))]  # maybe cut short
            headers["Content-Encoding"] = "gzip"
        conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=10)
        try:
            conn.request(
                "POST", "/v1/traces", body=body, headers={"Content-Type": ctype, **headers}
            )
            resp = conn.getresponse()
            answer = resp.read()
        finally:
            conn.close()
        assert resp.status in (200, 400), (resp.status, answer)
        if resp.status == 400 and ctype == "application/json":
            assert json.loads(answer)["message"]
        if form == "json":
            assert resp.status == 200  # a request of a good span and bad ones is accepted
        r.stop()
        assert r.stats.failed_requests == (resp.status != 200)


def test_show_renders_runs_of_odd_spans(sink: Sink) -> None:
    """What the fuzzing put in the store reads back through `agentreel show`, text and JSON."""
    for trace in (f"{0xF00D:032x}", GOOD_TRACE):
        odd = good_span(
            traceId=trace,
            spanId="00000000000000c3",
            name="\x00[bold]odd[/bold] \ud800",
            attributes=[
                {"key": "agentreel.run.tags", "value": {"stringValue": "{not json"}},
                {"key": "gen_ai.agent.name", "value": {"arrayValue": {"values": []}}},
            ],
            events=[{"name": "exception", "timeUnixNano": str(2**70)}],
        )
        sink.put(decode_json(json.dumps(request([odd]))))
    sink.store.close()
    try:
        runs = CliRunner().invoke(
            main, ["runs", "--json", "--limit", "1000", "--dir", str(sink.dir)]
        )
        assert runs.exit_code == 0, runs.output
        ids = [r["run_id"] for r in json.loads(runs.output)]
        assert GOOD_TRACE in ids
        for run_id in ids[:40]:
            for extra in ([], ["--json"]):
                out = CliRunner().invoke(main, ["show", run_id, "--dir", str(sink.dir), *extra])
                assert out.exit_code == 0, (run_id, out.output)
    finally:
        sink.store = Store.open(sink.dir)
