"""Real processes: end to end, many writers at once, SIGKILL mid-run, killed drains."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentreel.store import Store

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _program(
    store: Path, runs: int, tools: int, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests._agent_program", str(store), str(runs), str(tools), *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_end_to_end_record_in_a_subprocess_then_ingest(tmp_path: Path) -> None:
    p = _program(tmp_path, 2, 3, "--tag", "suite=e2e")
    _out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    with Store.open(tmp_path) as store:
        report = store.ingest()
        assert report.spans == 2 * (3 + 3)
        runs = store.runs()
        assert runs["name"].to_list() == ["job", "job"]
        r = runs.row(0, named=True)
        assert (
            r["status"],
            r["span_count"],
            r["llm_count"],
            r["tool_count"],
            r["agent_count"],
        ) == ("ok", 6, 1, 3, 1)
        assert (r["input_tokens"], r["output_tokens"]) == (50, 5)
        assert r["cost_usd"] is not None
        assert r["cost_usd"] > 0
        assert json.loads(r["tags"]) == {"run": 1, "suite": "e2e"}
        assert r["service_name"] == "_agent_program"
        assert r["code_version"] is None or len(r["code_version"]) == 40
        tree = store.tree(r["run_id"])
        assert [
            (d, k, n) for d, k, n in zip(tree["depth"], tree["kind"], tree["name"], strict=True)
        ] == [
            (0, "chain", "job"),
            (1, "agent", "invoke_agent worker"),
            (2, "llm", "chat gpt-4.1-mini"),
            (2, "tool", "execute_tool lookup"),
            (2, "tool", "execute_tool lookup"),
            (2, "tool", "execute_tool lookup"),
        ]
        tools = tree.filter(tree["kind"] == "tool")
        assert [json.loads(x) for x in tools["input"]] == [{"i": 0}, {"i": 1}, {"i": 2}]
        assert [json.loads(x) for x in tools["output"]] == ["result 0", "result 1", "result 2"]
        llm = tree.filter(tree["kind"] == "llm").row(0, named=True)
        assert (llm["provider"], llm["request_model"], llm["finish_reason"]) == (
            "openai",
            "gpt-4.1-mini",
            "stop",
        )
        assert json.loads(llm["attributes"])["gen_ai.operation.name"] == "chat"


def test_eight_processes_recording_at_once_lose_no_span(tmp_path: Path) -> None:
    runs, tools = 20, 25
    procs = [_program(tmp_path, runs, tools) for _ in range(8)]
    # drain while they record, as a viewer would
    with Store.open(tmp_path, create=True) as store:
        while any(p.poll() is None for p in procs):
            store.ingest()
            time.sleep(0.05)
        for p in procs:
            assert p.returncode == 0, p.stderr.read() if p.stderr else ""
        store.ingest()
        n = store.sql("SELECT count(*) AS n, count(DISTINCT span_id) AS d FROM spans").row(
            0, named=True
        )
        assert n == {"n": 8 * runs * (tools + 3), "d": 8 * runs * (tools + 3)}
        assert store.runs(limit=1000).height == 8 * runs
        assert set(store.runs(limit=1000)["status"]) == {"ok"}


def test_sigkill_mid_run_loses_at_most_the_unflushed_batch(tmp_path: Path) -> None:
    p = _program(tmp_path, 2, 5, "--hang", env={"AGENTREEL_FLUSH": "0.1"})
    assert p.stdout is not None
    lines = [p.stdout.readline().strip() for _ in range(5)]
    assert lines[-1] == "flushed 5"
    time.sleep(0.3)  # let the start-record tick spool the open root and agent spans
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)
    # the heartbeat stops; make it stale instead of waiting 15 s
    for hb in (tmp_path / "spool" / "live").iterdir():
        os.utime(hb, (time.time() - 60, time.time() - 60))
    with Store.open(tmp_path) as store:
        store.ingest()
        runs = store.runs()
        assert sorted(runs["status"].to_list()) == ["interrupted", "ok"]
        crashed = runs.filter(runs["status"] == "interrupted").row(0, named=True)
        tree = store.tree(crashed["run_id"])
        # every flushed tool call is there, and the open root and agent show where it stopped
        assert tree["kind"].to_list() == [
            "chain",
            "agent",
            "llm",
            "tool",
            "tool",
            "tool",
            "tool",
            "tool",
        ]
        assert tree["end_time"].to_list()[:2] == [None, None]
        assert crashed["tool_count"] == 5


def test_drain_killed_at_random_points_neither_loses_nor_duplicates(tmp_path: Path) -> None:
    # many small segments: one per tool call
    p = _program(tmp_path, 30, 20, "--flush-each")
    _, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    expected = 30 * (20 + 3)
    rng = random.Random(42)
    # small transactions, so a kill can land inside one, between commit and archive, or between two
    code = (
        "import sys; from agentreel.store import Store\n"
        "s = Store.open(sys.argv[1])\n"
        "while s.ingest(limit=25).segments: pass"
    )
    kills = 0
    for _ in range(8):
        d = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT)
        time.sleep(rng.uniform(0.3, 0.7))
        if d.poll() is None:
            d.send_signal(signal.SIGKILL)
            kills += 1
        d.wait(timeout=30)
    assert kills >= 4, "the drain finished before it could be killed; the test needs more segments"
    with Store.open(tmp_path) as store:
        store.ingest()
        n = store.sql("SELECT count(*) AS n, count(DISTINCT span_id) AS d FROM spans").row(
            0, named=True
        )
        assert n == {"n": expected, "d": expected}
        assert store.runs(limit=100).height == 30
    assert not list((tmp_path / "spool").glob("*.jsonl"))
