"""One realistic agent per framework, recorded in one of the documented ways.

``python _agents.py FRAMEWORK HOW SCENARIO N`` runs the agent N times, one after the
other, each a separate invocation (a batch harness: an invocation that raises is
reported and the next one runs). The model is the provider at ``$BASE``.

FRAMEWORK: ``openai`` and ``anthropic`` (an agent loop written against the client),
``pydantic-ai``, ``openai-agents`` (a triage agent that hands off to a weather
agent), ``langgraph`` (a graph whose model node calls the OpenAI client, with a
conditional edge to a tool node).

HOW:
- ``decorators``: ``@agentreel.agent``, ``@agentreel.llm`` and ``@agentreel.tool`` only;
- ``instrument``: ``agentreel.instrument()`` (with ``@agentreel.agent``/``tool`` on the
  hand-written loops, which no framework marks);
- ``mixed``: the decorators and ``agentreel.instrument()`` together;
- ``plain``: no agentreel at all (for ``agentreel record --``);
- ``otlp``: no agentreel; the OpenTelemetry SDK exports OTLP/HTTP to ``$OTLP_ENDPOINT``
  through the framework's own instrumentation.

SCENARIO: ``ok`` (the weather tool fails once, then works), ``parallel`` (the N
invocations at once, on threads), ``down`` (the provider cannot be reached),
``turns`` (the model never stops asking for tools; openai-agents).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from typing import Any, TypedDict

FRAMEWORK, HOW, SCENARIO, N = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
BASE = "http://127.0.0.1:9" if SCENARIO == "down" else os.environ["BASE"]
MODEL = "loop-model" if SCENARIO == "turns" else "gpt-4.1-mini"
USES_AGENTREEL = HOW in ("decorators", "instrument", "mixed")
DECORATED = HOW in ("decorators", "mixed")
INTEGRATIONS = {
    "openai": ["openai"],
    "anthropic": ["anthropic"],
    "pydantic-ai": ["pydantic-ai"],
    "openai-agents": ["openai-agents"],
    "langgraph": ["langgraph", "openai"],
}[FRAMEWORK]

if USES_AGENTREEL:
    import agentreel

    agentreel.init()
    if HOW in ("instrument", "mixed"):
        agentreel.instrument(*INTEGRATIONS)
elif HOW == "otlp":
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    PROVIDER = TracerProvider(resource=Resource.create({"service.name": "conformance"}))
    PROVIDER.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=os.environ["OTLP_ENDPOINT"]))
    )
    if FRAMEWORK == "pydantic-ai":
        from pydantic_ai import Agent as _Agent
        from pydantic_ai.models.instrumented import InstrumentationSettings

        _Agent.instrument_all(InstrumentationSettings(tracer_provider=PROVIDER))
    else:
        from openinference.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=PROVIDER)
        if FRAMEWORK == "openai-agents":
            from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

            OpenAIAgentsInstrumentor().instrument(tracer_provider=PROVIDER)
        if FRAMEWORK == "langgraph":
            from openinference.instrumentation.langchain import LangChainInstrumentor

            from agentreel.langchain import propagate_context

            LangChainInstrumentor().instrument(tracer_provider=PROVIDER)
            propagate_context()  # records nothing itself: no store is opened


def maybe(decorator_name: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """agentreel's decorator when this way of recording uses it, else nothing."""
    hand_written = FRAMEWORK in ("openai", "anthropic")
    wanted = DECORATED or (HOW == "instrument" and hand_written and decorator_name != "llm")
    if not (USES_AGENTREEL and wanted):
        return lambda f: f
    return getattr(agentreel, decorator_name)(**kwargs)  # type: ignore[no-any-return]


_failures = {"left": 1}


@maybe("tool")
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


TOOL_SPEC = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


# --- the OpenAI client, an agent loop written by hand


def openai_agent() -> Callable[[str], Any]:
    import openai

    client = openai.OpenAI(base_url=BASE + "/v1", api_key="sk-test", max_retries=0)

    @maybe("llm", provider="openai", model=MODEL)
    def chat(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model=MODEL, messages=messages, tools=[TOOL_SPEC])

    @maybe("agent", name="weather")
    def run(question: str) -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
        for _ in range(5):
            msg = chat(messages).choices[0].message
            if not msg.tool_calls:
                return str(msg.content)
            messages.append(msg.model_dump(exclude_none=True))
            for call in msg.tool_calls:
                result = weather_with_retry(**json.loads(call.function.arguments))
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
        raise RuntimeError("too many turns")

    return run


# --- the Anthropic client, likewise


def anthropic_agent() -> Callable[[str], Any]:
    import anthropic

    client = anthropic.Anthropic(base_url=BASE, api_key="sk-ant-test", max_retries=0)
    tools = [{"name": "get_weather", "input_schema": TOOL_SPEC["function"]["parameters"]}]  # type: ignore[index]
    model = "claude-sonnet-4-5"

    @maybe("llm", provider="anthropic", model=model)
    def chat(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(model=model, max_tokens=256, messages=messages, tools=tools)  # type: ignore[arg-type]

    @maybe("agent", name="weather")
    def run(question: str) -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
        for _ in range(5):
            reply = chat(messages)
            uses = [c for c in reply.content if c.type == "tool_use"]
            if not uses:
                return "".join(c.text for c in reply.content if c.type == "text")
            messages.append(
                {"role": "assistant", "content": [c.model_dump() for c in reply.content]}
            )
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": u.id,
                            "content": weather_with_retry(**u.input),
                        }
                        for u in uses
                    ],
                }
            )
        raise RuntimeError("too many turns")

    return run


# --- pydantic-ai


def pydantic_ai_agent() -> Callable[[str], Any]:
    from openai import AsyncOpenAI
    from pydantic_ai import Agent, ModelRetry
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    client = AsyncOpenAI(base_url=BASE + "/v1", api_key="sk-test", max_retries=0)
    model = OpenAIChatModel(MODEL, provider=OpenAIProvider(openai_client=client))
    agent = Agent(model, name="weather", instructions="Answer briefly.")

    @agent.tool_plain(name="get_weather")
    def weather(city: str) -> str:
        try:
            return get_weather(city)
        except TimeoutError as e:
            raise ModelRetry(str(e)) from e

    @maybe("agent", name="weather")
    def run(question: str) -> str:
        return agent.run_sync(question).output

    return run


# --- the OpenAI Agents SDK: a triage agent hands off to the weather agent


def openai_agents_agent() -> Callable[[str], Any]:
    from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=BASE + "/v1", api_key="sk-test", max_retries=0)
    model = OpenAIChatCompletionsModel(MODEL, client)

    @function_tool(name_override="get_weather")
    def weather(city: str) -> str:
        """The weather in a city."""
        return get_weather(city)

    weather_agent = Agent(
        name="weather", instructions="Answer briefly.", tools=[weather], model=model
    )
    triage = Agent(name="triage", instructions="Route.", handoffs=[weather_agent], model=model)

    @maybe("agent", name="triage")
    def run(question: str) -> str:
        return str(Runner.run_sync(triage, question, max_turns=4).final_output)

    return run


# --- LangGraph: model node -> (conditional edge) -> tool node -> model node


class State(TypedDict):
    messages: list[dict[str, Any]]


def langgraph_agent() -> Callable[[str], Any]:
    import openai
    from langgraph.graph import END, START, StateGraph

    client = openai.OpenAI(base_url=BASE + "/v1", api_key="sk-test", max_retries=0)

    def model(state: State) -> State:
        msg = (
            client.chat.completions.create(
                model=MODEL, messages=state["messages"], tools=[TOOL_SPEC]
            )
            .choices[0]
            .message
        )
        return {"messages": [*state["messages"], msg.model_dump(exclude_none=True)]}

    def tools(state: State) -> State:
        out = list(state["messages"])
        for call in state["messages"][-1]["tool_calls"]:
            result = weather_with_retry(**json.loads(call["function"]["arguments"]))
            out.append({"role": "tool", "tool_call_id": call["id"], "content": result})
        return {"messages": out}

    def route(state: State) -> str:
        return "tools" if state["messages"][-1].get("tool_calls") else END

    graph = StateGraph(State)
    graph.add_node("model", model)
    graph.add_node("tools", tools)
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", route, ["tools", END])
    graph.add_edge("tools", "model")
    app = graph.compile()

    @maybe("agent", name="weather-graph")
    def run(question: str) -> str:
        state = app.invoke({"messages": [{"role": "user", "content": question}]})
        return str(state["messages"][-1]["content"])

    return run


AGENTS = {
    "openai": openai_agent,
    "anthropic": anthropic_agent,
    "pydantic-ai": pydantic_ai_agent,
    "openai-agents": openai_agents_agent,
    "langgraph": langgraph_agent,
}


def main() -> None:
    run = AGENTS[FRAMEWORK]()

    def invoke(i: int) -> dict[str, str]:
        try:
            return {"ok": run(f"Weather in Paris? ({i})")}
        except Exception as e:
            return {"error": type(e).__name__}

    if SCENARIO == "parallel":  # N invocations at once, on threads
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(N) as pool:
            results = list(pool.map(invoke, range(N)))
    else:
        results = []
        for i in range(N):
            _failures["left"] = 1
            results.append(invoke(i))
    if HOW == "otlp":
        PROVIDER.shutdown()
    elif USES_AGENTREEL:
        agentreel.shutdown()
    print(json.dumps(results))


if __name__ == "__main__":
    asyncio.set_event_loop(asyncio.new_event_loop())
    main()
