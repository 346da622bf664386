"""An agent on the OpenAI client whose HTTP goes through `ReplayableTransport`.

The transport underneath is httpx's `MockTransport` (no network): it answers like
the chat completions API, and raises if it is called while ``REPLAY_AGENT_FORBID``
is set. ``REPLAY_AGENT_SYSTEM`` changes the system prompt.
"""

from __future__ import annotations

import json
import os
import uuid

import httpx
import openai

import agentreel
from agentreel.httpx import ReplayableTransport


def _api(request: httpx.Request) -> httpx.Response:
    if os.environ.get("REPLAY_AGENT_FORBID"):
        raise AssertionError("the API was really called during a replay")
    body = json.loads(request.content)
    last = body["messages"][-1]["content"]
    return httpx.Response(
        200,
        json={
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": f"echo: {last}"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
        },
    )


@agentreel.agent
def ask(question: str) -> str:
    client = openai.OpenAI(
        api_key="sk-test",
        base_url="https://api.example.invalid/v1",
        http_client=httpx.Client(transport=ReplayableTransport(httpx.MockTransport(_api))),
        max_retries=0,
    )
    system = os.environ.get("REPLAY_AGENT_SYSTEM", "Answer in one word.")
    reply = client.chat.completions.create(
        model="gpt-4.1-mini",
        messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
    )
    return reply.choices[0].message.content or ""


if __name__ == "__main__":
    agentreel.init()
    with agentreel.run("ask") as r:
        print(ask("Capital of France?"))
    print(r.run_id)
