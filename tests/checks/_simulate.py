"""A simulated research agent recorded through agentreel's real recorder, with a fake clock.

Each run is real OpenTelemetry spans (the attributes agentreel's decorators and the
GenAI conventions write) started and ended with explicit timestamps, exported by
agentreel's SpoolExporter into a spool and drained into a real DuckDB store. The
clock is simulated so that latencies are exact and tests never sleep.

A run: root ``research`` -> agent ``researcher`` -> a planning LLM call, 2-4
``web_search`` calls, 1-3 ``fetch_page`` calls (3 % time out and are retried once),
a summarising LLM call and a final answer. About 2 % of runs fail.

`regression` injects one change into every run it records:

- ``slower_tool``: ``fetch_page`` takes four times as long.
- ``doubled_tokens``: every LLM call uses twice the tokens.
- ``new_error``: ``fetch_page`` fails with a new ``RateLimitError`` in 15 % of runs, and
  the run fails with it.
- ``flaky_tool``: ``fetch_page`` times out (and is retried once, successfully) on 30 % of
  calls instead of 3 %; the runs still answer.
- ``run_errors``: 15 % of runs fail (``AgentError``) after their tool calls, instead of 2 %.
- ``new_tool``: in 30 % of runs the agent searches with ``news_search`` instead of
  ``web_search`` (as fast, as reliable).
- ``loop``: in 20 % of runs the agent calls ``web_search`` six more times with the same
  query (each answered from a cache in 10 ms).
- ``retry_storm``: in 20 % of runs ``fetch_page`` times out six times in a row on the same
  page before it answers (a retry without a limit).
- ``no_llm_calls``: the agent's model calls are no longer recorded (the runs still answer).
- ``model_swap``: the agent's LLM is ``gpt-4.1`` instead of ``gpt-4.1-mini``.
- ``truncated``: the final answer stops at the token limit (finish reason ``length``) in
  30 % of runs.
- ``empty_output``: 10 % of runs succeed with an empty answer.
- ``worse_for_free``: runs tagged ``segment=free`` fail 30 % of the time, take three
  times as long, and answer "I'm sorry, I can't help with that." 40 % of the time.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode

import agentreel

REGRESSIONS = (
    "slower_tool",
    "doubled_tokens",
    "new_error",
    "flaky_tool",
    "run_errors",
    "new_tool",
    "loop",
    "retry_storm",
    "no_llm_calls",
    "model_swap",
    "truncated",
    "empty_output",
    "worse_for_free",
)
MS = 1_000_000  # ns


class _Clock:
    def __init__(self, start_ns: int) -> None:
        self.now = start_ns

    def advance(self, ms: float) -> int:
        self.now += int(ms * MS)
        return self.now


def _span(
    tracer: trace.Tracer,
    name: str,
    parent: trace.Span | None,
    start: int,
    attrs: dict[str, Any],
    kind: SpanKind = SpanKind.INTERNAL,
) -> trace.Span:
    ctx = trace.set_span_in_context(parent) if parent is not None else Context()
    return tracer.start_span(name, context=ctx, kind=kind, attributes=attrs, start_time=start)


def _fail(span: trace.Span, error_type: str, message: str, at: int) -> None:
    span.add_event(
        "exception",
        {"exception.type": error_type, "exception.message": message, "exception.escaped": True},
        timestamp=at,
    )
    span.set_attribute("error.type", error_type)
    span.set_status(Status(StatusCode.ERROR, f"{error_type}: {message}"))


class _Agent:
    def __init__(self, tracer: trace.Tracer, rng: random.Random, regression: str | None) -> None:
        self.tracer = tracer
        self.rng = rng
        self.regression = regression
        self.model = "gpt-4.1" if regression == "model_swap" else "gpt-4.1-mini"

    def llm(self, parent: trace.Span, clock: _Clock, finish: str = "stop") -> None:
        r = self.rng
        tin, tout = r.randint(500, 1500), r.randint(50, 300)
        if self.regression == "no_llm_calls":
            clock.advance(r.lognormvariate(0, 0.25) * 900 + 1)
            return
        if self.regression == "doubled_tokens":
            tin, tout = tin * 2, tout * 2
        start = clock.now
        s = _span(
            self.tracer,
            f"chat {self.model}",
            parent,
            start,
            {
                "agentreel.span.kind": "llm",
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": self.model,
                "gen_ai.response.model": self.model,
                "gen_ai.usage.input_tokens": tin,
                "gen_ai.usage.output_tokens": tout,
                "gen_ai.response.finish_reasons": (finish,),
            },
            SpanKind.CLIENT,
        )
        s.end(end_time=clock.advance(r.lognormvariate(0, 0.25) * 900))
        clock.advance(1)

    def tool(
        self,
        parent: trace.Span,
        clock: _Clock,
        name: str,
        args: dict[str, Any],
        ms: float,
        error: str | None = None,
    ) -> None:
        start = clock.now
        s = _span(
            self.tracer,
            f"execute_tool {name}",
            parent,
            start,
            {
                "agentreel.span.kind": "tool",
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": name,
                "agentreel.input": json.dumps(args),
            },
        )
        end = clock.advance(ms)
        if error is not None:
            _fail(s, error, f"{name} failed", end)
        else:
            s.set_attribute("agentreel.output", json.dumps(["result"]))
        s.end(end_time=end)
        clock.advance(1)

    def run(self, i: int, start_ns: int, tags: dict[str, str]) -> None:
        r = self.rng
        free = self.regression == "worse_for_free" and tags.get("segment") == "free"
        slow = 3.0 if free else 1.0
        clock = _Clock(start_ns)
        question = f"question {r.randint(1, 50)}"
        root = _span(
            self.tracer,
            "research",
            None,
            clock.now,
            {
                "agentreel.span.kind": "chain",
                "agentreel.run.name": "research",
                "agentreel.run.tags": json.dumps(tags, sort_keys=True),
                "agentreel.input": json.dumps({"question": question}),
            },
        )
        agent = _span(
            self.tracer,
            "invoke_agent researcher",
            root,
            clock.advance(2),
            {
                "agentreel.span.kind": "agent",
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "researcher",
            },
        )
        self.llm(agent, clock, "tool_calls")
        queries = [
            f"{question} {w}"
            for w in r.sample(["stats", "report", "study", "2024"], r.randint(2, 4))
        ]
        search = "news_search" if self.regression == "new_tool" and r.random() < 0.30 else None
        for q in queries:
            self.tool(
                agent,
                clock,
                search or "web_search",
                {"query": q},
                r.lognormvariate(0, 0.3) * 300 * slow,
            )
        if self.regression == "loop" and r.random() < 0.20:
            for _ in range(6):
                self.tool(agent, clock, "web_search", {"query": queries[0]}, 10)
        failed: str | None = None
        new_error = self.regression == "new_error" and r.random() < 0.15
        for k in range(r.randint(1, 3)):
            url = {"url": f"https://example.org/{i}/{k}"}
            ms = r.lognormvariate(0, 0.3) * 100 * (4 if self.regression == "slower_tool" else 1)
            if new_error and k == 0:
                self.tool(agent, clock, "fetch_page", url, ms, error="RateLimitError")
                failed = "RateLimitError"
                break
            if self.regression == "retry_storm" and k == 0 and r.random() < 0.20:
                for _ in range(6):
                    self.tool(agent, clock, "fetch_page", url, ms, error="TimeoutError")
            if r.random() < (0.30 if self.regression == "flaky_tool" else 0.03):
                self.tool(agent, clock, "fetch_page", url, ms, error="TimeoutError")
            self.tool(agent, clock, "fetch_page", url, ms)
        fail_rate = 0.30 if free else 0.15 if self.regression == "run_errors" else 0.02
        if failed is None and r.random() < fail_rate:
            failed = "AgentError"
        if failed is None:
            self.llm(agent, clock, "tool_calls")
            cut = 0.30 if self.regression == "truncated" else 0.01
            self.llm(agent, clock, "length" if r.random() < cut else "stop")
            answer = f"The answer to {question}."
            if self.regression == "empty_output" and r.random() < 0.10:
                answer = ""
            elif free and r.random() < 0.40:
                answer = "I'm sorry, I can't help with that."
            root.set_attribute("agentreel.output", json.dumps(answer))
        end = clock.advance(1)
        if failed is not None:
            _fail(agent, failed, "gave up", end)
            _fail(root, failed, "gave up", end)
        agent.end(end_time=end)
        root.end(end_time=clock.advance(1))


def record_runs(
    path: Path,
    runs: int,
    *,
    seed: int,
    regression: str | None = None,
    start: datetime | None = None,
    every: timedelta = timedelta(seconds=30),
    tags: dict[str, str] | None = None,
) -> None:
    """Record `runs` simulated runs into the store at `path` (created if needed).

    Runs start at `start` (default: 12 hours ago) and every `every` after it.
    """
    assert regression is None or regression in REGRESSIONS, regression
    rec = agentreel.init(path, tracer_provider=TracerProvider())
    try:
        agent = _Agent(rec.tracer, random.Random(seed), regression)
        t0 = start or datetime.now(UTC) - timedelta(hours=12)
        for i in range(runs):
            at = t0 + i * every
            run_tags = dict(tags or {})
            run_tags.setdefault("segment", agent.rng.choice(["free", "pro", "enterprise"]))
            agent.run(i, int(at.timestamp() * 1e9), run_tags)
        agentreel.flush()
    finally:
        agentreel.shutdown()
