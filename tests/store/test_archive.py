"""The spool archive is kept compressed, and a rebuild and gc read it as before.

Drained segments used to stay in ``spool/archive/`` as JSON, about ten times the
store's size, until `gc`. Drains now compress the settled ones; `rebuild` brings
them back whole and `gc` deletes them with their runs.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel._spool import SpoolPaths
from agentreel.store import Store, _archive, rebuild
from agentreel.store._archive import compress_archived


def _record(store_dir: Path, runs: int, *, flush_each: bool = False) -> None:
    agentreel.init(store_dir, tracer_provider=TracerProvider())
    try:
        for i in range(runs):
            with agentreel.run(f"job-{i}"):
                for j in range(20):
                    agentreel.tool(lambda q: {"answer": q * 3, "sources": ["a", "b"]})(f"q{j}")
                    if flush_each:
                        agentreel.flush()  # a segment for every span
            agentreel.flush()  # a segment or more per run
    finally:
        agentreel.shutdown()


def _archive_bytes(paths: SpoolPaths) -> int:
    return sum(p.stat().st_size for p in paths.archive.iterdir())


def _runs(store_dir: Path) -> list[tuple[str, int]]:
    with Store.open(store_dir) as store:
        store.ingest()
        r = store.runs(order_by="name", descending=False)
        return list(zip(r["name"].to_list(), r["span_count"].to_list(), strict=True))


def test_archived_segments_are_compressed_and_a_rebuild_reads_them(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    _record(store_dir, runs=6)
    before = _runs(store_dir)
    assert len(before) == 6
    paths = SpoolPaths(store_dir)
    raw = _archive_bytes(paths)
    n = compress_archived(paths, settle_s=0, budget_s=60)
    names = [p.name for p in paths.archive.iterdir()]
    assert n == len(names) > 0
    assert all(name.endswith(".jsonl.gz") for name in names)
    assert all((paths.archive / name).stat().st_mode & 0o077 == 0 for name in names)
    assert _archive_bytes(paths) < raw / 4  # JSON of many alike spans compresses well
    report = rebuild(store_dir, force=True)
    assert report.segments == n
    assert _runs(store_dir) == before  # every run back, every span once


def test_a_drain_compresses_what_has_settled_and_gc_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_dir = tmp_path / "store"
    _record(store_dir, runs=3)
    _runs(store_dir)
    paths = SpoolPaths(store_dir)
    assert not any(p.name.endswith(".gz") for p in paths.archive.iterdir())  # not settled yet
    monkeypatch.setattr(_archive, "SETTLE_S", 0.0)  # as if drained long ago
    with Store.open(store_dir) as store:
        store.ingest()  # nothing new to drain; the archive is compressed on the way out
        files = list(paths.archive.iterdir())
        assert files
        assert all(p.name.endswith(".gz") for p in files)
        report = store.gc(older_than=timedelta(0))  # every run ended before now
        assert len(report.runs) == 3
        assert report.segments == len(files)  # the compressed files, counted and deleted
        assert store.sql("SELECT count(*) AS n FROM segments")["n"][0] == 0
    assert list(paths.archive.iterdir()) == []


def test_a_drain_reads_the_journal_not_the_archive_and_gc_sweeps_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_dir = tmp_path / "store"
    _record(store_dir, runs=2)
    _runs(store_dir)
    paths = SpoolPaths(store_dir)
    (paths.dir / _archive.JOURNAL).unlink()  # as if a drain was killed before noting them
    monkeypatch.setattr(_archive, "SETTLE_S", 0.0)
    with Store.open(store_dir) as store:
        store.ingest()
        assert not any(p.name.endswith(".gz") for p in paths.archive.iterdir())
        store.gc()  # no limits: compacts, and sweeps the archive
        names = [p.name for p in paths.archive.iterdir()]
        assert names
        assert all(n.endswith(".jsonl.gz") for n in names)
    assert not (paths.dir / _archive.JOURNAL).exists()  # nothing left to compress


def test_small_segments_are_archived_as_one_bundle_that_rebuild_and_gc_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_dir = tmp_path / "store"
    monkeypatch.setenv("AGENTREEL_FLUSH", "each")
    _record(store_dir, runs=4, flush_each=True)
    paths = SpoolPaths(store_dir)
    segments = sorted(p.name for p in paths.pending())
    assert len(segments) >= 4 * 21
    before = _runs(store_dir)
    assert [n for _, n in before] == [21] * 4
    assert paths.pending() == []
    archived = sorted(p.name for p in paths.archive.iterdir())
    # one file in place of each hour's small segments, named by its first and last
    bundles = [n for n in archived if "-bundle-" in n]
    assert bundles, archived
    assert len(archived) < len(segments) / 10, archived
    first, last = bundles[0].split("-bundle-")[0], bundles[-1].split("-bundle-")[1][:20]
    assert segments[0].startswith(first)
    assert last <= segments[-1][:20]
    assert not [p for p in paths.dir.iterdir() if p.name.startswith(".drain-")]
    with Store.open(store_dir) as store:  # every segment is still known as drained
        assert store.sql("SELECT count(*) AS n FROM segments")["n"][0] == len(segments)

    monkeypatch.setattr(_archive, "SETTLE_S", 0.0)
    assert compress_archived(paths, settle_s=0, budget_s=60) == len(archived)
    report = rebuild(store_dir, force=True)
    assert report.segments == len(archived)
    assert _runs(store_dir) == before  # every span back, once

    with Store.open(store_dir) as store:
        files = len(list(paths.archive.iterdir()))
        gone = store.gc(older_than=timedelta(0))
        assert len(gone.runs) == 4
        assert gone.segments == files > 0
        assert store.sql("SELECT count(*) AS n FROM segments")["n"][0] == 0
    assert list(paths.archive.iterdir()) == []
