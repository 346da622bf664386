"""How a process holds store files: attached once to one DuckDB instance, in small row groups.

The store is attached with ``ROW_GROUP_SIZE 16384`` so a checkpoint rewrites at most
that many rows of a growing table (docs/reliability.md). These tests check the option
really applies to the data a drain writes, that several stores and threads in one
process share the attachment correctly, and that closing lets go of the file for
other processes.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import duckdb
import pytest

from agentreel import AgentreelError
from agentreel._spool import SpoolPaths, write_atomic
from agentreel.store import DB_NAME, Store
from agentreel.store._attach import ROW_GROUP_SIZE, holders

T0 = 1_700_000_000_000_000_000


def _spool(d: Path, spans: int) -> None:
    """One run of `spans` tool spans under a root, as one spool segment."""
    paths = SpoolPaths(d)
    paths.create()
    trace = "e" * 32
    recs = [
        {
            "trace_id": trace,
            "span_id": f"{i + 1:016x}",
            "parent_span_id": None if i == 0 else f"{1:016x}",
            "name": "root" if i == 0 else f"step {i}",
            "kind": "chain" if i == 0 else "tool",
            "start_ns": T0 + i * 1000,
            "end_ns": T0 + spans * 1000 + i,
            "status": "ok",
            "input": json.dumps({"n": i}),
        }
        for i in range(spans)
    ]
    data = ("\n".join(json.dumps(r) for r in recs) + "\n").encode()
    write_atomic(paths.dir / f"{T0:020d}-feedfacefeedface-0000001.jsonl", data)


def _row_groups(store: Store, table: str) -> list[int]:
    """Rows in each row group of `table`, as DuckDB stored them."""
    df = store.sql(
        'SELECT row_group_id, max("count") AS n FROM pragma_storage_info($t) '
        "WHERE column_id = 0 GROUP BY 1 ORDER BY 1",
        {"t": table},
    )
    return [int(n) for n in df["n"].to_list()]


def test_spans_drained_into_a_store_are_kept_in_row_groups_of_16384(tmp_path: Path) -> None:
    n = 2 * ROW_GROUP_SIZE + 1000
    _spool(tmp_path, n)
    with Store.open(tmp_path, create=True) as store:
        assert store.ingest().spans == n
        store.sql("CHECKPOINT")
    with Store.open(tmp_path, read_only=True) as store:
        # DuckDB's default would have put all of them in one row group of 122,880
        assert _row_groups(store, "spans") == [ROW_GROUP_SIZE, ROW_GROUP_SIZE, 1000]
        assert store.sql("SELECT count(*) n FROM spans")["n"][0] == n


def test_stores_of_one_process_share_a_file_and_each_reads_its_own(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _spool(a, 10)
    with Store.open(a, create=True) as sa, Store.open(b, create=True) as sb:
        sa.ingest()
        with Store.open(a) as again:  # a second Store on the same file shares it
            assert holders(a / DB_NAME) == 2
            assert again.sql("SELECT count(*) n FROM spans")["n"][0] == 10
        assert holders(a / DB_NAME) == 1
        assert sb.sql("SELECT count(*) n FROM spans")["n"][0] == 0
        assert sa.check_results().height == 0  # sees its own tables, not b's
        assert sa.expand(sa.sql("SELECT input FROM spans LIMIT 1")).height == 1
    assert holders(a / DB_NAME) == holders(b / DB_NAME) == 0


def test_threads_open_and_close_one_store_at_once(tmp_path: Path) -> None:
    _spool(tmp_path, 100)
    with Store.open(tmp_path, create=True) as store:
        store.ingest()
    counts: list[int] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(20):
                with Store.open(tmp_path) as s:
                    counts.append(int(s.sql("SELECT count(*) n FROM spans")["n"][0]))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert counts == [100] * 160
    assert holders(tmp_path / DB_NAME) == 0


def _other_process_opens(db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).close()", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_closing_the_last_store_lets_other_processes_open_the_file(tmp_path: Path) -> None:
    db = tmp_path / DB_NAME
    store = Store.open(tmp_path, create=True)
    held = _other_process_opens(db)
    assert held.returncode != 0
    assert "lock" in held.stderr.lower()
    store.close()
    store.close()  # twice is harmless
    assert _other_process_opens(db).returncode == 0


def test_a_store_dropped_without_close_still_lets_go_of_the_file(tmp_path: Path) -> None:
    db = tmp_path / DB_NAME
    store = Store.open(tmp_path, create=True)
    del store
    gc.collect()
    assert holders(db) == 0
    assert _other_process_opens(db).returncode == 0


def test_writing_to_a_store_open_read_only_in_this_process_is_refused_by_name(
    tmp_path: Path,
) -> None:
    Store.open(tmp_path, create=True).close()
    with (
        Store.open(tmp_path, read_only=True),
        pytest.raises(AgentreelError, match="open read-only in this process"),
    ):
        Store.open(tmp_path)
    with Store.open(tmp_path) as rw, Store.open(tmp_path, read_only=True) as ro:
        # a reader beside a writer of the same process reads the writer's file
        rw.sql("INSERT INTO meta VALUES ('probe', '1')")
        assert ro.sql("SELECT value FROM meta WHERE key = 'probe'")["value"][0] == "1"
        with pytest.raises(AgentreelError, match="read-only"):
            ro.ingest()


def test_a_store_path_with_a_quote_opens(tmp_path: Path) -> None:
    d = tmp_path / "it's here"
    _spool(d, 5)
    with Store.open(d, create=True) as store:
        assert store.ingest().spans == 5
    con = duckdb.connect(str(d / DB_NAME), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM spans").fetchall() == [(5,)]
    finally:
        con.close()


def test_gc_refuses_to_compact_while_another_store_of_this_process_has_the_file(
    tmp_path: Path,
) -> None:
    _spool(tmp_path, 50)
    with Store.open(tmp_path, create=True) as store:
        store.ingest()
        with Store.open(tmp_path, read_only=True) as other:
            with pytest.raises(AgentreelError, match="another Store in this process"):
                store.gc()
            assert other.sql("SELECT count(*) n FROM spans")["n"][0] == 50  # untouched
        report = store.gc()  # alone now
        assert report.compacted
        assert store.sql("SELECT count(*) n FROM spans")["n"][0] == 50


def _child_opens(path: Path, out: Any) -> None:
    try:
        with Store.open(path):
            out.put("opened")
    except AgentreelError as e:
        out.put(f"{type(e).__name__}: {e}")


def test_a_forked_child_does_not_use_its_parents_open_store(tmp_path: Path) -> None:
    # File locks are not inherited by fork: a child that reused the parent's attached
    # database would write to the file without holding it. It is refused by name.
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    with Store.open(tmp_path, create=True) as store:
        p = ctx.Process(target=_child_opens, args=(tmp_path, out))
        p.start()
        said = out.get(timeout=60)
        p.join(60)
        assert said.startswith("AgentreelError"), said
        assert "open when this process was forked" in said
        assert store.sql("SELECT count(*) n FROM meta")["n"][0] >= 1  # still usable
    p = ctx.Process(target=_child_opens, args=(tmp_path, out))
    p.start()
    assert out.get(timeout=60) == "opened"  # the parent let go: the child attaches it
    p.join(60)
    assert p.exitcode == 0


def test_a_store_open_through_a_plain_duckdb_connection_is_named(tmp_path: Path) -> None:
    Store.open(tmp_path, create=True).close()
    con = duckdb.connect(str(tmp_path / DB_NAME))
    try:
        with pytest.raises(AgentreelError, match="through a DuckDB connection of its own"):
            Store.open(tmp_path)
    finally:
        con.close()
    Store.open(tmp_path).close()


def test_frames_come_through_arrow_string_views_and_are_the_same_frames(tmp_path: Path) -> None:
    """The hub hands text to polars as Arrow string views (less copying, a lower peak for
    a check); the frames must be exactly what plain Arrow strings gave."""
    query = (
        "SELECT 'short' AS s, 'a text longer than twelve bytes' AS long_text, NULL::VARCHAR AS n, "
        "['a', 'b'] AS texts, {'k': 'v', 'n': 1} AS st, '{\"a\": 1}'::JSON AS j, "
        "'x'::BLOB AS b, 'a'::ENUM('a', 'b') AS e, 1.5::DECIMAL(10, 2) AS d, "
        "TIMESTAMP_NS '2026-01-01 00:00:00.000000001' AS t, MAP {'a': 'b'} AS m"
    )
    Store.open(tmp_path / "s", create=True).close()
    with Store.open(tmp_path / "s") as store:
        views = store.sql(query)
        got = store.sql(
            "SELECT current_setting('produce_arrow_string_view') AS v, "
            "current_setting('arrow_output_version') AS version"
        ).row(0)
    plain = duckdb.connect().sql(query).pl()
    assert got == (True, "1.4")
    assert views.schema == plain.schema
    assert views.equals(plain)
