"""One replayable agent per framework, on the real client library and the provider at ``$BASE``.

``python _replayable.py FRAMEWORK HOW`` runs ``ask(FRAMEWORK, ...)`` once, inside
``agentreel.run``, and prints the run id. Each agent reaches its model through
the framework's replay seam (`agentreel.httpx.ReplayableTransport` for the
OpenAI and Anthropic clients, `agentreel.pydantic_ai.ReplayableModel`,
`agentreel.openai_agents.ReplayableModel`, `agentreel.langchain.ReplayableChatModel`);
its tool is an ``@agentreel.tool`` that times out once and is retried.

HOW: ``seams`` (agentreel's decorators and seams only), ``instrument`` (and
``agentreel.instrument()`` of the framework's own tracing), ``record`` (the
program is run under ``agentreel record --``, which instruments it).

Everything the entry point needs is read when it is called (the replaying
process imports this file and calls ``ask`` with the recorded arguments).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import agentreel

MODEL = "gpt-4.1-mini"
INTEGRATIONS = {
    "openai": ["openai"],
    "anthropic": ["anthropic"],
    "pydantic-ai": ["pydantic-ai"],
    "openai-agents": ["openai-agents"],
    "langgraph": ["langgraph", "openai"],
}
TOOL_SPEC = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
_failures = {"left": 0}


def _base() -> str:
    return os.environ.get("BASE", "http://127.0.0.1:9")


@agentreel.tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    if _failures["left"]:
        _failures["left"] -= 1
        raise TimeoutError("the weather service timed out")
    return f"sunny in {city}"


def weather_with_retry(city: str) -> str:
    try:
        return get_weather(city)
    except TimeoutError:
        return get_weather(city)


def _openai(question: str) -> str:
    import httpx
    import openai

    from agentreel.httpx import ReplayableTransport

    client = openai.OpenAI(
        base_url=_base() + "/v1",
        api_key="sk-test",
        max_retries=0,
        http_client=httpx.Client(transport=ReplayableTransport()),
    )
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    for _ in range(5):
        reply = client.chat.completions.create(model=MODEL, messages=messages, tools=[TOOL_SPEC])  # type: ignore[arg-type,list-item]
        msg = reply.choices[0].message
        if not msg.tool_calls:
            return str(msg.content)
        messages.append(msg.model_dump(exclude_none=True))
        for call in msg.tool_calls:
            result = weather_with_retry(**json.loads(call.function.arguments))  # type: ignore[union-attr]
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    raise RuntimeError("too many turns")


def _anthropic(question: str) -> str:
    import anthropic
    import httpx2

    from agentreel.httpx import ReplayableTransport

    client = anthropic.Anthropic(
        base_url=_base(),
        api_key="sk-ant-test",
        max_retries=0,
        http_client=httpx2.Client(transport=ReplayableTransport()),
    )
    tools = [{"name": "get_weather", "input_schema": TOOL_SPEC["function"]["parameters"]}]  # type: ignore[index]
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    for _ in range(5):
        reply = client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=256,
            messages=messages,  # type: ignore[arg-type]
            tools=tools,  # type: ignore[arg-type]
        )
        uses = [c for c in reply.content if c.type == "tool_use"]
        if not uses:
            return "".join(c.text for c in reply.content if c.type == "text")
        messages.append({"role": "assistant", "content": [c.model_dump() for c in reply.content]})
        messages.append(
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": u.id,
                        "content": weather_with_retry(**u.input),  # type: ignore[arg-type]
                    }
                    for u in uses
                ],
            }
        )
    raise RuntimeError("too many turns")


def _pydantic_ai(question: str) -> str:
    from openai import AsyncOpenAI
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    from agentreel.pydantic_ai import ReplayableModel

    client = AsyncOpenAI(base_url=_base() + "/v1", api_key="sk-test", max_retries=0)
    model = OpenAIChatModel(MODEL, provider=OpenAIProvider(openai_client=client))
    agent = Agent(ReplayableModel(model), name="weather", instructions="Answer briefly.")

    @agent.tool_plain(name="get_weather")
    def weather(city: str) -> str:
        return weather_with_retry(city)

    return agent.run_sync(question).output


def _openai_agents(question: str) -> str:
    from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool
    from openai import AsyncOpenAI

    from agentreel.openai_agents import ReplayableModel

    client = AsyncOpenAI(base_url=_base() + "/v1", api_key="sk-test", max_retries=0)
    model = ReplayableModel(OpenAIChatCompletionsModel(MODEL, client))

    @function_tool(name_override="get_weather")
    def weather(city: str) -> str:
        """The weather in a city."""
        return weather_with_retry(city)

    weather_agent = Agent(
        name="weather", instructions="Answer briefly.", tools=[weather], model=model
    )
    triage = Agent(name="triage", instructions="Route.", handoffs=[weather_agent], model=model)
    return str(Runner.run_sync(triage, question, max_turns=4).final_output)


def _langgraph(question: str) -> str:
    import openai
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, BaseMessage, convert_to_openai_messages
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_core.tools import tool
    from langgraph.prebuilt import create_react_agent

    from agentreel.langchain import ReplayableChatModel

    class ChatOverOpenAI(BaseChatModel):
        """A chat model on the OpenAI client, reporting usage as LangChain's own do."""

        @property
        def _llm_type(self) -> str:
            return "chat-over-openai"

        def _generate(
            self,
            messages: list[BaseMessage],
            stop: Any = None,
            run_manager: Any = None,
            **kwargs: Any,
        ) -> ChatResult:
            client = openai.OpenAI(base_url=_base() + "/v1", api_key="sk-test", max_retries=0)
            reply = client.chat.completions.create(
                model=MODEL,
                messages=convert_to_openai_messages(messages),  # type: ignore[arg-type]
                tools=kwargs.get("tools") or openai.omit,
            )
            msg = reply.choices[0].message
            calls = [
                {"name": c.function.name, "args": json.loads(c.function.arguments), "id": c.id}  # type: ignore[union-attr]
                for c in msg.tool_calls or []
            ]
            usage = reply.usage
            assert usage is not None
            tokens = {
                "input_tokens": usage.prompt_tokens,
                "output_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
            }
            message = AIMessage(
                content=msg.content or "",
                tool_calls=calls,
                usage_metadata=tokens,  # type: ignore[arg-type]
                response_metadata={"model_name": reply.model},
            )
            return ChatResult(
                generations=[ChatGeneration(message=message)],
                llm_output={"model_name": reply.model},
            )

    @tool
    def get_weather_tool(city: str) -> str:
        """The weather in a city."""
        return weather_with_retry(city)

    get_weather_tool.name = "get_weather"
    import warnings

    with warnings.catch_warnings():  # moved to langchain.agents in LangGraph 1.0; still works
        warnings.simplefilter("ignore")
        graph = create_react_agent(
            ReplayableChatModel(wrapped=ChatOverOpenAI()), tools=[get_weather_tool]
        )
    state = graph.invoke({"messages": [("user", question)]})
    return str(state["messages"][-1].content)


AGENTS = {
    "openai": _openai,
    "anthropic": _anthropic,
    "pydantic-ai": _pydantic_ai,
    "openai-agents": _openai_agents,
    "langgraph": _langgraph,
}


@agentreel.agent
def ask(framework: str, question: str) -> str:
    """The entry point a replay calls again."""
    _failures["left"] = 1
    return AGENTS[framework](question)


if __name__ == "__main__":
    framework, how = sys.argv[1], sys.argv[2]
    if how != "record":
        agentreel.init()
    if how == "instrument":
        agentreel.instrument(*INTEGRATIONS[framework])
    with agentreel.run("ask") as r:
        print(json.dumps(ask(framework, "Weather in Paris?")))
    agentreel.shutdown()
    print(r.run_id)
