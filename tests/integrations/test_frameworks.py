"""Real frameworks on deterministic fake models: each records, ingests, and lands in one model."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import polars as pl
import pytest

import agentreel
from agentreel.store import Store
from tests.conftest import Recorded
from tests.integrations._stub_llm import stub_llm_server


def _tree(store: Store) -> pl.DataFrame:
    (rid,) = store.runs()["run_id"].to_list()
    return store.tree(rid)


def _kinds(tree: pl.DataFrame, keep: set[str]) -> list[str]:
    """The kinds in tree order, keeping only the interesting ones (frameworks add chain steps)."""
    return [k for k in tree["kind"].to_list() if k in keep]


def test_pydantic_ai_agent_with_tools_on_function_model(recorded: Recorded) -> None:
    from pydantic_ai import Agent
    from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    assert agentreel.instrument("pydantic-ai") == ["pydantic-ai"]

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("get_weather", {"city": "Paris"})])
        return ModelResponse(parts=[TextPart("It is sunny in Paris.")])

    agent = Agent(FunctionModel(model), name="weather", instructions="be brief")

    @agent.tool_plain
    def get_weather(city: str) -> str:
        return f"sunny in {city}"

    result = agent.run_sync("Weather in Paris?")
    with recorded.store() as store:
        tree = _tree(store)
        run = store.runs().row(0, named=True)
    assert _kinds(tree, {"agent", "llm", "tool"}) == ["agent", "llm", "tool", "llm"]
    agent_span = tree.row(0, named=True)
    assert (agent_span["kind"], agent_span["agent_name"], agent_span["output"]) == (
        "agent",
        "weather",
        "It is sunny in Paris.",
    )
    tool = tree.filter(pl.col("kind") == "tool").row(0, named=True)
    assert tool["tool_name"] == "get_weather"
    assert json.loads(tool["input"]) == {"city": "Paris"}
    assert tool["output"] == "sunny in Paris"
    usage = result.usage
    assert (run["input_tokens"], run["output_tokens"]) == (usage.input_tokens, usage.output_tokens)
    assert run["name"] == "weather"
    llm = tree.filter(pl.col("kind") == "llm")
    assert set(llm["provider"]) == {"function"}
    assert "It is sunny in Paris." in llm["output"][-1]


class _ScriptedAgentsModel:
    """An openai-agents `Model` that answers from a script and traces like the SDK's own models."""

    def __init__(self) -> None:
        self.calls = 0

    async def get_response(
        self,
        system_instructions: Any,
        input: Any,
        model_settings: Any,
        tools: Any,
        output_schema: Any,
        handoffs: Any,
        tracing: Any,
        **kwargs: Any,
    ) -> Any:
        from agents.items import ModelResponse
        from agents.tracing import generation_span
        from agents.usage import Usage
        from openai.types.responses import (
            ResponseFunctionToolCall,
            ResponseOutputMessage,
            ResponseOutputText,
        )

        self.calls += 1
        if self.calls == 1:
            out: list[Any] = [
                ResponseFunctionToolCall(
                    id="fc1",
                    call_id="call_1",
                    name="get_weather",
                    arguments='{"city": "Paris"}',
                    type="function_call",
                    status="completed",
                )
            ]
        else:
            out = [
                ResponseOutputMessage(
                    id="m1",
                    role="assistant",
                    status="completed",
                    type="message",
                    content=[
                        ResponseOutputText(
                            text="It is sunny in Paris.", type="output_text", annotations=[]
                        )
                    ],
                )
            ]
        usage = {"input_tokens": 20 * self.calls, "output_tokens": 5}
        messages = input if isinstance(input, list) else [{"role": "user", "content": input}]
        with generation_span(model="scripted-1", input=messages, model_config={}) as g:
            g.span_data.output = [o.model_dump() for o in out]
            g.span_data.usage = usage
        return ModelResponse(
            output=out,
            usage=Usage(requests=1, total_tokens=25, **usage),
            response_id=f"r{self.calls}",
        )

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


def test_openai_agents_sdk_with_a_custom_model(recorded: Recorded) -> None:
    from agents import Agent, Runner, function_tool
    from agents.models.interface import Model

    assert agentreel.instrument("openai-agents") == ["openai-agents"]

    @function_tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        return f"sunny in {city}"

    model = type("ScriptedModel", (_ScriptedAgentsModel, Model), {})()
    agent = Agent(name="weather", instructions="be brief", model=model, tools=[get_weather])
    result = asyncio.run(Runner.run(agent, "Weather in Paris?"))
    assert result.final_output == "It is sunny in Paris."
    with recorded.store() as store:
        tree = _tree(store)
        run = store.runs().row(0, named=True)
    assert _kinds(tree, {"agent", "llm", "tool"}) == ["agent", "agent", "llm", "tool", "llm"]
    assert "weather" in tree["agent_name"].to_list()
    tool = tree.filter(pl.col("kind") == "tool").row(0, named=True)
    assert (tool["tool_name"], json.loads(tool["input"]), tool["output"]) == (
        "get_weather",
        {"city": "Paris"},
        "sunny in Paris",
    )
    assert (run["input_tokens"], run["output_tokens"]) == (20 + 40, 10)
    llm = tree.filter(pl.col("kind") == "llm")
    assert set(llm["request_model"]) == {"scripted-1"}
    assert "It is sunny in Paris." in llm["output"][-1]


def test_langgraph_tool_calling_graph_on_a_fake_chat_model(recorded: Recorded) -> None:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.tools import tool
    from langgraph.graph import END, START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode, tools_condition

    assert agentreel.instrument("langgraph") == ["langchain"]

    class ToolCallingFake(GenericFakeChatModel):
        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return self

    @tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        return f"sunny in {city}"

    model = ToolCallingFake(
        messages=iter(
            [
                AIMessage(
                    content="",
                    tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}],
                    usage_metadata={"input_tokens": 20, "output_tokens": 5, "total_tokens": 25},
                ),
                AIMessage(
                    content="It is sunny in Paris.",
                    usage_metadata={"input_tokens": 30, "output_tokens": 4, "total_tokens": 34},
                ),
            ]
        )
    )

    def call_model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.bind_tools([get_weather]).invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", call_model)
    graph.add_node("tools", ToolNode([get_weather]))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    app = graph.compile()
    out = app.invoke({"messages": [("user", "Weather in Paris?")]})
    assert out["messages"][-1].content == "It is sunny in Paris."
    assert END  # the graph ended through tools_condition
    with recorded.store() as store:
        tree = _tree(store)
        run = store.runs().row(0, named=True)
    assert _kinds(tree, {"llm", "tool"}) == ["llm", "tool", "llm"]
    tool_row = tree.filter(pl.col("kind") == "tool").row(0, named=True)
    assert tool_row["tool_name"] == "get_weather"
    assert "sunny in Paris" in tool_row["output"]
    assert (run["input_tokens"], run["output_tokens"]) == (50, 9)
    assert run["status"] == "ok"
    assert "It is sunny in Paris." in tree.filter(pl.col("kind") == "llm")["output"][-1]


def test_openai_client_against_a_loopback_stub(recorded: Recorded) -> None:
    import openai

    assert agentreel.instrument("openai") == ["openai"]

    @agentreel.tool
    def get_weather(city: str) -> str:
        return f"sunny in {city}"

    @agentreel.agent(name="weather")
    def weather_agent(client: openai.OpenAI, question: str) -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
        tools = [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ]
        while True:
            reply = client.chat.completions.create(
                model="gpt-4.1-mini", messages=messages, tools=tools
            )  # type: ignore[arg-type]
            msg = reply.choices[0].message
            if not msg.tool_calls:
                return msg.content or ""
            messages.append(msg.model_dump(exclude_none=True))
            for call in msg.tool_calls:
                result = get_weather(**json.loads(call.function.arguments))  # type: ignore[union-attr]
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})

    with stub_llm_server() as (base, received):
        client = openai.OpenAI(base_url=base + "/v1", api_key="test-key", max_retries=0)
        assert weather_agent(client, "Weather in Paris?") == "It is sunny in Paris."
    assert len(received) == 2
    with recorded.store() as store:
        tree = _tree(store)
        run = store.runs().row(0, named=True)
    assert _kinds(tree, {"agent", "llm", "tool"}) == ["agent", "llm", "tool", "llm"]
    assert tree["depth"].to_list() == [0, 1, 1, 1]
    llm = tree.filter(pl.col("kind") == "llm")
    assert set(llm["request_model"]) == {"gpt-4.1-mini"}
    assert set(llm["provider"]) == {"openai"}
    assert (run["input_tokens"], run["output_tokens"]) == (40 + 50, 8 + 7)
    assert run["cost_usd"] is not None
    assert run["cost_usd"] > 0
    assert run["output"] == '"It is sunny in Paris."'


@pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")
def test_anthropic_client_against_a_loopback_stub(recorded: Recorded) -> None:
    import anthropic

    assert agentreel.instrument("anthropic") == ["anthropic"]
    with stub_llm_server() as (base, _), agentreel.run("claude-call"):
        client = anthropic.Anthropic(base_url=base, api_key="test-key", max_retries=0)
        first = client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=100,
            messages=[{"role": "user", "content": "Weather?"}],
        )
        assert first.stop_reason == "tool_use"
    with recorded.store() as store:
        tree = _tree(store)
    llm = tree.filter(pl.col("kind") == "llm").row(0, named=True)
    assert (llm["input_tokens"], llm["output_tokens"], llm["request_model"]) == (
        30,
        6,
        "claude-sonnet-4-5",
    )
    assert llm["provider"] == "anthropic"


def test_instrument_names_the_extra_for_a_missing_integration(
    monkeypatch: pytest.MonkeyPatch, recorded: Recorded
) -> None:
    from agentreel.tracer import _integrations

    monkeypatch.setattr(_integrations, "_installed", lambda module: module != "langchain_core")
    with pytest.raises(agentreel.ConfigError, match=r'pip install "agentreel\[langchain\]"'):
        agentreel.instrument("langchain")
    with pytest.raises(agentreel.ConfigError, match="unknown integration 'crewai'"):
        agentreel.instrument("crewai")
    # with no names, what is missing is skipped
    assert "langchain" not in agentreel.instrument()
