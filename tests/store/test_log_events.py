"""GenAI content carried in OTLP log records lands in the spans' payload columns.

The senders are OpenTelemetry's own SDK and OTLP/HTTP exporters (spans and logs),
posting to a real `serve` on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from agentreel._redact import redactor_from
from agentreel._spool import SpoolPaths
from agentreel.store import IngestReport, Receiver, Store, import_otlp_json, serve
from agentreel.store._otlp_logs import decode_logs_json

INPUT = [{"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}]
OUTPUT = [
    {
        "role": "assistant",
        "parts": [{"type": "text", "content": "Rainy, 57F."}],
        "finish_reason": "stop",
    }
]
SYSTEM = [{"type": "text", "content": "You are a weather bot."}]


@dataclass
class _Server:
    dir: Path
    url: str
    ingests: list[IngestReport] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def wait_drained(self) -> None:
        """Until the server drained all that was spooled (segments leave the spool
        once their transaction committed; each drain notifies the condition)."""
        paths = SpoolPaths(self.dir)
        with self.cond:
            ok = self.cond.wait_for(
                lambda: not paths.pending() and not paths.journals(), timeout=20
            )
        assert ok, "serve did not drain within 20 s"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    stop = threading.Event()
    ready = threading.Event()
    box: dict[str, Any] = {}
    srv = _Server(tmp_path / "store", "")

    def on_ready(r: Receiver) -> None:
        box["port"] = r.port
        ready.set()

    def on_ingest(report: IngestReport) -> None:
        with srv.cond:
            srv.ingests.append(report)
            srv.cond.notify_all()

    t = threading.Thread(
        target=serve,
        args=(srv.dir,),
        kwargs={
            "port": 0,
            "interval": 0.2,
            "on_ready": on_ready,
            "on_ingest": on_ingest,
            "stop": stop,
        },
    )
    t.start()
    try:
        assert ready.wait(20), "serve did not start"
        srv.url = f"http://127.0.0.1:{box['port']}"
        yield srv
    finally:
        stop.set()
        t.join(30)
    assert not t.is_alive()


def _providers(url: str) -> tuple[TracerProvider, LoggerProvider, list[ReadableSpan]]:
    """A tracer whose spans are exported only when the test says, and a logger exporting at once."""
    resource = Resource.create({"service.name": "genai-events"})
    held: list[ReadableSpan] = []

    class Hold(SimpleSpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            held.append(span)

    tp = TracerProvider(resource=resource)
    tp.add_span_processor(Hold(OTLPSpanExporter(endpoint=f"{url}/v1/traces", timeout=10)))
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{url}/v1/logs", timeout=10))
    )
    return tp, lp, held


def _send_spans(url: str, spans: list[ReadableSpan]) -> None:
    assert OTLPSpanExporter(endpoint=f"{url}/v1/traces", timeout=10).export(spans).name == "SUCCESS"


def _row(store_dir: Path, span_id: int) -> dict[str, Any]:
    with Store.open(store_dir, wait=10) as store:
        frame = store.sql(
            "SELECT input, output, attributes FROM spans WHERE span_id = ?", [f"{span_id:016x}"]
        )
    assert frame.height == 1
    return frame.row(0, named=True)


def test_details_event_after_its_span_fills_the_span_and_plain_logs_are_refused(
    server: _Server,
) -> None:
    tp, lp, held = _providers(server.url)
    tracer, logger = tp.get_tracer("t"), lp.get_logger("t")
    with tracer.start_as_current_span(
        "chat gpt-4.1",
        kind=trace.SpanKind.CLIENT,
        attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4.1"},
    ) as span:
        ctx = trace.set_span_in_context(span)
        sid = span.get_span_context().span_id
    _send_spans(server.url, held)
    server.wait_drained()
    logger.emit(
        event_name="gen_ai.client.inference.operation.details",
        context=ctx,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.input.messages": INPUT,
            "gen_ai.output.messages": OUTPUT,
            "gen_ai.system_instructions": SYSTEM,
            "gen_ai.request.temperature": 0.2,
        },
    )
    logger.emit(body="an application log line, outside any span")
    server.wait_drained()
    row = _row(server.dir, sid)
    assert json.loads(row["input"]) == INPUT
    assert json.loads(row["output"]) == OUTPUT
    attrs = json.loads(row["attributes"])
    # the event's other attributes fill the span's gaps; the span's own stay
    assert attrs["gen_ai.system_instructions"] == SYSTEM
    assert attrs["gen_ai.request.temperature"] == 0.2
    assert attrs["gen_ai.request.model"] == "gpt-4.1"
    with Store.open(server.dir, wait=10) as store:
        left = store.sql("SELECT count(*) AS n FROM span_content")["n"][0]
    assert left == 0  # landed in a complete span: nothing waits any more


def test_older_message_events_before_their_span_wait_for_it(server: _Server) -> None:
    tp, lp, held = _providers(server.url)
    tracer, logger = tp.get_tracer("t"), lp.get_logger("t")
    with tracer.start_as_current_span(
        "chat", attributes={"gen_ai.operation.name": "chat", "gen_ai.system": "openai"}
    ) as span:
        ctx = trace.set_span_in_context(span)
        sid = span.get_span_context().span_id
        common = {"gen_ai.system": "openai"}
        logger.emit(
            event_name="gen_ai.system.message",
            context=ctx,
            attributes=common,
            body={"content": "Be brief."},
        )
        logger.emit(
            event_name="gen_ai.user.message",
            context=ctx,
            attributes=common,
            body={"content": "Weather in Paris?"},
        )
        logger.emit(
            event_name="gen_ai.choice",
            context=ctx,
            attributes=common,
            body={
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {"role": "assistant"},
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "weather"}}],
            },
        )
    server.wait_drained()  # the content is in, its span not yet
    with Store.open(server.dir, wait=10) as store:
        waiting = store.sql("SELECT span_id, event FROM span_content ORDER BY time_ns").rows()
    # one record each: SimpleLogRecordProcessor sends every event in a request of its own
    assert waiting == [
        (f"{sid:016x}", "gen_ai.system.message"),
        (f"{sid:016x}", "gen_ai.user.message"),
        (f"{sid:016x}", "gen_ai.choice"),
    ]
    _send_spans(server.url, held)
    server.wait_drained()
    row = _row(server.dir, sid)
    assert json.loads(row["input"]) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
    ]
    assert json.loads(row["output"]) == [
        {
            "role": "assistant",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "weather"}}],
            "finish_reason": "tool_calls",
        }
    ]


def _any(v: Any) -> dict[str, Any]:
    if isinstance(v, str):
        return {"stringValue": v}
    if isinstance(v, list):
        return {"arrayValue": {"values": [_any(x) for x in v]}}
    if isinstance(v, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": _any(x)} for k, x in v.items()]}}
    return {"intValue": str(v)}


def _logs_request(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": _any("s")}]},
                "scopeLogs": [{"scope": {"name": "x"}, "logRecords": records}],
            }
        ]
    }


TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def _span_request(span_id: str, attrs: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": []},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": TRACE_ID,
                                "spanId": span_id,
                                "name": "chat",
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": "1700000001000000000",
                                "attributes": [
                                    {"key": k, "value": _any(v)} for k, v in attrs.items()
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }


def test_import_reads_logs_lines_and_a_span_s_own_payload_wins(tmp_path: Path) -> None:
    own = json.dumps([{"role": "user", "content": "the span's own"}])
    details = {
        "timeUnixNano": "1700000000500000000",
        "eventName": "gen_ai.client.inference.operation.details",
        "traceId": TRACE_ID,
        "attributes": [
            {"key": "gen_ai.operation.name", "value": _any("chat")},
            {"key": "gen_ai.input.messages", "value": _any(INPUT)},
        ],
        # the messages in the body rather than the attributes are read too
        "body": _any({"gen_ai.output.messages": OUTPUT}),
    }
    lines = [
        _span_request("00f067aa0ba902b7", {"gen_ai.operation.name": "chat"}),
        _span_request(
            "00f067aa0ba902b8", {"gen_ai.operation.name": "chat", "agentreel.input": own}
        ),
        _logs_request(
            [
                {**details, "spanId": "00f067aa0ba902b7"},
                {**details, "spanId": "00f067aa0ba902b8"},
                {
                    "body": _any("a plain log line"),
                    "spanId": "00f067aa0ba902b8",
                    "traceId": TRACE_ID,
                },
            ]
        ),
    ]
    f = tmp_path / "otlp.jsonl"
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    store_dir = tmp_path / "store"
    report = import_otlp_json(store_dir, [f])
    assert (report.spans, report.contents, report.rejected, report.rejected_log_records) == (
        2,
        2,
        0,
        1,
    )
    with Store.open(store_dir, create=True) as store:
        store.ingest()
        rows = dict(store.sql("SELECT span_id, struct_pack(input, output) AS p FROM spans").rows())
    filled, kept = rows["00f067aa0ba902b7"], rows["00f067aa0ba902b8"]
    assert json.loads(filled["input"]) == INPUT
    assert json.loads(filled["output"]) == OUTPUT
    assert json.loads(kept["input"]) == json.loads(own)  # carried by the span: it wins
    assert json.loads(kept["output"]) == OUTPUT  # the span had none: the event's


def test_logs_endpoint_answers_partial_success_for_records_it_does_not_keep(tmp_path: Path) -> None:
    import http.client

    body = _logs_request(
        [
            {"eventName": "gen_ai.user.message", "body": _any({"content": "hi"})},  # no span
            {"body": _any("plain"), "traceId": TRACE_ID, "spanId": "00f067aa0ba902b7"},
        ]
    )
    with Receiver(tmp_path / "store", port=0) as r:
        c = http.client.HTTPConnection("127.0.0.1", r.port, timeout=10)
        c.request(
            "POST", "/v1/logs", body=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        resp = c.getresponse()
        doc = json.loads(resp.read())
        c.close()
        stats = r.stats
    assert resp.status == 200
    assert doc["partialSuccess"]["rejectedLogRecords"] == "2"
    assert "carries no trace and span id" in doc["partialSuccess"]["errorMessage"]
    assert "is not a GenAI content event" in doc["partialSuccess"]["errorMessage"]
    assert (stats.contents, stats.rejected_log_records, stats.spans) == (0, 2, 0)


def test_messages_in_log_records_are_masked_before_they_are_spooled() -> None:
    secret = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD"
    body = _logs_request(
        [
            {
                "eventName": "gen_ai.user.message",
                "traceId": TRACE_ID,
                "spanId": "00f067aa0ba902b7",
                "body": _any({"content": f"my key is {secret}"}),
            }
        ]
    )
    decoded = decode_logs_json(json.dumps(body), redactor_from(True))
    [content] = decoded.contents
    assert secret not in json.dumps(content)
    assert json.loads(content["input"])[0]["role"] == "user"


def test_gc_removes_the_messages_waiting_in_a_run_it_removes(tmp_path: Path) -> None:
    waiting = {
        "eventName": "gen_ai.user.message",
        "traceId": TRACE_ID,
        "spanId": "00f067aa0ba902ff",  # a span of the run that never came
        "body": _any({"content": "hi"}),
    }
    f = tmp_path / "otlp.jsonl"
    lines = [_span_request("00f067aa0ba902b7", {}), _logs_request([waiting])]
    f.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    store_dir = tmp_path / "store"
    import_otlp_json(store_dir, [f])
    with Store.open(store_dir, create=True) as store:
        store.ingest()
        before = store.sql("SELECT count(*) AS n FROM span_content")["n"][0]
        store.gc(older_than="1d")  # the run ended in 2023
        after = store.sql("SELECT count(*) AS n FROM span_content")["n"][0]
    assert (before, after) == (1, 0)


def test_an_evaluation_sent_as_a_log_record_is_an_evaluation_of_its_span_once(
    tmp_path: Path,
) -> None:
    evaluation = {
        "eventName": "gen_ai.evaluation.result",
        "timeUnixNano": "1700000002000000000",
        "traceId": TRACE_ID,
        "spanId": "00f067aa0ba902b7",
        "attributes": [
            {"key": "gen_ai.evaluation.name", "value": _any("Relevance")},
            {"key": "gen_ai.evaluation.score.value", "value": {"doubleValue": 0.75}},
            {"key": "gen_ai.evaluation.score.label", "value": _any("relevant")},
        ],
    }
    store_dir = tmp_path / "store"
    first, again = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    # the evaluation comes before its span, then once more (an exporter's retry)
    first.write_text(
        json.dumps(_logs_request([evaluation]))
        + "\n"
        + json.dumps(_span_request("00f067aa0ba902b7", {"gen_ai.operation.name": "chat"}))
        + "\n"
    )
    again.write_text(json.dumps(_logs_request([evaluation])) + "\n")
    for f in (first, again):
        import_otlp_json(store_dir, [f])
        with Store.open(store_dir, create=True) as store:
            store.ingest()
    with Store.open(store_dir) as store:
        evals = store.evaluations(TRACE_ID).to_dicts()
    assert [(e["span_id"], e["name"], e["score"], e["label"]) for e in evals] == [
        ("00f067aa0ba902b7", "Relevance", 0.75, "relevant")
    ]
