"""Rebuild a store from its spool archive (`agentreel rebuild`).

Every span a store holds came through its spool, and drained segments stay in
``spool/archive/`` until `agentreel gc` removes those of runs it removed. So a
damaged DuckDB file can be set aside (never deleted) and the store made again:
the archived segments go back into the spool and are drained into a new file,
by the same rules as the first time (each span once, runs rebuilt).

What a rebuild cannot bring back: the history of `agentreel check` (it lives in
the file only), and anything whose segments are gone from the archive.

Example::

    from agentreel.store import rebuild

    report = rebuild(".agentreel")
    print(report.set_aside, report.spans, report.runs)
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agentreel._errors import AgentreelError, StoreBusy, StoreCorrupt, StoreNotFound
from agentreel._spool import SpoolPaths
from agentreel.store._archive import restore
from agentreel.store._damage import archived_segments
from agentreel.store._evaluations import restore_journal
from agentreel.store._ingest import IngestReport
from agentreel.store._markers import spool_status
from agentreel.store._store import DB_NAME, Store

__all__ = ["RebuildReport", "rebuild"]

#: What a rebuild cannot bring back, said in every report.
CHECK_HISTORY_LOST = "the history of `agentreel check` (check results live only in the file)"


@dataclass
class RebuildReport:
    """What `rebuild` did."""

    #: where the old file was moved (None when there was none)
    set_aside: str | None = None
    #: archived segments put back into the spool and drained again
    segments: int = 0
    spans: int = 0
    runs: int = 0
    ingest: IngestReport = field(default_factory=IngestReport)
    #: what the new store does not hold that the old one may have
    lost: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ingest"] = self.ingest.as_dict()
        return d


def _reads_whole(root: Path) -> bool:
    """Whether the store at `root` opens and every value of every table reads back."""
    try:
        with Store.open(root, read_only=True) as store:
            tables = store.sql(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
            )["table_name"].to_list()
            for t in tables:
                store.sql(f'SELECT sum(hash(COLUMNS(*))) FROM "{t}"')
    except StoreCorrupt:
        return False
    return True


def rebuild(path: str | os.PathLike[str], *, force: bool = False) -> RebuildReport:
    """Set the store file at `path` aside and make the store again from its spool archive.

    Only a damaged file is rebuilt unless `force`: a store that reads whole raises
    `AgentreelError`, since a rebuild loses its check history. The old file (and
    its write-ahead log) is renamed ``agentreel.duckdb.damaged-<UTC time>``, never
    deleted. Refuses with `StoreBusy` while another process keeps the store drained
    (the TUI, `agentreel serve`): stop it first. A rebuild killed part way leaves
    the segments in the spool, and the next drain finishes it.
    """
    root = Path(path)
    db = root / DB_NAME
    paths = SpoolPaths(root)
    if not db.exists() and not paths.dir.is_dir():
        raise StoreNotFound(f"no agentreel store at {root}: nothing to rebuild")
    if spool_status(root).draining:
        raise StoreBusy(
            f"another process keeps the store at {root} drained (the TUI or `agentreel "
            f"serve`); stop it, then rebuild"
        )
    if db.exists() and not force and _reads_whole(root):
        raise AgentreelError(
            f"the store at {db} reads whole, so there is nothing to rebuild; pass --force "
            f"(force=True) to rebuild it anyway, losing {CHECK_HISTORY_LOST}"
        )
    report = RebuildReport()
    # The segments go back first: a rebuild killed at any point then leaves them
    # pending, for the next drain (into the old file, which archives what it holds,
    # or into the new one) or the next rebuild.
    archived = archived_segments(paths)
    for seg in archived:
        with contextlib.suppress(FileNotFoundError):
            restore(seg, paths.dir)  # compressed ones come back as they were written
    report.segments = len(archived)
    if db.exists():
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        aside = db.with_name(f"{DB_NAME}.damaged-{stamp}")
        try:
            os.replace(db, aside)
            wal = db.with_name(DB_NAME + ".wal")
            if wal.exists():
                os.replace(wal, aside.with_name(aside.name + ".wal"))
        except OSError as e:
            raise AgentreelError(f"cannot set {db} aside: {e.strerror or e}") from None
        report.set_aside = str(aside)
        report.lost.append(CHECK_HISTORY_LOST)
        if not paths.pending():  # a rebuild killed before left them there
            report.lost.append(
                "every run the old file held: the spool archive is empty (removed by "
                "`agentreel gc` or by hand); only a backup of the file brings them back"
            )
    with Store.open(root, create=True) as store:
        report.ingest = store.ingest()
        restore_journal(store._con, root)  # evaluations written outside the spool
        report.spans = int(store.sql("SELECT count(*) AS n FROM spans")["n"][0])
        report.runs = int(store.sql("SELECT count(*) AS n FROM runs")["n"][0])
    return report
