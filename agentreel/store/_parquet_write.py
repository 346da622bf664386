"""Write a Parquet dataset: export runs into it (new or appended), and compact it.

The unit of an export is the run. A dataset holds each run once: exporting a run it
already holds writes nothing when the run is unchanged, and replaces all its rows
(spans, run, evaluations) when it changed since (it was still running, late spans
or evaluations arrived). A run is unchanged when its ``runs`` row, its span count
and the last drain that touched its spans (``max(ingest_id)``) and its evaluation
ids are the same. Processes are kept once per ``process_id``.

Every change is written as new files first; the manifest is then replaced in one
rename, and only after that are the files it no longer lists deleted. A reader
sees the dataset before or after, never between; a crash leaves at most unlisted
files, which the next compaction deletes. One writer at a time: an export or a
compaction holds a lock file (``.agentreel-parquet.lock``) while it works.

This module owns the two writers, `export_parquet` (by run, with each run's
fingerprint) and `compact_dataset`; the lock, the COPY by day and the commit they
share are store/_parquet_files.py's.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb

from agentreel._errors import AgentreelError
from agentreel.store._blobs import expanded_spans_sql
from agentreel.store._export_json import ExportReport, _run_ids
from agentreel.store._parquet import (
    MANIFEST,
    TABLES,
    Manifest,
    file_list,
    open_dataset_connection,
    read_manifest,
)
from agentreel.store._parquet_files import (
    _DAY,
    _DIR_MODE,
    _commit,
    _copy,
    _local_dir,
    _locked,
    _prune_empty_dirs,
    _quote,
    _start,
    _written,
)
from agentreel.store._store import Store

__all__ = ["CompactReport", "compact_dataset", "export_parquet"]

#: A run's fingerprint: what changes when anything exported of it changes.
_FINGERPRINT = """
SELECT r.run_id, md5(CAST(to_json(r) AS VARCHAR) || '|' || coalesce(s.n, 0) || '|'
        || coalesce(s.last_ingest, -1) || '|' || coalesce(e.ids, '')) AS fingerprint
FROM runs r
LEFT JOIN (SELECT run_id, count(*) AS n, max(ingest_id) AS last_ingest FROM spans
           WHERE list_contains($ids, run_id) GROUP BY run_id) s USING (run_id)
LEFT JOIN (SELECT run_id, string_agg(evaluation_id, ',' ORDER BY evaluation_id) AS ids
           FROM evaluation_records WHERE list_contains($ids, run_id) GROUP BY run_id) e
    USING (run_id)
WHERE list_contains($ids, r.run_id)
"""


@dataclass
class CompactReport:
    """What `compact_dataset` did."""

    out: str
    files_before: int = 0
    files_after: int = 0
    orphans_removed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def export_parquet(
    store: Store,
    directory: str | os.PathLike[str],
    run_ids: Iterable[str] | None = None,
    *,
    progress: Callable[[int], None] | None = None,
) -> ExportReport:
    """Write runs (all, or `run_ids`) into the Parquet dataset at `directory`, by day.

    A new or empty `directory` becomes a dataset; one that is a dataset already is
    appended to: runs it holds unchanged are skipped, runs that changed are replaced
    (the module's docstring has the rule), so exporting the same runs twice never
    duplicates them. Layout: ``agentreel-parquet.json`` (the manifest) and
    ``spans/``, ``runs/``, ``evaluation_records/`` under ``day=YYYY-MM-DD/`` (UTC day
    of the start, or of the evaluation) and ``processes/``, each file holding exactly
    the store table's columns (span inputs written whole). `Store.open(directory)`
    and every reading command (``--dir``) read it in place. Files are readable by
    their owner only, directories private, like the store. `progress`, when given,
    is called with the spans written.

    Example::

        export_parquet(store, "archive/agentreel")            # again tomorrow: appends
        Store.open("archive/agentreel").runs(status="error")
    """
    d = _local_dir(directory)
    ids = _run_ids(store, run_ids)
    manifest = _start(d)
    try:
        d.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    except OSError as e:
        raise AgentreelError(f"cannot create {d}: {e.strerror or e}") from None
    report = ExportReport(format="parquet", out=str(d), runs=0)
    with _locked(d):
        manifest = _start(d)  # again, as of the lock
        fresh = manifest is None
        manifest = manifest or Manifest()
        try:
            work = Path(tempfile.mkdtemp(prefix=".export-", dir=d))
        except OSError as e:
            raise AgentreelError(f"cannot write {d}: {e.strerror or e}") from None
        try:
            added, removed = _export(store, d, work, manifest, ids, report, fresh)
            _commit(d, work, manifest, added, removed)
        except OSError as e:
            raise AgentreelError(f"cannot write {d}: {e.strerror or e}") from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if progress is not None:
        progress(report.spans)
    return report


def _export(
    store: Store,
    d: Path,
    work: Path,
    manifest: Manifest,
    ids: list[str],
    report: ExportReport,
    fresh: bool,
) -> tuple[dict[str, list[str]], set[str]]:
    theirs: dict[str, str] = {}
    known_processes: list[str] = []
    files_of: dict[str, list[str]] = {}
    ds: duckdb.DuckDBPyConnection | None = None
    if not fresh and ids:
        ds, _ = open_dataset_connection(str(d))
    try:
        if ds is not None:
            theirs = dict(ds.execute(_FINGERPRINT, {"ids": ids}).fetchall())
            known_processes = [
                str(r[0]) for r in ds.execute("SELECT process_id FROM processes").fetchall()
            ]
        mine = dict(
            store.sql(_FINGERPRINT, {"ids": ids}).select("run_id", "fingerprint").iter_rows()
        )
        write = [r for r in ids if theirs.get(r) != mine.get(r)]
        replace = [r for r in write if r in theirs]
        report.runs = len(write)
        report.replaced = len(replace)
        report.unchanged = len(ids) - len(write)
        if ds is not None and replace:
            files_of = _files_holding(ds, str(d), manifest, replace)
        removed: set[str] = set()
        for table, files in files_of.items():
            for rel in files:
                _rewrite_without(ds, d, work, table, rel, replace)
                removed.add(rel)
    finally:
        if ds is not None:
            ds.close()
    if write:
        _write_runs(store, work, write, known_processes, report)
    added = {t: _written(work, t) for t in TABLES}
    return added, removed


def _files_holding(
    ds: duckdb.DuckDBPyConnection, location: str, manifest: Manifest, run_ids: list[str]
) -> dict[str, list[str]]:
    """Per table, the dataset's files that hold rows of `run_ids`."""
    out: dict[str, list[str]] = {}
    for table in ("spans", "runs", "evaluation_records"):
        files = manifest.files(table)
        if not files:
            continue
        rows = ds.execute(
            f"SELECT DISTINCT filename FROM read_parquet({file_list(location, files)}, "
            "filename = true) WHERE list_contains($ids, run_id)",
            {"ids": run_ids},
        ).fetchall()
        prefix = location + "/"
        out[table] = [str(r[0])[len(prefix) :] for r in rows]
    return out


def _rewrite_without(
    ds: duckdb.DuckDBPyConnection | None,
    d: Path,
    work: Path,
    table: str,
    rel: str,
    run_ids: list[str],
) -> None:
    """Write the file `rel` again into `work` (same partition) without the rows of `run_ids`."""
    assert ds is not None
    target = work / Path(rel).parent / f"part-{uuid.uuid4()}.parquet"
    target.parent.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    n = ds.execute(
        f"COPY (SELECT * FROM read_parquet({_quote(d / rel)}, hive_partitioning = false) "
        f"WHERE NOT list_contains($ids, "
        f"run_id)) TO {_quote(target)} (FORMAT parquet)",
        {"ids": run_ids},
    ).fetchone()
    if n is not None and not n[0]:
        target.unlink()  # nothing else was in it


def _write_runs(
    store: Store, work: Path, ids: list[str], known_processes: list[str], report: ExportReport
) -> None:
    params = {"ids": ids, "known": known_processes}
    where = "list_contains($ids, run_id)"

    def count(sql: str) -> int:
        used = {k: v for k, v in params.items() if f"${k}" in sql}  # DuckDB refuses others
        frame = store.sql(sql, used)
        return int(frame.item()) if frame.shape == (1, 1) else 0

    def run(sql: str) -> object:
        return count(sql)

    for table in ("spans", "runs", "evaluation_records"):
        # span inputs stored as content-addressed parts are written whole
        source = f"({expanded_spans_sql(where)})" if table == "spans" else table
        _copy(run, f"SELECT * FROM {source} WHERE {where}", work, table)
    report.spans = count(f"SELECT count(*) FROM spans WHERE {where}")
    report.events = count(
        "SELECT count(*) FROM (SELECT unnest(from_json(events, '[\"JSON\"]')) FROM spans "
        f"WHERE events IS NOT NULL AND {where})"
    )
    processes = (
        "SELECT * FROM processes WHERE process_id IN (SELECT process_id FROM runs WHERE "
        f"{where}) AND NOT list_contains($known, process_id)"
    )
    if count(f"SELECT count(*) FROM ({processes})"):  # a COPY of no rows still writes a file
        _copy(run, processes, work, "processes")


def compact_dataset(
    directory: str | os.PathLike[str], *, progress: Callable[[int], None] | None = None
) -> CompactReport:
    """Merge each day's files of each table into one file, and delete unlisted files.

    Appending every day leaves many small files (one per table and day per export,
    and one per rewrite); readers open each, so merging them keeps reads fast. The
    rows do not change. Files not in the manifest (left by an export that crashed)
    are deleted. `progress`, when given, is called with the files merged per day.

    Example::

        compact_dataset("archive/agentreel").files_after
    """
    d = _local_dir(directory)
    if not (d / MANIFEST).is_file():
        raise AgentreelError(f"cannot compact {d}: it is not a Parquet dataset (no {MANIFEST})")
    report = CompactReport(out=str(d))
    with _locked(d):
        manifest = read_manifest(None, str(d))
        report.files_before = sum(len(manifest.files(t)) for t in TABLES)
        work = Path(tempfile.mkdtemp(prefix=".compact-", dir=d))
        try:
            added: dict[str, list[str]] = {}
            removed: set[str] = set()
            con = duckdb.connect()
            try:
                for table in TABLES:
                    groups: dict[str, list[str]] = {}
                    for rel in manifest.files(table):
                        groups.setdefault(str(Path(rel).parent), []).append(rel)
                    for part, files in sorted(groups.items()):
                        if len(files) < 2:
                            continue
                        target = work / part / f"part-{uuid.uuid4()}.parquet"
                        target.parent.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
                        order = " ORDER BY start_time" if _DAY[table] == "start_time" else ""
                        con.execute(
                            f"COPY (SELECT * FROM read_parquet({file_list(str(d), files)}, "
                            f"union_by_name = true, hive_partitioning = false){order}) TO {_quote(target)} "
                            "(FORMAT parquet)"
                        )
                        added.setdefault(table, []).append(str(target.relative_to(work)))
                        removed.update(files)
                        if progress is not None:
                            progress(len(files))
            finally:
                con.close()
            _commit(d, work, manifest, added, removed)
        except OSError as e:
            raise AgentreelError(f"cannot write {d}: {e.strerror or e}") from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
        listed = {f for t in TABLES for f in manifest.files(t)}
        for table in TABLES:
            top = d / table
            for p in top.rglob("*.parquet") if top.is_dir() else []:
                if str(p.relative_to(d)) not in listed:
                    p.unlink()
                    report.orphans_removed += 1
        _prune_empty_dirs(d)
        report.files_after = len(listed)
    return report
