from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import cast

import pytest

import agentreel
from agentreel.store import Span, _diff
from tests.conftest import Recorded


@pytest.fixture(autouse=True)
def _durations_not_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runs below are timed on whatever machine runs the tests, where a busy moment
    can double any step's duration, which the diff rightly reports: so in-process diffs
    here compare everything but durations (the rule itself is tested on fixed numbers)."""
    monkeypatch.setattr(_diff, "_MIN_DURATION_MS", float("inf"))


def test_a_step_that_takes_twice_as_long_is_a_difference_and_noise_is_not() -> None:
    def step(ms: float) -> Span:
        return cast(
            "Span",
            {"kind": "tool", "status": "ok", "input": "{}", "output": "1", "duration_ms": ms},
        )

    with pytest.MonkeyPatch.context() as m:
        m.setattr(_diff, "_MIN_DURATION_MS", 5.0)
        assert _diff._compare(step(100), step(250)) == ["duration 100ms → 250ms"]
        assert _diff._compare(step(100), step(150)) == []  # under twice as long
        assert _diff._compare(step(1), step(4)) == []  # under 5 ms: noise


ROOT = Path(__file__).resolve().parents[2]


def _agent_run(name: str, queries: list[str], *, tokens: int = 10, answer: str = "done") -> str:
    @agentreel.llm(provider="openai", model="gpt-4.1")
    def plan(goal: str) -> dict[str, object]:
        return {
            "usage": {"prompt_tokens": tokens, "completion_tokens": 2},
            "id": f"chatcmpl-{name}",
        }

    @agentreel.tool
    def search(query: str) -> str:
        return f"results for {query}"

    @agentreel.agent(name="researcher")
    def research() -> str:
        plan("goal")
        for q in queries:
            search(q)
        plan("answer")
        return answer

    with agentreel.run("job") as r:
        research()
    return r.run_id


def test_identical_runs_have_no_difference_despite_volatile_ids(recorded: Recorded) -> None:
    a = _agent_run("a", ["x", "y"])
    b = _agent_run("b", ["x", "y"])  # different response ids: masked
    with recorded.store() as store:
        d = store.diff(a, b)
    assert d.first_difference is None
    assert [p.op for p in d.pairs] == ["same"] * 6


def test_an_extra_step_is_aligned_not_shifted(recorded: Recorded) -> None:
    a = _agent_run("a", ["x", "y"])
    b = _agent_run("b", ["x", "extra", "y"])
    with recorded.store() as store:
        d = store.diff(a[:8], b[:8])
    ops = [p.op for p in d.pairs]
    assert ops.count("only_b") == 1
    assert ops.count("same") == 6
    first = d.pairs[d.first_difference]  # type: ignore[index]
    assert first.op == "only_b"
    assert json.loads(first.b["input"]) == {"query": "extra"}  # type: ignore[index]


def test_changed_arguments_tokens_and_output_are_named(recorded: Recorded) -> None:
    a = _agent_run("a", ["x", "y"], tokens=10, answer="done")
    b = _agent_run("b", ["x", "z"], tokens=30, answer="other")
    with recorded.store() as store:
        d = store.diff(a, b)
    changed = {(p.a["kind"], p.a.get("tool_name")): p.changes for p in d.pairs if p.op == "changed"}  # type: ignore[index]
    search = changed[("tool", "search")]
    assert search[0] == "arguments differ: query"  # which argument, not only that one did
    assert search[1].startswith("output differs")
    assert "tokens in 10 → 30" in changed[("llm", None)]
    assert any(c.startswith("output differs") for c in changed[("agent", None)])
    # the first difference in tree order: the agent (parents come before their steps)
    assert d.pairs[d.first_difference].a["kind"] == "agent"  # type: ignore[index]


def test_cli_diff_prints_the_alignment_and_json(recorded: Recorded) -> None:
    a = _agent_run("a", ["x", "y"])
    b = _agent_run("b", ["x", "extra", "y"])
    agentreel.flush()
    base = [sys.executable, "-m", "agentreel", "diff", a[:8], b[:8], "--dir", str(recorded.path)]
    out = subprocess.run(
        base,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={"COLUMNS": "140", "PATH": "/usr/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert "first difference" in out.stdout
    assert "only in B" in out.stdout
    # durations count as differences when one doubles, which a busy machine can make
    # happen to any step: so the count printed is checked against the JSON's
    printed = re.search(r"(\d+) of 7 steps differ", out.stdout)
    assert printed, out.stdout
    data = json.loads(
        subprocess.run(
            [*base, "--json"], capture_output=True, text=True, timeout=60, cwd=ROOT
        ).stdout
    )
    assert data["first_difference"] is not None
    assert [s["op"] for s in data["steps"]].count("only_b") == 1
    assert int(printed.group(1)) == sum(s["op"] != "same" for s in data["steps"])
    bad = subprocess.run(
        [*base[:4], "zzzz", b[:8], "--dir", str(recorded.path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert bad.returncode == 2
    assert "not a run id" in bad.stderr
