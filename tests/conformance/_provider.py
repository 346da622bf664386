"""A model provider on 127.0.0.1 that speaks the OpenAI and Anthropic HTTP APIs.

Its answers follow the conversation it is sent, not a global counter, so any
number of agents may talk to it at once: offered a handoff tool
(``transfer_to_...``) it takes it first, then asks for the ``get_weather`` tool
once, then answers in text. With the model named ``loop-model`` it asks for the
tool every time (for a framework's turn limit). Every answer carries usage numbers that differ per request (from
the size of the request), and the server keeps them: a test sums what it was
told to bill and compares that with the store.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests._json_server import json_server

ANSWER = "It is sunny in Paris."
LOOP_MODEL = "loop-model"


@dataclass
class Usage:
    """What one answer billed."""

    path: str
    model: str
    input_tokens: int
    output_tokens: int
    request: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class Provider:
    url: str
    billed: list[Usage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> list[Usage]:
        """What was billed since the last call."""
        with self.lock:
            out, self.billed[:] = list(self.billed), []
        return out


def _called(body: dict[str, Any]) -> set[str]:
    """Names of the tools the model asked for earlier in this conversation."""
    names: set[str] = set()
    for m in body.get("messages") or []:
        for call in m.get("tool_calls") or []:
            names.add(call.get("function", {}).get("name"))
        content = m.get("content")
        if isinstance(content, list):
            names.update(c.get("name") for c in content if c.get("type") == "tool_use")
    return names


def _offered(body: dict[str, Any]) -> list[str]:
    return [t.get("function", t).get("name") for t in body.get("tools") or []]


def _next_tool(body: dict[str, Any]) -> str | None:
    """The tool to ask for next, or None to answer: a handoff first, then the weather."""
    called, offered = _called(body), _offered(body)
    if body.get("model") == LOOP_MODEL:
        return offered[0] if offered else "get_weather"
    for name in offered:
        if name.startswith("transfer_to_") and name not in called:
            return name
    if "get_weather" in offered and "get_weather" not in called:
        return "get_weather"
    return None


def _usage(raw: bytes) -> tuple[int, int]:
    # grows with the conversation, so two calls of one run bill differently
    return 20 + len(raw) // 16, 5 + len(raw) % 7


def _openai(body: dict[str, Any], raw: bytes) -> tuple[dict[str, Any], int, int]:
    model = body.get("model", "gpt-4.1-mini")
    inp, out = _usage(raw)
    tool = _next_tool(body)
    if tool is None:
        message: dict[str, Any] = {"role": "assistant", "content": ANSWER}
        finish = "stop"
    else:
        n = len(body.get("messages") or [])
        args = '{"city": "Paris"}' if tool == "get_weather" else "{}"
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": f"call_{n}",
                    "type": "function",
                    "function": {"name": tool, "arguments": args},
                }
            ],
        }
        finish = "tool_calls"
    reply = {
        "id": f"chatcmpl-{inp}-{out}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out},
    }
    return reply, inp, out


def _anthropic(body: dict[str, Any], raw: bytes) -> tuple[dict[str, Any], int, int]:
    model = body.get("model", "claude-sonnet-4-5")
    inp, out = _usage(raw)
    tool = _next_tool(body)
    if tool is None:
        content: list[dict[str, Any]] = [{"type": "text", "text": ANSWER}]
        stop = "end_turn"
    else:
        n = len(body.get("messages") or [])
        content = [
            {"type": "tool_use", "id": f"toolu_{n}", "name": tool, "input": {"city": "Paris"}}
        ]
        stop = "tool_use"
    reply = {
        "id": f"msg_{inp}_{out}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": inp, "output_tokens": out},
    }
    return reply, inp, out


@contextmanager
def provider() -> Iterator[Provider]:
    """Serve on 127.0.0.1 until the block ends."""
    state = Provider("")

    def answer(path: str, body: dict[str, Any], raw: bytes) -> dict[str, Any] | None:
        if path.endswith("/chat/completions"):
            reply, inp, out = _openai(body, raw)
        elif path.endswith("/messages"):
            reply, inp, out = _anthropic(body, raw)
        else:
            return None
        with state.lock:
            state.billed.append(Usage(path, reply["model"], inp, out, body))
        return reply

    with json_server(answer) as state.url:
        yield state
