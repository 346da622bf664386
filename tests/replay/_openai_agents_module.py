"""An OpenAI Agents SDK agent on a fake `Model`, wrapped in `ReplayableModel`.

The fake model asks for the ``lookup`` tool once, then answers with its result;
it and the tool raise if they really run while ``REPLAY_AGENT_FORBID`` is set.
``REPLAY_AGENT_SYSTEM`` changes the instructions.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

from agents import Agent, Runner, function_tool, set_tracing_disabled
from agents.items import ModelResponse
from agents.models.interface import Model
from agents.usage import Usage
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)

import agentreel
from agentreel.openai_agents import ReplayableModel

set_tracing_disabled(True)  # the SDK's own exporter would reach for the network


def _guard(what: str) -> None:
    if os.environ.get("REPLAY_AGENT_FORBID"):
        raise AssertionError(f"{what} really ran during a replay")


class FakeModel(Model):
    async def get_response(
        self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any
    ) -> ModelResponse:
        _guard("the model")
        outputs = [
            i for i in input if isinstance(i, dict) and i.get("type") == "function_call_output"
        ]
        if not outputs:
            item: Any = ResponseFunctionToolCall(
                type="function_call",
                name="lookup",
                arguments='{"key": "alpha"}',
                call_id=f"call_{uuid.uuid4().hex[:8]}",
                id=f"fc_{uuid.uuid4().hex[:8]}",
                status="completed",
            )
        else:
            item = ResponseOutputMessage(
                type="message",
                role="assistant",
                id=f"msg_{uuid.uuid4().hex[:8]}",
                status="completed",
                content=[
                    ResponseOutputText(
                        type="output_text",
                        text=f"the value is {outputs[-1]['output']}",
                        annotations=[],
                    )
                ],
            )
        return ModelResponse(output=[item], usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


@agentreel.tool
def lookup_value(key: str) -> int:
    _guard("lookup")
    return len(key) * 7


@function_tool
def lookup(key: str) -> int:
    """Look a key up."""
    return lookup_value(key)


@agentreel.agent
async def ask(question: str) -> str:
    agent = Agent(
        name="asker",
        instructions=os.environ.get("REPLAY_AGENT_SYSTEM", "Be brief."),
        model=ReplayableModel(FakeModel()),
        tools=[lookup],
    )
    result = await Runner.run(agent, question)
    return str(result.final_output)


if __name__ == "__main__":
    agentreel.init()
    with agentreel.run("ask") as r:
        print(asyncio.run(ask("What is alpha worth?")))
    print(r.run_id)
