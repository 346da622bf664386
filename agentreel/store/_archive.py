"""The spool archive kept small: drained segments are compressed once they have settled.

A drained segment is renamed into ``spool/archive/`` right after its commit (the
drain never waits on compression), and its name is appended to the list
``spool/.to-compress``. Later drains compress the listed segments that have
rested `SETTLE_S` since they were archived, to ``NAME.gz`` (gzip level 3: a
quarter of the JSON or less, 505 to about 125 bytes a span on the demo's spans, at
about 300 MB/s, a quarter of the drain's own time), within a budget of their own:
`BUDGET_S`, or `SHARE` of the drain that archived them if more, so compression
keeps up with any pace of draining. Reading the list, not listing the archive,
keeps the cost of a drain independent of the archive's size. A name the list
lost (a drain killed between the rename and the append) is found again by the
full sweep `agentreel gc` makes. `agentreel rebuild` decompresses archived
segments back into the spool; `agentreel gc` deletes them with their runs.

Small segments (a one-span OTLP request, a tracer flushing each span) are read by the
drain through one joined file (store/_segments.py); that file is archived as a
*bundle* in their place, named ``{first}-bundle-{last}-{id}.jsonl`` by the first and
last of its members' times, and the members are deleted. So a drain of 100,000 such
segments compresses a few files, not 100,000 (a file smaller than a disk block saves
nothing compressed). A bundle is a segment like any other to a rebuild; `gc` takes
its last time as its time, and the ``segments`` rows of its members by their range.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from agentreel._spool import SEGMENT_SUFFIX, SpoolPaths

__all__ = [
    "GZ",
    "SEGMENT_ROWS_SQL",
    "bundle_name",
    "compress_archived",
    "name_time",
    "note_archived",
    "restore",
    "segment_name",
    "segment_rows",
    "segment_time",
]

GZ = ".gz"
#: Seconds an archived segment rests before it is compressed (a rebuild or a reader
#: that just listed the archive does not race a file that is being replaced).
SETTLE_S = 5.0
#: Seconds of compression one drain may spend at least...
BUDGET_S = 0.2
#: ...or this share of the drain's own time, if more.
SHARE = 0.5
#: gzip's level: 3 compresses JSON spans about twice as fast as 6, to a size 10-20 % larger.
LEVEL = 3
#: Segments compressed at once: a drain of millions of spans leaves gigabytes to compress,
#: and one thread of gzip used one core while the other waited.
WORKERS = 2
JOURNAL = ".to-compress"


def segment_name(archived: str) -> str:
    """The segment's own name for an archived file's name (``.gz`` dropped)."""
    return archived[: -len(GZ)] if archived.endswith(GZ) else archived


_BUNDLE = "-bundle-"


def name_time(name: str) -> int | None:
    """The time (ns) a segment's name starts with: when it was written; None if none."""
    head = name.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def bundle_name(members: Iterable[str], tag: str) -> str:
    """The archive name of a bundle of the segments `members` (`tag` makes it unique)."""
    times = [t for t in map(name_time, members) if t is not None] or [time.time_ns()]
    return f"{min(times):020d}{_BUNDLE}{max(times):020d}-{tag}{SEGMENT_SUFFIX}"


def _bundle_range(name: str) -> tuple[int, int] | None:
    """(first, last) member time of a bundle's (archived) name; None for a segment."""
    head, sep, rest = segment_name(name).partition(_BUNDLE)
    last = rest.split("-", 1)[0]
    if not sep or not head.isdigit() or not last.isdigit():
        return None
    return int(head), int(last)


def segment_time(name: str) -> int | None:
    """When an archived file's spans were written, at the latest known: a segment's
    time (the start of its name), a bundle's last member's; None if not named so."""
    span = _bundle_range(name)
    return span[1] if span is not None else name_time(name)


#: A condition on ``segments.name`` for the rows of archived files: ``$n`` the
#: segments' names, ``$lo``/``$hi`` the ranges of the bundles' members (see
#: `segment_rows`), ``$pending`` names still waiting in the spool, which keep theirs.
SEGMENT_ROWS_SQL = (
    "(list_contains($n::VARCHAR[], name) OR EXISTS (SELECT 1 FROM "
    "(SELECT unnest($lo::VARCHAR[]) AS lo, unnest($hi::VARCHAR[]) AS hi) r "
    "WHERE name >= r.lo AND name < r.hi)) AND NOT list_contains($pending::VARCHAR[], name)"
)


def segment_rows(archived: Iterable[str], pending: Iterable[str]) -> dict[str, list[str]]:
    """The parameters of `SEGMENT_ROWS_SQL` for the archived files `archived`."""
    names: list[str] = []
    lo: list[str] = []
    hi: list[str] = []
    for a in archived:
        span = _bundle_range(a)
        if span is None:
            names.append(segment_name(a))
        else:
            lo.append(f"{span[0]:020d}")
            hi.append(f"{span[1] + 1:020d}")
    return {"n": names, "lo": lo, "hi": hi, "pending": list(pending)}


def note_archived(paths: SpoolPaths, names: Iterable[str]) -> None:
    """Add the segments just archived to the list of those to compress."""
    data = "".join(f"{n}\n" for n in names).encode()
    if not data:
        return
    with contextlib.suppress(OSError):  # a lost name waits for gc's sweep
        fd = os.open(paths.dir / JOURNAL, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


def _listed(paths: SpoolPaths) -> list[str]:
    try:
        text = (paths.dir / JOURNAL).read_text()
    except (OSError, UnicodeDecodeError):
        return []
    return [n for n in dict.fromkeys(text.split("\n")) if n.endswith(SEGMENT_SUFFIX)]


def _keep_listed(paths: SpoolPaths, names: list[str]) -> None:
    target = paths.dir / JOURNAL
    if not names:
        with contextlib.suppress(OSError):
            target.unlink()
        return
    tmp = target.with_name(JOURNAL + ".tmp")
    with contextlib.suppress(OSError):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, "".join(f"{n}\n" for n in names).encode())
        finally:
            os.close(fd)
        os.replace(tmp, target)


def compress_archived(
    paths: SpoolPaths,
    *,
    settle_s: float | None = None,
    budget_s: float | None = None,
    sweep: bool = False,
) -> int:
    """Compress the listed archived segments that have settled, within a budget;
    returns how many. With `sweep`, every uncompressed segment in the archive is a
    candidate (the list may have lost a name), not only the listed ones.

    The settled segments are compressed by `WORKERS` threads at once (zlib lets go of
    the GIL while it deflates), each starting a segment only while the budget lasts.
    Call it only while holding the store (the list has one writer at a time).
    """
    settle = SETTLE_S if settle_s is None else settle_s
    budget = BUDGET_S if budget_s is None else budget_s
    start = time.monotonic()
    names = _listed(paths)
    if sweep:
        try:
            found = sorted(
                e.name for e in os.scandir(paths.archive) if e.name.endswith(SEGMENT_SUFFIX)
            )
        except FileNotFoundError:
            found = []
        names = list(dict.fromkeys([*names, *found]))
    if not names:
        return 0
    settled: list[str] = []
    young: list[str] = []
    unread: list[str] = []
    now = time.time()
    for i, name in enumerate(names):
        try:
            # settled since it was renamed into the archive (the rename sets ctime;
            # mtime is the segment's writing, which may be long before)
            if now - os.stat(paths.archive / name).st_ctime < settle:
                young = names[i:]  # the list is in the order of archiving: the rest is younger
                break
        except FileNotFoundError:  # gone meanwhile (a gc, a rebuild): nothing to do
            continue
        except OSError:
            unread.append(name)  # tried again by the next drain
            continue
        settled.append(name)

    def one(name: str) -> str:
        if time.monotonic() - start > budget:
            return "left"
        return _compress(paths.archive / name)

    if len(settled) > 1 and WORKERS > 1:
        with ThreadPoolExecutor(WORKERS, thread_name_prefix="agentreel-compress") as pool:
            outcomes = list(pool.map(one, settled))
    else:
        outcomes = [one(n) for n in settled]
    left = [n for n, o in zip(settled, outcomes, strict=True) if o == "left"]
    _keep_listed(paths, unread + left + young)
    return outcomes.count("done")


def _compress(src: Path) -> str:
    """Compress one archived segment in place: "done", "gone", or "left" (try again later)."""
    tmp = src.with_name(src.name + GZ + ".tmp")
    try:
        with open(src, "rb") as f, gzip.open(tmp, "wb", compresslevel=LEVEL) as g:
            shutil.copyfileobj(f, g, 1 << 20)
        os.chmod(tmp, 0o600)
        os.replace(tmp, src.with_name(src.name + GZ))
        src.unlink()
    except FileNotFoundError:  # gone meanwhile (a gc, a rebuild): nothing to do
        with contextlib.suppress(OSError):
            tmp.unlink()
        return "gone"
    except OSError:  # no room, say: try again later
        with contextlib.suppress(OSError):
            tmp.unlink()
        return "left"
    return "done"


def restore(archived: Path, into: Path) -> Path:
    """Put an archived segment back, uncompressed, into the directory `into`."""
    dest = into / segment_name(archived.name)
    if not archived.name.endswith(GZ):
        os.replace(archived, dest)
        return dest
    tmp = dest.with_name(dest.name + ".tmp")
    with gzip.open(archived, "rb") as g, open(tmp, "wb") as f:
        shutil.copyfileobj(g, f)
    os.chmod(tmp, 0o600)
    os.replace(tmp, dest)
    archived.unlink()
    return dest
