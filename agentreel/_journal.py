"""Journals: a writer's segment kept open, appended a few records at a time, sealed whole.

A writer whose records come one or a few at a time (a tracer writing each span as it
ends, `agentreel serve` answering one-span OTLP requests) would otherwise leave a
file per span. Each file costs the writer a create and a rename, and the drain an
open, a read and an unlink: about 20 µs a file on a 2-core machine, against 5-8 µs a
span for everything else the drain does. A journal keeps one file open instead:

- `Journal.append` writes whole lines, one ``write`` each: once it returns the
  records are on disk exactly as a renamed segment's are (in the page cache: a crash
  of the writing process loses none of them);
- the file has a hidden name (``.<segment name>.journal``), which no drain lists;
- `Journal.seal` renames it to its segment name, where the drain takes it: the writer
  seals at its own pace (each tick, at a flush, at exit) and when it holds
  `JOURNAL_BYTES`;
- the writer holds an exclusive ``flock`` on the file from before its first record
  until it is sealed. The kernel lets go of the lock when the process ends, however
  it ends, so a drain that can take the lock knows the writer is gone and seals the
  journal itself (`seal_abandoned`), first cutting a last line a failed write left
  torn.

This module is shared by the tracer and the store; it imports neither.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
import weakref
from pathlib import Path

from agentreel._spool import JOURNAL_SUFFIX, SEGMENT_SUFFIX, SpoolPaths, new_segment_name

__all__ = ["JOURNAL_BYTES", "Journal", "seal_abandoned"]

#: A journal is sealed once it holds this many bytes: segments the drain reads in place.
JOURNAL_BYTES = 4 * 1024 * 1024

#: An empty journal no process holds, older than this, is removed by a drain: its
#: writer died between making it and taking its lock.
_EMPTY_STALE_S = 3600.0

_FILE_MODE = 0o600

_journals: weakref.WeakSet[Journal] = weakref.WeakSet()


def _forget_in_child() -> None:
    """A forked child writes journals of its own: the parent's stay the parent's."""
    for j in list(_journals):
        j._after_fork()


os.register_at_fork(after_in_child=_forget_in_child)


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class Journal:
    """One writer's open segment in the spool directory `dir_`; safe to share between threads.

    `writer_id` and `suffix` name the segments it seals, as `new_segment_name` does.

    Example::

        j = Journal(paths.dir, "a1b2c3d4e5f6a7b8")
        j.append(b'{"trace_id": ...}\\n', 1)
        j.seal()  # now a segment the drain takes
    """

    def __init__(
        self,
        dir_: Path,
        writer_id: str,
        *,
        suffix: str = SEGMENT_SUFFIX,
        max_bytes: int = JOURNAL_BYTES,
    ) -> None:
        self.dir = dir_
        self.writer_id = writer_id
        self.suffix = suffix
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._fd = -1
        self._name = ""  # the segment name it is sealed to
        self._size = 0
        self._records = 0
        _journals.add(self)

    @property
    def records(self) -> int:
        """Records appended and not yet sealed."""
        return self._records

    def _path(self) -> Path:
        return self.dir / f".{self._name}{JOURNAL_SUFFIX}"

    def _open(self) -> None:
        name = new_segment_name(self.writer_id).removesuffix(SEGMENT_SUFFIX) + self.suffix
        path = self.dir / f".{name}{JOURNAL_SUFFIX}"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, _FILE_MODE)
        try:
            # blocking: a drain looking at it holds the lock for a moment, then sees it
            # empty and leaves it
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
        self._fd, self._name, self._size, self._records = fd, name, 0, 0

    def append(self, data: bytes | bytearray, n: int) -> None:
        """Append `n` records, `data` being their lines, each ending in a line break.

        Raises OSError when the disk refuses them; the journal is then as it was before
        (or, if even that cannot be made so, left for a drain to cut and seal).
        """
        if not n:
            return
        with self._lock:
            if self._fd < 0:
                self._open()
            elif os.fstat(self._fd).st_nlink == 0:
                self._move()  # its file was removed (the spool with it): not into the void
            try:
                _write_all(self._fd, data)
            except OSError:
                try:
                    os.ftruncate(self._fd, self._size)
                except OSError:
                    self._close()  # left to a drain, which cuts the torn line when it seals it
                raise
            self._size += len(data)
            self._records += n
            if self._size >= self.max_bytes:
                # the records are written: a seal that fails now is tried again by the
                # writer's next `seal`, which says why
                with contextlib.suppress(OSError):
                    self._seal()

    def _move(self) -> None:
        """Carry the records of a journal whose file is gone over into a new one.

        Raises OSError (the journal as it was) when no new one can be made: the spool
        directory is gone too, say, until its writer makes it again.
        """
        data = os.pread(self._fd, self._size, 0)
        old_fd, size, records = self._fd, self._size, self._records
        self._open()
        try:
            _write_all(self._fd, data)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(self._path())
            os.close(self._fd)
            self._fd = old_fd
            self._size, self._records = size, records
            raise
        with contextlib.suppress(OSError):
            os.close(old_fd)
        self._size, self._records = size, records

    def seal(self) -> int:
        """Make what was appended a segment; returns the records sealed (0: none).

        Raises OSError when it cannot: FileNotFoundError while the spool directory is
        gone (made again, a second `seal` carries the records over from the open file),
        any other when the disk refuses the rename; `discard` then drops them.
        """
        with self._lock:
            return self._seal()

    def _seal(self) -> int:
        if self._fd < 0 or not self._records:
            return 0
        if os.fstat(self._fd).st_nlink == 0:
            self._move()  # the spool was removed (and made again): the records are in the open file
        os.replace(self._path(), self.dir / self._name)
        n = self._records
        self._close()
        return n

    def discard(self) -> int:
        """Drop the records not sealed (a spool that refuses them); returns how many."""
        with self._lock:
            n = self._records
            if self._fd >= 0:
                with contextlib.suppress(OSError):
                    os.unlink(self._path())
                self._close()
            return n

    def _close(self) -> None:
        fd, self._fd = self._fd, -1
        self._size = self._records = 0
        with contextlib.suppress(OSError):
            os.close(fd)  # lets go of the lock

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        if self._fd >= 0:
            # the parent's: closing this copy keeps the parent's lock (its own copy holds it)
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd, self._size, self._records = -1, 0, 0


def seal_abandoned(paths: SpoolPaths) -> int:
    """Seal the journals in the spool at `paths` whose writers are gone; returns how
    many were sealed.

    A journal whose lock can be taken has no writer: its process ended (the kernel
    let go of the lock) or gave it up. A last line without its line break (a write
    a full disk cut short) is cut off first; an empty journal is left alone (its
    writer may be about to lock it) unless it is old.
    """
    sealed = 0
    for path in paths.journals():
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            continue  # sealed meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its writer holds it
            st = os.fstat(fd)
            try:
                if os.stat(path).st_ino != st.st_ino:
                    continue  # sealed and another made under the name meanwhile
            except FileNotFoundError:
                continue  # sealed meanwhile
            size = _whole_lines(fd, st.st_size)
            if size == 0:
                if st.st_size or time.time() - st.st_mtime > _EMPTY_STALE_S:
                    os.unlink(path)
                continue
            if size != st.st_size:
                os.ftruncate(fd, size)
            os.replace(path, path.with_name(path.name[1 : -len(JOURNAL_SUFFIX)]))
            sealed += 1
        except OSError:
            continue
        finally:
            os.close(fd)
    return sealed


def _whole_lines(fd: int, size: int) -> int:
    """The length of the file's longest prefix of whole lines."""
    end = size
    while end > 0:
        start = max(0, end - 65536)
        chunk = os.pread(fd, end - start, start)
        i = chunk.rfind(b"\n")
        if i >= 0:
            return start + i + 1
        end = start
    return 0
