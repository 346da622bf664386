"""pydantic-ai through its model seam: `ReplayableModel` around a `FunctionModel`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.replay.test_replay import _cli, _env, _json

pytest.importorskip("pydantic_ai", reason="the pydantic-ai extra is not installed")

AGENT = Path(__file__).with_name("_pydantic_ai_module.py")


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, str]:
    shutil.copy(AGENT, tmp_path / "pa_agent.py")
    out = subprocess.run(
        [sys.executable, "pa_agent.py"],
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


def test_a_pydantic_ai_run_replays_without_calling_the_model(recorded: tuple[Path, str]) -> None:
    cwd, rid = recorded
    p = _cli(cwd, "replay", rid, "--check", "--json", REPLAY_AGENT_FORBID="1")
    assert p.returncode == 0, p.stdout + p.stderr
    r = _json(p)
    assert r["served"] == r["steps"] == 3  # model, tool, model
    assert r["live"] == 0
    assert r["output"] == '"the value is 35"'


def test_a_changed_system_prompt_diverges_at_the_first_model_request(
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
        REPLAY_AGENT_SYSTEM="Be thorough.",
    )
    assert p.returncode == 1, p.stdout + p.stderr
    d = _json(p)["divergence"]
    assert d["step"] == 1
    assert d["name"] == "pydantic-ai"
    assert "messages[0] changed" in d["message"]
    assert '-            "content": "Be brief.",' in d["diff"]
    assert '+            "content": "Be thorough.",' in d["diff"]


def test_a_streamed_run_is_recorded_and_says_why_it_cannot_be_replayed(tmp_path: Path) -> None:
    shutil.copy(AGENT, tmp_path / "pa_agent.py")
    out = subprocess.run(
        [sys.executable, "pa_agent.py"],
        cwd=tmp_path,
        env=_env(tmp_path / "store", REPLAY_AGENT_STREAM="1"),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "the value is 35"
    runs = _json(_cli(tmp_path, "runs", "--json"))
    assert isinstance(runs, list)
    (run,) = runs
    assert run["llm_count"] == 1  # the streamed model call is recorded
    assert run["input_tokens"] > 0
    assert run["output_tokens"] > 0
    p = _cli(tmp_path, "replay", lines[-1], "--check", REPLAY_AGENT_FORBID="1")
    assert p.returncode == 2, p.stdout + p.stderr
    assert "streamed requests (run_stream) are not recorded for replay" in p.stderr
    assert "Traceback" not in p.stderr
