from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel.store import SCHEMA_VERSION, Store
from tests.conftest import Recorded


def _record_some(n_runs: int = 3) -> list[str]:
    @agentreel.llm(provider="openai", model="gpt-4.1")
    def chat(prompt: str) -> dict[str, object]:
        return {"usage": {"prompt_tokens": 1000, "completion_tokens": 100}}

    @agentreel.llm(provider="nowhere", model="model-nobody-prices")
    def odd(prompt: str) -> dict[str, object]:
        return {"usage": {"prompt_tokens": 10, "completion_tokens": 10}}

    @agentreel.tool
    def search(q: str) -> str:
        if q == "fail":
            raise TimeoutError("slow")
        return q

    @agentreel.agent(name="helper")
    def agent(i: int) -> str:
        chat("p")
        search("a")
        if i == 1:
            with contextlib.suppress(TimeoutError):
                search("fail")
        return "answer"

    ids = []
    for i in range(n_runs):
        with agentreel.run("eval", tags={"dataset": "qa", "i": i}) as r:
            agent(i)
        ids.append(r.run_id)
    with agentreel.run("other") as r:
        odd("x")
    ids.append(r.run_id)
    return ids


def test_ingest_builds_spans_and_runs_with_totals_and_cost(recorded: Recorded) -> None:
    ids = _record_some()
    with recorded.store() as store:
        runs = store.runs()
        assert runs.height == 4
        assert runs["run_id"].to_list()[0] == ids[-1]  # newest first
        r1 = store.run(ids[1])
        assert r1["name"] == "eval"
        assert r1["status"] == "ok"
        assert (
            r1["span_count"],
            r1["agent_count"],
            r1["llm_count"],
            r1["tool_count"],
            r1["error_count"],
        ) == (
            5,
            1,
            1,
            2,
            1,
        )
        assert (r1["input_tokens"], r1["output_tokens"]) == (1000, 100)
        assert r1["cost_usd"] == pytest.approx(
            1000 * 2e-6 + 100 * 8e-6
        )  # gpt-4.1: $2 / $8 per MTok
        assert json.loads(r1["tags"]) == {"dataset": "qa", "i": 1}
        assert r1["duration_ms"] > 0
        # an unknown model has no price: NULL, not zero, and is counted as unpriced
        other = store.run(ids[-1])
        assert other["cost_usd"] is None
        assert other["unpriced_llm_count"] == 1
        spans = store.spans(ids[1])
        llm = spans.filter(spans["kind"] == "llm").row(0, named=True)
        assert llm["cost_usd"] == pytest.approx(0.0028)
        assert llm["provider"] == "openai"
        failed = spans.filter(spans["status"] == "error").row(0, named=True)
        assert (failed["tool_name"], failed["error_type"], failed["error_message"]) == (
            "search",
            "TimeoutError",
            "slow",
        )
        ev = store.events(ids[1])
        assert ev["name"].to_list() == ["exception"]
        assert "TimeoutError" in json.loads(ev["attributes"][0])["exception.stacktrace"]


def test_ingest_is_idempotent_and_archives_segments(recorded: Recorded) -> None:
    _record_some()
    with recorded.store() as store:
        before = store.sql("SELECT count(*) AS n FROM spans")["n"][0]
        assert before == 15
        again = store.ingest()
        assert (again.segments, again.spans) == (0, 0)
        assert store.sql("SELECT count(*) AS n FROM spans")["n"][0] == before
    spool = recorded.path / "spool"
    assert not list(spool.glob("*.jsonl"))
    assert list((spool / "archive").glob("*.jsonl"))


def test_segment_committed_but_not_archived_is_not_ingested_twice(recorded: Recorded) -> None:
    _record_some()
    with recorded.store() as store:
        n = store.sql("SELECT count(*) AS n FROM spans")["n"][0]
    # a drain that died after COMMIT but before moving its segments
    spool = recorded.path / "spool"
    for p in (spool / "archive").glob("*.jsonl"):
        p.rename(spool / p.name)
    with Store.open(recorded.path) as store:
        report = store.ingest()
        assert report.spans == 0
        assert store.sql("SELECT count(*) AS n FROM spans")["n"][0] == n
    assert not list(spool.glob("*.jsonl"))


def test_bad_segments_are_set_aside_reported_and_the_rest_ingested(recorded: Recorded) -> None:
    _record_some()
    agentreel.flush()
    spool = recorded.path / "spool"
    (spool / "00000000000000000001-garbled-0000001.jsonl").write_bytes(
        b'{"trace_id": "ab", "span_id": \n'
    )
    (spool / "00000000000000000002-badtype-0000001.jsonl").write_text(
        json.dumps({"trace_id": "t", "span_id": "s", "start_ns": "not a number"}) + "\n"
    )
    (spool / "00000000000000000003-binary-0000001.jsonl").write_bytes(b"\xff\xfe\x00garbage")
    with Store.open(recorded.path) as store:
        report = store.ingest()
        assert sorted(n for n, _ in report.rejected) == [
            "00000000000000000001-garbled-0000001.jsonl",
            "00000000000000000002-badtype-0000001.jsonl",
            "00000000000000000003-binary-0000001.jsonl",
        ]
        assert all(err for _, err in report.rejected)
        assert report.spans == 15
        assert store.runs().height == 4
        seg = store.sql("SELECT status, count(*) AS n FROM segments GROUP BY 1 ORDER BY 1")
        assert dict(seg.iter_rows()) == {"ingested": report.segments, "rejected": 3}
    assert len(list((spool / "rejected").iterdir())) == 3


def test_start_records_show_running_then_complete_replaces_them(tmp_path: Path) -> None:
    agentreel.init(tmp_path, tracer_provider=TracerProvider(), flush_interval=0.05)
    try:
        with agentreel.run("live") as r:
            with agentreel.span("step", kind="tool"):
                pass
            agentreel.flush()
            with Store.open(tmp_path, create=True) as store:
                store.ingest()
                run = store.run(r.run_id)
                assert run["status"] == "running"
                spans = store.spans(r.run_id)
                assert sorted(spans["name"].to_list()) == ["live", "step"]
                root = spans.filter(spans["name"] == "live").row(0, named=True)
                assert root["end_time"] is None
        agentreel.flush()
        with Store.open(tmp_path) as store:
            store.ingest()
            assert store.run(r.run_id)["status"] == "ok"
            assert (
                store.spans(r.run_id).height == 2
            )  # the start record was replaced, not duplicated
    finally:
        agentreel.shutdown()


def test_run_whose_process_is_gone_is_interrupted(tmp_path: Path) -> None:
    agentreel.init(tmp_path, tracer_provider=TracerProvider(), flush_interval=0.05)
    rec = agentreel.recorder()
    assert rec is not None
    scope = agentreel.run("crashy")
    handle = scope.__enter__()
    agentreel.flush()
    with Store.open(tmp_path, create=True) as store:
        store.ingest()
        assert store.run(handle.run_id)["status"] == "running"
    # the process "dies": its heartbeat goes stale and the root never ends
    hb = tmp_path / "spool" / "live" / rec.process_id
    rec.open_spans._stop.set()
    time.sleep(0.1)
    os.utime(hb, (time.time() - 60, time.time() - 60))
    with Store.open(tmp_path) as store:
        assert store.run(handle.run_id)["status"] == "interrupted"
        assert store.runs(status="interrupted")["run_id"].to_list() == [handle.run_id]
        store.ingest()
        assert store.sql("SELECT status FROM runs")["status"].to_list() == ["interrupted"]
    scope.__exit__(None, None, None)
    agentreel.shutdown()


def test_queries_filter_by_status_name_tag_and_time(recorded: Recorded) -> None:
    ids = _record_some()
    with recorded.store() as store:
        assert store.runs(name="eval").height == 3
        assert store.runs(name="ev*").height == 3
        assert store.runs(name="nope").height == 0
        assert store.runs(tag="i=2")["run_id"].to_list() == [ids[2]]
        assert store.runs(tag={"dataset": "qa", "i": 0})["run_id"].to_list() == [ids[0]]
        assert store.runs(status="ok").height == 4
        assert store.runs(status="error").height == 0
        assert store.runs(since="1h").height == 4
        assert store.runs(until="1h").height == 0
        assert store.runs(limit=2).height == 2
        with pytest.raises(agentreel.AgentreelError, match="status 'weird'"):
            store.runs(status="weird")
        with pytest.raises(agentreel.AgentreelError, match="neither an age"):
            store.runs(since="yesterday-ish")
        # injection attempts are just values
        assert store.runs(name="x' OR 1=1 --").height == 0
        assert store.runs(tag={"a') OR 1=1 --": "x"}).height == 0


def test_run_ids_resolve_from_prefixes(recorded: Recorded) -> None:
    ids = _record_some()
    with recorded.store() as store:
        assert store.resolve_run(ids[0][:8].upper()) == ids[0]
        with pytest.raises(agentreel.RunNotFound, match="no run"):
            store.resolve_run("0000" if not any(i.startswith("0000") for i in ids) else "ffff")
        with pytest.raises(agentreel.RunNotFound, match="not a run id"):
            store.resolve_run("xyz!")
        with pytest.raises(agentreel.RunNotFound, match="too short"):
            store.resolve_run("ab")


def test_tree_is_depth_first_with_depths(recorded: Recorded) -> None:
    ids = _record_some()
    with recorded.store() as store:
        tree = store.tree(ids[1])
    assert [(d, k) for d, k in zip(tree["depth"], tree["kind"], strict=True)] == [
        (0, "chain"),
        (1, "agent"),
        (2, "llm"),
        (2, "tool"),
        (2, "tool"),
    ]


def test_store_held_by_another_process_is_busy(tmp_path: Path) -> None:
    Store.open(tmp_path, create=True).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ok', flush=True); time.sleep(30)",
            str(tmp_path / "agentreel.duckdb"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(
            agentreel.StoreBusy, match=f"open in another process \\(process {holder.pid}\\)"
        ):
            Store.open(tmp_path)
    finally:
        holder.kill()
        holder.wait()


def test_missing_store_newer_schema_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(agentreel.StoreNotFound, match="agentreel demo"):
        Store.open(tmp_path / "nothing")
    with Store.open(tmp_path / "s", create=True) as store:
        assert store.sql("SELECT value FROM meta WHERE key = 'schema_version'")["value"][0] == str(
            SCHEMA_VERSION
        )
    con = duckdb.connect(str(tmp_path / "s" / "agentreel.duckdb"))
    con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(agentreel.StoreVersionError, match="newer than this agentreel"):
        Store.open(tmp_path / "s")
    # refused, never altered
    con = duckdb.connect(str(tmp_path / "s" / "agentreel.duckdb"), read_only=True)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("999",)
    con.close()


def test_records_without_identity_are_counted_and_dropped(recorded: Recorded) -> None:
    _record_some(1)
    agentreel.flush()
    spool = recorded.path / "spool"
    (spool / "00000000000000000001-partial-0000001.jsonl").write_text(
        json.dumps({"trace_id": None, "span_id": "s", "start_ns": 1})
        + "\n"
        + json.dumps({"name": "x"})
        + "\n"
    )
    with Store.open(recorded.path) as store:
        report = store.ingest()
        assert report.invalid_records == 2
        assert report.rejected == []
        assert report.spans == 6


def test_a_record_of_several_mib_is_read_whole(tmp_path: Path) -> None:
    # The JSON reader's buffer is sized to the largest segment of a drain, so a record
    # far larger than the usual segment must still fit.
    from agentreel._spool import SpoolPaths, write_atomic

    paths = SpoolPaths(tmp_path)
    paths.create()
    t0 = 1_700_000_000_000_000_000
    big = "x" * (3 * 1024 * 1024)
    recs = [
        {
            "trace_id": "f" * 32,
            "span_id": f"{i + 1:016x}",
            "parent_span_id": None if i == 0 else f"{1:016x}",
            "name": f"step {i}",
            "kind": "chain" if i == 0 else "tool",
            "start_ns": t0 + i,
            "end_ns": t0 + 100 + i,
            "status": "ok",
            "input": json.dumps({"text": big if i == 5 else "small"}),
        }
        for i in range(10)
    ]
    small = b'{"trace_id": "' + b"e" * 32 + b'", "span_id": "0000000000000001", "name": "r", '
    small += b'"kind": "chain", "start_ns": 1700000000000000000, "end_ns": 1700000000000000001}\n'
    write_atomic(paths.dir / f"{t0:020d}-feedfacefeedface-0000001.jsonl", small)
    data = ("\n".join(json.dumps(r) for r in recs) + "\n").encode()
    write_atomic(paths.dir / f"{t0 + 1:020d}-feedfacefeedface-0000002.jsonl", data)
    with Store.open(tmp_path, create=True) as store:
        report = store.ingest(limit=1)  # the small segment alone first
        assert (report.spans, report.rejected) == (1, [])
        report = store.ingest()
        assert (report.spans, report.rejected) == (10, [])
        spans = store.spans("f" * 32)
        assert json.loads(spans.filter(spans["name"] == "step 5")["input"][0])["text"] == big


def test_one_span_segments_are_read_together_and_a_bad_one_is_set_aside(tmp_path: Path) -> None:
    """Small segments are read through one joined file; a bad one is still found alone."""
    store = Store.open(tmp_path, create=True)
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700, exist_ok=True)
    trace = "ab" * 16
    for i in range(40):
        rec = {"trace_id": trace, "span_id": f"{i:016x}", "name": f"step {i}", "kind": "tool"}
        rec |= {"start_ns": 1_000 + i, "end_ns": 2_000 + i, "process_id": "p"}
        if i:
            rec["parent_span_id"] = f"{0:016x}"
        # no newline after the last record: joined with the next segment it stays a line
        (spool / f"{i:020d}-p-{i:07d}.jsonl").write_text(json.dumps(rec))
    (spool / f"{20:020d}-p-bad.jsonl").write_text('{"trace_id": "x", "start_ns": [1, 2]}\n')
    try:
        report = store.ingest()
        assert report.spans == 40
        assert [n for n, _ in report.rejected] == [f"{20:020d}-p-bad.jsonl"]
        runs = store.runs()
        assert runs["span_count"].to_list() == [40]
        assert not [p for p in spool.iterdir() if p.name.startswith(".drain-")]
    finally:
        store.close()


def test_runs_drained_a_segment_at_a_time_equal_runs_drained_at_once(
    recorded: Recorded, tmp_path: Path
) -> None:
    """A drain whose runs are all new builds them from its own rows; one that adds to
    runs stored before reads theirs from the table: both give the same runs."""

    @agentreel.llm(provider="openai", model="gpt-4.1")
    def chat(prompt: str) -> dict[str, object]:
        return {"usage": {"prompt_tokens": 1000, "completion_tokens": 100}}

    @agentreel.tool
    def search(q: str) -> str:
        if q == "fail":
            raise TimeoutError("slow")
        return q

    @agentreel.agent(name="helper")
    def agent(i: int) -> str:
        chat("p")
        agentreel.flush()  # the run's spans (and start records) go into several segments
        search("fail" if i == 2 else "a")
        return "answer"

    for i in range(4):
        with contextlib.suppress(TimeoutError), agentreel.run("eval", tags={"i": i}):
            agent(i)
        if i == 1:
            agentreel.flush()
    agentreel.flush()
    stores = {}
    for how in ("at_once", "one_by_one"):
        dst = tmp_path / how
        shutil.copytree(recorded.path, dst)
        store = Store.open(dst, create=True)
        if how == "at_once":
            assert store.ingest().segments > 1
        else:
            while store.ingest(limit=1).segments:
                pass
        store.close()
        stores[how] = dst
    con = duckdb.connect()
    for how, dst in stores.items():
        con.execute(f"ATTACH '{dst / 'agentreel.duckdb'}' AS {how} (READ_ONLY)")
    runs = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE status = 'error') FROM at_once.runs"
    )
    assert runs.fetchone() == (4, 1)
    for table, cols in (("runs", "*"), ("spans", "span_id, usage_counted, cost_usd, end_time")):
        for a, b in (("at_once", "one_by_one"), ("one_by_one", "at_once")):
            diff = con.execute(
                f"SELECT count(*) FROM (SELECT {cols} FROM {a}.{table} "
                f"EXCEPT ALL SELECT {cols} FROM {b}.{table})"
            ).fetchone()
            assert diff == (0,), (table, a, b)
