"""When `agentreel serve` drains, and how much one transaction takes.

A drain pays fixed costs whatever it takes, so serve drains when many spans came, when
the senders paused, or one interval after the last drain, in transactions of a bounded
size, and lets a process waiting for the store in between two of them.
"""

from __future__ import annotations

import http.client
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agentreel._spool import SpoolPaths
from agentreel.store import IngestReport, Store, _markers, _serve, serve
from agentreel.store._otlp_json import decode_json
from agentreel.store._serve import DRAIN_SPANS, QUIET_S, _drain_once, _Pace
from agentreel.store._spooler import Spooler
from tests.store._otlp_bodies import otlp_json_request


def _spool(paths: SpoolPaths, segments: int, spans: int = 20) -> None:
    spooler = Spooler(paths)
    for t in range(1, segments + 1):
        spooler.write(decode_json(otlp_json_request(t, spans)))


def test_a_drain_is_due_when_many_spans_came_when_they_stop_or_after_the_interval(
    tmp_path: Path,
) -> None:
    paths = SpoolPaths(tmp_path)
    paths.create()
    pace = _Pace(interval=1.0)
    t = pace.last_drain
    # spans keep coming, fewer than DRAIN_SPANS: not yet
    for i in range(1, 10):
        assert not pace.due(t + i * 0.05, i * 100, paths)
    # the senders pause: what came is drained
    assert pace.due(t + 0.46 + QUIET_S, 900, paths)
    pace.drained(t + 0.6, 900, True, paths)
    # a flood: due at once
    assert not pace.due(t + 0.61, 900 + DRAIN_SPANS - 1, paths)
    assert pace.due(t + 0.62, 900 + DRAIN_SPANS, paths)
    pace.drained(t + 0.62, 900 + DRAIN_SPANS, True, paths)
    # nothing new: once an interval has passed (for what other writers spooled)
    assert not pace.due(t + 1.5, 900 + DRAIN_SPANS, paths)
    assert pace.due(t + 1.63, 900 + DRAIN_SPANS, paths)


def test_after_giving_way_the_next_drain_waits_for_the_waiting_process(tmp_path: Path) -> None:
    paths = SpoolPaths(tmp_path)
    paths.create()
    pace = _Pace(interval=1.0)
    with _markers.waiting_for(paths):
        pace.drained(pace.last_drain, 0, True, paths)  # stopped for the waiting process
        now = pace.last_drain
        assert pace.backlog
        assert not pace.due(now, 10 * DRAIN_SPANS, paths)
    # it got in (its marker is gone): the backlog is taken at once
    assert pace.due(now, 10 * DRAIN_SPANS, paths)
    with _markers.waiting_for(paths):
        pace.drained(pace.last_drain, 0, True, paths)
        # still waiting after the handover time: the drain goes on
        assert pace.due(pace.not_before + 0.01, 0, paths)


def test_a_drain_takes_transactions_of_bounded_size_and_every_span_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = SpoolPaths(tmp_path)
    _spool(paths, 6)
    size = paths.pending()[0].stat().st_size
    monkeypatch.setattr(_serve, "TXN_BYTES", 2 * size + 1)  # two segments a transaction
    report = _drain_once(tmp_path, paths)
    assert report is not None
    assert (report.segments, report.spans) == (6, 120)
    assert not paths.pending()
    with Store.open(tmp_path) as s:
        txns, n, distinct = s.sql(
            "SELECT count(DISTINCT ingest_id), count(*), count(DISTINCT (trace_id, span_id)) "
            "FROM spans"
        ).row(0)
    assert (txns, n, distinct) == (3, 120, 120)


def test_a_drain_stops_between_transactions_for_a_waiting_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = SpoolPaths(tmp_path)
    _spool(paths, 4)
    monkeypatch.setattr(_serve, "TXN_BYTES", 1)  # one segment a transaction
    with _markers.waiting_for(paths):
        report = _drain_once(tmp_path, paths)
    assert report is not None
    assert report.segments == 1
    assert len(paths.pending()) == 3
    report = _drain_once(tmp_path, paths)  # nobody waits: the rest
    assert report is not None
    assert report.segments == 3
    assert not paths.pending()


def _post_one_span_requests(port: int, traces: range) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for t in traces:
            conn.request(
                "POST",
                "/v1/traces",
                body=otlp_json_request(t, 1),
                headers={"Content-Type": "application/json"},
            )
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200
    finally:
        conn.close()


def test_one_span_requests_reach_the_store_in_a_segment_per_drain_each_span_once(
    tmp_path: Path,
) -> None:
    """serve appends every request's spans to one journal and seals it before each drain:
    300 one-span requests leave a segment per drain, not 300 files."""
    stop = threading.Event()
    ready: queue.Queue[int] = queue.Queue()
    reports: list[IngestReport] = []
    cond = threading.Condition()

    def on_ingest(report: IngestReport) -> None:
        with cond:
            reports.append(report)
            cond.notify_all()

    t = threading.Thread(
        target=serve,
        args=(tmp_path,),
        kwargs={
            "port": 0,
            "interval": 0.2,
            "on_ready": lambda r: ready.put(r.port),
            "on_ingest": on_ingest,
            "stop": stop,
        },
    )
    t.start()
    try:
        _post_one_span_requests(ready.get(timeout=30), range(1, 301))
        with cond:
            assert cond.wait_for(lambda: sum(r.spans for r in reports) >= 300, timeout=60)
    finally:
        stop.set()
        t.join(30)
    assert not t.is_alive()
    assert sum(r.spans for r in reports) == 300
    # sealed once before each drain, not a file per request
    assert max(r.segments for r in reports) == 1
    assert sum(r.segments for r in reports) < 300 / 2
    paths = SpoolPaths(tmp_path)
    assert not paths.journals()
    assert not paths.pending()
    with Store.open(tmp_path) as s:
        assert s.sql("SELECT count(DISTINCT span_id) AS n FROM spans")["n"][0] == 300


def test_spans_serve_answered_before_it_was_killed_reach_the_store(tmp_path: Path) -> None:
    """An answered request is on disk: serve killed with SIGKILL right after answering
    leaves its journal unsealed, and the next drain seals and reads it."""
    code = (  # no drain is due before the kill: not after a pause, a count or a time
        "import sys; from agentreel.store import _serve, serve\n"
        "_serve.QUIET_S = _serve.DRAIN_SPANS = 10**9\n"
        "serve(sys.argv[1], port=0, interval=3600, drain_process=False,"
        " on_ready=lambda r: print(r.port, flush=True))\n"
    )
    p = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stdout is not None
        _post_one_span_requests(int(p.stdout.readline()), range(1, 51))
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(30)
    paths = SpoolPaths(tmp_path)
    assert len(paths.journals()) == 1  # nothing sealed: no drain was due
    with Store.open(tmp_path) as s:
        assert s.ingest().spans == 50
        assert s.sql("SELECT count(DISTINCT span_id) AS n FROM spans")["n"][0] == 50
    assert not paths.journals()
