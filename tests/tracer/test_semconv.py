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
