"""``agentreel serve``: a `Receiver` plus a drain of the spool into the store every second.

The receiver's request threads only write spool segments; this loop, in the
serving thread, ingests them. It opens the store only while it drains (and skips
a tick while another process holds it), so other agentreel commands can read the
store while the server runs.

A drain that fails (a full disk failing the commit or the checkpoint, the store
file damaged) does not end the server: what was received stays in the spool, one
warning per outage goes to the ``agentreel`` logger, and the drain is tried again,
less often while it keeps failing (up to every `RETRY_MAX_S` seconds), until it
succeeds. Meanwhile the receiver goes on answering: 200 while it can write the
spool, 503 with ``Retry-After`` while it cannot (see `Receiver`).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from agentreel._errors import StoreBusy
from agentreel._spool import SpoolPaths
from agentreel.store._ingest import IngestReport, keep_draining, readers_waiting, stop_draining
from agentreel.store._receiver import (
    DEFAULT_HOST,
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_INFLIGHT,
    DEFAULT_PORT,
    Receiver,
    ReceiverStats,
)
from agentreel.store._store import Store

__all__ = ["serve"]


log = logging.getLogger("agentreel")

#: Seconds of draining per step at most: a waiting command or check makes it stop sooner.
DRAIN_BUDGET_S = 2.0
#: Longest wait between two tries of a drain that keeps failing.
RETRY_MAX_S = 30.0


class _Drainer:
    """Runs the drain each tick, and keeps the server up when a drain fails.

    After a failure the next try waits one interval, then twice as long each time
    (at most `RETRY_MAX_S`); the first success logs that the drain resumed.
    """

    def __init__(self, store_dir: Path, paths: SpoolPaths, interval: float) -> None:
        self.store_dir = store_dir
        self.paths = paths
        self.interval = interval
        self.failures = 0
        self._next_try = 0.0

    def tick(self, now: float) -> IngestReport | None:
        if now < self._next_try:
            return None
        try:
            report = _drain_once(self.store_dir, self.paths)
        except Exception as e:  # a drain never ends the server; what it would take waits
            self.failures += 1
            if self.failures == 1:
                log.warning(
                    "agentreel serve: cannot drain into the store at %s (%s); what is "
                    "received stays in the spool and the drain is tried again",
                    self.store_dir,
                    str(e).splitlines()[0] if str(e) else type(e).__name__,
                )
            backoff = min(self.interval * 2 ** (self.failures - 1), RETRY_MAX_S)
            self._next_try = now + backoff
            return None
        if self.failures:
            log.warning(
                "agentreel serve: the drain into %s works again after %d failed tries",
                self.store_dir,
                self.failures,
            )
            self.failures = 0
            self._next_try = 0.0
        return report


def _drain_once(store_dir: Path, paths: SpoolPaths) -> IngestReport | None:
    """Ingest what the receiver spooled; None when nothing waits or another process drains.

    The drain is bounded and gives way to a process waiting for the store; what is
    left is taken by the next steps, which follow at once while a backlog remains.
    """
    keep_draining(paths)
    if not paths.pending():
        return None
    report = IngestReport()
    try:
        with Store.open(store_dir, create=True) as store:
            while True:
                step = store.ingest(budget=DRAIN_BUDGET_S)
                report.add(step)
                if not step.segments or not paths.pending() or readers_waiting(paths):
                    break
                keep_draining(paths)
    except StoreBusy:  # another agentreel process holds the store and drains it
        return None
    return report


def serve(
    store_dir: str | os.PathLike[str],
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    max_inflight: int = DEFAULT_MAX_INFLIGHT,
    interval: float = 1.0,
    redact: bool | Callable[[str], str] = True,
    on_ready: Callable[[Receiver], None] | None = None,
    on_ingest: Callable[[IngestReport], None] | None = None,
    stop: threading.Event | None = None,
) -> ReceiverStats:
    """Receive OTLP/HTTP traces into the store at `store_dir` until SIGINT, SIGTERM or `stop`.

    Every `interval` seconds, what was received is drained into the store (which is
    opened only for that, and skipped while another process holds it). `redact`
    is the receiver's (see `Receiver`). Returns what was received.

    Example::

        serve(".agentreel", port=4318, on_ready=lambda r: print("listening on", r.url))
    """
    store = Path(store_dir)
    receiver = Receiver(
        store,
        host=host,
        port=port,
        token=token,
        max_body_bytes=max_body_bytes,
        max_inflight=max_inflight,
        redact=redact,
    )
    stop = stop if stop is not None else threading.Event()
    previous: dict[signal.Signals, Any] = {}

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, _on_signal)
    paths = SpoolPaths(store)
    try:
        receiver.start()
        if on_ready is not None:
            on_ready(receiver)
        drainer = _Drainer(store, paths, interval)
        while not stop.wait(interval):
            report = drainer.tick(time.monotonic())
            if report is not None and on_ingest is not None:
                on_ingest(report)
    finally:
        for sig, handler in previous.items():  # a second Ctrl-C during shutdown interrupts
            signal.signal(sig, handler)
        receiver.stop()
    try:
        report = _Drainer(store, paths, interval).tick(0.0)  # what came last; logged if it fails
    finally:
        stop_draining(paths)
    if report is not None and on_ingest is not None:
        on_ingest(report)
    return receiver.stats
