"""`agentreel replay` and `agentreel fork`, end to end: real subprocesses, real DuckDB.

Each test records a run in a subprocess, then replays it through the CLI in
another; ``REPLAY_AGENT_FORBID`` makes every tool and the model raise if they
really run, so a reproduced replay proves that everything was served back.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agentreel.replay import replay
from agentreel.store import Store
from tests.replay._harness import _cli, _env, _json

AGENT = Path(__file__).with_name("_agent_module.py")


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, str]:
    """A recorded run of the parallel test agent: (working directory, run id)."""
    shutil.copy(AGENT, tmp_path / "replay_agent.py")
    out = subprocess.run(
        [sys.executable, "replay_agent.py"],
        cwd=tmp_path,
        env=_env(tmp_path / "store"),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return tmp_path, out.stdout.strip().splitlines()[-1]


def test_replay_serves_every_step_and_reproduces(recorded: tuple[Path, str]) -> None:
    cwd, rid = recorded
    p = _cli(cwd, "replay", rid, "--check", "--json", REPLAY_AGENT_FORBID="1")
    assert p.returncode == 0, p.stdout + p.stderr
    r = _json(p)
    assert r["reproduced"]
    assert r["divergence"] is None
    assert r["steps"] == r["served"] == 9  # 2 chats, 5 lookups, 2 flaky attempts
    assert r["live"] == 0
    assert json.loads(r["output"]).startswith("answer: ")
    assert "retried: 1" in r["output"]  # the recorded ConnectionError took the same recovery
    with Store.open(cwd / "store") as store:
        store.ingest()
        row = store.run(r["replay_run_id"])
        assert json.loads(row["tags"]) == {"replay_of": rid}
        spans = store.spans(r["replay_run_id"])
        flaky = spans.filter(spans["tool_name"] == "flaky").sort("start_time")
        assert flaky["error_type"].to_list() == ["ConnectionError", None]
        # every model call was served from the recording: nothing was spent again
        assert store.run(rid)["input_tokens"] > 0
        assert (row["input_tokens"], row["output_tokens"], row["cost_usd"]) == (None, None, None)
        served = spans.filter(spans["kind"] == "llm")
        assert served.height == 2
        assert served["usage_counted"].to_list() == [False, False]
    text = _cli(cwd, "replay", rid, REPLAY_AGENT_FORBID="1")
    assert text.returncode == 0
    assert "reproduced" in text.stdout


def test_parallel_tool_calls_replay_twenty_times_without_divergence(
    recorded: tuple[Path, str],
) -> None:
    cwd, rid = recorded
    os.environ["REPLAY_AGENT_FORBID"] = "1"
    try:
        for _ in range(20):
            r = replay(rid, cwd / "store", timeout=60)
            assert r.reproduced, r.divergence
            assert r.live == 0
    finally:
        del os.environ["REPLAY_AGENT_FORBID"]


def test_a_changed_system_prompt_diverges_at_the_first_llm_step(
    recorded: tuple[Path, str],
) -> None:
    cwd, rid = recorded
    p = _cli(
        cwd,
        "replay",
        rid,
        "--check",
        "--json",
        REPLAY_AGENT_FORBID="1",
        REPLAY_AGENT_SYSTEM="You are a verbose assistant.",
    )
    assert p.returncode == 1, p.stdout + p.stderr
    d = _json(p)["divergence"]
    assert d["what"] == "changed"
    assert d["step"] == 1
    assert "messages[0] (system) changed" in d["message"]
    assert '-        "content": "You are a terse assistant.",' in d["diff"]
    assert '+        "content": "You are a verbose assistant.",' in d["diff"]
    text = _cli(cwd, "replay", rid, REPLAY_AGENT_SYSTEM="You are a verbose assistant.")
    assert "diverged at step 1" in text.stdout
    assert "messages[0] (system) changed" in text.stdout
    # the replays are error runs (they did not get through), left out of the runs list
    # and the checks unless asked for
    with Store.open(cwd / "store") as store:
        store.ingest()
        assert store.runs()["run_id"].to_list() == [rid]
        replays = store.runs(query="origin:replay")
        assert replays.height == 2
        assert set(replays["status"]) == {"error"}
        assert set(replays["error_type"]) == {"agentreel.tracer._replay.ReplayDiverged"}
        assert all("messages[0] (system) changed" in m for m in replays["error_message"])
        assert store.runs(origin="any").height == 3
        from agentreel.checks import Window

        where, params = Window().where("w_")
        seen = store.sql(f"SELECT run_id FROM runs r WHERE {where}", params)
        assert seen["run_id"].to_list() == [rid]
        where, params = Window(replays=True).where("w_")
        assert store.sql(f"SELECT run_id FROM runs r WHERE {where}", params).height == 3


def test_an_added_tool_call_is_shown_in_the_diff(recorded: tuple[Path, str]) -> None:
    cwd, rid = recorded
    p = _cli(
        cwd,
        "replay",
        rid,
        "--check",
        "--json",
        REPLAY_AGENT_FORBID="1",
        REPLAY_AGENT_EXTRA_TOOL="1",
    )
    assert p.returncode == 1, p.stdout + p.stderr
    d = _json(p)["divergence"]
    assert d["what"] == "new"
    assert d["kind"] == "tool"
    assert d["name"] == "clock"
    assert '+  "name": "clock"' in d["diff"]
    assert "the recording has the llm call chat next" in d["message"]


def test_live_on_divergence_lets_the_new_call_run(recorded: tuple[Path, str]) -> None:
    cwd, rid = recorded
    p = _cli(
        cwd,
        "replay",
        rid,
        "--check",
        "--json",
        "--on-divergence",
        "live",
        REPLAY_AGENT_EXTRA_TOOL="1",
    )
    r = _json(p)
    assert p.returncode == 1
    assert r["divergence"]["name"] == "clock"
    assert r["live"] >= 1  # clock, then the final chat (its request changed) ran for real
    assert "12:00" in r["output"]


def test_fork_at_a_tool_step_changes_the_answer_and_leaves_the_parent(
    recorded: tuple[Path, str],
) -> None:
    cwd, rid = recorded
    with Store.open(cwd / "store") as store:
        store.ingest()
        before = store.spans(rid).select("span_id", "output").sort("span_id")
        parent_output = store.run(rid)["output"]
    steps = _json(_cli(cwd, "replay", rid, "--steps", "--json"))
    assert isinstance(steps, list)
    at = next(s["index"] for s in steps if s["name"] == "lookup")
    edited = cwd / "edited.json"
    edited.write_text(json.dumps({"key": "edited", "value": -1}))
    p = _cli(cwd, "fork", rid, "--at", str(at), "--response", str(edited), "--json")
    assert p.returncode == 0, p.stdout + p.stderr
    r = _json(p)
    assert '\\"key\\": \\"edited\\"' in r["output"]
    assert r["output"] != r["recorded_output"]
    with Store.open(cwd / "store") as store:
        store.ingest()
        assert json.loads(store.run(r["replay_run_id"])["tags"]) == {
            "forked_from": rid,
            "fork_step": at,
        }
        assert store.spans(rid).select("span_id", "output").sort("span_id").equals(before)
        assert store.run(rid)["output"] == parent_output
    stopped = _cli(cwd, "fork", rid, "--at", str(at), "--response", str(edited), "--then", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped after the edited step" in stopped.stdout


def test_runs_that_cannot_be_replayed_exit_2_with_one_line(tmp_path: Path) -> None:
    code = (
        "import agentreel\n"
        "agentreel.init()\n"
        "@agentreel.tool\n"
        "def t(): return 1\n"
        "with agentreel.run('bare') as r: t()\n"
        "print(r.run_id)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=_env(tmp_path / "store"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rid = out.stdout.strip()
    for args in (("replay", rid, "--check"), ("replay", "abcdef0123"), ("fork", rid, "--at", "1")):
        p = _cli(tmp_path, *args)
        assert p.returncode == 2, p.stdout + p.stderr
        assert "Traceback" not in p.stderr
        assert len(p.stderr.strip().splitlines()) == 1
    assert "no entry point" in _cli(tmp_path, "replay", rid).stderr


def test_the_demo_agent_replays(tmp_path: Path) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "agentreel", "demo", "--runs", "4", "--seed", "3", "--json"],
        cwd=tmp_path,
        env=_env(tmp_path / "store"),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    runs = json.loads(p.stdout)
    assert {r["status"] for r in runs} >= {"ok"}
    for run in runs:
        r = _json(_cli(tmp_path, "replay", run["run_id"], "--check", "--json"))
        assert r["reproduced"], (run["status"], r["divergence"], r["error"])
        assert r["served"] == r["steps"] > 0
        assert r["live"] == 0


def test_an_imported_entry_point_replays_from_another_directory(tmp_path: Path) -> None:
    work = tmp_path / "project"
    work.mkdir()
    (work / "mod_agent.py").write_text(
        "import agentreel\n"
        "@agentreel.tool\n"
        "def double(x: int) -> int:\n"
        "    return 2 * x\n"
        "@agentreel.agent\n"
        "def main(x: int) -> int:\n"
        "    return double(x) + 1\n"
    )
    code = (
        "import agentreel, mod_agent\n"
        "agentreel.init()\n"
        "with agentreel.run('m') as r: mod_agent.main(20)\n"
        "print(r.run_id)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=work,
        env=_env(tmp_path / "store"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    p = _cli(tmp_path, "replay", out.stdout.strip(), "--check", "--json")  # from tmp_path
    assert p.returncode == 0, p.stdout + p.stderr
    assert _json(p)["output"] == "41"
