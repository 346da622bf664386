"""`agentreel serve` outlives a disk that fills during a drain, and resumes by itself.

The disk is not really filled: the failure is injected where a full disk shows
itself, the drain's commit (DuckDB failing to write its WAL), the checkpoint when
the drain lets go of the store (DuckDB's DETACH), and the receiver's spool write
(``ENOSPC``). While the faults last the server keeps answering; once they are gone
what was received reaches the store, each span once.
"""

from __future__ import annotations

import errno
import http.client
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from agentreel._spool import SpoolPaths
from agentreel.store import IngestReport, Receiver, Store, _access, _attach
from agentreel.store._serve import serve

NO_SPACE = 'Could not write file "agentreel.duckdb.wal": No space left on device'


class Disk:
    """The injected faults: a full disk for the drain, and for the spool."""

    def __init__(self) -> None:
        self.store_full = False
        self.spool_full = False
        self.failed_drains = 0


class _FullDiskHub:
    """The process's DuckDB hub, whose DETACH (a checkpoint) fails while the disk is full."""

    def __init__(self, con: duckdb.DuckDBPyConnection, disk: Disk) -> None:
        self.con = con
        self._disk = disk

    def execute(self, sql: str, *args: Any) -> Any:
        if self._disk.store_full and sql.startswith("DETACH"):
            self._disk.failed_drains += 1
            raise duckdb.IOException(NO_SPACE)
        return self.con.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.con, name)


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Disk]:
    d = Disk()
    if request.param == "commit":
        real_drain = _access.drain

        def drain(*args: Any, **kwargs: Any) -> IngestReport:
            if d.store_full:
                d.failed_drains += 1
                raise duckdb.IOException(NO_SPACE)
            return real_drain(*args, **kwargs)

        monkeypatch.setattr(_access, "drain", drain)
    else:
        real_get_hub = _attach._get_hub

        def get_hub() -> Any:
            hub = real_get_hub()
            if not isinstance(hub, _FullDiskHub):
                _attach._hub[0] = hub = _FullDiskHub(hub, d)  # type: ignore[assignment]
            return hub

        monkeypatch.setattr(_attach, "_get_hub", get_hub)
    yield d
    if _attach._hub and isinstance(_attach._hub[0], _FullDiskHub):
        _attach._hub[0] = _attach._hub[0].con


def _request(trace: int, spans: int) -> bytes:
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "scopeSpans": [
                        {
                            "spans": [
                                {
                                    "traceId": f"{trace:032x}",
                                    "spanId": f"{trace * 100 + i + 1:016x}",
                                    "name": f"step {i}",
                                    "startTimeUnixNano": "1700000000000000000",
                                    "endTimeUnixNano": "1700000001000000000",
                                }
                                for i in range(spans)
                            ]
                        }
                    ]
                }
            ]
        }
    ).encode()


def _post(port: int, body: bytes) -> tuple[int, str | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("Retry-After")
    finally:
        conn.close()


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60  # a guard against a hang, not a measure
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


@pytest.mark.parametrize("disk", ["commit", "checkpoint"], indirect=True)
def test_serve_keeps_answering_while_the_disk_is_full_and_drains_when_it_has_room(
    tmp_path: Path, disk: Disk, caplog: pytest.LogCaptureFixture
) -> None:
    store = tmp_path / "store"
    ready: list[Receiver] = []
    ingested: list[IngestReport] = []
    stop = threading.Event()
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(
                serve(
                    store,
                    port=0,
                    interval=0.05,
                    on_ready=ready.append,
                    on_ingest=ingested.append,
                    stop=stop,
                    # the faults are injected into this process's drain code; a drain in
                    # a process of its own is tested in tests/store/test_drain_worker.py
                    drain_process=False,
                )
            )
        except BaseException as e:  # the failure this test looks for
            outcome.append(e)

    caplog.set_level(logging.WARNING, logger="agentreel")
    server = threading.Thread(target=run, name="serve", daemon=True)
    server.start()
    try:
        _wait_for(lambda: bool(ready) or bool(outcome), "the server listens")
        assert not outcome, f"serve ended at start: {outcome}"
        receiver = ready[0]
        paths = SpoolPaths(store)

        disk.store_full = True  # the drain fails, the spool still takes what comes
        assert _post(receiver.port, _request(1, 3))[0] == 200
        _wait_for(lambda: disk.failed_drains >= 1 or bool(outcome), "a drain has failed")
        assert _post(receiver.port, _request(2, 2))[0] == 200
        assert not outcome, f"serve ended: {outcome}"
        assert server.is_alive()

        disk.spool_full = True  # now nothing can be written: 503, to be retried later
        spooler = receiver._server.spooler
        real_write = spooler.write

        def write(decoded: Any) -> Any:
            if disk.spool_full:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_write(decoded)

        spooler.write = write  # type: ignore[method-assign]
        status, retry_after = _post(receiver.port, _request(3, 4))
        assert (status, retry_after) == (503, "1")
        assert not outcome, f"serve ended: {outcome}"
        assert server.is_alive()

        disk.store_full = disk.spool_full = False  # room again: the exporter's retry lands
        assert _post(receiver.port, _request(3, 4))[0] == 200
        _wait_for(
            lambda: (
                bool(outcome)
                or (
                    any("works again" in r.getMessage() for r in caplog.records)
                    and not paths.pending()
                    and not paths.journals()
                )
            ),
            "the drain worked again and took everything",
        )
        assert not outcome, f"serve ended: {outcome}"
    finally:
        stop.set()
        server.join(60)
    assert len(outcome) == 1
    assert not isinstance(outcome[0], BaseException), outcome
    warnings = [r.getMessage() for r in caplog.records if "drain" in r.getMessage()]
    assert len(warnings) == 2, warnings  # one when it failed, one when it worked again
    assert "cannot drain into the store" in warnings[0]
    assert "No space left" in warnings[0]
    assert "works again" in warnings[1]
    with Store.open(store) as s:
        s.ingest()
        n, distinct = s.sql("SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans").row(
            0
        )
    assert n == distinct == 9
