from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

import agentreel
from tests.conftest import Recorded


def test_bare_and_argument_forms_name_the_tool(recorded: Recorded) -> None:
    @agentreel.tool
    def search(query: str) -> list[str]:
        return [query, "b"]

    @agentreel.tool(name="web_search")
    def other(query: str) -> str:
        return query

    assert search("q") == ["q", "b"]
    assert other("x") == "x"
    recs = recorded.by_name()
    s = recs["execute_tool search"]
    assert s["kind"] == "tool"
    assert s["tool_name"] == "search"
    assert s["operation"] == "execute_tool"
    assert json.loads(s["input"]) == {"query": "q"}
    assert json.loads(s["output"]) == ["q", "b"]
    assert recs["execute_tool web_search"]["tool_name"] == "web_search"


def test_llm_reads_usage_model_and_finish_reason_from_the_response(recorded: Recorded) -> None:
    @agentreel.llm(provider="openai", model="gpt-4.1")
    def chat(messages: list[dict[str, str]]) -> dict[str, object]:
        return {
            "model": "gpt-4.1-2025-04-14",
            "choices": [
                {"message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3},
        }

    class Usage:
        input_tokens = 7
        output_tokens = 2

    class AnthropicMessage:
        usage = Usage()
        model = "claude-sonnet-4-5"
        stop_reason = "end_turn"

    @agentreel.llm(provider="anthropic")
    def claude(prompt: str, model: str) -> AnthropicMessage:
        return AnthropicMessage()

    chat([{"role": "user", "content": "hello"}])
    claude("hey", model="claude-sonnet-4-5")
    recs = recorded.by_name()
    r = recs["chat gpt-4.1"]
    assert (r["kind"], r["provider"], r["request_model"], r["response_model"]) == (
        "llm",
        "openai",
        "gpt-4.1",
        "gpt-4.1-2025-04-14",
    )
    assert (r["input_tokens"], r["output_tokens"], r["finish_reason"]) == (12, 3, "stop")
    assert json.loads(r["input"]) == {"messages": [{"role": "user", "content": "hello"}]}
    assert r["span_kind"] == "client"
    c = recs["chat claude-sonnet-4-5"]  # model taken from the call's model= argument
    assert (c["request_model"], c["input_tokens"], c["output_tokens"], c["finish_reason"]) == (
        "claude-sonnet-4-5",
        7,
        2,
        "end_turn",
    )


def test_async_agent_with_parallel_tools_nests_each_under_its_parent(recorded: Recorded) -> None:
    @agentreel.tool
    async def fetch(url: str) -> str:
        await asyncio.sleep(0.01)
        return url.upper()

    @agentreel.agent(name="researcher")
    async def research(urls: list[str]) -> list[str]:
        return list(await asyncio.gather(*(fetch(u) for u in urls)))

    assert asyncio.run(research(["a", "b", "c"])) == ["A", "B", "C"]
    recs = recorded.records()
    agent = next(r for r in recs if r["kind"] == "agent")
    tools = [r for r in recs if r["kind"] == "tool"]
    assert agent["agent_name"] == "researcher"
    assert agent["parent_span_id"] is None
    assert len(tools) == 3
    assert {t["parent_span_id"] for t in tools} == {agent["span_id"]}
    assert {t["trace_id"] for t in tools} == {agent["trace_id"]}


def test_thread_pools_and_threads_propagate_the_parent(recorded: Recorded) -> None:
    @agentreel.tool
    def work(i: int) -> int:
        return i * 2

    @agentreel.agent
    def orchestrate() -> list[int]:
        with ThreadPoolExecutor(4) as pool:
            out = list(pool.map(work, range(4)))
        t = threading.Thread(target=work, args=(10,))
        t.start()
        t.join()
        return out

    assert orchestrate() == [0, 2, 4, 6]
    recs = recorded.records()
    agent = next(r for r in recs if r["kind"] == "agent")
    tools = [r for r in recs if r["kind"] == "tool"]
    assert len(tools) == 5
    assert all(t["parent_span_id"] == agent["span_id"] for t in tools)


def test_generator_span_covers_the_stream_and_records_items(recorded: Recorded) -> None:
    @agentreel.llm(provider="acme", model="m1")
    def stream(prompt: str):  # type: ignore[no-untyped-def]
        yield from prompt.split()

    @agentreel.tool
    def inner() -> int:
        return 1

    @agentreel.agent
    def consumer() -> list[str]:
        out = []
        for w in stream("a b c"):
            out.append(w)
            inner()  # called by the consumer between items: a sibling, not a child
        return out

    assert consumer() == ["a", "b", "c"]
    recs = recorded.by_name()
    s = recs["chat m1"]
    assert json.loads(s["output"]) == ["a", "b", "c"]
    agent = recs["invoke_agent consumer"]
    assert recs["execute_tool inner"]["parent_span_id"] == agent["span_id"]
    assert s["parent_span_id"] == agent["span_id"]
    assert s["end_ns"] >= s["start_ns"]


def test_generator_closed_early_ends_its_span(recorded: Recorded) -> None:
    @agentreel.tool
    def numbers():  # type: ignore[no-untyped-def]
        yield from range(100)

    g = numbers()
    assert next(g) == 0
    assert next(g) == 1
    g.close()
    rec = recorded.by_name()["execute_tool numbers"]
    assert json.loads(rec["output"]) == [0, 1]
    assert rec["status"] != "error"


def test_generator_send_and_return_value_pass_through(recorded: Recorded) -> None:
    @agentreel.tool
    def echo():  # type: ignore[no-untyped-def]
        got = yield "ready"
        yield f"got {got}"
        return "done"

    g = echo()
    assert next(g) == "ready"
    assert g.send("x") == "got x"
    with pytest.raises(StopIteration) as stop:
        next(g)
    assert stop.value.value == "done"


def test_async_generator_span_and_error_inside_stream(recorded: Recorded) -> None:
    @agentreel.tool
    async def tokens(n: int):  # type: ignore[no-untyped-def]
        for i in range(n):
            await asyncio.sleep(0)
            if i == 2:
                raise ValueError("stream broke")
            yield i

    async def main() -> list[int]:
        got: list[int] = []
        with pytest.raises(ValueError, match="stream broke"):  # noqa: PT012  (the stream breaks mid-loop)
            async for t in tokens(5):
                got.append(t)
        return got

    assert asyncio.run(main()) == [0, 1]
    r = recorded.by_name()["execute_tool tokens"]
    assert r["status"] == "error"
    assert r["error_type"] == "ValueError"
    assert r["error_message"] == "stream broke"


def test_exceptions_are_recorded_and_reraised_unchanged(recorded: Recorded) -> None:
    class Boom(RuntimeError):
        pass

    err = Boom("bad things")

    @agentreel.tool
    def explode() -> None:
        raise err

    with pytest.raises(Boom) as caught:
        explode()
    assert caught.value is err
    r = recorded.by_name()["execute_tool explode"]
    assert r["status"] == "error"
    assert r["error_type"].endswith("Boom")
    assert r["error_message"] == "bad things"
    (event,) = r["events"]
    assert event["name"] == "exception"
    assert "raise err" in event["attributes"]["exception.stacktrace"]
    assert r["attributes"]["error.type"].endswith(
        "test_exceptions_are_recorded_and_reraised_unchanged.<locals>.Boom"
    )


def test_methods_static_and_class_methods_skip_self(recorded: Recorded) -> None:
    class Agent:
        factor = 3

        @agentreel.tool
        def scale(self, x: int) -> int:
            return x * self.factor

        @agentreel.tool
        @classmethod
        def make(cls, n: int) -> int:
            return n + cls.factor

        @agentreel.tool
        @staticmethod
        def plain(n: int) -> int:
            return n

    a = Agent()
    assert a.scale(2) == 6
    assert Agent.make(1) == 4
    assert Agent.plain(5) == 5
    recs = recorded.by_name()
    assert json.loads(recs["execute_tool scale"]["input"]) == {"x": 2}
    assert json.loads(recs["execute_tool make"]["input"]) == {"n": 1}
    assert json.loads(recs["execute_tool plain"]["input"]) == {"n": 5}


def test_unserialisable_values_use_fields_or_a_bounded_repr(recorded: Recorded) -> None:
    @dataclass
    class Doc:
        id: int
        text: str

    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque " + "x" * 5000 + ">"

    @agentreel.retriever
    def lookup(q: str, extra: object, *more: int) -> list[Doc]:
        return [Doc(1, "one")]

    lookup("q", Opaque(), 7, 8)
    r = recorded.by_name()["retrieve lookup"]
    assert r["kind"] == "retriever"
    inp = json.loads(r["input"])
    assert inp["q"] == "q"
    assert inp["more"] == [7, 8]
    assert inp["extra"].startswith("<Opaque xxx")
    assert len(inp["extra"]) <= 1001
    assert json.loads(r["output"]) == [{"id": 1, "text": "one"}]


def test_payloads_over_the_cap_are_cut_and_marked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from opentelemetry.sdk.trace import TracerProvider

    agentreel.init(tmp_path, tracer_provider=TracerProvider(), max_payload_bytes=1000)
    try:

        @agentreel.tool
        def big(text: str) -> str:
            return text

        big("y" * 5000)
        agentreel.flush()
        from tests.conftest import spool_records

        (r,) = [x for x in spool_records(tmp_path) if x["end_ns"]]
        assert len(json.loads(r["input"])) == 1000  # a JSON string of the head
        assert r["attributes"]["agentreel.input.truncated"] == len('{"text":""}') + 5000
        assert r["attributes"]["agentreel.output.truncated"] == 5002
    finally:
        agentreel.shutdown()


def test_capture_off_per_decorator(recorded: Recorded) -> None:
    @agentreel.tool(capture=False)
    def secret(password: str) -> str:
        return "token"

    secret("hunter2")
    r = recorded.by_name()["execute_tool secret"]
    assert r["input"] is None
    assert r["output"] is None
    assert "hunter2" not in json.dumps(r)


def test_span_handle_sets_output_tokens_and_attributes(recorded: Recorded) -> None:
    with agentreel.span("rerank", kind="retriever", input={"q": "x"}) as s:
        s.set_output(["d1", "d2"])
        s.set_tokens(input=30, output=4)
        s.set_model(request="rerank-2", provider="acme")
        s.set_attribute("docs.count", 2)
    with pytest.raises(KeyError), agentreel.span("broken", kind="tool"):
        raise KeyError("k")
    recs = recorded.by_name()
    r = recs["rerank"]
    assert (
        r["kind"],
        r["input_tokens"],
        r["output_tokens"],
        r["request_model"],
        r["provider"],
    ) == (
        "retriever",
        30,
        4,
        "rerank-2",
        "acme",
    )
    assert json.loads(r["input"]) == {"q": "x"}
    assert json.loads(r["output"]) == ["d1", "d2"]
    assert r["attributes"]["docs.count"] == 2
    b = recs["broken"]
    assert (b["status"], b["error_type"], b["tool_name"]) == ("error", "KeyError", "broken")


def test_current_span_reports_from_inside_a_decorated_call(recorded: Recorded) -> None:
    @agentreel.llm(provider="acme", model="m")
    def chat(prompt: str) -> str:
        agentreel.current_span().set_tokens(input=5, output=1)
        return "ok"

    chat("p")
    r = recorded.by_name()["chat m"]
    assert (r["input_tokens"], r["output_tokens"]) == (5, 1)


def test_run_starts_a_new_trace_with_name_and_tags(recorded: Recorded) -> None:
    @agentreel.tool
    def t() -> int:
        return 1

    with (
        agentreel.span("outer"),
        agentreel.run("nightly-eval", tags={"dataset": "qa-v2", "n": 3}) as r,
    ):
        t()
    recs = recorded.by_name()
    root = recs["nightly-eval"]
    assert root["parent_span_id"] is None  # not a child of "outer"
    assert root["trace_id"] == r.run_id != recs["outer"]["trace_id"]
    assert root["kind"] == "chain"
    assert json.loads(root["attributes"]["agentreel.run.tags"]) == {"dataset": "qa-v2", "n": 3}
    assert recs["execute_tool t"]["parent_span_id"] == root["span_id"]


def test_bad_arguments_are_clear_errors(recorded: Recorded) -> None:
    with pytest.raises(agentreel.ConfigError, match="span kind 'banana'"):
        agentreel.span("x", kind="banana")
    with pytest.raises(agentreel.ConfigError, match="run tag"):
        agentreel.run("x", tags={"k": [1, 2]})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="did you mean name="):
        agentreel.tool("search")  # type: ignore[call-overload]


def test_decorators_without_init_are_plain_and_harmless() -> None:
    assert agentreel.recorder() is None

    @agentreel.tool
    def f(x: int) -> int:
        return x + 1

    assert f(1) == 2
