"""`agentreel serve`'s drain in a process of its own (store/_drain_worker.py).

The worker drains when asked and answers with the drain's report or its failure; it
survives a failed drain and a Ctrl-C sent to the process group, is started again after
it died, and ends with serve, taking its draining mark back.
"""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentreel._spool import SpoolPaths
from agentreel.store import Receiver, Store
from agentreel.store._drain_worker import DrainFailed, DrainProcess
from agentreel.store._otlp_json import decode_json
from agentreel.store._serve import serve
from agentreel.store._spooler import Spooler
from tests.store._otlp_bodies import otlp_json_request


def _spool(paths: SpoolPaths, first: int, traces: int, spans: int = 3) -> None:
    spooler = Spooler(paths)
    for t in range(first, first + traces):
        spooler.write(decode_json(otlp_json_request(t, spans)))


def _spans(store_dir: Path) -> int:
    with Store.open(store_dir) as s:
        return int(s.sql("SELECT count(*) AS n FROM spans")["n"][0])


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60  # a guard against a hang, not a measure
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    Store.open(tmp_path / "store", create=True).close()
    return tmp_path / "store"


@pytest.fixture
def worker(store_dir: Path) -> Iterator[DrainProcess]:
    """A worker for `store_dir`, not started (its first drain starts it), closed after."""
    w = DrainProcess(store_dir)
    yield w
    w.close()


def test_the_worker_drains_when_asked_and_reports_what_it_did(
    store_dir: Path, worker: DrainProcess
) -> None:
    paths = SpoolPaths(store_dir)
    assert worker.drain() is None  # nothing waits
    _spool(paths, 1, 4)
    report = worker.drain()
    assert report is not None
    assert (report.segments, report.spans, report.duplicates) == (4, 12, 0)
    assert report.seconds > 0
    assert not paths.pending()
    _spool(paths, 1, 2)  # sent again: kept once
    again = worker.drain()
    assert again is not None
    assert (again.spans, again.duplicates) == (0, 6)
    assert _spans(store_dir) == 12


def test_a_failed_drain_is_reported_and_the_worker_goes_on(
    store_dir: Path, worker: DrainProcess
) -> None:
    paths = SpoolPaths(store_dir)
    db = store_dir / "agentreel.duckdb"
    good = db.read_bytes()
    _spool(paths, 1, 2)
    db.write_bytes(b"not a database" * 100)
    with pytest.raises(DrainFailed) as failed:
        worker.drain()
    assert str(failed.value).strip()  # the worker's own message
    assert len(paths.pending()) == 2  # nothing lost
    db.write_bytes(good)
    report = worker.drain()
    assert report is not None
    assert report.spans == 6


def test_a_worker_that_died_is_reported_then_started_again(
    store_dir: Path, worker: DrainProcess
) -> None:
    paths = SpoolPaths(store_dir)
    worker.start()
    first = worker._proc
    assert first is not None
    first.kill()
    first.wait()
    _spool(paths, 1, 3)
    with pytest.raises(DrainFailed, match="ended"):
        worker.drain()
    report = worker.drain()  # a new worker
    assert report is not None
    assert report.spans == 9
    assert worker._proc is not None
    assert worker._proc.pid != first.pid


def test_the_worker_ignores_a_ctrl_c_meant_for_serve(store_dir: Path, worker: DrainProcess) -> None:
    paths = SpoolPaths(store_dir)
    assert worker.drain() is None  # started, its handler in place
    assert worker._proc is not None
    os.kill(worker._proc.pid, signal.SIGINT)
    _spool(paths, 1, 1)
    report = worker.drain()
    assert report is not None
    assert report.spans == 3


def test_serve_drains_in_a_process_of_its_own_which_ends_with_it(store_dir: Path) -> None:
    paths = SpoolPaths(store_dir)
    ready: list[Receiver] = []
    ingested: list[int] = []
    stop = threading.Event()

    def run() -> None:
        serve(
            store_dir,
            port=0,
            interval=0.05,
            on_ready=ready.append,
            on_ingest=lambda r: ingested.append(r.spans),
            stop=stop,
        )

    server = threading.Thread(target=run, name="serve", daemon=True)
    server.start()
    try:
        _wait_for(lambda: bool(ready), "the server listens")
        conn = http.client.HTTPConnection("127.0.0.1", ready[0].port, timeout=30)
        conn.request(
            "POST",
            "/v1/traces",
            body=otlp_json_request(7, 5),
            headers={"Content-Type": "application/json"},
        )
        assert conn.getresponse().status == 200
        conn.close()
        _wait_for(lambda: sum(ingested) == 5, "the spans are drained")
        # the drain that took them ran in another process: its mark names that process
        drainer = int(paths.draining.read_text())
        assert drainer != os.getpid()
        os.kill(drainer, 0)  # alive while serve runs
    finally:
        stop.set()
        server.join(60)
    assert not server.is_alive()
    _wait_for(lambda: not _alive(drainer), "the worker has ended")
    assert not paths.draining.exists()
    assert _spans(store_dir) == 5


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a child not yet reaped is a zombie: ended
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def test_without_a_process_to_start_the_drain_runs_here(
    store_dir: Path,
    worker: DrainProcess,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    paths = SpoolPaths(store_dir)
    monkeypatch.setattr("sys.executable", str(store_dir / "no-such-python"))
    _spool(paths, 1, 2)
    with caplog.at_level("WARNING", logger="agentreel"):
        report = worker.drain()
        again = worker.drain()
    assert report is not None
    assert report.spans == 6
    assert again is None
    assert worker.in_process
    said = [r.getMessage() for r in caplog.records if "cannot start a process" in r.getMessage()]
    assert len(said) == 1


def test_the_worker_imports_this_agentreel_not_another_copy_on_its_path(
    store_dir: Path, worker: DrainProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """serve may run an agentreel imported from a checkout while another copy is the one
    the interpreter finds first: the worker must run serve's."""
    decoy = tmp_path / "decoy" / "agentreel"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('the wrong agentreel')\n")
    monkeypatch.setenv("PYTHONPATH", str(decoy.parent))
    monkeypatch.chdir(tmp_path)  # not from the checkout, which `-c` would put first
    paths = SpoolPaths(store_dir)
    _spool(paths, 1, 2)
    report = worker.drain()
    assert report is not None
    assert report.spans == 6
