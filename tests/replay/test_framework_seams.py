"""Each framework seam, recorded with the real framework and replayed through the CLI.

The same two stories for every seam: a run replays with every step served back
(``REPLAY_AGENT_FORBID`` makes the model raise if it really runs), and a changed
system prompt diverges at the first model call, naming what changed.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentreel.store import Store
from tests.replay._harness import _cli, _json, record

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Seam:
    package: str  # the framework's import name; the case is skipped without it
    module: str  # the agent module beside this file
    script: str
    answer: str  # the agent's first line of output
    steps: int  # recorded steps a replay serves
    name: str  # the divergence's step name
    system: str  # the changed system prompt
    changed: str  # in the divergence message
    diff: tuple[str, ...]  # in the divergence's diff


SEAMS = [
    Seam(
        "openai",
        "_openai_module.py",
        "oa_agent.py",
        "echo: Capital of France?",
        1,
        "http",
        "Answer at length.",
        "body.messages[0] (system) changed",
        ('+          "content": "Answer at length.",',),
    ),
    Seam(
        "pydantic_ai",
        "_pydantic_ai_module.py",
        "pa_agent.py",
        "the value is 35",
        3,
        "pydantic-ai",
        "Be thorough.",
        "messages[0] changed",
        ('-            "content": "Be brief.",', '+            "content": "Be thorough.",'),
    ),
    Seam(
        "agents",
        "_openai_agents_module.py",
        "ag_agent.py",
        "the value is 35",
        3,
        "openai-agents",
        "Be thorough.",
        "system changed",
        ('+    "system": "Be thorough.",',),
    ),
    Seam(
        "langgraph",
        "_langgraph_module.py",
        "lg_agent.py",
        "the value is 35",
        3,
        "langchain",
        "Be thorough.",
        "messages[0] changed",
        ("Be thorough.",),
    ),
]


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


@pytest.fixture(
    params=[
        pytest.param(
            s,
            id=s.name,
            marks=pytest.mark.skipif(
                not _installed(s.package), reason=f"{s.package} (an extra) is not installed"
            ),
        )
        for s in SEAMS
    ]
)
def recorded(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Seam, Path, str]:
    seam: Seam = request.param
    lines = record(HERE / seam.module, tmp_path, seam.script)
    assert lines[0] == seam.answer
    return seam, tmp_path, lines[-1]


def test_a_recorded_run_replays_without_calling_the_model(
    recorded: tuple[Seam, Path, str],
) -> None:
    seam, cwd, rid = recorded
    p = _cli(cwd, "replay", rid, "--check", "--json", REPLAY_AGENT_FORBID="1")
    assert p.returncode == 0, p.stdout + p.stderr
    r = _json(p)
    assert r["served"] == r["steps"] == seam.steps
    assert r["live"] == 0
    assert r["output"] == f'"{seam.answer}"'


def test_a_changed_system_prompt_diverges_at_the_first_model_call(
    recorded: tuple[Seam, Path, str],
) -> None:
    seam, cwd, rid = recorded
    p = _cli(
        cwd,
        "replay",
        rid,
        "--check",
        "--json",
        REPLAY_AGENT_FORBID="1",
        REPLAY_AGENT_SYSTEM=seam.system,
    )
    assert p.returncode == 1, p.stdout + p.stderr
    d = _json(p)["divergence"]
    assert d["step"] == 1
    assert d["name"] == seam.name
    assert seam.changed in d["message"]
    for line in seam.diff:
        assert line in d["diff"]
    # the divergence unwinds the framework quietly: nothing complains on stderr
    assert "Traceback" not in p.stderr, p.stderr
    if seam.name == "langchain":  # where callbacks and tracers used to log the unwinding
        assert "Error" not in p.stderr, p.stderr


@pytest.mark.skipif(not _installed("openai"), reason="openai (an extra) is not installed")
def test_the_openai_seam_records_usage_and_keeps_the_api_key_out(tmp_path: Path) -> None:
    rid = record(HERE / "_openai_module.py", tmp_path, "oa_agent.py")[-1]
    with Store.open(tmp_path / "store") as store:
        store.ingest()
        spans = store.spans(rid)
        llm = spans.filter(spans["kind"] == "llm").row(0, named=True)
        assert llm["input_tokens"] == 9
        assert "sk-test" not in (llm["input"] or "") + (llm["attributes"] or "")


@pytest.mark.skipif(not _installed("pydantic_ai"), reason="pydantic-ai (an extra) is not installed")
def test_a_streamed_run_is_recorded_and_says_why_it_cannot_be_replayed(tmp_path: Path) -> None:
    lines = record(
        HERE / "_pydantic_ai_module.py", tmp_path, "pa_agent.py", REPLAY_AGENT_STREAM="1"
    )
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
