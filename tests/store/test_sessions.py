"""Sessions: runs that are turns of one conversation, grouped and read as a transcript."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import agentreel
from agentreel._errors import ConfigError, RunNotFound
from tests.conftest import Recorded


@agentreel.agent
def bot(message: str) -> str:
    if message == "boom":
        raise ValueError("the tool is down")
    return "re: " + message


def _talk(session: str, *messages: str) -> None:
    for m in messages:
        try:
            with agentreel.run("turn", session=session):
                bot(m)
        except ValueError:
            pass


def test_runs_group_by_each_way_a_session_is_named(recorded: Recorded) -> None:
    _talk("chat-1", "hi", "how are you")
    _talk("chat-2", "hello", "boom")
    # an instrumentation's way: session.id on a span of the run
    with agentreel.run("other"), agentreel.span("step", attributes={"session.id": "web-7"}):
        pass
    with agentreel.run("untouched"):
        pass
    store = recorded.store()
    with store:
        s = {r["session_id"]: r for r in store.sessions().iter_rows(named=True)}
        assert set(s) == {"chat-1", "chat-2", "web-7"}
        assert (s["chat-1"]["turns"], s["chat-1"]["ended"], s["chat-1"]["failed_turns"]) == (
            2,
            "ok",
            0,
        )
        assert (s["chat-2"]["turns"], s["chat-2"]["ended"], s["chat-2"]["failed_turns"]) == (
            2,
            "error",
            1,
        )
        assert s["chat-2"]["start_time"] <= s["chat-2"]["end_time"]
        # the filter selects sessions by any turn, and counts all their turns
        (hit,) = store.sessions(query="status:error").iter_rows(named=True)
        assert (hit["session_id"], hit["turns"]) == ("chat-2", 2)
        assert store.runs(query="session:chat-1").height == 2
        assert store.runs(query="session:chat-*").height == 4
        assert store.runs(query="-session:chat-1 name:turn").height == 2

        turns = store.session_turns("chat-2")
        assert turns["status"].to_list() == ["ok", "error"]
        assert json.loads(turns["input"][0]) == {"message": "hello"}
        assert json.loads(turns["output"][0]) == "re: hello"
        assert turns["error_message"][1] == "the tool is down"
        with pytest.raises(RunNotFound, match="no session 'nope'"):
            store.session_turns("nope")


def test_a_session_must_be_a_non_empty_string(recorded: Recorded) -> None:
    for bad in ("", 7):
        with pytest.raises(ConfigError, match="session="):
            agentreel.run("x", session=bad)  # type: ignore[arg-type]


SCRIPT = """
import agentreel
agentreel.init()

@agentreel.agent
def bot(message):
    if message == "boom":
        raise ValueError("down")
    return "re: " + message

for sid, msgs in [("chat-1", ["hi", "again"]), ("chat-2", ["hello", "boom"])]:
    for m in msgs:
        try:
            with agentreel.run("turn", session=sid):
                bot(m)
        except ValueError:
            pass
agentreel.flush()
"""


def test_the_sessions_command_lists_filters_and_reads_a_transcript(tmp_path: Path) -> None:
    (tmp_path / "talk.py").write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTREEL_")}
    env["AGENTREEL_DIR"] = str(tmp_path / ".agentreel")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert cli("talk.py").returncode == 0
    listed = cli("-m", "agentreel", "sessions")
    lines = listed.stdout.splitlines()
    assert lines[0].split() == [
        "session",
        "turns",
        "started",
        "took",
        "tokens",
        "cost",
        "err",
        "ended",
    ]
    assert [ln.split()[0] for ln in lines[1:]] == ["chat-2", "chat-1"]
    assert lines[1].split()[-1] == "error"
    assert lines[2].split()[-1] == "ok"
    rows = json.loads(cli("-m", "agentreel", "sessions", "--json", "-q", "status:error").stdout)
    assert [(r["session_id"], r["turns"], r["failed_turns"]) for r in rows] == [("chat-2", 2, 1)]
    transcript = cli("-m", "agentreel", "sessions", "chat-2").stdout
    assert "turn 1" in transcript
    assert "user   hello" in transcript
    assert "agent  re: hello" in transcript
    assert "error  ValueError: down" in transcript
    missing = cli("-m", "agentreel", "sessions", "nope")
    assert missing.returncode == 2
    assert "no session 'nope'" in missing.stderr
    empty = cli("-m", "agentreel", "sessions", "-q", "name:zzz")
    assert empty.stdout.strip() == "no sessions match"
