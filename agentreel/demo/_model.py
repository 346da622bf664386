"""A scripted chat model: deterministic, offline, OpenAI-shaped responses.

It stands in for a real LLM in the demo and in tests. Replies are drawn from a
seeded random generator, so the same seed gives the same run, and different
seeds give runs that differ in steps, tokens and latency.
"""

from __future__ import annotations

import random
import time
from typing import Any

__all__ = ["ScriptedModel"]


def _count_tokens(messages: list[dict[str, Any]]) -> int:
    # About four characters a token, as for English text with common tokenizers.
    return sum(len(str(m.get("content") or "")) + 16 for m in messages) // 4


class ScriptedModel:
    """Answers chat requests from a script instead of a network call.

    Example::

        model = ScriptedModel(seed=7)
        reply = model.complete([{"role": "user", "content": "hi"}], want="answer")
        reply["choices"][0]["message"]["content"]
    """

    def __init__(self, seed: int, *, model: str = "gpt-4.1-mini", latency: float = 0.004) -> None:
        self.rng = random.Random(seed)
        self.model = model
        self.latency = latency
        self._calls = 0

    def _reply(
        self,
        messages: list[dict[str, Any]],
        content: str | None,
        tool_calls: list[dict[str, Any]] | None,
        finish: str,
    ) -> dict[str, Any]:
        self._calls += 1
        time.sleep(self.latency * self.rng.uniform(0.5, 2.5))
        out_tokens = max(1, len(content or "") // 4) + 12 * len(tool_calls or [])
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_calls:
            message["tool_calls"] = tool_calls
        return {
            "id": f"chatcmpl-demo-{self._calls:04d}",
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": _count_tokens(messages), "completion_tokens": out_tokens},
        }

    def tool_calls(
        self, messages: list[dict[str, Any]], calls: list[tuple[str, dict[str, Any]]]
    ) -> dict[str, Any]:
        """A reply that asks for the given tool calls."""
        tc = [
            {
                "id": f"call_{self._calls:03d}_{i}",
                "type": "function",
                "function": {"name": name, "arguments": args},
            }
            for i, (name, args) in enumerate(calls)
        ]
        return self._reply(messages, None, tc, "tool_calls")

    def text(
        self, messages: list[dict[str, Any]], content: str, *, finish: str = "stop"
    ) -> dict[str, Any]:
        """A reply with plain text."""
        return self._reply(messages, content, None, finish)
