"""The OTLP/HTTP receiver, spoken to by OpenTelemetry's own exporter and by plain HTTP."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from agentreel import ConfigError
from agentreel.store import Receiver, Store

ROOT = Path(__file__).resolve().parents[2]
TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def receiver(store_dir: Path) -> Iterator[Receiver]:
    r = Receiver(store_dir, port=0).start()
    yield r
    r.stop()


def _post(
    r: Receiver,
    body: bytes,
    content_type: str = "application/json",
    *,
    path: str = "/v1/traces",
    method: str = "POST",
    headers: dict[str, str] | None = None,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, dict[str, str], bytes]:
    c = conn or http.client.HTTPConnection("127.0.0.1", r.port, timeout=10)
    try:
        c.request(
            method, path, body=body, headers={"Content-Type": content_type, **(headers or {})}
        )
        resp = c.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        if conn is None:
            c.close()


def _span(span_id: bytes, name: str, parent: bytes = b"", **attrs: Any) -> Span:
    s = Span(
        trace_id=TRACE,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=1_700_000_000_000_000_000,
        end_time_unix_nano=1_700_000_000_500_000_000,
    )
    for k, v in attrs.items():
        value = AnyValue(int_value=v) if isinstance(v, int) else AnyValue(string_value=str(v))
        s.attributes.append(KeyValue(key=k, value=value))
    return s


def _request(*spans: Span, service: str = "pb-svc") -> bytes:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource={
                    "attributes": [
                        KeyValue(key="service.name", value=AnyValue(string_value=service))
                    ]
                },
                scope_spans=[ScopeSpans(scope={"name": "hand"}, spans=list(spans))],
            )
        ]
    ).SerializeToString()


def _json_request(span_id: str = "b7ad6b7169203331", name: str = "tool call") -> bytes:
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [
                            {"key": "service.name", "value": {"stringValue": "json-svc"}}
                        ]
                    },
                    "scopeSpans": [
                        {
                            "scope": {"name": "plain-http"},
                            "spans": [
                                {
                                    "traceId": TRACE.hex(),
                                    "spanId": span_id,
                                    "name": name,
                                    "kind": 1,
                                    "startTimeUnixNano": "1700000000000000000",
                                    "endTimeUnixNano": "1700000000250000000",
                                    "attributes": [
                                        {
                                            "key": "gen_ai.operation.name",
                                            "value": {"stringValue": "execute_tool"},
                                        },
                                        {
                                            "key": "gen_ai.tool.name",
                                            "value": {"stringValue": "lookup"},
                                        },
                                    ],
                                    "status": {"code": 1},
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    ).encode()


def _ingested(store_dir: Path) -> Store:
    store = Store.open(store_dir, create=True)
    store.ingest()
    return store


def _sender_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(k, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


# -- OpenTelemetry's own exporter, from another process -------------------------


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_official_otlp_exporter_in_a_subprocess(
    receiver: Receiver, store_dir: Path, compression: str
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tests.store._otlp_sender", receiver.url, compression],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=_sender_env(),
        check=True,
    )
    sent = json.loads(out.stdout)
    assert sent["results"], out.stderr
    assert set(sent["results"]) == {"SUCCESS"}, out.stderr
    ids = sent["ids"]
    receiver.stop()
    assert receiver.stats.spans == 4
    with _ingested(store_dir) as store:
        spans = {r["name"]: r for r in store.sql("SELECT * FROM spans").iter_rows(named=True)}
        assert set(spans) == {
            "invoke_agent planner",
            "chat gpt-4.1",
            "execute_tool search",
            "ChatCompletion",
        }
        agent, chat, tool = (
            spans["invoke_agent planner"],
            spans["chat gpt-4.1"],
            spans["execute_tool search"],
        )
        assert (agent["kind"], agent["agent_name"], agent["span_id"]) == (
            "agent",
            "planner",
            ids["agent"],
        )
        assert agent["parent_span_id"] is None
        assert (chat["kind"], chat["span_kind"], chat["parent_span_id"]) == (
            "llm",
            "client",
            ids["agent"],
        )
        assert (chat["provider"], chat["request_model"], chat["response_model"]) == (
            "openai",
            "gpt-4.1",
            "gpt-4.1-2025-04-14",
        )
        assert (chat["input_tokens"], chat["output_tokens"], chat["finish_reason"]) == (
            120,
            30,
            "tool_calls",
        )
        assert chat["cost_usd"] is not None
        assert chat["cost_usd"] > 0
        assert (tool["kind"], tool["tool_name"], tool["tool_call_id"]) == (
            "tool",
            "search",
            "call_1",
        )
        assert (tool["parent_span_id"], tool["status"]) == (ids["agent"], "error")
        assert (tool["error_type"], tool["error_message"]) == (
            "TimeoutError",
            "search took too long",
        )
        assert all(s["scope"] == "sender.genai" for s in (agent, chat, tool))
        oi = spans["ChatCompletion"]
        assert (oi["kind"], oi["request_model"], oi["provider"]) == ("llm", "gpt-4o-mini", "openai")
        assert (oi["input_tokens"], oi["output_tokens"]) == (12, 5)
        assert (oi["input"], oi["output"]) == ("What is 2 + 2?", "4")
        runs = {r["run_id"]: r for r in store.runs().iter_rows(named=True)}
        assert set(runs) == {ids["trace"], ids["oi_trace"]}
        run = runs[ids["trace"]]
        assert (run["name"], run["status"], run["span_count"], run["service_name"]) == (
            "planner",
            "ok",
            3,
            "otlp-sender",
        )
        assert (run["input_tokens"], run["output_tokens"], run["error_count"]) == (120, 30, 1)
        proc = store.sql("SELECT * FROM processes").row(0, named=True)
        assert (proc["host"], proc["service_name"]) == ("sender-host", "otlp-sender")
        assert store.events(ids["trace"])["name"].to_list() == ["exception"]


# -- plain HTTP ----------------------------------------------------------------


def test_plain_json_post_with_urllib(receiver: Receiver, store_dir: Path) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(
        receiver.url, data=_json_request(), headers={"Content-Type": "application/json"}
    )
    with opener.open(req, timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json"
        assert json.loads(resp.read()) == {}
    receiver.stop()
    with _ingested(store_dir) as store:
        row = store.sql("SELECT * FROM spans").row(0, named=True)
        assert (row["kind"], row["tool_name"], row["status"], row["scope"]) == (
            "tool",
            "lookup",
            "ok",
            "plain-http",
        )
        assert store.runs()["service_name"].to_list() == ["json-svc"]


def test_gzip_json_and_protobuf_bodies(receiver: Receiver, store_dir: Path) -> None:
    status, _, _ = _post(
        receiver, gzip.compress(_json_request()), headers={"Content-Encoding": "gzip"}
    )
    assert status == 200
    body = gzip.compress(_request(_span(b"\x01" * 8, "pb root")))
    status, headers, resp = _post(
        receiver, body, "application/x-protobuf", headers={"Content-Encoding": "gzip"}
    )
    assert (status, headers["Content-Type"]) == (200, "application/x-protobuf")
    parsed = ExportTraceServiceResponse.FromString(resp)
    assert not parsed.HasField("partial_success")
    receiver.stop()
    with _ingested(store_dir) as store:
        assert sorted(store.sql("SELECT name FROM spans")["name"].to_list()) == [
            "pb root",
            "tool call",
        ]


def test_partial_success_when_one_span_has_an_invalid_id(
    receiver: Receiver, store_dir: Path
) -> None:
    good = _span(b"\x02" * 8, "good")
    bad = _span(b"\x00" * 8, "zero id")
    short = _span(b"\x03" * 4, "short id")
    status, _, resp = _post(receiver, _request(good, bad), "application/x-protobuf")
    assert status == 200
    partial = ExportTraceServiceResponse.FromString(resp).partial_success
    assert partial.rejected_spans == 1
    assert "all zeros" in partial.error_message
    status, _, resp = _post(receiver, _request(short), "application/x-protobuf")
    assert ExportTraceServiceResponse.FromString(resp).partial_success.rejected_spans == 1
    status, _, resp = _post(receiver, _json_request(span_id="not-hex-at-all!!"))
    assert status == 200
    doc = json.loads(resp)
    assert doc["partialSuccess"]["rejectedSpans"] == "1"
    assert "span id" in doc["partialSuccess"]["errorMessage"]
    assert receiver.stats.rejected_spans == 3
    receiver.stop()
    with _ingested(store_dir) as store:
        assert store.sql("SELECT name FROM spans")["name"].to_list() == ["good"]


# -- bad requests --------------------------------------------------------------


def test_malformed_protobuf_is_400_with_an_rpc_status(receiver: Receiver) -> None:
    status, headers, body = _post(receiver, b"\xff\xff\xff\xff", "application/x-protobuf")
    assert (status, headers["Content-Type"]) == (400, "application/x-protobuf")
    st = status_pb2.Status.FromString(body)
    assert st.code == 3
    assert "not a valid OTLP/protobuf" in st.message


def test_malformed_json_is_400_and_the_connection_stays_usable(receiver: Receiver) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
    try:
        status, _, body = _post(receiver, b'{"resourceSpans": [', conn=conn)
        assert status == 400
        assert "not valid JSON" in json.loads(body)["message"]
        status, _, body = _post(receiver, b'{"resourceSpans": 7}', conn=conn)
        assert status == 400
        assert "resourceSpans must be an array" in json.loads(body)["message"]
        status, _, _ = _post(receiver, _json_request(), conn=conn)
        assert status == 200
    finally:
        conn.close()


def test_unknown_content_type_is_415(receiver: Receiver) -> None:
    status, _, body = _post(receiver, b"hello", "text/plain")
    assert status == 415
    assert "application/x-protobuf" in json.loads(body)["message"]
    status, _, _ = _post(receiver, _json_request(), headers={"Content-Encoding": "br"})
    assert status == 415


def test_unknown_path_is_404_and_other_methods_405(receiver: Receiver) -> None:
    status, _, body = _post(receiver, _json_request(), path="/v1/metrics")
    assert status == 404
    assert "/v1/traces" in json.loads(body)["message"]
    status, headers, _ = _post(receiver, b"", method="GET")
    assert (status, headers["Allow"]) == (405, "POST")


def test_over_the_limit_by_content_length_is_413(store_dir: Path) -> None:
    with Receiver(store_dir, port=0, max_body_bytes=1024) as r:
        conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=10)
        try:  # announce a huge body and send none: the answer must not wait for it
            conn.putrequest("POST", "/v1/traces")
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(50 * 1024 * 1024))
            conn.endheaders()
            resp = conn.getresponse()
            assert resp.status == 413
            assert "over the limit of 1024" in json.loads(resp.read())["message"]
        finally:
            conn.close()


def test_gzip_bomb_is_413_without_inflating_it(store_dir: Path) -> None:
    bomb = gzip.compress(b" " * (64 * 1024 * 1024))  # 64 MiB of spaces, ~64 KiB compressed
    assert len(bomb) < 1024 * 1024
    with Receiver(store_dir, port=0, max_body_bytes=1024 * 1024) as r:
        status, _, body = _post(r, bomb, headers={"Content-Encoding": "gzip"})
        assert status == 413
        assert "decompresses to more than" in json.loads(body)["message"]
        status, _, _ = _post(r, b"\x1f\x8bnot gzip", headers={"Content-Encoding": "gzip"})
        assert status == 400


def test_a_non_loopback_bind_needs_a_token(store_dir: Path) -> None:
    with pytest.raises(ConfigError, match="without a token"):
        Receiver(store_dir, host="0.0.0.0", port=0)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(store_dir.parent)}
    out = subprocess.run(
        [sys.executable, "-m", "agentreel", "serve", "--host", "0.0.0.0", "--dir", str(store_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert out.returncode == 2
    assert "without a token" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_token_is_checked_on_every_request(store_dir: Path) -> None:
    with Receiver(store_dir, port=0, token="s3cret") as r:
        status, headers, body = _post(r, _json_request())
        assert (status, headers["WWW-Authenticate"]) == (401, "Bearer")
        assert json.loads(body)["code"] == 16
        assert _post(r, _json_request(), headers={"Authorization": "Bearer wrong"})[0] == 401
        assert _post(r, _json_request(), headers={"Authorization": "Basic s3cret"})[0] == 401
        assert _post(r, b"", path="/nope", headers={"Authorization": "Bearer nope"})[0] == 401
        assert _post(r, _json_request(), headers={"Authorization": "Bearer s3cret"})[0] == 200
        assert _post(r, _json_request(), headers={"Authorization": "bearer s3cret"})[0] == 200
        assert r.stats.requests == 2


def test_stop_does_not_wait_for_idle_keep_alive_connections(store_dir: Path) -> None:
    r = Receiver(store_dir, port=0).start()
    conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=10)
    try:
        assert _post(r, _json_request(), conn=conn)[0] == 200  # the connection stays open
        t0 = time.monotonic()
        r.stop()
        assert time.monotonic() - t0 < 3
    finally:
        conn.close()


# -- agentreel serve -------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_drains_into_the_store_and_stops_on_a_signal(store_dir: Path, sig: int) -> None:
    p = subprocess.Popen(
        [sys.executable, "-m", "agentreel", "serve", "--port", "0", "--dir", str(store_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(store_dir.parent), "COLUMNS": "200"},
    )
    try:
        assert p.stdout is not None
        first = p.stdout.readline()
        assert "receiving OTLP/HTTP traces on http://127.0.0.1:" in first, first
        assert re.search(r"/v1/traces and logs on http://127\.0\.0\.1:\d+/v1/logs ", first), first
        url = first.split(" on ", 1)[1].split()[0]
        port = int(url.split(":")[2].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request(
            "POST", "/v1/traces", body=_json_request(), headers={"Content-Type": "application/json"}
        )
        assert conn.getresponse().status == 200
        conn.close()
        deadline = time.monotonic() + 20
        archive = store_dir / "spool" / "archive"
        while not any(archive.glob("*.jsonl")):  # drained by the server's own tick
            assert time.monotonic() < deadline, "serve did not drain within 20 s"
            time.sleep(0.1)
        p.send_signal(sig)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
    assert p.returncode == 0, err
    assert "ingested 1 spans from 1 segments" in out
    assert "stopped: 1 spans received in 1 requests" in out
    with Store.open(store_dir, read_only=True) as store:
        assert store.sql("SELECT tool_name FROM spans")["tool_name"].to_list() == ["lookup"]


def test_a_port_in_use_is_a_clear_error(receiver: Receiver, store_dir: Path) -> None:
    with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{receiver.port}"):
        Receiver(store_dir, port=receiver.port)


_SIGNAL_WHILE_WAITING = """
import signal, sys, threading
from agentreel.store._serve import serve

class SignalledWhileWaiting(threading.Event):
    # the signal comes while the serving loop's wait holds the event's lock, as it
    # can between two bytecodes of Event.wait
    def wait(self, timeout=None):
        with self._cond:
            signal.raise_signal(signal.SIGINT)
            # the Python-level handler runs here, before the lock is let go
            sum(range(10))
        return super().wait(timeout)

serve(sys.argv[1], port=0, stop=SignalledWhileWaiting())
print("stopped")
"""


def test_serve_stops_on_a_signal_that_comes_while_its_loop_waits(store_dir: Path) -> None:
    """A handler that set the loop's event would wait forever for the lock the
    interrupted wait holds: serve must stop however the signal falls."""
    p = subprocess.Popen(
        [sys.executable, "-c", _SIGNAL_WHILE_WAITING, str(store_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)
    assert (p.returncode, out.strip()) == (0, "stopped"), err
