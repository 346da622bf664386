"""The tracer never breaks the agent: spool faults drop spans, count them, warn once, recover.

This machine runs the tests as root, so chmod cannot make a directory unwritable.
The faults are injected instead at the operating-system calls the spool's write path
makes (`os.open`, the file's `write` or a journal's `os.write`, `os.replace`), only for
paths inside the test's spool, so the real segment code runs up to the failing call; or
by removing the spool directory, or putting a file where it was.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel.store import Store
from tests.conftest import spool_records


def _inside(path: Any, root: Path) -> bool:
    try:
        return Path(os.fsdecode(path)).resolve().is_relative_to(root.resolve())
    except (TypeError, ValueError):
        return False


class _FullDisk(io.FileIO):
    """A real file whose writes fail as a full disk's do."""

    def write(self, b: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@contextmanager
def _fault(kind: str, spool: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make every segment write under `spool` fail the way `kind` says, for the block."""
    with monkeypatch.context() as m:
        if kind == "disk full on write":
            real_fdopen = os.fdopen

            def fdopen(fd: int, *a: Any, **k: Any) -> Any:
                if _inside(os.readlink(f"/proc/self/fd/{fd}"), spool):
                    return _FullDisk(fd, "wb", closefd=True)
                return real_fdopen(fd, *a, **k)

            m.setattr(os, "fdopen", fdopen)
            real_write = os.write

            def write(fd: int, data: Any) -> int:  # a journal's appends (writing through)
                if _inside(os.readlink(f"/proc/self/fd/{fd}"), spool):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                return real_write(fd, data)

            m.setattr(os, "write", write)
        elif kind == "read-only on create":
            real_open = os.open

            def open_(path: Any, flags: int, *a: Any, **k: Any) -> int:
                if _inside(path, spool) and flags & os.O_CREAT:
                    raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))
                return real_open(path, flags, *a, **k)

            m.setattr(os, "open", open_)
        elif kind == "i/o error on rename":
            real_replace = os.replace

            def replace(src: Any, dst: Any, *a: Any, **k: Any) -> None:
                if _inside(dst, spool):
                    raise OSError(errno.EIO, os.strerror(errno.EIO), os.fsdecode(dst))
                real_replace(src, dst, *a, **k)

            m.setattr(os, "replace", replace)
        else:
            raise AssertionError(kind)
        yield


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "agentreel" and r.levelno == logging.WARNING
    ]


@pytest.fixture(params=["batch", "each"])
def recorder(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[agentreel.Recorder]:
    """A recorder under a BatchSpanProcessor (flush every second) or writing through."""
    if request.param == "each":
        monkeypatch.setenv("AGENTREEL_FLUSH", "each")
    else:
        monkeypatch.delenv("AGENTREEL_FLUSH", raising=False)
    rec = agentreel.init(tmp_path / "store", tracer_provider=TracerProvider())
    yield rec
    agentreel.shutdown()


@agentreel.tool
def _step(i: int) -> int:
    return i * 2


def _finished_inputs(store: Path) -> list[int]:
    agentreel.flush()
    return [int(r["input"].split(":")[1].rstrip("}")) for r in spool_records(store) if r["end_ns"]]


FAULTS = ["disk full on write", "read-only on create", "i/o error on rename"]


@pytest.mark.parametrize("kind", FAULTS)
def test_a_spool_fault_drops_and_counts_spans_warns_once_and_recording_resumes(
    kind: str,
    recorder: agentreel.Recorder,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="agentreel")
    spool = recorder.paths.dir
    assert _step(0) == 0
    agentreel.flush()
    with _fault(kind, spool, monkeypatch):
        # several failed batches (and, writing through, one failed write per span)
        for i in range(1, 7):
            assert _step(i) == 2 * i  # the agent runs on
            if i % 2 == 0:
                agentreel.flush()
        # an agent span open across a tick: its start record fails too
        with agentreel.span("open agent", kind="agent"):
            recorder.open_spans.tick()
        agentreel.flush()
        assert recorder.dropped == 7  # six tools and the agent span
        assert recorder.dropped_start_records == 1
        assert len(_warnings(caplog)) == 1, _warnings(caplog)
        assert "spans are being dropped" in _warnings(caplog)[0]
    # the disk works again: recording resumes with no gap after the fault
    for i in range(7, 10):
        assert _step(i) == 2 * i
    assert _finished_inputs(recorder.path) == [0, 7, 8, 9]
    assert recorder.dropped == 7
    # nothing half-written was left behind
    assert not [p.name for p in spool.iterdir() if p.name.startswith(".")]
    # a second outage is a new warning
    with _fault(kind, spool, monkeypatch):
        _step(10)
        agentreel.flush()
    assert recorder.dropped == 8
    assert len(_warnings(caplog)) == 2


def test_a_removed_spool_directory_is_made_again_and_nothing_is_lost(
    recorder: agentreel.Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="agentreel")
    _step(0)
    agentreel.flush()
    shutil.rmtree(recorder.path)  # e.g. someone cleans up the store while the agent runs
    # an idle agent's heartbeat comes back by itself, so its run does not read as interrupted
    recorder.open_spans.tick()
    assert (recorder.paths.live / recorder.process_id).is_file()
    shutil.rmtree(recorder.path)
    for i in range(1, 4):
        assert _step(i) == 2 * i
    assert _finished_inputs(recorder.path) == [1, 2, 3]
    assert recorder.dropped == 0
    assert _warnings(caplog) == []
    # the process's description and heartbeat come back too, so a drain can read the spans
    assert (recorder.paths.processes / f"{recorder.process_id}.json").is_file()
    recorder.open_spans.tick()
    assert (recorder.paths.live / recorder.process_id).is_file()
    with Store.open(recorder.path) as store:
        assert store.ingest().spans == 3
        service = recorder.provider.resource.attributes["service.name"]
        assert store.runs()["service_name"].to_list() == [service] * 3
        assert store.sql("SELECT process_id FROM processes")["process_id"].to_list() == [
            recorder.process_id
        ]


def test_a_file_where_the_spool_was_drops_then_resumes_when_it_is_gone(
    recorder: agentreel.Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="agentreel")
    spool = recorder.paths.dir
    shutil.rmtree(spool)
    spool.write_text("not a directory")  # making it again fails too
    for i in range(3):
        assert _step(i) == 2 * i
        agentreel.flush()
    assert recorder.dropped == 3
    assert len(_warnings(caplog)) == 1
    spool.unlink()  # the next write makes the spool again
    _step(3)
    assert _finished_inputs(recorder.path) == [3]
    assert recorder.dropped == 3


def test_spans_pushed_out_of_a_full_queue_are_counted_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """More spans end before a flush than the batch queue holds: the oldest are dropped.

    The queue is made small (50, and so the batch) and the exporter held, so that 200
    calls end while it can take one batch at most; every span OpenTelemetry pushes out
    is counted in `dropped`, with one agentreel warning, and every other one reaches
    the spool once the exporter is let go.
    """
    import threading

    from agentreel.tracer import _recorder
    from agentreel.tracer._exporter import SpoolExporter

    caplog.set_level(logging.WARNING, logger="agentreel")
    monkeypatch.delenv("AGENTREEL_FLUSH", raising=False)
    monkeypatch.setattr(_recorder, "QUEUE_SIZE", 50)
    held = threading.Event()
    real_export = SpoolExporter.export

    def slow_export(self: SpoolExporter, spans: Any) -> Any:
        held.wait(30)
        return real_export(self, spans)

    monkeypatch.setattr(SpoolExporter, "export", slow_export)
    store = tmp_path / "store"
    rec = agentreel.init(store, tracer_provider=TracerProvider(), flush_interval=60)
    try:
        for i in range(200):
            assert _step(i) == 2 * i  # the agent runs on
        lost = rec.dropped
        assert lost >= 100  # 200, less one batch held by the exporter and a full queue
        held.set()
        kept = _finished_inputs(store)
        # every span is either in the spool or counted; a span may be counted that the
        # worker took out (to export) between the count and OpenTelemetry's own append,
        # and the held exporter lets the worker take one batch only: one span at most
        assert 200 - len(kept) <= lost <= 200 - len(kept) + 1
        assert kept[-50:] == list(range(150, 200))  # the oldest were pushed out, not the newest
        assert rec.dropped == lost
        warnings = _warnings(caplog)
        assert len(warnings) == 1, warnings
        assert "the oldest are being dropped" in warnings[0]
    finally:
        held.set()
        agentreel.shutdown()
