"""A run's agents as a graph: calls and handoffs, with each edge's work and cost."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from textual.widgets import Static

import agentreel
from agentreel.demo import run_demo
from agentreel.store import Store, agent_graph
from agentreel.tui import AgentreelApp
from tests._cli import agentreel_cli
from tests.tui.test_app import drive, runs_ready, runs_table, text_of, until


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("graph") / "store"
    agentreel.init(d, tracer_provider=TracerProvider())
    try:
        run_demo(6, seed=3, latency=0.0)
    finally:
        agentreel.shutdown()
    with Store.open(d) as store:
        store.ingest()
    return d


def test_the_graph_accounts_for_every_model_call_and_dollar_of_the_run(demo: Path) -> None:
    with Store.open(demo) as store:
        runs = store.runs().to_dicts()
        assert runs
        for run in runs:
            graph = store.agent_graph(run["run_id"])
            edges = {(e.caller, e.callee, e.how): e for e in graph.edges}
            assert ("(run)", "researcher", "call") in edges
            assert all(e.how == "call" for e in graph.edges)  # the demo nests, never hands off
            assert sum(n.llm_calls for n in graph.nodes) == run["llm_count"]
            assert sum(n.cost_usd for n in graph.nodes) == pytest.approx(run["cost_usd"] or 0)
            tokens = sum(n.input_tokens + n.output_tokens for n in graph.nodes)
            assert tokens == (run["input_tokens"] or 0) + (run["output_tokens"] or 0)
            # an edge counts what its invocations did: the edges into an agent sum to it
            for n in graph.nodes:
                into = [e for e in graph.edges if e.callee == n.name]
                assert sum(e.invocations for e in into) == n.invocations
                assert sum(e.cost_usd for e in into) == pytest.approx(n.cost_usd)


def test_a_handoff_named_on_the_agent_span_is_an_edge_from_the_agent_it_left() -> None:
    import polars as pl

    def span(sid: str, parent: str | None, kind: str, name: str, **attrs: str) -> dict:
        return {
            "span_id": sid,
            "parent_span_id": parent,
            "kind": kind,
            "name": name,
            "agent_name": name if kind == "agent" else None,
            "status": "error" if name == "weather" else "ok",
            "duration_ms": 1.0,
            "usage_counted": kind == "llm",
            "input_tokens": 10 if kind == "llm" else None,
            "output_tokens": 2 if kind == "llm" else None,
            "cost_usd": 0.5 if kind == "llm" else None,
            "attributes": json.dumps(attrs),
        }

    tree = pl.DataFrame(
        [
            span("r", None, "chain", "workflow"),
            span("a", "r", "agent", "triage"),
            span("l1", "a", "llm", "chat"),
            span("b", "r", "agent", "weather", **{"graph.node.parent_id": "triage"}),
            span("l2", "b", "llm", "chat"),
            span("l3", "l2", "llm", "chat inner"),  # a wrapper and its call: one call
        ]
    )
    g = agent_graph(tree)
    assert [(e.caller, e.callee, e.how, e.invocations, e.errors, e.llm_calls) for e in g.edges] == [
        ("(run)", "triage", "call", 1, 0, 1),
        ("triage", "weather", "handoff", 1, 1, 1),
    ]
    assert [n.name for n in g.nodes] == ["triage", "weather"]


def test_show_graph_and_json(demo: Path) -> None:
    with Store.open(demo) as store:
        rid = store.runs(limit=1)["run_id"][0]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return agentreel_cli(demo, *args)

    out = cli("show", rid[:8], "--graph")
    assert out.returncode == 0, out.stderr
    assert "(run) ─call→ researcher" in out.stdout
    assert "researcher:" in out.stdout
    doc = json.loads(cli("show", rid[:8], "--json").stdout)
    edges = doc["agent_graph"]["edges"]
    assert edges[0]["caller"] == "(run)"
    assert edges[0]["callee"] == "researcher"


def test_g_opens_the_agent_graph_on_the_run_screen(demo: Path) -> None:
    from textual.pilot import Pilot

    from agentreel.tui._graph import GraphScreen
    from agentreel.tui._run import RunScreen

    async def steps(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: runs_ready(pilot) and runs_table(pilot).row_count > 0)
        await pilot.press("enter")
        await until(
            pilot, lambda: isinstance(pilot.app.screen, RunScreen) and bool(pilot.app.screen.rows)
        )
        await pilot.press("g")
        await until(pilot, lambda: isinstance(pilot.app.screen, GraphScreen))
        text = text_of(pilot.app.screen.query_one("#graph", Static))
        assert "(run) ─call→ researcher" in text
        assert "agents" in text
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen))

    drive(AgentreelApp(demo, refresh_every=0.5), steps)
