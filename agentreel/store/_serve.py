"""``agentreel serve``: a `Receiver` plus a drain of the spool into the store.

The receiver's request threads only write to the spool: the spans of every request
are appended to one journal (`agentreel._journal`), which this loop, in the serving
thread, seals into a segment before each drain, so that one-span requests do not
leave a file each. It has the segments ingested by a worker process of its own
(`agentreel.store._drain_worker`) unless told to drain in this one. It opens the
store only while it drains (and skips a turn while another process holds it), so
other agentreel commands can read the store while the server runs.

Each drain pays costs of its own whatever it takes (opening the store, and per
transaction rebuilding the runs it touched, pricing, the commit), so under load
the loop drains seldom and much at a time: when `DRAIN_SPANS` spans have come in
since the last drain, when the senders have paused (`QUIET_S` without a new span),
or one `interval` after the last drain, whichever comes first. A drain takes
transactions of up to `TXN_BYTES` of segments, one after another while a backlog
remains, and stops between two of them when another process waits for the store;
the next drain then waits until that process got in (`HANDOVER_S` at most).

A drain that fails (a full disk failing the commit or the checkpoint, the store
file damaged) does not end the server: what was received stays in the spool, one
warning per outage goes to the ``agentreel`` logger, and the drain is tried again,
less often while it keeps failing (up to every `RETRY_MAX_S` seconds), until it
succeeds. Meanwhile the receiver goes on answering: 200 while it can write the
spool, 503 with ``Retry-After`` while it cannot (see `Receiver`).
"""

from __future__ import annotations

import contextlib
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
from agentreel.store._drain_worker import DrainProcess
from agentreel.store._ingest import IngestReport
from agentreel.store._markers import keep_draining, readers_waiting, stop_draining
from agentreel.store._receiver import DEFAULT_HOST, DEFAULT_MAX_BODY, DEFAULT_PORT, Receiver
from agentreel.store._receiver_conn import DEFAULT_MAX_INFLIGHT
from agentreel.store._receiver_stats import ReceiverStats
from agentreel.store._store import Store

__all__ = ["serve"]


log = logging.getLogger("agentreel")

#: Spans received since the last drain that start the next one at once. Under a
#: flood the first drain then starts early and runs beside the receiver, taking
#: what came meanwhile transaction after transaction, so what is left to drain when
#: the flood ends is about one transaction's worth, not the flood's.
DRAIN_SPANS = 20_000
#: Seconds without a new span after which what came is drained (the senders paused).
QUIET_S = 0.1
#: How often the loop looks at what came in.
POLL_S = 0.02
#: Segment bytes one transaction takes at most (about 50,000 OTLP spans of a few
#: attributes; a waiting command waits for one transaction at most).
TXN_BYTES = 32 * 1024 * 1024
#: After letting a waiting process in, how long the next drain waits for it to get in.
HANDOVER_S = 0.5
#: After finding the store held by another process, when the drain tries again.
BUSY_RETRY_S = 0.1
#: Longest wait between two tries of a drain that keeps failing.
RETRY_MAX_S = 30.0


class _Drainer:
    """Runs the drain each tick, and keeps the server up when a drain fails.

    After a failure the next try waits one interval, then twice as long each time
    (at most `RETRY_MAX_S`); the first success logs that the drain resumed.
    """

    def __init__(
        self,
        store_dir: Path,
        paths: SpoolPaths,
        interval: float,
        worker: DrainProcess | None = None,
    ) -> None:
        self.store_dir = store_dir
        self.paths = paths
        self.interval = interval
        self.worker = worker
        self.failures = 0
        self._next_try = 0.0

    def tick(self, now: float) -> IngestReport | None:
        if now < self._next_try:
            return None
        try:
            if self.worker is not None:
                report = self.worker.drain()
            else:
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


class _Sealer:
    """Hands what the receiver took to the drain before each drain.

    A spool that refuses the segment keeps the spans in the receiver's journal for the
    next try: one warning per outage, and one line when it works again.
    """

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.failing = False

    def __call__(self) -> None:
        try:
            self.receiver.seal()
        except OSError as e:
            if not self.failing:
                log.warning(
                    "agentreel serve: cannot hand what was received to the drain (%s); "
                    "it waits in the spool's journal and is tried again before each drain",
                    e.strerror or e,
                )
            self.failing = True
            return
        if self.failing:
            log.warning("agentreel serve: what was received reaches the drain again")
        self.failing = False


def _drain_once(store_dir: Path, paths: SpoolPaths) -> IngestReport | None:
    """Ingest what the receiver spooled; None when nothing waits or another process drains.

    Transactions of at most `TXN_BYTES` follow one another while a backlog remains,
    up to a process waiting for the store; what is left is taken by the next drain.
    """
    keep_draining(paths)
    pending = paths.pending()
    if not pending:
        return None
    report = IngestReport()
    try:
        with Store.open(store_dir, create=True, purpose="drain") as store:
            while pending:
                step = store.ingest(limit=_bite(pending))
                report.add(step)
                if not (step.segments or step.rejected) or readers_waiting(paths):
                    break
                keep_draining(paths)
                pending = paths.pending()
    except StoreBusy:  # another agentreel process holds the store and drains it
        return None
    return report


def _bite(pending: list[Path]) -> int:
    """How many of the `pending` segments (oldest first) make one transaction."""
    size = 0
    for n, p in enumerate(pending):
        with contextlib.suppress(OSError):
            size += p.stat().st_size
        if size > TXN_BYTES:
            return max(n, 1)
    return len(pending)


class _Pace:
    """When the next drain is due: enough spans came, the senders paused, time passed,
    or the last drain left a backlog (it gave way to a reader, or found the store busy).

    Fed the receiver's count of spans spooled so far at each look.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last_drain = time.monotonic()
        self.drained_at = 0  # the receiver's span count when the last drain began
        self.seen = 0  # the count at the last look, and since when it stands
        self.seen_at = self.last_drain
        self.backlog = False
        self.gave_way = False
        self.not_before = 0.0

    def due(self, now: float, received: int, paths: SpoolPaths) -> bool:
        if received != self.seen:
            self.seen, self.seen_at = received, now
        if now < self.not_before and (not self.gave_way or readers_waiting(paths)):
            return False  # the process let in has not got in yet, or the store was busy
        new = received - self.drained_at
        return (
            self.backlog
            or new >= DRAIN_SPANS
            or (new > 0 and now - self.seen_at >= QUIET_S)
            or now - self.last_drain >= self.interval
        )

    def drained(self, began: float, received: int, took: bool, paths: SpoolPaths) -> None:
        """A drain that began at `began`, when `received` spans had come, has ended;
        `took`: it had the store (else another process held it, or it failed)."""
        now = time.monotonic()
        self.last_drain = began
        self.drained_at = received
        self.gave_way = took and readers_waiting(paths)
        self.backlog = self.gave_way or (not took and bool(paths.pending()))
        # a process let in first gets its turn before the store is taken again; a
        # store held elsewhere (or a drain that failed) is tried again a little later
        self.not_before = (
            now + (HANDOVER_S if self.gave_way else BUSY_RETRY_S) if self.backlog else 0.0
        )


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
    drain_process: bool = True,
) -> ReceiverStats:
    """Receive OTLP/HTTP traces into the store at `store_dir` until SIGINT, SIGTERM or `stop`.

    What is received is drained into the store as it comes (see the module's docstring:
    many spans at a time under load, at least every `interval` seconds); the store is
    made before the receiver listens, then opened only to drain, and a drain is tried
    again shortly while another process holds it. The drain runs in a process of its own
    (`drain_process`), so that it and the receiver's decoding each have a core and a GIL;
    with `drain_process` false it runs in this one. `redact` is the receiver's (see
    `Receiver`). Returns what was received.

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
        journal=True,  # sealed before each drain: a few large segments, not one a request
    )
    stop = stop if stop is not None else threading.Event()
    previous: dict[signal.Signals, Any] = {}

    signalled: list[int] = []

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        # No stop.set() here: a handler runs in the main thread between two bytecodes,
        # maybe while stop.wait() below holds the event's lock, and setting the event
        # would then wait for that lock forever. The loop sees the note within POLL_S.
        signalled.append(signum)

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, _on_signal)
    paths = SpoolPaths(store)
    worker = DrainProcess(store) if drain_process else None
    try:
        # made (or migrated) now rather than at the first drain, which then only drains
        with contextlib.suppress(StoreBusy):  # another process has it: drains take turns
            Store.open(store, create=True, purpose="drain").close()
        if worker is not None:
            worker.start()  # its imports are done before the first drain is asked for
        seal = _Sealer(receiver)
        try:
            receiver.start()
            if on_ready is not None:
                on_ready(receiver)
            drainer = _Drainer(store, paths, interval, worker)
            pace = _Pace(interval)
            while not stop.wait(POLL_S) and not signalled:
                received = receiver.stats.spans + receiver.stats.contents
                began = time.monotonic()
                if not pace.due(began, received, paths):
                    continue
                seal()
                report = drainer.tick(began)
                pace.drained(began, received, report is not None, paths)
                if report is not None and on_ingest is not None:
                    on_ingest(report)
        finally:
            for sig, handler in previous.items():  # a second Ctrl-C during shutdown interrupts
                signal.signal(sig, handler)
            receiver.stop()
            seal()
        # what came last; logged if it fails
        report = _Drainer(store, paths, interval, worker).tick(0.0)
    finally:
        if worker is not None:
            worker.close()
        stop_draining(paths)
    if report is not None and on_ingest is not None:
        on_ingest(report)
    return receiver.stats
