"""The marker files by which processes sharing one store tell each other what they do.

They live in the spool, beside the segments, and are read without opening the
DuckDB file, so any process may ask them as often as it likes:

- ``spool/live/<process id>``: a recording process's heartbeat (touched every
  tick); a process whose heartbeat is older than `HEARTBEAT_STALE_S` is gone and
  its open runs are interrupted.
- ``spool/waiting/<pid>-<token>``: a process waiting to open the store
  (`waiting_for`); renewed while it waits, ignored and removed once stale.
- ``spool/draining``: the pid of a process that keeps the store drained (the TUI,
  ``agentreel serve``: `keep_draining`), so commands leave the draining to it.

What the processes do with what they read here is `agentreel.store._access`'s
business (docs/architecture.md, "Sharing the store").
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from agentreel._spool import SpoolPaths

__all__ = [
    "SpoolStatus",
    "keep_draining",
    "kept_draining",
    "live_processes",
    "readers_waiting",
    "spool_status",
    "stop_draining",
    "waiting_for",
]

#: A process whose heartbeat is older than this is gone; its open runs are interrupted.
HEARTBEAT_STALE_S = 15.0
#: A waiting marker not renewed for this long was left by a process that died while it waited.
WAITING_STALE_S = 5.0
#: A process that keeps the store drained (the TUI, `serve`) marks it at least this often...
DRAINING_FRESH_S = 5.0
#: ...and while that process lives, its mark holds this long: a drainer starved of CPU
#: by the processes it drains for may go longer between marks.
DRAINING_ALIVE_S = 60.0


def live_processes(paths: SpoolPaths, stale_after: float = HEARTBEAT_STALE_S) -> list[str]:
    """Ids of recording processes whose heartbeat is fresh."""
    now = time.time()
    try:
        return [e.name for e in os.scandir(paths.live) if now - e.stat().st_mtime < stale_after]
    except FileNotFoundError:
        return []


@dataclass(frozen=True)
class SpoolStatus:
    """What waits in a store's spool, read without opening the DuckDB file."""

    pending_segments: int
    live_processes: frozenset[str]
    readers_waiting: bool
    #: a viewer or server is keeping the store drained (`keep_draining`)
    draining: bool


def spool_status(path: str | os.PathLike[str]) -> SpoolStatus:
    """The spool of the store at `path`: segments not yet drained, processes recording
    (fresh heartbeats), and whether a process is waiting to open the store.

    It only lists directories, so a viewer can ask it often and open the store only
    when there is something to drain.
    """
    paths = SpoolPaths(path)
    return SpoolStatus(
        len(paths.pending()),
        frozenset(live_processes(paths)),
        readers_waiting(paths),
        kept_draining(paths),
    )


def keep_draining(paths: SpoolPaths) -> None:
    """Say that this process drains the store and will go on (call it every few seconds).

    A command that reads while processes record leaves the draining to it instead of
    holding the store for a drain of its own. The mark holds for 5 s, or for 60 s
    while this process lives; `stop_draining` takes it back.
    """
    with contextlib.suppress(OSError):
        fd = os.open(paths.draining, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)


def stop_draining(paths: SpoolPaths) -> None:
    """Take back this process's `keep_draining` mark (one made by another process stays)."""
    if _drainer(paths) == os.getpid():
        with contextlib.suppress(OSError):
            paths.draining.unlink()


def _drainer(paths: SpoolPaths) -> int | None:
    """The pid `keep_draining` wrote, if the mark is there and readable."""
    try:
        return int(paths.draining.read_text()[:20])
    except (OSError, ValueError):
        return None


def kept_draining(paths: SpoolPaths) -> bool:
    try:
        age = time.time() - paths.draining.stat().st_mtime
    except OSError:
        return False
    if age < DRAINING_FRESH_S:
        return True
    pid = _drainer(paths) if age < DRAINING_ALIVE_S else None
    return pid is not None and _alive(pid)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    except OSError:
        return False
    return True


def readers_waiting(paths: SpoolPaths, *, other_processes: bool = False) -> bool:
    """Whether a process is waiting to open the store (see `waiting_for`).

    With `other_processes`, the waits of this process's own threads do not count.
    A waiting process renews its marker every 0.1 s or so; one not renewed for 5 s
    was left by a process that died while it waited, and is removed.
    """
    now = time.time()
    found = False
    try:
        entries = list(os.scandir(paths.waiting))
    except FileNotFoundError:
        return False
    for e in entries:
        if other_processes and e.name in _my_markers:
            continue
        try:
            fresh = now - e.stat().st_mtime < WAITING_STALE_S
        except FileNotFoundError:
            continue
        if fresh:
            found = True
        else:
            with contextlib.suppress(OSError):
                os.unlink(e.path)
    return found


# Names of the waiting markers this process's threads have made (and not yet removed).
_my_markers: set[str] = set()
os.register_at_fork(after_in_child=_my_markers.clear)


@contextlib.contextmanager
def waiting_for(paths: SpoolPaths) -> Iterator[Callable[[], None]]:
    """Say, for as long as the block runs, that this process waits to open the store.

    A drain with a budget (the TUI's, a command's while agents record) asks
    `readers_waiting` between transactions and lets go of the store early, so a
    command or a check never waits behind a long drain. The block gets a function
    to call every so often while it waits (at least every 5 s), which renews the marker.
    """
    marker = paths.waiting / f"{os.getpid()}-{secrets.token_hex(4)}"
    _my_markers.add(marker.name)
    try:
        paths.waiting.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(marker, os.O_WRONLY | os.O_CREAT, 0o600))
    except OSError:
        pass  # a store directory this process cannot write: it only waits longer

    def still_waiting() -> None:
        with contextlib.suppress(OSError):
            os.utime(marker)

    try:
        yield still_waiting
    finally:
        _my_markers.discard(marker.name)
        with contextlib.suppress(OSError):
            os.unlink(marker)
