"""Telling a damaged store file from other failures, and saying the way out.

A DuckDB file cut short (a full disk, a copy interrupted) or overwritten fails in
DuckDB with errors that name bytes and checksums, at open or only when a query
reads the damaged part. Every store path turns them into `StoreCorrupt`, one
sentence naming the file and the command that rebuilds it from the spool archive.
"""

from __future__ import annotations

import re
from pathlib import Path

from agentreel._errors import StoreCorrupt
from agentreel._spool import SEGMENT_SUFFIX, SpoolPaths

__all__ = ["damaged", "is_damage"]

# What DuckDB 2.0 says of a file truncated or with bytes changed (tests/store/test_damaged.py).
_DAMAGE = re.compile(
    r"not a valid DuckDB database|Could not read enough bytes|Corrupt database file|"
    r"checksum|Serialization Error|deserializ",
    re.IGNORECASE,
)


def is_damage(e: BaseException) -> bool:
    """Whether DuckDB's error `e` says the store file itself is damaged."""
    return bool(_DAMAGE.search(str(e)))


def archived_segments(paths: SpoolPaths) -> list[Path]:
    """The drained segments kept in the spool archive, oldest first."""
    try:
        return sorted(
            p
            for p in paths.archive.iterdir()
            if p.name.endswith(SEGMENT_SUFFIX) or p.name.endswith(SEGMENT_SUFFIX + ".gz")
        )
    except OSError:
        return []


def damaged(db: Path, e: BaseException) -> StoreCorrupt:
    """The error to raise for DuckDB's error `e` about the store file `db`."""
    lines = str(e).strip().splitlines()
    first = lines[0] if lines else type(e).__name__
    paths = SpoolPaths(db.parent)
    n = len(archived_segments(paths)) + len(paths.pending())
    command = f"`agentreel rebuild --dir {db.parent}`"
    if n:
        way = (
            f"run {command} to set it aside and rebuild the store from the {n} segments "
            f"of its spool (archived and pending)"
        )
    else:
        way = (
            f"its spool archive is empty, so {command} sets it aside and starts an empty "
            f"store: the runs it held come back only from a backup of the file"
        )
    return StoreCorrupt(f"the store file {db} is damaged ({first}); {way}")
