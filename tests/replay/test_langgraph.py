"""A LangGraph graph through LangChain's chat-model seam: `ReplayableChatModel`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.replay.test_replay import _cli, _env, _json

pytest.importorskip("langgraph", reason="the langgraph extra is not installed")

AGENT = Path(__file__).with_name("_langgraph_module.py")


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, str]:
    shutil.copy(AGENT, tmp_path / "lg_agent.py")
    out = subprocess.run(
        [sys.executable, "lg_agent.py"],
        cwd=tmp_path,
        env=_env(tmp_path / "store"),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "the value is 35"
    return tmp_path, lines[-1]


def test_a_langgraph_run_replays_without_calling_the_model(recorded: tuple[Path, str]) -> None:
    cwd, rid = recorded
    p = _cli(cwd, "replay", rid, "--check", "--json", REPLAY_AGENT_FORBID="1")
    assert p.returncode == 0, p.stdout + p.stderr
    r = _json(p)
    assert r["served"] == r["steps"] == 3  # model, tool, model
    assert r["live"] == 0
    assert r["output"] == '"the value is 35"'


def test_changed_instructions_diverge_at_the_first_model_call(recorded: tuple[Path, str]) -> None:
    cwd, rid = recorded
    p = _cli(
        cwd,
        "replay",
        rid,
        "--check",
        "--json",
        REPLAY_AGENT_FORBID="1",
        REPLAY_AGENT_SYSTEM="Be thorough.",
    )
    assert p.returncode == 1, p.stdout + p.stderr
    d = _json(p)["divergence"]
    assert d["step"] == 1
    assert d["name"] == "langchain"
    assert "messages[0] changed" in d["message"]
    assert "Be thorough." in d["diff"]
    # the divergence unwinds the graph quietly: no callback or tracer complains on stderr
    assert "Error" not in p.stderr, p.stderr
    assert "Traceback" not in p.stderr, p.stderr
