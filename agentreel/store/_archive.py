"""The spool archive kept small: drained segments are compressed once they have settled.

A drained segment is renamed into ``spool/archive/`` right after its commit (the
drain never waits on compression). Later drains compress the archived segments
that are older than `SETTLE_S`, a few at a time within a small budget, to
``NAME.gz``: a quarter of the JSON or less (505 to 122 bytes a span on the demo's
spans). `agentreel rebuild` decompresses them back into the spool; `agentreel gc`
deletes them like the others.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import time
from pathlib import Path

from agentreel._spool import SEGMENT_SUFFIX, SpoolPaths

__all__ = ["GZ", "compress_archived", "restore", "segment_name"]

GZ = ".gz"
#: Seconds an archived segment rests before it is compressed (a rebuild or a reader
#: that just listed the archive does not race a file that is being replaced).
SETTLE_S = 5.0
#: Seconds of compression one drain may spend at most.
BUDGET_S = 0.2


def segment_name(archived: str) -> str:
    """The segment's own name for an archived file's name (``.gz`` dropped)."""
    return archived[: -len(GZ)] if archived.endswith(GZ) else archived


def compress_archived(
    paths: SpoolPaths, *, settle_s: float = SETTLE_S, budget_s: float = BUDGET_S
) -> int:
    """Compress archived segments older than `settle_s`, within `budget_s`; returns how many."""
    start = time.monotonic()
    try:
        entries = sorted(
            (e for e in os.scandir(paths.archive) if e.name.endswith(SEGMENT_SUFFIX)),
            key=lambda e: e.name,
        )
    except FileNotFoundError:
        return 0
    done = 0
    for e in entries:
        if time.monotonic() - start > budget_s:
            break
        tmp: Path | None = None
        try:
            if time.time() - e.stat().st_mtime < settle_s:
                continue
            src = Path(e.path)
            tmp = src.with_name(src.name + GZ + ".tmp")
            with open(src, "rb") as f, gzip.open(tmp, "wb", compresslevel=6) as g:
                shutil.copyfileobj(f, g)
            os.chmod(tmp, 0o600)
            os.replace(tmp, src.with_name(src.name + GZ))
            src.unlink()
            done += 1
        except OSError:  # gone meanwhile (a gc, a rebuild) or no room: try again later
            if tmp is not None:
                with contextlib.suppress(OSError):
                    tmp.unlink()
    return done


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
