"""The receiver under a slow-client attack keeps serving a well-behaved exporter.

The attacker is the one the receiver was shut by: from loopback (the exporter's
own address, so a limit per address alone cannot tell them apart) it keeps 300
connections open, each sending a request head one byte at a time and never
finishing it, and opens a new one for each the receiver closes. Meanwhile
OpenTelemetry's own OTLP/HTTP exporter sends its batches, and every span must be
accepted. The attack is bounded (a number of connections and a time cap) and
ends by itself once the exporter is done.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentreel.store import Receiver, Store, _receiver_http

pytestmark = pytest.mark.slow

ATTACK_CONNECTIONS = 300
#: the attacker sends one more byte of head on each connection this often
DRIP_S = 0.5
#: bounds on the attack, so it stops by itself if the test itself hangs
MAX_OPENED = 4000
ATTACK_CAP_S = 120.0
BATCHES = 8
SPANS_PER_BATCH = 50


class SlowClients:
    """Holds `connections` connections that send a request head a byte at a time."""

    def __init__(
        self, port: int, connections: int = ATTACK_CONNECTIONS, cap_s: float = ATTACK_CAP_S
    ) -> None:
        self.port = port
        self.connections = connections
        self.cap_s = cap_s
        self.opened = 0
        self.closed_by_server = 0
        #: drips sent so far, one more byte on every connection each
        self.rounds = 0
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)

    def _open(self) -> socket.socket | None:
        if self.opened >= MAX_OPENED or self.stop.is_set():
            return None
        self.opened += 1
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.sendall(b"POST /v1/traces HTTP/1.1\r\nX-Slow: ")
        except OSError:
            return None
        s.setblocking(False)
        return s

    def _run(self) -> None:
        until = time.monotonic() + self.cap_s
        conns = [c for c in (self._open() for _ in range(self.connections)) if c]
        try:
            while not self.stop.wait(DRIP_S) and time.monotonic() < until:
                readable, _, _ = select.select(conns, [], [], 0) if conns else ([], [], [])
                gone = set()
                for c in readable:  # readable here means closed (or answered) by the server
                    gone.add(c)
                for c in conns:
                    if c in gone:
                        continue
                    try:
                        c.send(b"a")
                    except OSError:
                        gone.add(c)
                for c in gone:
                    c.close()
                    self.closed_by_server += 1
                conns = [c for c in conns if c not in gone]
                # replace what was closed, up to the bound on connections opened in all
                conns += [c for c in (self._open() for _ in gone) if c]
                self.rounds += 1
        finally:
            for c in conns:
                c.close()

    def __enter__(self) -> SlowClients:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(30)


def _batches() -> list[list[ReadableSpan]]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("attack")
    out = []
    for b in range(BATCHES):
        memory.clear()
        with tracer.start_as_current_span(f"root {b}"):
            for i in range(SPANS_PER_BATCH - 1):
                with tracer.start_as_current_span(f"tool {i}"):
                    pass
        out.append(list(memory.get_finished_spans()))
    provider.shutdown()
    return out


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60  # a guard against a hang, not a measure
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("token", [None, "s3cret"], ids=["no-token", "token"])
def test_an_exporter_gets_every_span_accepted_while_slow_clients_hold_300_connections(
    tmp_path: Path, token: str | None
) -> None:
    batches = _batches()
    with Receiver(tmp_path / "store", port=0, token=token) as r:
        server = r._server
        with SlowClients(r.port) as attack:
            # the attack is in place: the address's connections are all taken, and the
            # receiver has begun closing the slowest to make room for the rest
            _wait_for(
                lambda: attack.closed_by_server >= ATTACK_CONNECTIONS - server.max_per_address,
                "the slow clients were pushed out and came back",
            )
            exporter = OTLPSpanExporter(
                endpoint=r.url,
                headers={"Authorization": f"Bearer {token}"} if token else None,
                timeout=60,
            )
            results = []
            for batch in batches:  # one batch per drip, so requests meet a churning attack
                seen = attack.rounds
                _wait_for(lambda n=seen: attack.rounds > n, "the slow clients sent another byte")
                results.append(exporter.export(batch))
            exporter.shutdown()
            still_attacking = attack._thread.is_alive() and not attack.stop.is_set()
        stats = r.stats
    assert results == [SpanExportResult.SUCCESS] * BATCHES
    assert still_attacking, "the attack had stopped before the exporter finished"
    assert stats.spans == BATCHES * SPANS_PER_BATCH
    assert stats.dropped_connections >= ATTACK_CONNECTIONS - server.max_per_address
    with Store.open(tmp_path / "store", create=True) as store:
        store.ingest()
        n, distinct = store.sql(
            "SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans"
        ).row(0)
    assert n == distinct == BATCHES * SPANS_PER_BATCH


def test_a_head_sent_a_byte_at_a_time_is_cut_off_at_the_head_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_receiver_http, "HEAD_TIMEOUT_S", 1.0)
    with Receiver(tmp_path / "store", port=0) as r:
        s = socket.create_connection(("127.0.0.1", r.port), timeout=30)
        with s:
            s.sendall(b"POST /v1/traces HTTP/1.1\r\nX-Slow: ")
            sent = 0
            deadline = time.monotonic() + 60  # a guard against a hang, not a measure
            while time.monotonic() < deadline:
                # each byte comes well within a per-read timeout; the whole head never does
                readable, _, _ = select.select([s], [], [], 0.2)
                if readable:
                    break
                with contextlib.suppress(OSError):
                    s.sendall(b"a")
                    sent += 1
            assert s.recv(1) == b"", "the receiver answered instead of hanging up"
        assert sent >= 1
        _wait_for(lambda: r.stats.dropped_connections == 1, "the drop is counted")


def test_a_wrong_token_is_answered_from_the_head_without_reading_the_body(
    tmp_path: Path,
) -> None:
    with Receiver(tmp_path / "store", port=0, token="s3cret") as r:
        s = socket.create_connection(("127.0.0.1", r.port), timeout=30)
        with s:
            # the body is announced but never sent: the answer cannot wait for it
            s.sendall(
                b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Authorization: Bearer wrong\r\nContent-Length: 1000\r\n\r\n"
            )
            answer = s.makefile("rb").read()  # to the end: the receiver hangs up after it
        head = answer.partition(b"\r\n\r\n")[0]
        assert head.startswith(b"HTTP/1.1 401 ")
        assert b"\r\nConnection: close" in head
        assert r.stats.requests == 0
