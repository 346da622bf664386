"""Each framework's agent, recorded through its replay seam, replays offline and forks.

The agents (tests/conformance/_replayable.py) use the real client libraries over
real HTTP against the billing provider on 127.0.0.1, recorded three ways: the
seams alone, with the framework's own instrumentation on (`instrument()`), and
under `agentreel record --`. Whichever way, the run holds exactly what the
provider billed; `agentreel replay --check` reproduces it without one request
reaching the provider; and a fork at the tool step goes on live, counting only
what the live part spent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentreel.store import Store
from tests.conformance._provider import Provider
from tests.conformance.test_totals import PROVIDERS, _cost

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = Path(__file__).with_name("_replayable.py")
FRAMEWORKS = ["openai", "anthropic", "pydantic-ai", "openai-agents", "langgraph"]
WAYS = ["seams", "instrument", "record"]


def _env(llm: Provider, store: Path) -> dict[str, str]:
    return {**os.environ, "BASE": llm.url, "AGENTREEL_DIR": str(store), "PYTHONPATH": str(ROOT)}


def _record(tmp_path: Path, llm: Provider, framework: str, how: str) -> str:
    cmd = [sys.executable, str(PROGRAM), framework, how]
    if how == "record":
        cmd = [sys.executable, "-m", "agentreel", "record", "--", *cmd]
    out = subprocess.run(
        cmd,
        env=_env(llm, tmp_path / "store"),
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert json.loads(lines[0]) == "It is sunny in Paris."
    return lines[-1]


def _cli(tmp_path: Path, llm: Provider, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentreel", *args, "--dir", str(tmp_path / "store")],
        env=_env(llm, tmp_path / "store"),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )


def _json(p: subprocess.CompletedProcess[str]) -> Any:
    assert p.stdout.strip(), p.stderr
    return json.loads(p.stdout)


@pytest.mark.parametrize("how", WAYS)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_run_recorded_through_a_seam_has_the_bill_and_replays_offline(
    tmp_path: Path, llm: Provider, framework: str, how: str
) -> None:
    llm.take()
    rid = _record(tmp_path, llm, framework, how)
    bill = llm.take()
    with Store.open(tmp_path / "store") as store:
        store.ingest()
        runs = store.runs()
        tree = store.spans(rid)
        graph = store.agent_graph(rid)
    assert runs.height == 1, runs.select("name", "span_count")
    if framework == "openai-agents":  # the seam brings the SDK's agents and handoff along
        agents = set(tree.filter(tree["kind"] == "agent")["name"])
        assert {"triage", "weather"} <= agents, agents
        assert any(n.startswith("handoff") for n in tree["name"])
        # read as a graph: the run called triage, which handed the question to weather
        edges = {(e.caller, e.callee, e.how): e for e in graph.edges}
        handoff = edges[("triage", "weather", "handoff")]
        assert handoff.invocations == 1
        # and recorded as a span link from the weather agent's span to triage's
        agent_ids = dict(tree.filter(tree["kind"] == "agent").select("name", "span_id").iter_rows())
        with Store.open(tmp_path / "store") as store:
            links = store.sql(
                "SELECT s.name, l.linked_span_id, l.attributes->>'agentreel.link.kind' AS how "
                "FROM span_links l JOIN spans s ON s.span_id = l.span_id ORDER BY s.name"
            )
        assert links.rows() == [("weather", agent_ids["triage"], "handoff")], links
        assert handoff.errors == 0
        assert handoff.llm_calls >= 1
        assert sum(n.llm_calls for n in graph.nodes) == len(bill)
        assert sum(n.cost_usd for n in graph.nodes) == pytest.approx(
            _cost(bill, PROVIDERS.get(framework, "openai"))
        )
    run = runs.row(0, named=True)
    assert run["run_id"] == rid
    assert run["status"] == "ok", run["error_message"]
    assert run["llm_count"] == len(bill) >= 2
    assert run["input_tokens"] == sum(u.input_tokens for u in bill)
    assert run["output_tokens"] == sum(u.output_tokens for u in bill)
    assert run["cost_usd"] == pytest.approx(_cost(bill, PROVIDERS.get(framework, "openai")))
    assert run["unpriced_llm_count"] == 0

    p = _cli(tmp_path, llm, "replay", rid, "--check", "--json")
    assert p.returncode == 0, p.stdout + p.stderr
    r = _json(p)
    assert r["reproduced"], r
    assert r["live"] == 0
    assert r["served"] == r["steps"] == len(bill) + 2  # the model calls; the tool, twice
    assert llm.take() == []  # nothing reached the provider


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_fork_at_the_tool_goes_on_live_and_counts_only_what_it_spent(
    tmp_path: Path, llm: Provider, framework: str
) -> None:
    llm.take()
    rid = _record(tmp_path, llm, framework, "instrument")
    recorded_bill = llm.take()
    steps = _json(_cli(tmp_path, llm, "replay", rid, "--steps", "--json"))
    tool_steps = [s for s in steps if s["kind"] == "tool"]
    assert len(tool_steps) == 2  # timed out, then answered
    at = tool_steps[-1]["index"]
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps("rainy in Paris"))
    p = _cli(tmp_path, llm, "fork", rid, "--at", str(at), "--response", str(edited), "--network")
    assert p.returncode == 0, p.stdout + p.stderr
    live_bill = llm.take()
    # the model calls after the tool ran live; the ones before it were served
    assert 1 <= len(live_bill) < len(recorded_bill)
    assert "rainy in Paris" in json.dumps(live_bill[0].request)
    with Store.open(tmp_path / "store") as store:
        store.ingest()
        forks = store.runs(origin="fork")  # a fork is left out of the runs unless asked for
        assert store.runs()["run_id"].to_list() == [rid]
    assert forks.height == 1
    fork = forks.row(0, named=True)
    assert json.loads(fork["tags"])["forked_from"] == rid
    assert fork["input_tokens"] == sum(u.input_tokens for u in live_bill)
    assert fork["output_tokens"] == sum(u.output_tokens for u in live_bill)
