"""A scripted LLM HTTP server on loopback, speaking enough of the OpenAI and Anthropic APIs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests._json_server import json_server


def _openai(step: int, body: dict[str, Any]) -> dict[str, Any]:
    if step == 0:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        }
        finish = "tool_calls"
    else:
        message = {"role": "assistant", "content": "It is sunny in Paris."}
        finish = "stop"
    return {
        "id": f"chatcmpl-{step}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": body.get("model", "gpt-4.1-mini"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": 40 + 10 * step,
            "completion_tokens": 8 - step,
            "total_tokens": 48 + 9 * step,
        },
    }


def _anthropic(step: int, body: dict[str, Any]) -> dict[str, Any]:
    if step == 0:
        content: list[dict[str, Any]] = [
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
        ]
        stop = "tool_use"
    else:
        content = [{"type": "text", "text": "It is sunny in Paris."}]
        stop = "end_turn"
    return {
        "id": f"msg_{step}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "claude-sonnet-4-5"),
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 30 + 10 * step, "output_tokens": 6 + step},
    }


@contextmanager
def stub_llm_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Serve scripted replies on 127.0.0.1; yields (base_url, requests received)."""
    received: list[dict[str, Any]] = []
    lock = threading.Lock()

    def answer(path: str, body: dict[str, Any], raw: bytes) -> dict[str, Any] | None:
        with lock:
            step = sum(1 for r in received if r["path"] == path)
            received.append({"path": path, "body": body})
        if path.endswith("/chat/completions"):
            return _openai(step, body)
        if path.endswith("/messages"):
            return _anthropic(step, body)
        return None

    with json_server(answer) as url:
        yield url, received
