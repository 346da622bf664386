"""The OTLP/HTTP receiver under load: it sheds with 503 + Retry-After, never fails or grows.

32 exporters post real OTLP/protobuf (OpenTelemetry's own encoder) over loopback at
once to a receiver allowed two requests in flight. Every answer must be 200 or a
retryable 429/503 carrying ``Retry-After``; the senders retry shed batches as the
OTLP/HTTP specification asks, and every span lands exactly once.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentreel.store import Receiver, Store
from agentreel.store._otlp import Decoded

SENDERS = 32
BATCHES = 6
SPANS_PER_BATCH = 150
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _bodies(sender: int) -> list[bytes]:
    """`BATCHES` protobuf bodies of real SDK spans, each a trace of its own."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("load")
    bodies = []
    for b in range(BATCHES):
        memory.clear()
        with tracer.start_as_current_span(f"root {sender}/{b}"):
            for i in range(SPANS_PER_BATCH - 1):
                with tracer.start_as_current_span(
                    f"tool {i}", attributes={"gen_ai.operation.name": "execute_tool"}
                ):
                    pass
        spans: list[ReadableSpan] = list(memory.get_finished_spans())
        assert len(spans) == SPANS_PER_BATCH
        bodies.append(encode_spans(spans).SerializeToString())
    provider.shutdown()
    return bodies


class _Counting:
    """Wraps the spooler's write to measure how many requests are spooled at once."""

    def __init__(self, write: Any) -> None:
        self._write = write
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __call__(self, decoded: Decoded) -> Any:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            time.sleep(0.002)  # make overlap, and so shedding, likely on a fast machine
            return self._write(decoded)
        finally:
            with self._lock:
                self.now -= 1


@pytest.fixture
def loaded(tmp_path: Path) -> Iterator[tuple[Receiver, _Counting]]:
    r = Receiver(tmp_path / "store", port=0, max_inflight=2)
    r._server.queue_wait = 0.05  # shed sooner than the default, so retries surely happen
    counting = _Counting(r._server.spooler.write)
    r._server.spooler.write = counting  # type: ignore[method-assign]
    r.start()
    yield r, counting
    r.stop()


def test_32_exporters_at_once_are_answered_200_or_shed_and_every_span_lands_once(
    loaded: tuple[Receiver, _Counting], tmp_path: Path
) -> None:
    receiver, counting = loaded
    bodies = [_bodies(s) for s in range(SENDERS)]
    statuses: Counter[int] = Counter()
    problems: list[str] = []
    slowest = [0.0]
    lock = threading.Lock()
    start = threading.Barrier(SENDERS)

    def send(mine: list[bytes]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=30)
        start.wait()
        try:
            for body in mine:
                for _attempt in range(50):
                    t0 = time.monotonic()
                    conn.request("POST", "/v1/traces", body=body, headers=PROTOBUF)
                    resp = conn.getresponse()
                    resp.read()
                    took = time.monotonic() - t0
                    with lock:
                        statuses[resp.status] += 1
                        slowest[0] = max(slowest[0], took)
                    if resp.status == 200:
                        break
                    retry_after = resp.getheader("Retry-After")
                    if resp.status not in (429, 503) or retry_after is None:
                        with lock:
                            problems.append(f"{resp.status} Retry-After={retry_after!r}")
                        return
                    # honour the delay's order of magnitude, scaled down to keep the test short
                    time.sleep(min(float(retry_after), 1.0) / 10)
                else:
                    with lock:
                        problems.append("a batch was shed 50 times in a row")
        except Exception as e:  # a reset, a timeout: not an HTTP answer at all
            with lock:
                problems.append(repr(e))
        finally:
            conn.close()

    threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert problems == []
    assert set(statuses) <= {200, 429, 503}
    assert statuses[200] == SENDERS * BATCHES
    shed = statuses[429] + statuses[503]
    assert shed > 0, "the limit never shed a request: the test did not test shedding"
    assert receiver.stats.shed_requests == shed
    assert counting.peak <= 2  # never more than max_inflight requests spooled at once
    assert slowest[0] < 5  # shed answers come after the queue wait, not after the backlog
    receiver.stop()
    with Store.open(tmp_path / "store", create=True) as store:
        store.ingest()
        total, distinct = store.sql(
            "SELECT count(*) AS n, count(DISTINCT (trace_id, span_id)) AS d FROM spans"
        ).row(0)
        assert (total, distinct) == (SENDERS * BATCHES * SPANS_PER_BATCH,) * 2
        assert store.sql("SELECT count(*) AS n FROM runs")["n"][0] == SENDERS * BATCHES


def test_a_request_that_waits_too_long_for_a_slot_gets_503_with_retry_after(
    tmp_path: Path,
) -> None:
    r = Receiver(tmp_path / "store", port=0, max_inflight=1)
    r._server.queue_wait = 0.5  # shorter than the default, so the test is quick
    release = threading.Event()
    entered = threading.Event()
    write = r._server.spooler.write

    def blocked(decoded: Decoded) -> Any:
        entered.set()
        release.wait(10)
        return write(decoded)

    r._server.spooler.write = blocked  # type: ignore[method-assign]
    body = json.dumps({"resourceSpans": []}).encode()
    first: list[int] = []
    with r:
        holder = threading.Thread(
            target=lambda: first.append(_post_json(r.port, body)[0]), daemon=True
        )
        holder.start()
        assert entered.wait(10)
        t0 = time.monotonic()
        status, headers, resp = _post_json(r.port, body)
        waited = time.monotonic() - t0
        release.set()
        holder.join(10)
        assert (status, headers.get("Retry-After")) == (503, "1")
        assert json.loads(resp)["code"] == 14
        assert "in flight" in json.loads(resp)["message"]
        assert 0.4 < waited < 3  # it waited its turn for queue_wait, then was shed
        assert first == [200]
        assert _post_json(r.port, body)[0] == 200  # the slot is free again
        assert r.stats.shed_requests == 1


def _busy_connection(port: int) -> socket.socket:
    """A connection inside a request: its head is in, its body is still to come."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 10\r\n\r\n{"
    )
    return s


def _wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 30  # a guard against a hang, not a measure
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def test_connections_beyond_the_limit_are_answered_503_at_once_when_all_are_in_a_request(
    tmp_path: Path,
) -> None:
    with Receiver(tmp_path / "store", port=0, max_inflight=1, max_connections=2) as r:
        r._server.queue_wait = 60  # the second request waits for the slot the first holds
        held = [_busy_connection(r.port) for _ in range(2)]
        try:
            _wait_for(lambda: r._server._busy == 2, "both requests are in")
            extra = socket.create_connection(("127.0.0.1", r.port), timeout=10)
            with extra:
                answer = extra.makefile("rb").read()
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 503 ")
            assert b"\r\nRetry-After: 1\r\n" in head
            assert "too many connections" in json.loads(body)["message"]
        finally:
            for s in held:
                s.close()
        deadline = time.monotonic() + 10
        while True:  # once they are closed, new connections are served again
            try:
                status = _post_json(r.port, b"{}")[0]
            except (BrokenPipeError, ConnectionResetError):
                # the server has not yet seen the held connections go: it answered 503
                # at once and closed while this request was still being sent
                status = 503
            if status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert status == 200


def test_idle_connections_at_the_limit_make_room_for_a_new_one(tmp_path: Path) -> None:
    with Receiver(tmp_path / "store", port=0, max_connections=4, max_per_address=3) as r:
        idle = [socket.create_connection(("127.0.0.1", r.port), timeout=10) for _ in range(3)]
        try:
            _wait_for(lambda: r._server.open_connections == 3, "all three are accepted")
            # a fourth from the same address: the oldest idle one is closed, not the newcomer
            assert _post_json(r.port, b"{}")[0] == 200
            assert idle[0].recv(1) == b""  # closed by the receiver, unanswered
            assert r.stats.dropped_connections == 1
            assert r.stats.shed_requests == 0
        finally:
            for s in idle:
                s.close()


def _post_json(port: int, body: bytes) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()
