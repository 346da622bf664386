"""A Parquet dataset as a store: export, append without duplicates, read in place, compact."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from polars.testing import assert_frame_equal

import agentreel
from agentreel import AgentreelError
from agentreel._errors import StoreVersionError
from agentreel.checks import Window, run_checks
from agentreel.demo import run_demo
from agentreel.store import (
    SCHEMA_VERSION,
    Store,
    compact_dataset,
    export_parquet,
    parquet_dataset,
)
from tests.conftest import Recorded

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = "agentreel-parquet.json"


def _record(d: Path, runs: int, seed: int) -> None:
    Recorded(d, TracerProvider())
    try:
        run_demo(runs, seed=seed, latency=0)
    finally:
        agentreel.shutdown()
    with Store.open(d, create=True) as store:
        store.ingest()


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    d = tmp_path / "store"
    _record(d, 6, seed=3)
    return d


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentreel", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "HOME": str(ROOT)},
    )


def _files(ds: Path) -> set[str]:
    return {str(p.relative_to(ds)) for p in ds.rglob("*.parquet")}


def _tables(store: Store) -> dict[str, pl.DataFrame]:
    """What the readers see, in a stable order."""
    return {
        "runs": store.sql("SELECT * FROM runs ORDER BY run_id"),
        "spans": store.sql("SELECT * EXCLUDE (input) FROM spans ORDER BY trace_id, span_id"),
        "events": store.sql("SELECT * FROM events ORDER BY run_id, span_id, time, name"),
        "evaluations": store.sql("SELECT * FROM evaluations ORDER BY evaluation_id"),
    }


def _assert_same(a: Store, b: Store) -> None:
    for x, y in zip(_tables(a).values(), _tables(b).values(), strict=True):
        assert_frame_equal(x, y)


def test_a_dataset_reads_back_as_the_store_it_came_from(store_dir: Path, tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    with Store.open(store_dir) as store:
        run_id = str(store.runs()["run_id"][0])
        store.evaluate(run_id, "helpful", score=0.5, source="user:test")
        report = export_parquet(store, ds)
        assert (report.runs, report.replaced, report.unchanged) == (6, 0, 0)
        with Store.open(ds) as copy:
            assert copy.read_only
            _assert_same(store, copy)
            assert_frame_equal(store.spans(run_id), copy.spans(run_id))
            assert_frame_equal(store.runs(), copy.runs())
    manifest = json.loads((ds / MANIFEST).read_text())
    assert manifest["schema_version"] == SCHEMA_VERSION
    listed = {f for t in manifest["tables"].values() for f in t["files"]}
    assert listed == _files(ds)
    assert {f.split("/")[0] for f in listed} == {
        "spans",
        "runs",
        "evaluation_records",
        "processes",
    }
    assert all(f.split("/")[1].startswith("day=") for f in listed if "processes" not in f)
    _assert_store_columns(store_dir, ds)


def _assert_store_columns(store_dir: Path, ds: Path) -> None:
    """Each file holds exactly the store table's columns (the day is in the path only)."""
    con = duckdb.connect()
    with Store.open(store_dir) as store:
        for f in _files(ds):
            table = f.split("/")[0]
            q = f"SELECT * FROM read_parquet('{ds / f}', hive_partitioning = false) LIMIT 0"
            cols = [d[0] for d in con.execute(q).description]
            assert cols == store.sql(f"SELECT * FROM {table} LIMIT 0").columns, f


def test_appending_skips_unchanged_runs_and_replaces_changed_ones(
    store_dir: Path, tmp_path: Path
) -> None:
    ds = tmp_path / "ds"
    with Store.open(store_dir) as store:
        export_parquet(store, ds)
    before = _files(ds)
    with Store.open(store_dir) as store:
        again = export_parquet(store, ds)
    assert (again.runs, again.replaced, again.unchanged, again.spans) == (0, 0, 6, 0)
    assert _files(ds) == before  # nothing written
    # a run that changed (an evaluation added) is replaced; new runs are appended
    _record(store_dir, 2, seed=40)
    with Store.open(store_dir) as store:
        run_id = str(store.runs()["run_id"][-1])
        store.evaluate(run_id, "judged", label="bad", source="user:test")
        report = export_parquet(store, ds)
        assert (report.runs, report.replaced, report.unchanged) == (3, 1, 5)
        with Store.open(ds) as copy:
            _assert_same(store, copy)
            dupes = copy.sql("SELECT trace_id, span_id FROM spans GROUP BY ALL HAVING count(*) > 1")
            assert dupes.height == 0
            assert (
                copy.sql("SELECT count(*) AS n FROM processes")["n"][0]
                == store.sql("SELECT count(DISTINCT process_id) AS n FROM processes")["n"][0]
            )
    _assert_store_columns(store_dir, ds)  # the files written again too


def test_compact_merges_each_days_files_and_removes_unlisted_ones(
    store_dir: Path, tmp_path: Path
) -> None:
    ds = tmp_path / "ds"
    with Store.open(store_dir) as store:
        ids = store.runs()["run_id"].to_list()
        for rid in ids:  # one export per run: many small files
            export_parquet(store, ds, [rid])
    stray = ds / "spans" / "day=2000-01-01" / "part-left-by-a-crash.parquet"
    stray.parent.mkdir()
    stray.write_bytes(b"PAR1")
    with Store.open(ds) as copy:
        seen = _tables(copy)
    listed = len(_files(ds)) - 1  # all but the stray file
    report = compact_dataset(ds)
    assert report.files_before == listed
    assert report.orphans_removed == 1
    assert not stray.exists()
    assert not stray.parent.exists()
    partitions = {str(Path(f).parent) for f in _files(ds)}
    assert len(_files(ds)) == len(partitions) == report.files_after < report.files_before
    with Store.open(ds) as copy:
        for x, y in zip(seen.values(), _tables(copy).values(), strict=True):
            assert_frame_equal(x, y)
    _assert_store_columns(store_dir, ds)


def test_the_same_checks_give_the_same_report_over_the_dataset(
    store_dir: Path, tmp_path: Path
) -> None:
    ds = tmp_path / "ds"
    with Store.open(store_dir) as store:
        export_parquet(store, ds)
        mine = run_checks(store, current=Window(), baseline=Window(since="1d"))
    with Store.open(ds) as copy:
        theirs = run_checks(copy, current=Window(), baseline=Window(since="1d"))
    assert mine.status == theirs.status
    assert_frame_equal(mine.results, theirs.results)


def test_the_cli_reads_a_dataset_in_place_and_never_writes_it(
    store_dir: Path, tmp_path: Path
) -> None:
    ds = tmp_path / "ds"
    r = _cli("export", "--format", "parquet", "--out", str(ds), "--dir", str(store_dir))
    assert r.returncode == 0, r.stderr
    r = _cli("export", "--format", "parquet", "--out", str(ds), "--dir", str(store_dir))
    assert "6 already there unchanged" in r.stdout
    before = sorted(str(p) for p in ds.rglob("*"))
    runs = json.loads(_cli("runs", "--dir", str(ds), "--json").stdout)
    assert len(runs) == 6
    r = _cli("show", runs[0]["run_id"][:8], "--dir", str(ds))
    assert r.returncode == 0, r.stderr
    assert runs[0]["run_id"] in r.stdout
    r = _cli("check", "--dir", str(ds), "--format", "json")
    assert r.returncode in (0, 1), r.stderr
    assert json.loads(r.stdout)["current"]["runs"] == 6
    assert "a Parquet dataset is read-only" in r.stderr
    r = _cli("evaluate", runs[0]["run_id"], "x", "--score", "1", "--dir", str(ds))
    assert r.returncode == 2
    assert "is a Parquet dataset, which is read-only" in r.stderr
    assert "Traceback" not in r.stderr
    assert sorted(str(p) for p in ds.rglob("*")) == before
    r = _cli("parquet", "compact", str(ds), "--json")
    assert r.returncode == 0, r.stderr
    partitions = {str(Path(f).parent) for f in _files(ds)}  # one export: a file each already
    assert json.loads(r.stdout)["files_after"] == len(partitions) == len(_files(ds))
    r = _cli("parquet", "compact", str(store_dir))
    assert r.returncode == 2
    assert "is not a Parquet dataset" in r.stderr


def test_bad_or_newer_manifests_and_targets_are_refused(store_dir: Path, tmp_path: Path) -> None:
    ds = tmp_path / "ds"
    with Store.open(store_dir) as store:
        export_parquet(store, ds)
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "x").write_text("x")
        with pytest.raises(AgentreelError, match="neither an empty directory nor a Parquet"):
            export_parquet(store, tmp_path / "other")
        with pytest.raises(AgentreelError, match="written to a local directory"):
            export_parquet(store, "s3://bucket/ds")
    manifest = json.loads((ds / MANIFEST).read_text())
    (ds / MANIFEST).write_text(json.dumps({**manifest, "schema_version": 999}))
    with pytest.raises(StoreVersionError, match="newer agentreel"):
        Store.open(ds)
    (ds / MANIFEST).write_text("{not json")
    with pytest.raises(AgentreelError, match="not a readable dataset manifest"):
        Store.open(ds)
    escape = {**manifest, "tables": {"spans": {"files": ["../../etc/x.parquet"]}}}
    (ds / MANIFEST).write_text(json.dumps(escape))
    with pytest.raises(AgentreelError, match="outside the dataset"):
        Store.open(ds)


def test_a_second_writer_is_refused_while_one_writes(store_dir: Path, tmp_path: Path) -> None:
    import fcntl
    import os

    ds = tmp_path / "ds"
    with Store.open(store_dir) as store:
        export_parquet(store, ds, store.runs()["run_id"].to_list()[:1])
        fd = os.open(ds / ".agentreel-parquet.lock", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # as an export in another process holds it
            with pytest.raises(AgentreelError, match="another export or compaction"):
                export_parquet(store, ds)
            with pytest.raises(AgentreelError, match="another export or compaction"):
                compact_dataset(ds)
        finally:
            os.close(fd)
        assert export_parquet(store, ds).runs == 5


def test_s3_urls_are_datasets_even_after_a_path_mangled_them() -> None:
    assert parquet_dataset("s3://bucket/agentreel/") == "s3://bucket/agentreel"
    assert parquet_dataset(Path("s3://bucket/agentreel")) == "s3://bucket/agentreel"
    assert parquet_dataset(Path("not-here")) is None


def test_an_unreachable_s3_dataset_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without httpfs (no network to install it) the error says so; with it, the closed
    port of the endpoint makes the manifest unreadable. Reading a real bucket is not
    tested here (docs/scaling.md)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    with pytest.raises(AgentreelError, match=r"httpfs|cannot read agentreel-parquet\.json"):
        Store.open("s3://agentreel-test/ds")


def test_the_tui_lists_the_runs_of_a_dataset(store_dir: Path, tmp_path: Path) -> None:
    from textual.widgets import DataTable

    from agentreel.tui import AgentreelApp
    from agentreel.tui._runs import RunsScreen

    ds = tmp_path / "ds"
    with Store.open(store_dir) as store:
        export_parquet(store, ds)
    before = sorted(str(p) for p in ds.rglob("*"))

    async def main() -> None:
        app = AgentreelApp(ds)
        async with app.run_test(size=(160, 40)) as pilot:
            loop = asyncio.get_running_loop()
            end = loop.time() + 30
            while not (
                isinstance(app.screen, RunsScreen)
                and app.screen.is_mounted
                and app.screen.query_one("#runs", DataTable).row_count == 6
            ):
                assert loop.time() < end, "the runs screen did not show the dataset's runs"
                await pilot.pause(0.05)

    asyncio.run(main())
    assert sorted(str(p) for p in ds.rglob("*")) == before


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("shared") / "store"
    _record(d, 6, seed=7)
    return d


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exports=st.lists(st.sets(st.integers(0, 5), min_size=1), min_size=1, max_size=4))
def test_any_sequence_of_exports_holds_each_exported_run_once(
    shared_store: Path, exports: list[set[int]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp, Store.open(shared_store) as store:
        ids = store.sql("SELECT run_id FROM runs ORDER BY run_id")["run_id"].to_list()
        ds = Path(tmp) / "ds"
        for chosen in exports:
            export_parquet(store, ds, [ids[i] for i in sorted(chosen)])
        union = sorted(ids[i] for i in set().union(*exports))
        with Store.open(ds) as copy:
            assert copy.sql("SELECT run_id FROM runs ORDER BY run_id")["run_id"].to_list() == union
            spans = "SELECT * EXCLUDE (input) FROM spans {} ORDER BY trace_id, span_id"
            assert_frame_equal(
                copy.sql(spans.format("")),
                store.sql(spans.format("WHERE list_contains($ids, run_id)"), {"ids": union}),
            )
            processes = "SELECT * FROM processes {} ORDER BY process_id"
            assert_frame_equal(
                copy.sql(processes.format("")),
                store.sql(
                    processes.format(
                        "WHERE process_id IN (SELECT process_id FROM runs "
                        "WHERE list_contains($ids, run_id))"
                    ),
                    {"ids": union},
                ),
            )
