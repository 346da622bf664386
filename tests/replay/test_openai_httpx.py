"""The OpenAI client through httpx's transport seam: `ReplayableTransport`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agentreel.store import Store
from tests.replay.test_replay import _cli, _env, _json

pytest.importorskip("openai", reason="the openai extra is not installed")

AGENT = Path(__file__).with_name("_openai_module.py")


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, str]:
    shutil.copy(AGENT, tmp_path / "oa_agent.py")
    out = subprocess.run(
        [sys.executable, "oa_agent.py"],
        cwd=tmp_path,
        env=_env(tmp_path / "store"),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "echo: Capital of France?"
    return tmp_path, lines[-1]


def test_an_openai_client_run_replays_without_calling_the_api(recorded: tuple[Path, str]) -> None:
    cwd, rid = recorded
    p = _cli(cwd, "replay", rid, "--check", "--json", REPLAY_AGENT_FORBID="1")
    assert p.returncode == 0, p.stdout + p.stderr
    r = _json(p)
    assert r["served"] == r["steps"] == 1
    assert r["output"] == '"echo: Capital of France?"'
    with Store.open(cwd / "store") as store:
        store.ingest()
        llm = store.spans(rid).filter(store.spans(rid)["kind"] == "llm").row(0, named=True)
        assert llm["input_tokens"] == 9
        assert "sk-test" not in (llm["input"] or "") + (llm["attributes"] or "")


def test_a_changed_system_prompt_diverges(recorded: tuple[Path, str]) -> None:
    cwd, rid = recorded
    p = _cli(
        cwd,
        "replay",
        rid,
        "--check",
        "--json",
        REPLAY_AGENT_FORBID="1",
        REPLAY_AGENT_SYSTEM="Answer at length.",
    )
    assert p.returncode == 1, p.stdout + p.stderr
    d = _json(p)["divergence"]
    assert d["step"] == 1
    assert d["name"] == "http"
    assert "body.messages[0] (system) changed" in d["message"]
    assert '+          "content": "Answer at length.",' in d["diff"]
