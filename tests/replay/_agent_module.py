"""A small decorator-based agent with parallel tool calls, for the replay tests.

The tests copy this file into a temporary directory as ``replay_agent.py`` and
record it in a subprocess. Environment variables change it between recording
and replay: ``REPLAY_AGENT_SYSTEM`` (the system prompt), ``REPLAY_AGENT_EXTRA_TOOL``
(one more tool call), and ``REPLAY_AGENT_FORBID`` (every tool and the model raise
if they really run, so a replay proves it served them).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from typing import Any

import agentreel


def _guard(what: str) -> None:
    if os.environ.get("REPLAY_AGENT_FORBID"):
        raise AssertionError(f"{what} really ran during a replay")


@agentreel.tool
async def lookup(key: str) -> dict[str, Any]:
    _guard("lookup")
    await asyncio.sleep(random.uniform(0, 0.03))  # parallel calls finish in random order
    return {"key": key, "value": len(key) * 7}


@agentreel.tool
def flaky(attempt: int) -> int:
    _guard("flaky")
    if attempt == 0:
        raise ConnectionError("the first attempt always fails")
    return attempt


@agentreel.tool
def clock() -> str:
    _guard("clock")
    return "12:00"


@agentreel.llm(provider="fake", model="fake-1")
def chat(messages: list[dict[str, Any]]) -> dict[str, Any]:
    _guard("chat")
    tools = [m["content"] for m in messages if m["role"] == "tool"]
    content = "plan: look things up" if not tools else "answer: " + " | ".join(tools)
    return {
        "id": f"resp-{random.randint(0, 10**9)}",  # volatile, as real responses are
        "choices": [{"message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 10 * len(messages), "completion_tokens": 5},
    }


@agentreel.agent
async def solve(question: str, keys: list[str]) -> str:
    system = os.environ.get("REPLAY_AGENT_SYSTEM", "You are a terse assistant.")
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": system},
        {"role": "user", "content": question},
    ]
    plan = chat(messages)
    messages.append(plan["choices"][0]["message"])
    results = await asyncio.gather(*(lookup(k) for k in keys))
    for r in results:
        messages.append({"role": "tool", "content": json.dumps(r, sort_keys=True)})
    try:
        flaky(0)
    except ConnectionError:  # the recovery path a replay must take again
        messages.append({"role": "tool", "content": f"retried: {flaky(1)}"})
    if os.environ.get("REPLAY_AGENT_EXTRA_TOOL"):
        messages.append({"role": "tool", "content": clock()})
    final = chat(messages)
    return str(final["choices"][0]["message"]["content"])


if __name__ == "__main__":
    agentreel.init()
    with agentreel.run("solve", tags={"test": "replay"}) as r:
        asyncio.run(solve("What are the values?", ["alpha", "be", "gamma", "delta", "pi"]))
    print(r.run_id)
