"""A pydantic-ai agent on a `FunctionModel`, wrapped in `ReplayableModel`, for the replay tests.

``REPLAY_AGENT_FORBID`` makes the model and the tool raise if they really run;
``REPLAY_AGENT_SYSTEM`` changes the system prompt; ``REPLAY_AGENT_STREAM`` runs the
agent with ``run_stream`` on a model that streams its answer.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

import agentreel
from agentreel.pydantic_ai import ReplayableModel


def _guard(what: str) -> None:
    if os.environ.get("REPLAY_AGENT_FORBID"):
        raise AssertionError(f"{what} really ran during a replay")


def model_fn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    _guard("the model")
    returns = [p for m in messages for p in m.parts if p.part_kind == "tool-return"]
    if not returns:
        return ModelResponse(parts=[ToolCallPart("lookup", {"key": "alpha"})])
    return ModelResponse(parts=[TextPart(f"the value is {returns[-1].content}")])


async def stream_fn(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
    _guard("the model")
    yield "the value "
    yield "is 35"


@agentreel.tool
def lookup(key: str) -> int:
    _guard("lookup")
    return len(key) * 7


@agentreel.agent
async def ask(question: str) -> str:
    system = os.environ.get("REPLAY_AGENT_SYSTEM", "Be brief.")
    if os.environ.get("REPLAY_AGENT_STREAM"):
        streaming = Agent(
            ReplayableModel(FunctionModel(stream_function=stream_fn)), system_prompt=system
        )
        async with streaming.run_stream(question) as stream:
            return str(await stream.get_output())
    agent = Agent(ReplayableModel(FunctionModel(model_fn)), system_prompt=system)
    agent.tool_plain(lookup)
    result = await agent.run(question)
    return str(result.output)


if __name__ == "__main__":
    agentreel.init()
    with agentreel.run("ask") as r:
        print(asyncio.run(ask("What is alpha worth?")))
    print(r.run_id)
