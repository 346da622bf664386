"""Span links: recorded by the tracer, read over OTLP, kept by the store, drawn in the graph."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import agentreel
from agentreel.store import Store, export_otlp_json, import_otlp_json
from tests.conftest import Recorded


@agentreel.agent(name="triage")
def triage(q: str) -> tuple[str, agentreel.SpanHandle]:
    return q, agentreel.current_span()


@agentreel.agent(name="billing")
def billing(q: str, handed_by: agentreel.SpanHandle) -> str:
    agentreel.current_span().link(handed_by)
    return q.upper()


def test_a_handoff_link_is_kept_and_drawn_as_the_edge_into_the_agent(
    recorded: Recorded, tmp_path: Path
) -> None:
    with agentreel.run("support") as r:
        q, handle = triage("refund")
        billing(q, handle)
    with recorded.store() as store:
        links = store.sql("SELECT * FROM span_links").to_dicts()
        ids = dict(store.sql("SELECT agent_name, span_id FROM spans WHERE kind = 'agent'").rows())
        graph = store.agent_graph(r.run_id)
        out = tmp_path / "runs.jsonl"
        export_otlp_json(store, out)
    assert len(links) == 1
    link = links[0]
    assert (link["run_id"], link["span_id"]) == (r.run_id, ids["billing"])
    assert (link["linked_trace_id"], link["linked_span_id"]) == (r.run_id, ids["triage"])
    assert json.loads(link["attributes"]) == {"agentreel.link.kind": "handoff"}
    # billing is a sibling of triage under the run: the link, not the nesting, says who
    edges = {(e.caller, e.callee, e.how) for e in graph.edges}
    assert edges == {("(run)", "triage", "call"), ("triage", "billing", "handoff")}
    # the link travels in OTLP/JSON and comes back from it
    copy = tmp_path / "copy"
    import_otlp_json(copy, [out])
    with Store.open(copy, create=True) as again:
        again.ingest()
        back = again.sql("SELECT span_id, linked_span_id, attributes FROM span_links").rows()
    assert back == [(ids["billing"], ids["triage"], '{"agentreel.link.kind":"handoff"}')]


def test_a_span_handed_off_from_another_links_to_it_from_its_start(recorded: Recorded) -> None:
    with agentreel.run("support") as r:
        with agentreel.span("triage", kind="agent") as t:
            pass
        with agentreel.span("billing", kind="agent", handoff_from=t):
            pass
    with recorded.store() as store:
        edges = {(e.caller, e.callee, e.how) for e in store.agent_graph(r.run_id).edges}
    assert edges == {("(run)", "triage", "call"), ("triage", "billing", "handoff")}


def test_a_link_received_over_otlp_names_a_call_edge_when_it_says_so(tmp_path: Path) -> None:
    trace = "5" * 32

    def span(
        sid: str, name: str, links: list[dict[str, object]] | None = None
    ) -> dict[str, object]:
        return {
            "traceId": trace,
            "spanId": sid,
            "parentSpanId": "1" * 16,
            "name": f"invoke_agent {name}",
            "startTimeUnixNano": "1700000000000000000",
            "endTimeUnixNano": "1700000001000000000",
            "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}},
                {"key": "gen_ai.agent.name", "value": {"stringValue": name}},
            ],
            "links": links or [],
        }

    root = {
        "traceId": trace,
        "spanId": "1" * 16,
        "name": "workflow",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000002000000000",
    }
    planner = span("2" * 16, "planner")
    coder = span(
        "3" * 16,
        "coder",
        [
            {"traceId": "9" * 32, "spanId": "9" * 16},  # another trace: not an edge here
            {"traceId": "zz", "spanId": "1"},  # names no span: dropped, the span stays
            {
                "traceId": trace,
                "spanId": "2" * 16,
                "attributes": [{"key": "agentreel.link.kind", "value": {"stringValue": "call"}}],
            },
        ],
    )
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [root, planner, coder]}]}]}
    f = tmp_path / "t.json"
    f.write_text(json.dumps(doc))
    import_otlp_json(tmp_path / "s", [f])
    with Store.open(tmp_path / "s", create=True) as store:
        store.ingest()
        n = store.sql("SELECT count(*) AS n FROM span_links")["n"][0]
        graph = store.agent_graph(trace)
    assert n == 2
    assert graph.nodes[-1].name == "coder"
    edges = {(e.caller, e.callee, e.how) for e in graph.edges}
    assert edges == {("(run)", "planner", "call"), ("planner", "coder", "call")}


def test_a_link_to_something_not_a_step_is_a_clear_error(recorded: Recorded) -> None:
    """A run id or span id string where a `SpanHandle` belongs is a `ConfigError`."""
    not_a_step: agentreel.SpanHandle = "4bb9e718"  # type: ignore[assignment]
    handoff = r"handoff_from=\.\.\.\) takes the SpanHandle of a step"
    with agentreel.run("support"), pytest.raises(agentreel.ConfigError, match=handoff):
        agentreel.span("billing", kind="agent", handoff_from=not_a_step)
    with (
        agentreel.run("support"),
        agentreel.span("billing", kind="agent") as b,
        pytest.raises(agentreel.ConfigError, match=r"SpanHandle\.link takes the SpanHandle"),
    ):
        b.link(not_a_step)
