"""What the agent had seen at a moment of a recorded run: computed from the recording.

`ReplayState.at(step)` is a pure function of the spans, so stepping back is as cheap as
stepping forward: nothing re-runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from agentreel.store import Span, records

__all__ = ["Moment", "ReplayState"]


@dataclass(frozen=True)
class Moment:
    """The state at the start of one step."""

    index: int
    span: Span
    at: datetime
    elapsed_ms: float
    active_agent: str | None
    conversation: str | None  # JSON text of the messages the latest LLM call saw (+ its reply)
    tool_results: list[tuple[str, str, bool]]  # (tool, output or error, failed)
    input_tokens: int
    output_tokens: int
    cost_usd: float
    llm_calls: int
    tool_calls: int
    errors: int


def _messages(text: str | None) -> list[Any] | None:
    if not text:
        return None
    try:
        v = json.loads(text)
    except ValueError:
        return None
    if isinstance(v, dict) and isinstance(v.get("messages"), list):
        return list(v["messages"])
    return list(v) if isinstance(v, list) else None


def _reply(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        v = json.loads(text)
    except ValueError:
        return {"role": "assistant", "content": text}
    if isinstance(v, dict):
        choices = v.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            msg = choices[0].get("message")
            if isinstance(msg, dict):
                return msg
        if "role" in v:
            return v
        if isinstance(v.get("content"), str | list):
            return {"role": "assistant", "content": v["content"]}
    if isinstance(v, list) and v and isinstance(v[-1], dict) and "role" in v[-1]:
        return v[-1]
    if isinstance(v, str):
        return {"role": "assistant", "content": v}
    return None


class ReplayState:
    """The steps of a run (its spans in start order) and the state before each."""

    def __init__(self, spans: pl.DataFrame) -> None:
        self.steps: list[Span] = list(records(spans.sort(["start_time", "span_id"]), Span))
        self.start: datetime | None = self.steps[0]["start_time"] if self.steps else None
        ends = [s["end_time"] for s in self.steps if s["end_time"] is not None]
        self.end: datetime | None = max(ends) if ends else self.start

    def __len__(self) -> int:
        return len(self.steps)

    def offset_ms(self, t: datetime | None) -> float:
        if t is None or self.start is None:
            return 0.0
        return (t - self.start).total_seconds() * 1000

    def first(self, predicate: Any, after: int = -1, step: int = 1) -> int | None:
        """The index of the next (or previous, `step=-1`) step from `after` that matches."""
        i = after + step
        while 0 <= i < len(self.steps):
            if predicate(self.steps[i]):
                return i
            i += step
        return None

    def at(self, index: int) -> Moment:
        step = self.steps[index]
        now = step["start_time"]
        # every step started so far, and which of them had finished by `now`
        started = self.steps[: index + 1]
        finished = [s for s in started if s["end_time"] is not None and s["end_time"] <= now]
        active = None
        for s in started:
            if s["kind"] == "agent" and (s["end_time"] is None or s["end_time"] > now):
                active = s.get("agent_name") or s["name"]  # innermost: the latest still open
        llms = [s for s in started if s["kind"] == "llm"]
        conversation = None
        if llms:
            last = llms[-1]
            msgs = _messages(last.get("input")) or []
            if last["end_time"] is not None and last["end_time"] <= now:
                reply = _reply(last.get("output"))
                if reply is not None:
                    msgs = [*msgs, reply]
            conversation = json.dumps(msgs, ensure_ascii=False) if msgs else None
        tools = [
            (
                str(s.get("tool_name") or s["name"]),
                str(s.get("error_message") or "")
                if s["status"] == "error"
                else str(s.get("output") or ""),
                s["status"] == "error",
            )
            for s in finished
            if s["kind"] == "tool"
        ]
        done_llm = [s for s in finished if s["kind"] == "llm"]
        return Moment(
            index=index,
            span=step,
            at=now,
            elapsed_ms=self.offset_ms(now),
            active_agent=active,
            conversation=conversation,
            tool_results=tools,
            input_tokens=sum(s.get("input_tokens") or 0 for s in done_llm),
            output_tokens=sum(s.get("output_tokens") or 0 for s in done_llm),
            cost_usd=sum(s.get("cost_usd") or 0.0 for s in done_llm),
            llm_calls=len(llms),
            tool_calls=sum(1 for s in started if s["kind"] == "tool"),
            errors=sum(1 for s in finished if s["status"] == "error"),
        )
