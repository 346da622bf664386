"""When `agentreel serve` drains, and how much one transaction takes.

A drain pays fixed costs whatever it takes, so serve drains when many spans came, when
the senders paused, or one interval after the last drain, in transactions of a bounded
size, and lets a process waiting for the store in between two of them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentreel._spool import SpoolPaths
from agentreel.store import Store, _markers, _serve
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
