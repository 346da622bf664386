"""Writing a Parquet dataset's files safely, for its two writers (store/_parquet_write.py).

One writer at a time holds the lock file (``.agentreel-parquet.lock``); new files are
written by COPY into a work directory, one per table and day, then `_commit` moves
them in, replaces the manifest in one rename, and only then deletes the files it no
longer lists. So a reader sees the dataset before or after, never between.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from agentreel._errors import AgentreelError
from agentreel.store._parquet import (
    MANIFEST,
    TABLES,
    Manifest,
    is_remote,
    read_manifest,
)

__all__: list[str] = []

_FILE_MODE = 0o600
_DIR_MODE = 0o700
_LOCK = ".agentreel-parquet.lock"
#: The day each table is partitioned by (processes have no day: one directory).
_DAY = {
    "spans": "start_time",
    "runs": "start_time",
    "evaluation_records": "created_at",
    "processes": None,
}


def _quote(p: Path | str) -> str:
    return "'" + str(p).replace("'", "''") + "'"


@contextlib.contextmanager
def _locked(d: Path) -> Iterator[None]:
    """The dataset's writer lock, held for the block; another writer fails at once."""
    fd = os.open(d / _LOCK, os.O_RDWR | os.O_CREAT, _FILE_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AgentreelError(
                f"another export or compaction is writing the Parquet dataset at {d}; "
                "wait for it to finish"
            ) from None
        yield
    finally:
        os.close(fd)


def _local_dir(directory: str | os.PathLike[str]) -> Path:
    s = os.fspath(directory)
    if is_remote(s) or s.startswith(("s3:/", "gs:/", "r2:/", "s3a:/")):
        raise AgentreelError(
            f"cannot write {s}: datasets are written to a local directory; copy it to object "
            f"storage afterwards, {MANIFEST} last (docs/scaling.md)"
        )
    return Path(s)


def _start(d: Path) -> Manifest | None:
    """The manifest of the dataset at `d`; None when `d` is new or empty."""
    if (d / MANIFEST).is_file():
        return read_manifest(None, str(d))
    if d.exists() and (not d.is_dir() or any(p.name != _LOCK for p in d.iterdir())):
        raise AgentreelError(
            f"cannot export to {d}: it exists and is neither an empty directory nor a "
            f"Parquet dataset (it has no {MANIFEST})"
        )
    return None


def _write_manifest(d: Path, manifest: Manifest) -> None:
    tmp = d / f".{MANIFEST}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(manifest.as_json())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, d / MANIFEST)


def _written(work: Path, table: str) -> list[str]:
    """The files under ``work/table``, relative to `work`."""
    top = work / table
    if not top.exists():
        return []
    return sorted(str(p.relative_to(work)) for p in top.rglob("*.parquet"))


def _copy(con_sql: Callable[[str], object], select: str, work: Path, table: str) -> None:
    """COPY `select` into ``work/table``, one file per day (or one file for processes)."""
    day = _DAY[table]
    if day is None:
        target = work / table / f"part-{uuid.uuid4()}.parquet"
        target.parent.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        con_sql(f"COPY ({select}) TO {_quote(target)} (FORMAT parquet)")
    else:
        con_sql(
            f"COPY (SELECT *, CAST({day} AS DATE) AS day FROM ({select})) TO "
            f"{_quote(work / table)} (FORMAT parquet, PARTITION_BY (day), "
            f"FILENAME_PATTERN 'part-{{uuid}}', OVERWRITE_OR_IGNORE)"
        )


def _commit(
    d: Path, work: Path, manifest: Manifest, added: dict[str, list[str]], removed: set[str]
) -> None:
    """Move the new files in, replace the manifest, then delete what it no longer lists."""
    for root, _dirs, files in os.walk(work):
        os.chmod(root, _DIR_MODE)
        for name in files:
            os.chmod(os.path.join(root, name), _FILE_MODE)
    for files in added.values():
        for rel in files:
            target = d / rel
            for parent in reversed(target.relative_to(d).parents):
                (d / parent).mkdir(mode=_DIR_MODE, exist_ok=True)
            os.replace(work / rel, target)
    for table in sorted(set(manifest.tables) | set(added)):
        kept = [f for f in manifest.files(table) if f not in removed]
        manifest.tables[table] = kept + added.get(table, [])
    _write_manifest(d, manifest)
    for rel in removed:
        with contextlib.suppress(FileNotFoundError):
            (d / rel).unlink()
    _prune_empty_dirs(d)


def _prune_empty_dirs(d: Path) -> None:
    for table in TABLES:
        top = d / table
        if not top.is_dir():
            continue
        for sub in sorted(top.iterdir()):
            if sub.is_dir() and not any(sub.iterdir()):
                sub.rmdir()
