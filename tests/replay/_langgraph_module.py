"""A LangGraph ReAct graph on a fake chat model wrapped in `ReplayableChatModel`.

The fake model asks for the ``lookup`` tool once, then answers with its result
(tool-call ids are fresh uuids, as real models make them); it and the tool raise
if they really run while ``REPLAY_AGENT_FORBID`` is set. ``REPLAY_AGENT_SYSTEM``
changes the system prompt.
"""

from __future__ import annotations

import os
import uuid
import warnings
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.prebuilt import create_react_agent

import agentreel
from agentreel.langchain import ReplayableChatModel


def _guard(what: str) -> None:
    if os.environ.get("REPLAY_AGENT_FORBID"):
        raise AssertionError(f"{what} really ran during a replay")


class FakeChat(BaseChatModel):
    @property
    def _llm_type(self) -> str:
        return "fake"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        _guard("the model")
        results = [m for m in messages if isinstance(m, ToolMessage)]
        if not results:
            call = {
                "name": "lookup",
                "args": {"key": "alpha"},
                "id": f"call_{uuid.uuid4().hex[:8]}",
            }
            reply = AIMessage(content="", tool_calls=[call])
        else:
            reply = AIMessage(content=f"the value is {results[-1].content}")
        return ChatResult(generations=[ChatGeneration(message=reply)])


@agentreel.tool
def lookup_value(key: str) -> int:
    _guard("lookup")
    return len(key) * 7


@tool
def lookup(key: str) -> int:
    """Look a key up."""
    return lookup_value(key)


@agentreel.agent
def ask(question: str) -> str:
    with warnings.catch_warnings():  # moved to langchain.agents in LangGraph 1.0; still works
        warnings.simplefilter("ignore")
        graph = create_react_agent(ReplayableChatModel(wrapped=FakeChat()), tools=[lookup])
    system = os.environ.get("REPLAY_AGENT_SYSTEM", "Be brief.")
    state = graph.invoke({"messages": [SystemMessage(system), ("user", question)]})
    return str(state["messages"][-1].content)


if __name__ == "__main__":
    agentreel.init()
    with agentreel.run("ask") as r:
        print(ask("What is alpha worth?"))
    print(r.run_id)
