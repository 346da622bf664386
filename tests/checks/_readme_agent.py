"""The README's agent, written each way the README shows, for the checks' corpus.

``python _readme_agent.py STYLE N [FAULT]`` runs the agent N times, one after the
other, against the scripted provider at ``$BASE`` (tests/conformance/_provider.py),
recording with ``@agentreel.agent``, ``@agentreel.llm`` and ``@agentreel.tool`` into
``$AGENTREEL_DIR``.

STYLE: ``sync`` or ``async`` (the agent, its model call and its tool are plain or
``async`` functions), each alone or inside ``agentreel.run(...)`` (``run-sync``,
``run-async``; the async one enters the run with ``async with``).

The agent asks the model, calls ``get_weather`` when the model asks for it, and
answers with the model's reply. The weather service times out once per run and the
call is retried once (a healthy retry). FAULT injects one regression into every run:

- ``loop``: the agent calls ``get_weather`` for the same city five more times;
- ``retry_storm``: the weather service times out six times before it answers;
- ``no_llm``: the agent answers from a template, without its model call.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import openai

import agentreel

STYLE, N = sys.argv[1], int(sys.argv[2])
FAULT = sys.argv[3] if len(sys.argv) > 3 else ""
MODEL = "gpt-4.1-mini"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
_timeouts = {"left": 0}


def _weather(city: str) -> str:
    if _timeouts["left"]:
        _timeouts["left"] -= 1
        raise TimeoutError("the weather service timed out")
    return f"sunny in {city}"


def _calls(reply: Any) -> list[dict[str, Any]]:
    return [json.loads(c.function.arguments) for c in reply.choices[0].message.tool_calls or []]


def _repeats() -> int:
    return 6 if FAULT == "loop" else 1


def sync_agent() -> Any:
    client = openai.OpenAI(base_url=os.environ["BASE"] + "/v1", api_key="sk-test", max_retries=0)

    @agentreel.tool
    def get_weather(city: str) -> str:
        return _weather(city)

    @agentreel.llm(provider="openai", model=MODEL)
    def chat(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)  # type: ignore[arg-type]

    @agentreel.agent(name="weather")
    def ask(question: str) -> str:
        if FAULT == "no_llm":
            return f"It is {get_weather('Paris')}."
        messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
        for _ in range(4):
            reply = chat(messages)
            msg = reply.choices[0].message
            if not msg.tool_calls:
                return str(msg.content)
            messages.append(msg.model_dump(exclude_none=True))
            for call, args in zip(msg.tool_calls, _calls(reply), strict=True):
                for _ in range(_repeats()):
                    try:
                        result = get_weather(**args)
                    except TimeoutError:
                        while True:  # retried until it answers (FAULT=retry_storm: no limit)
                            try:
                                result = get_weather(**args)
                                break
                            except TimeoutError:
                                pass
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
        raise RuntimeError("too many turns")

    return ask


def async_agent() -> Any:
    client = openai.AsyncOpenAI(
        base_url=os.environ["BASE"] + "/v1", api_key="sk-test", max_retries=0
    )

    @agentreel.tool
    async def get_weather(city: str) -> str:
        return _weather(city)

    @agentreel.llm(provider="openai", model=MODEL)
    async def chat(messages: list[dict[str, Any]]) -> Any:
        return await client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)  # type: ignore[arg-type]

    @agentreel.agent(name="weather")
    async def ask(question: str) -> str:
        if FAULT == "no_llm":
            return f"It is {await get_weather('Paris')}."
        messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
        for _ in range(4):
            reply = await chat(messages)
            msg = reply.choices[0].message
            if not msg.tool_calls:
                return str(msg.content)
            messages.append(msg.model_dump(exclude_none=True))
            for call, args in zip(msg.tool_calls, _calls(reply), strict=True):
                for _ in range(_repeats()):
                    while True:
                        try:
                            result = await get_weather(**args)
                            break
                        except TimeoutError:
                            pass
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
        raise RuntimeError("too many turns")

    return ask


async def _run_async(ask: Any, question: str, i: int) -> str:
    async with agentreel.run("weather-eval", tags={"case": str(i % 3)}):
        return str(await ask(question))


def main() -> None:
    agentreel.init()
    ask = async_agent() if STYLE.endswith("async") else sync_agent()
    answers = []
    for i in range(N):
        _timeouts["left"] = {"retry_storm": 6, "no_llm": 0}.get(FAULT, 1)
        question = f"Weather in Paris? ({i})"
        if STYLE == "sync":
            answers.append(ask(question))
        elif STYLE == "async":
            answers.append(asyncio.run(ask(question)))
        elif STYLE == "run-sync":
            with agentreel.run("weather-eval", tags={"case": str(i % 3)}):
                answers.append(ask(question))
        else:
            answers.append(asyncio.run(_run_async(ask, question, i)))
    agentreel.shutdown()
    print(json.dumps(answers))


if __name__ == "__main__":
    main()
