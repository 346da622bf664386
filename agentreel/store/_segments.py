"""The spool segments a drain reads: handed out a transaction at a time, read, archived.

`_Batcher` sizes each transaction's share of the pending segments (by count, bytes,
and the drain's pace); `_joined` reads many small segments as one file; `_source` is
the DuckDB reader of segments with the spool's record columns; `_find_unreadable`
names the segment behind a failed read; `_archive` moves committed segments into
``spool/archive/``. What the rows then do is `agentreel.store._ingest`'s.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb

from agentreel._spool import RECORD_FIELDS, SpoolPaths
from agentreel.store._archive import bundle_name, name_time, note_archived

#: Segments per transaction at most: one-span segments are drained 20,000 to a commit.
BATCH_FILES = 20_000


#: Bytes of segments per transaction at most (the first segment always goes): bounds the
#: memory a transaction holds before its commit and the work a crash repeats. A drain of
#: 5x10^6 spans in one transaction held 6 GB of JSON's rows uncommitted.
BATCH_BYTES = 256 * 1024 * 1024


#: The longest spool record (one span's line) a drain reads; a longer one sets its segment aside.
MAX_RECORD_BYTES = 64 * 1024 * 1024


_COLUMNS = "{" + ", ".join(f"'{k}': '{v}'" for k, v in RECORD_FIELDS.items()) + "}"


_BAD_FILE = re.compile(r'file "([^"]+)"|"([^"]+\.jsonl)"')


def _object_limit(files: list[str]) -> int:
    """The largest record `files` may hold: no record is longer than its file.

    DuckDB's JSON reader allocates buffers of twice this size for each file it reads
    at once, so a fixed 64 MiB cost a reading process some 250 MiB of memory its
    allocator then kept; segments are usually a few MiB.
    """
    try:
        largest = max(os.stat(f).st_size for f in files)
    except (OSError, ValueError):
        largest = MAX_RECORD_BYTES
    return min(MAX_RECORD_BYTES, max(largest + 1, 1 << 20))


def _source(files: list[str], columns: str = _COLUMNS, *, limit: int | None = None) -> str:
    return (
        f"read_json({files!r}, format = 'newline_delimited', columns = {columns}, "
        f"maximum_object_size = {limit if limit is not None else _object_limit(files)})"
    )


#: Segments smaller than this are read through one joined file per batch (see `_joined`).
JOIN_BELOW_BYTES = 1024 * 1024


#: A joined file holds at most this many bytes; a batch of more small segments makes several.
JOINED_BYTES = 64 * 1024 * 1024


#: Joined files are named so: `SpoolPaths.pending` never lists them (a dot first).
_JOINED_PREFIX = ".drain-"


#: A joined file older than this was left by a drain that was killed: the next one removes it.
_JOINED_STALE_S = 3600.0


#: The span of time one joined file's segments come from (see `_joined`).
BUNDLE_HOUR_NS = 3600 * 10**9


def _hour(name: str) -> int | None:
    """The clock hour a segment was written in, from its name (None if not named so)."""
    t = name_time(name)
    return t // BUNDLE_HOUR_NS if t is not None else None


#: A joined file kept to be archived as a bundle, with the segments it holds.
Bundle = tuple[Path, list[Path]]


@contextlib.contextmanager
def _joined(
    dir_: Path,
    files: list[Path],
    known: dict[Path, int] | None = None,
    keep: list[Bundle] | None = None,
) -> Iterator[tuple[list[str], int]]:
    """The files to read for `files`, with the record-size limit that fits them.

    DuckDB's JSON reader pays about a millisecond for each file it opens, more than
    the parse of a small segment (a one-span OTLP request, a tracer flushing each
    span): 2,000 one-span segments took 1.4-3.1 s to read one by one and 25 ms
    copied into one file first. So segments under `JOIN_BELOW_BYTES` are copied, in
    order, into joined files in the spool directory (removed when the block ends),
    and larger ones are read where they are. Order is kept, so the first record read
    is still the first one written (store/_dedupe.py). The limit is that of the
    largest segment, not of the joined file: no record is longer than its segment.

    With `keep`, the joined files of two or more segments are not removed when the
    block ends without an error: each is added to `keep` with its segments, for
    `_archive` to archive in their place once the transaction commits. A joined file
    holds segments written in one clock hour (`BUNDLE_HOUR_NS`), so that `gc`, which
    deletes an archived file only when all of it is older than what it keeps, keeps at
    most an hour's more of them than it would of the segments one by one.
    """
    known = known or {}
    sizes = [known[p] if p in known else _size(p) for p in files]  # sizes the batcher read
    limit = min(MAX_RECORD_BYTES, max(max(sizes, default=0) + 1, 1 << 20))
    small = [p for p, n in zip(files, sizes, strict=True) if n < JOIN_BELOW_BYTES]
    if len(small) < 2:
        yield [str(p) for p in files], limit
        return
    made: list[Bundle] = []
    read: list[str] = []
    out = None
    handed = False
    file_hour: int | None = None
    prefix = f"{os.fspath(dir_)}/{_JOINED_PREFIX}{os.getpid()}-"
    try:
        written = 0
        for p, n in zip(files, sizes, strict=True):
            if n >= JOIN_BELOW_BYTES:
                read.append(str(p))
                if out is not None:
                    out.close()
                out = None  # a later small one starts a new file: order is kept
                continue
            try:
                with open(p, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                continue  # taken meanwhile: as if read alone and found gone
            hour = _hour(p.name)
            if out is None or written + len(data) > JOINED_BYTES or hour != file_hour:
                if out is not None:
                    out.close()
                target = Path(f"{prefix}{secrets.token_hex(4)}.jsonl")
                # owner-only, as every spool file: it may be archived as a bundle
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                out = os.fdopen(fd, "wb")
                made.append((target, []))
                read.append(str(target))
                written = 0
                file_hour = hour
            out.write(data)
            if data and not data.endswith(b"\n"):
                out.write(b"\n")
            written += len(data) + 1
            made[-1][1].append(p)
        if out is not None:
            out.close()
            out = None
        yield read, limit
        if keep is not None:
            keep += [m for m in made if len(m[1]) > 1]
            handed = True
    finally:
        if out is not None:
            out.close()
        for m, members in made:
            if not (handed and len(members) > 1):
                with contextlib.suppress(OSError):
                    m.unlink()


def _gone(pid: str) -> bool:
    """Whether the process `pid` (from a joined file's name) is no longer running."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (ValueError, OSError):  # not a number, or another user's live process
        return False
    return False


def _remove_stale_joined(dir_: Path) -> None:
    """Joined files a killed drain left: its process is gone, or the file is old."""
    now = time.time()
    try:
        for e in os.scandir(dir_):
            if not e.name.startswith(_JOINED_PREFIX):
                continue
            pid = e.name[len(_JOINED_PREFIX) :].split("-", 1)[0]
            if _gone(pid) or now - e.stat().st_mtime > _JOINED_STALE_S:
                with contextlib.suppress(OSError):
                    os.unlink(e.path)
    except OSError:
        pass


#: Errors that come from what a segment holds (not from the store): the segment is set aside.
_DATA_ERRORS = (
    duckdb.InvalidInputException,
    duckdb.ConversionException,
    duckdb.OutOfRangeException,
    duckdb.TypeMismatchException,
    duckdb.IOException,
)


def _find_unreadable(
    con: duckdb.DuckDBPyConnection, files: list[Path], error: str
) -> list[tuple[Path, str]]:
    """The files behind a failed bulk read: the one the error names, else each one tried alone."""
    m = _BAD_FILE.search(error)
    named = [p for p in files if m and str(p) in (m.group(1), m.group(2))]
    if named:
        return [(named[0], error)]
    bad = []
    for p in files:
        try:
            con.execute(f"SELECT count(*) FROM {_source([str(p)])}").fetchall()
        except duckdb.Error as e:
            bad.append((p, str(e)))
    return bad


class _Batcher:
    """Hands out the pending segments a transaction at a time, sized to the drain's pace.

    Without a budget a transaction takes `BATCH_FILES` segments or `BATCH_BYTES` of
    them, whichever comes first (few commits, bounded memory). With one, it takes about `TXN_SECONDS` (or a quarter of the
    budget, if less) worth of bytes at the pace the previous transaction went,
    measured in wall time: a drain on a machine the recording processes keep busy
    takes smaller bites, still stops near its budget, and lets a waiting reader in
    within about one transaction. A transaction holds at least one segment. When
    nothing is recording (`busy` false: a backlog left to catch up on), bites are
    sized to `IDLE_TXN_SECONDS` with no cap: fewer, bigger commits.
    """

    TXN_SECONDS = 0.25
    IDLE_TXN_SECONDS = 1.0
    FIRST_BYTES = 1024 * 1024
    MIN_BYTES = 256 * 1024
    #: A bite grows at most this much from one transaction to the next, and is never
    #: bigger than `MAX_BYTES`: the pace of one quick transaction on a machine whose
    #: load comes and goes says little about the next.
    GROWTH = 2.0
    MAX_BYTES = 4 * 1024 * 1024

    def __init__(self, pending: list[Path], budget: float | None, *, busy: bool = True) -> None:
        self.queue = deque(pending)
        #: sizes of the segments handed out, read once (the joined read uses them too)
        self.sizes: dict[Path, int] = {}
        self.budget = budget
        self.busy = busy
        self.target = self.FIRST_BYTES
        self._singles = 0  # segments to hand out one per transaction

    def __bool__(self) -> bool:
        return bool(self.queue)

    def one_by_one(self, segments: list[Path]) -> None:
        """Hand `segments` out again first, a transaction each (to find a bad one)."""
        self.queue.extendleft(reversed(segments))
        self._singles = len(segments)

    def take(self) -> list[Path]:
        if self._singles:
            self._singles -= 1
            return [self.queue.popleft()]
        batch: list[Path] = []
        size = 0
        cap = BATCH_BYTES if self.budget is None else min(self.target, BATCH_BYTES)
        while self.queue and len(batch) < BATCH_FILES:
            n = self.sizes[self.queue[0]] = _size(self.queue[0])
            if batch and size + n > cap:
                break
            size += n
            batch.append(self.queue.popleft())
        return batch

    def paced(self, nbytes: int, seconds: float) -> None:
        """The last transaction took `seconds` for `nbytes`: size the next one to suit."""
        if self.budget is not None and nbytes and seconds > 0:
            bite = self.TXN_SECONDS if self.busy else self.IDLE_TXN_SECONDS
            want = nbytes / seconds * min(max(self.budget, 0.05) / 4, bite)
            if self.busy:
                want = min(want, max(nbytes, self.target) * self.GROWTH, self.MAX_BYTES)
            self.target = int(max(want, self.MIN_BYTES))


def _drop(bundles: list[Bundle]) -> None:
    """Remove the joined files of a transaction that did not commit."""
    for joined, _ in bundles:
        with contextlib.suppress(OSError):
            joined.unlink()
    bundles.clear()


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0


def _archive(segments: list[Path], paths: SpoolPaths, bundles: Sequence[Bundle] = ()) -> None:
    """Move drained segments into the archive and note them for compression; the
    segments of each of `bundles` are archived as that joined file (a bundle) instead.

    A bundle is moved in before its segments are deleted: a drain killed in between
    leaves them pending and already recorded, so the next drain archives them again
    one by one (a rebuild reads their spans twice and keeps them once), and no span
    is ever missing from the archive.
    """
    moved = []
    archive = os.fspath(paths.archive)
    bundled: set[Path] = set()
    for joined, members in bundles:
        name = bundle_name((m.name for m in members), secrets.token_hex(4))
        try:
            os.replace(joined, f"{archive}/{name}")
        except OSError:  # left in the spool directory: the next drain removes it
            continue
        moved.append(name)
        for m in members:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(m)
        bundled.update(members)
    for p in segments:
        if p in bundled:
            continue
        name = p.name
        with contextlib.suppress(FileNotFoundError):
            os.replace(p, f"{archive}/{name}")  # no Path built: 20,000 a drain cost 0.3 s
            moved.append(name)
    note_archived(paths, moved)
