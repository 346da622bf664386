"""What the tracer writes by default and under OTEL_SEMCONV_STABILITY_OPT_IN."""

from __future__ import annotations

import json

import pytest

import agentreel
from agentreel.conventions import lint_spans
from tests.conftest import Recorded


@agentreel.agent(name="planner", version="2.1")
def planner(q: str) -> str:
    return remote_writer(q)


@agentreel.agent(name="writer", remote=True, provider="example.agents")
def remote_writer(q: str) -> str:
    return q.upper()


def test_by_default_a_run_root_keeps_the_run_name_and_no_workflow_operation(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_SEMCONV_STABILITY_OPT_IN", raising=False)
    with agentreel.run("nightly"):
        planner("x")
    root = recorded.by_name()["nightly"]
    assert root["span_kind"] == "internal"
    assert "gen_ai.operation.name" not in root["attributes"]
    assert "gen_ai.workflow.name" not in root["attributes"]


@pytest.mark.parametrize(
    "value", ["gen_ai_latest_experimental", "http, gen_ai_latest_experimental"]
)
def test_under_the_opt_in_a_run_root_is_an_invoke_workflow_span(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", value)
    with agentreel.run("nightly") as r:
        planner("x")
    root = recorded.by_name()["invoke_workflow nightly"]
    assert root["span_kind"] == "internal"
    assert root["operation"] == "invoke_workflow"
    assert root["attributes"]["gen_ai.workflow.name"] == "nightly"
    assert root["kind"] == "chain"
    with recorded.store() as store:
        assert store.run(r.run_id)["name"] == "nightly"  # the run keeps its name
        findings = lint_spans(store)
    # the workflow span is as the conventions name it; only the in-process agents lack
    # a provider, which the conventions leave to the application
    assert {(f.span_name, f.rule) for f in findings} == {("invoke_agent planner", "agent-provider")}


def test_agents_carry_their_version_and_a_remote_one_is_a_client_span(recorded: Recorded) -> None:
    planner("x")
    spans = recorded.by_name()
    local, remote = spans["invoke_agent planner"], spans["invoke_agent writer"]
    assert (local["span_kind"], local["attributes"]["gen_ai.agent.version"]) == ("internal", "2.1")
    assert remote["span_kind"] == "client"
    assert remote["provider"] == "example.agents"
    assert json.loads(remote["output"]) == "X"
    # a remote invoke_agent with its provider breaks no rule; the local one lacks a provider
    with recorded.store() as store:
        findings = lint_spans(store)
    assert {(f.span_name, f.rule) for f in findings} == {("invoke_agent planner", "agent-provider")}


class _Created:
    def __init__(self, id: str) -> None:
        self.id = id


@agentreel.create_agent(
    provider="openai", name="researcher", model="gpt-4.1", description="reads papers"
)
def make_researcher(instructions: str) -> _Created:
    return _Created("asst_42")


@agentreel.create_agent(provider="example.agents", version="3")
def make_plain() -> dict[str, int]:
    return {"id": 7}  # not a string: no agent id


def test_an_agent_created_on_a_service_is_a_create_agent_client_span(recorded: Recorded) -> None:
    with agentreel.run("setup"):
        make_researcher("be brief")
        make_plain()
    spans = recorded.by_name()
    made = spans["create_agent researcher"]
    assert made["span_kind"] == "client"
    assert made["operation"] == "create_agent"
    assert made["provider"] == "openai"
    a = made["attributes"]
    assert (a["gen_ai.agent.id"], a["gen_ai.request.model"]) == ("asst_42", "gpt-4.1")
    assert a["gen_ai.agent.description"] == "reads papers"
    assert json.loads(made["input"]) == {"instructions": "be brief"}
    plain = spans["create_agent make_plain"]
    assert plain["attributes"]["gen_ai.agent.version"] == "3"
    assert "gen_ai.agent.id" not in plain["attributes"]
    # neither is an entry point replay could start from
    assert not any("agentreel.entry" in s["attributes"] for s in (made, plain))
    # both are as the conventions describe a create_agent span
    with recorded.store() as store:
        findings = lint_spans(store)
    assert [f for f in findings if f.span_name.startswith("create_agent")] == []
