"""Store and spool files are readable by their owner only, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel.store import DB_NAME, Store, export_otlp_json, export_parquet


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The common umask 022, under which files are world-readable unless made otherwise."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _private(p: Path) -> bool:
    return stat.S_IMODE(p.stat().st_mode) & 0o077 == 0


def test_store_and_spool_files_are_owner_only(tmp_path: Path, open_umask: None) -> None:
    store_dir = tmp_path / "store"
    rec = agentreel.init(store_dir, tracer_provider=TracerProvider())
    try:

        @agentreel.tool
        def t(i: int) -> int:
            return i

        with agentreel.span("long agent", kind="agent"):
            t(1)
            agentreel.flush()  # a segment and a start record of the open agent span
            spool = store_dir / "spool"
            segments = sorted(spool.glob("*.jsonl"))
            assert {p.name.endswith(".open.jsonl") for p in segments} == {True, False}
            heartbeat = spool / "live" / rec.process_id
            process_file = spool / "processes" / f"{rec.process_id}.json"
            for p in [*segments, heartbeat, process_file]:
                assert _private(p), p
    finally:
        agentreel.shutdown()
    (spool / "00000000000000000001-bad-0000001.jsonl").write_text("{not json\n")
    for d in (store_dir, spool, spool / "live", spool / "processes", spool / "archive"):
        assert _private(d), d
    rejected = spool / "rejected"
    assert _private(rejected)

    db = store_dir / DB_NAME
    wal = db.with_name(DB_NAME + ".wal")
    with Store.open(store_dir) as store:
        report = store.ingest()
        assert report.rejected
        assert report.spans == 2
        assert wal.exists()  # the drain's transactions are in the WAL until a checkpoint
        assert _private(db)
        assert _private(wal)
        store.sql("CHECKPOINT")  # DuckDB removes the WAL and makes a new one on the next write
        assert not wal.exists()
        agentreel.init(store_dir, tracer_provider=TracerProvider())
        agentreel.tool(lambda: None)()
        agentreel.shutdown()
        second = store.ingest()
        assert second.spans == 1
        assert wal.exists()
        assert _private(wal)
    archived = list((spool / "archive").iterdir())
    # each segment archived, small ones drained together as one bundle in their place
    assert 0 < len(archived) <= report.segments + second.segments
    assert report.segments + second.segments >= len(segments) + 1
    assert all(_private(p) for p in archived)
    assert [p.name for p in rejected.iterdir()] == ["00000000000000000001-bad-0000001.jsonl"]


def test_exports_are_owner_only(tmp_path: Path, open_umask: None) -> None:
    store_dir = tmp_path / "store"
    agentreel.init(store_dir, tracer_provider=TracerProvider())
    try:
        with agentreel.run("exported"):
            agentreel.tool(lambda: "payload")()
    finally:
        agentreel.shutdown()
    jsonl = tmp_path / "runs.jsonl"
    jsonl.write_text("an older export, world-readable\n")
    jsonl.chmod(0o644)
    shared = tmp_path / "shared"  # an empty directory the user made, world-readable
    shared.mkdir(mode=0o755)
    with Store.open(store_dir, create=True) as store:
        store.ingest()
        assert export_otlp_json(store, jsonl).spans == 2
        assert export_parquet(store, tmp_path / "new" / "parquet").spans == 2
        assert export_parquet(store, shared).spans == 2
    assert _private(jsonl)
    assert _private(tmp_path / "new" / "parquet")
    for top in (tmp_path / "new" / "parquet", shared):
        written = list(top.rglob("*"))
        assert {p.name for p in top.iterdir()} == {
            "agentreel-parquet.json",
            ".agentreel-parquet.lock",
            "spans",
            "runs",
            "processes",
        }
        assert any(p.suffix == ".parquet" for p in written if p.parent != top)
        for p in written:
            assert _private(p), p
