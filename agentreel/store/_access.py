"""Store access between processes: who waits for whom, who drains, who gives way.

DuckDB lets one process at a time hold the store file, and that process blocks
every other open. Every agentreel process that opens a store says why, with a
`Purpose`, and this module applies the rules for it (docs/architecture.md,
"Sharing the store"); the marker files they read and write are
`agentreel.store._markers`.

| purpose | who | waits for the file | drains |
|---|---|---|---|
| ``read`` | a command that reads (``runs``, ``show``, ``check``) | 5 s | first, unless a keeper drains; read-only for a store it cannot write |
| ``write`` | a command that writes (``gc``, ``evaluate``, ``demo``) | 5 s | first, unless a keeper drains |
| ``ingest`` | a command that drains it all itself (``ingest``, ``import``) | 5 s | no (its caller does, giving way when a keeper shares the store) |
| ``tui`` | the TUI's short reads | 2 s | no (its `Keeper` does) |
| ``drain`` | a keeper's turn (the TUI's drain worker, ``serve``) | never | no (its caller does, with a budget) |

Example::

    with Store.open(".agentreel", purpose="read") as store:
        store.access.left  # segments still pending (another process drains them)
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import duckdb

from agentreel._errors import AgentreelError, StoreBusy
from agentreel._spool import SpoolPaths
from agentreel.store._attach import DB_NAME, Handle, held_by_this_thread, holders
from agentreel.store._ingest import IngestReport, drain
from agentreel.store._markers import (
    SpoolStatus,
    keep_draining,
    readers_waiting,
    spool_status,
    stop_draining,
    waiting_for,
)

if TYPE_CHECKING:
    from agentreel.store._store import Store

__all__ = ["Access", "Keeper", "Purpose", "connect", "open_failed", "open_for"]

Purpose = Literal["read", "write", "ingest", "tui", "drain"]

#: Seconds an open of each purpose retries while another process holds the file.
WAIT_S: dict[Purpose, float] = {"read": 5.0, "write": 5.0, "ingest": 5.0, "tui": 2.0, "drain": 0.0}
#: Seconds a reading command drains for while processes are recording.
LIVE_DRAIN_BUDGET_S = 0.3
#: Seconds a reading command waits (not holding the store) for a keeper to drain what is pending.
DRAINER_WAIT_S = 2.0
#: Seconds a keeper's drain (the TUI's) drains per turn at most.
KEEPER_BUDGET_S = 2.0
#: How long `give_way` waits for the waiting process to get in, and then to get back.
GIVE_WAY_HANDOVER_S = 0.5
GIVE_WAY_WAIT_S = 10.0
#: Seconds per step of `Store.ingest(give_way=True)` (the steps go on until the spool is empty).
SHARED_DRAIN_STEP_S = 1.0


@dataclass(frozen=True)
class Access:
    """How a store was opened, and what the open did for its purpose (`Store.access`)."""

    purpose: Purpose | None = None
    #: what the open drained (None when it drained nothing: a keeper drains, or read-only)
    drained: IngestReport | None = None
    #: segments left pending worth saying: processes record, a keeper drains, or the
    #: store is read-only for this user (0 otherwise: the open drained them all)
    left: int = 0
    #: processes recording when the store was opened (fresh heartbeats)
    live: frozenset[str] = field(default_factory=frozenset)
    #: a keeper (the TUI, ``serve``) keeps the store drained: another process, or this
    #: one when it opened to ``drain``
    kept_drained: bool = False


def read_only_for_me(root: Path) -> bool:
    """Whether this user may read the store at `root` but not write it.

    A store shared read-only (another user's, a mounted copy) is still read: an open
    to ``read`` opens it read-only instead of failing.
    """
    db = root / DB_NAME
    return db.is_file() and not (os.access(db, os.W_OK) and os.access(root, os.W_OK))


def open_for(
    cls: type[Store],
    root: Path,
    purpose: Purpose,
    *,
    read_only: bool,
    create: bool,
    wait: float | None,
) -> Store:
    """Open the store at `root` for `purpose`, by its rules (the module's table)."""
    if purpose not in WAIT_S:
        raise AgentreelError(
            f"purpose {purpose!r} is not one of {', '.join(WAIT_S)} (see Store.open)"
        )
    wait = WAIT_S[purpose] if wait is None else wait
    paths = SpoolPaths(root)
    if purpose == "drain":
        # A keeper never waits: a drain that waited would leave a waiting marker, and a
        # long reader would hand the store over to it between its queries.
        keep_draining(paths)
        store = cls._open(root, read_only=False, create=create, wait=0.0)
        store.access = Access(purpose, kept_drained=True)
        return store
    if purpose == "tui" or read_only:
        store = cls._open(root, read_only=read_only, create=create, wait=wait)
        store.access = Access(purpose)
        return store
    status = spool_status(root)
    if purpose == "ingest":
        store = cls._open(root, read_only=False, create=create, wait=wait)
        store.access = Access(purpose, live=status.live_processes, kept_drained=status.draining)
        return store
    if purpose == "read" and not create and read_only_for_me(root):
        store = cls._open(root, read_only=True, create=False, wait=wait)
        store.access = Access(purpose, left=len(paths.pending()), live=status.live_processes)
        return store
    return _open_fresh(cls, root, purpose, status, create=create, wait=wait)


def _open_fresh(
    cls: type[Store],
    root: Path,
    purpose: Purpose,
    status: SpoolStatus,
    *,
    create: bool,
    wait: float,
) -> Store:
    """A command's open: the spool drained first, so what it shows is current.

    While a keeper (the TUI, ``serve``) keeps the store drained, the command leaves the
    drain to it: when nothing records, it waits up to `DRAINER_WAIT_S` for the spool to
    empty before it opens (two processes draining one backlog would each keep the other
    waiting). Otherwise it drains: everything when nothing records, and for at most
    `LIVE_DRAIN_BUDGET_S` while processes record, since a backlog still growing would
    keep it from ever answering.
    """
    live = status.live_processes
    if status.draining and not live and status.pending_segments:
        deadline = time.monotonic() + DRAINER_WAIT_S
        while status.draining and status.pending_segments and time.monotonic() < deadline:
            time.sleep(0.05)
            status = spool_status(root)
    store = cls._open(root, read_only=False, create=create, wait=wait)
    try:
        drained = None
        if not status.draining:
            drained = store.ingest(budget=LIVE_DRAIN_BUDGET_S if live else None)
        left = len(store.paths.pending()) if live or status.draining else 0
    except BaseException:
        store.close()
        raise
    store.access = Access(purpose, drained, left, live, status.draining)
    return store


def ingest_for(
    store: Store,
    *,
    limit: int | None,
    budget: float | None,
    give_way: bool,
    progress: Callable[[int], None] | None,
) -> IngestReport:
    """`Store.ingest`'s drain: a budgeted drain stops early for a waiting process, and
    one that gives way takes everything in steps that let a waiting process in."""
    if give_way and budget is None:
        return _drain_sharing(store, limit, progress)
    waiting = (lambda: readers_waiting(store.paths)) if budget is not None else None
    return drain(
        store._con, store.paths, limit=limit, budget=budget, give_way=waiting, progress=progress
    )


def _drain_sharing(
    store: Store, limit: int | None, progress: Callable[[int], None] | None
) -> IngestReport:
    # what is pending now, not what processes that start meanwhile add
    pending = len(store.paths.pending())
    limit = pending if limit is None else min(limit, pending)
    report = IngestReport()
    while True:
        step = drain(
            store._con,
            store.paths,
            limit=limit - report.segments - len(report.rejected),
            budget=SHARED_DRAIN_STEP_S,
            give_way=lambda: readers_waiting(store.paths),
            progress=progress,
        )
        report.add(step)
        taken = step.segments + len(step.rejected)
        if not taken or report.segments + len(report.rejected) >= limit:
            return report
        store.give_way()


def give_way(store: Store, wait: float) -> bool:
    """`Store.give_way`: let a waiting process in, then take the store back."""
    if not readers_waiting(store.paths):
        return False
    store._release()
    deadline = time.monotonic() + GIVE_WAY_HANDOVER_S
    while readers_waiting(store.paths) and time.monotonic() < deadline:
        time.sleep(0.01)
    store._reconnect(wait)
    return True


class Keeper:
    """One process's turns at keeping the store drained (the TUI's drain worker).

    Call `turn` over and over (every second or so, at once while a backlog remains).
    It marks the store as kept drained, so commands that read leave the draining to
    it; it opens the store only when a segment waits or the set of recording
    processes changed (a process that stopped may leave runs to mark interrupted),
    never while another process waits to open it, and never waits for the file
    itself. `stop` takes the mark back when the process stops keeping the store; a
    turn after it (a worker thread the quitting process did not wait for) does nothing,
    so the mark is never put back.
    """

    def __init__(self, root: Path, *, budget: float = KEEPER_BUDGET_S) -> None:
        self.root = root
        self.paths = SpoolPaths(root)
        self.budget = budget
        self._live: frozenset[str] | None = None
        self._stopped = False
        self._mark_lock = threading.Lock()

    def turn(self) -> IngestReport | None:
        """One bounded drain; None when the store was not opened (nothing to do, a
        process waits for it, or another process holds it, or the keeper stopped)."""
        from agentreel.store._store import Store

        with self._mark_lock:  # a stop between the test and the mark would be undone
            if self._stopped:
                return None
            keep_draining(self.paths)
        status = spool_status(self.root)
        if not status.pending_segments and status.live_processes == self._live:
            return None
        if status.readers_waiting:
            return None  # a command or check is waiting for the file: it goes first
        try:
            store = Store.open(self.root, purpose="drain")
        except StoreBusy:
            self._unmark_if_stopped()
            return None  # another process has the file; the next turn tries again
        with store:
            if self._unmark_if_stopped():
                return None
            report = store.ingest(budget=self.budget)
        self._live = status.live_processes
        return report

    def _unmark_if_stopped(self) -> bool:
        """Whether `stop` came while the store was being opened, whose open marked it
        again; if so that mark is taken back too (it must not outlive a viewer that quit)."""
        with self._mark_lock:
            if self._stopped:
                stop_draining(self.paths)
            return self._stopped

    def stop(self) -> None:
        """Take back this process's mark: commands drain for themselves again."""
        with self._mark_lock:
            self._stopped = True
            stop_draining(self.paths)


def _take_turn(db: Path, deadline: float) -> None:
    """Before opening the file, let a process that already waits for it in first.

    Threads of one process share the file while any of them has it open, so a
    process waiting for it (a command while the TUI drains and reads) would
    otherwise wait for as long as new reads keep joining, and an open that came
    later could take the file the moment it is let go. So an open that may wait
    first waits, until `deadline` at most, for this process's other threads to let
    go and for the waiting process to get in (0.5 s at most); then it takes its
    own turn. A thread that already has the file open joins at once (it would
    wait for itself).
    """
    paths = SpoolPaths(db.parent)
    if held_by_this_thread(db) or not readers_waiting(paths, other_processes=True):
        return
    while holders(db):
        if time.monotonic() >= deadline:
            return  # held for longer than this open may wait: join
        time.sleep(0.01)
    handover = min(deadline, time.monotonic() + GIVE_WAY_HANDOVER_S)
    while readers_waiting(paths, other_processes=True) and time.monotonic() < handover:
        time.sleep(0.01)


def connect(db: Path, read_only: bool, wait: float) -> Handle:
    """A handle on the file `db`, retrying for `wait` seconds while another process has it.

    While it retries it says so (`waiting_for`), so a budgeted drain lets go early.
    Raises `duckdb.IOException` when the file is still held after `wait`.
    """
    deadline = time.monotonic() + wait
    if wait > 0:
        _take_turn(db, deadline)
    try:
        return Handle(db, read_only)
    except duckdb.IOException as e:
        if "lock" not in str(e).lower() or wait <= 0:
            raise
    delay = 0.01
    with waiting_for(SpoolPaths(db.parent)) as still_waiting:
        while True:
            time.sleep(delay)
            still_waiting()
            try:
                return Handle(db, read_only)
            except duckdb.IOException as e:
                if "lock" not in str(e).lower() or time.monotonic() + delay > deadline:
                    raise
            delay = min(delay * 2, 0.1)


def open_failed(db: Path, e: duckdb.IOException) -> AgentreelError:
    """The error to raise for a failed open: `StoreBusy` (naming the holder) for the lock."""
    if "lock" in str(e).lower():
        holder = re.search(r"PID (\d+)", str(e))
        who = f" (process {holder.group(1)})" if holder else ""
        return StoreBusy(f"the store at {db} is open in another process{who}; close it or retry")
    return AgentreelError(f"cannot open the store at {db}: {e}")
