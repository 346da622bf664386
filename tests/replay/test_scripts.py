"""Entry points in scripts run as ``python agent.py``, the README's Quickstart included.

Such a script's module is ``__main__``: the replay loads the file without running
what its top level does (its own run of the agent), and the classes it defines
(an exception the agent catches) are the ones the replay raises again.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.replay._harness import _env

ROOT = Path(__file__).resolve().parents[2]


def _python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in _env(cwd / ".agentreel").items() if k != "AGENTREEL_DIR"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def _runs(cwd: Path, *query: str) -> list[dict[str, Any]]:
    p = _run(cwd, "-m", "agentreel", "runs", "--json", *query)
    assert p.returncode == 0, p.stderr
    out: list[dict[str, Any]] = json.loads(p.stdout)
    return out


def test_the_readme_quickstart_runs_and_replays_as_written(tmp_path: Path) -> None:
    quickstart, store_block = _python_blocks((ROOT / "README.md").read_text())[:2]
    (tmp_path / "quickstart.py").write_text(quickstart)
    p = _run(tmp_path, "quickstart.py")
    assert p.returncode == 0, p.stderr
    (run,) = _runs(tmp_path)
    assert run["status"] == "ok"
    assert (run["input_tokens"], run["output_tokens"]) == (38, 9)

    p = _run(tmp_path, "-m", "agentreel", "replay", run["run_id"], "--check")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "reproduced" in p.stdout
    assert "the replay calls research itself" in " ".join(p.stdout.split())
    # the replay ran the agent once: the script's own top-level run did not run again
    assert _runs(tmp_path) == [run]  # replays are left out of the list unless asked for
    (replayed,) = _runs(tmp_path, "-q", "origin:replay")
    assert replayed["tags"] == {"replay_of": run["run_id"]}
    assert replayed["status"] == "ok"
    assert [r["run_id"] for r in _runs(tmp_path, "-q", "origin:any")] == [
        replayed["run_id"],
        run["run_id"],
    ]

    (tmp_path / "store_block.py").write_text(store_block)
    p = _run(tmp_path, "store_block.py")
    assert p.returncode == 0, p.stderr


SCRIPT = '''
import agentreel

agentreel.init()


class SearchDown(Exception):
    """Defined in the script, so recorded as __main__.SearchDown."""


_calls = {"n": 0}


@agentreel.tool
def search(query: str) -> list[str]:
    _calls["n"] += 1
    if _calls["n"] == 1:
        raise SearchDown("index offline")
    return [f"result for {query}"]


@agentreel.agent
def research(question: str) -> str:
    try:
        hits = search(question)
    except SearchDown:
        hits = ["(search is down)"] + search(question)
    return " / ".join(hits)


print(research("energy"))
'''


@pytest.mark.parametrize("guarded", [False, True])
def test_an_exception_class_of_the_script_is_raised_again_as_itself(
    tmp_path: Path, guarded: bool
) -> None:
    script = SCRIPT
    if guarded:
        script = script.replace(
            'print(research("energy"))', 'if __name__ == "__main__":\n    print(research("energy"))'
        )
    (tmp_path / "agent.py").write_text(script)
    p = _run(tmp_path, "agent.py")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "(search is down) / result for energy"
    (run,) = _runs(tmp_path)
    p = _run(tmp_path, "-m", "agentreel", "replay", run["run_id"], "--check", "--json")
    assert p.returncode == 0, p.stdout + p.stderr
    r = json.loads(p.stdout)
    assert r["reproduced"]
    assert r["served"] == 2
    assert json.loads(r["output"]) == "(search is down) / result for energy"
    (note,) = r["notes"]
    assert note.startswith("left out the top-level statements of agent.py")


PROMPT_SCRIPT = """
import os

import agentreel

SYSTEM = os.environ.get("AGENT_SYSTEM", "Be brief.")


@agentreel.llm(READS)
def chat(question: str) -> dict:
    return {"choices": [{"message": {"content": f"{SYSTEM} {question}"}}]}


@agentreel.agent
def answer(question: str) -> str:
    return chat(question)["choices"][0]["message"]["content"]


if __name__ == "__main__":
    agentreel.init()
    print(answer("hi"))
"""


@pytest.mark.parametrize("reads", [True, False])
def test_what_a_step_reads_besides_its_arguments_is_part_of_its_request(
    tmp_path: Path, reads: bool
) -> None:
    script = PROMPT_SCRIPT.replace("READS", "reads=lambda: {'system': SYSTEM}" if reads else "")
    (tmp_path / "agent.py").write_text(script)
    assert _run(tmp_path, "agent.py").returncode == 0
    (run,) = _runs(tmp_path)
    env = {k: v for k, v in _env(tmp_path / ".agentreel").items() if k != "AGENTREEL_DIR"}
    p = subprocess.run(
        [sys.executable, "-m", "agentreel", "replay", run["run_id"], "--check", "--json"],
        cwd=tmp_path,
        env={**env, "AGENT_SYSTEM": "Be thorough."},
        capture_output=True,
        text=True,
        timeout=300,
    )
    r = json.loads(p.stdout)
    if reads:  # the changed prompt is a divergence, and the diff shows it
        assert p.returncode == 1, p.stdout + p.stderr
        assert r["divergence"]["step"] == 1
        assert '-      "system": "Be brief."' in r["divergence"]["diff"]
        assert '+      "system": "Be thorough."' in r["divergence"]["diff"]
    else:  # what the request fingerprint does not cover, replay cannot see
        assert p.returncode == 0, p.stdout + p.stderr
        assert r["reproduced"]
