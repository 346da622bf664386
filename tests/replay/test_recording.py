"""What the tracer records for replay: step order, canonical request hashes, results."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import pytest
from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel.replay import NotReplayable, build_plan
from agentreel.tracer._canonical import canonical_request, request_hash
from tests.conftest import Recorded


def _attrs(rec: dict[str, Any]) -> dict[str, Any]:
    a = rec["attributes"]
    return json.loads(a) if isinstance(a, str) else dict(a or {})


def test_tool_call_ids_and_request_ids_do_not_change_the_hash() -> None:
    def conversation(call_id: str, request_id: str) -> dict[str, Any]:
        return {
            "messages": [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "tool_calls": [{"id": call_id, "type": "function", "function": {"name": "f"}}],
                },
                {"role": "tool", "tool_call_id": call_id, "content": "1"},
            ],
            "request_id": request_id,
        }

    a = canonical_request("llm", "chat", conversation("call_abc", "r1"))
    b = canonical_request("llm", "chat", conversation("call_xyz", "r2"))
    assert a == b
    assert b"call_0" in a
    assert b"request_id" not in a
    c = canonical_request("llm", "chat", {**conversation("call_abc", "r1"), "temperature": 0.2})
    assert request_hash(a) != request_hash(c)
    # key order does not matter, objects stand as their type, never an address
    assert canonical_request("tool", "t", {"a": 1, "b": 2}) == canonical_request(
        "tool", "t", {"b": 2, "a": 1}
    )
    assert canonical_request("tool", "t", {"o": object()}) == canonical_request(
        "tool", "t", {"o": object()}
    )


def test_llm_and_tool_calls_record_order_hash_and_name(recorded: Recorded) -> None:
    @agentreel.tool
    async def search(query: str) -> list[str]:
        await asyncio.sleep(0)
        return [query]

    @agentreel.llm(provider="acme", name="planner")
    def chat(messages: list[dict[str, str]]) -> str:
        return "ok"

    @agentreel.agent
    async def main(question: str) -> str:
        chat([{"role": "user", "content": question}])
        await asyncio.gather(search("a"), search("b"))
        await search("a")
        return "done"

    asyncio.run(main("q"))
    asyncio.run(main("again"))
    recs = recorded.records()
    by_run: dict[str, list[dict[str, Any]]] = {}
    for r in sorted(recs, key=lambda r: r["start_ns"]):
        if r["kind"] in ("llm", "tool"):
            by_run.setdefault(r["trace_id"], []).append(r)
    assert len(by_run) == 2
    for run_steps in by_run.values():  # numbered per run, from 1, in call order
        assert sorted(_attrs(r)["agentreel.step"] for r in run_steps) == [1, 2, 3, 4]
        assert _attrs(run_steps[0])["agentreel.step"] == 1
    steps = next(iter(by_run.values()))
    from agentreel.tracer._steps import _step_counters

    assert not {int(t, 16) for t in by_run} & set(_step_counters)  # forgotten as the runs end
    hashes = [_attrs(r)["agentreel.request.hash"] for r in steps]
    assert hashes[1] == hashes[3] != hashes[2]  # same request, same hash
    assert _attrs(steps[0])["agentreel.llm.name"] == "planner"
    agent = next(r for r in recs if r["kind"] == "agent")
    a = _attrs(agent)
    assert a["agentreel.entry"].endswith(
        ":test_llm_and_tool_calls_record_order_hash_and_name.<locals>.main"
    )
    env = json.loads(a["agentreel.env"])
    assert env["python"]
    assert "agentreel" in env["packages"]
    assert "git_sha" in env


class Answer(pydantic.BaseModel):
    text: str


@dataclass
class Hit:
    url: str


def test_result_types_and_what_makes_a_run_not_replayable(tmp_path: Path) -> None:
    agentreel.init(tmp_path, tracer_provider=TracerProvider(), max_payload_bytes=200)
    try:

        @agentreel.tool
        def model_result() -> Answer:
            return Answer(text="x")

        @agentreel.tool
        def dataclass_result() -> Hit:
            return Hit(url="u")

        @agentreel.tool
        def opaque() -> object:
            return object()

        @agentreel.tool
        def big() -> str:
            return "x" * 1000

        @agentreel.agent
        def nested_entry() -> None:
            model_result()
            dataclass_result()
            opaque()
            big()

        nested_entry()
    finally:
        agentreel.shutdown()
    from agentreel.store import Store

    with Store.open(tmp_path) as store:
        store.ingest()
        rid = store.runs()["run_id"][0]
        attrs = {
            r["name"]: json.loads(r["attributes"]) for r in store.spans(rid).iter_rows(named=True)
        }
        assert attrs["execute_tool model_result"]["agentreel.output.type"].endswith(":Answer")
        assert attrs["execute_tool dataclass_result"]["agentreel.output.type"].endswith(":Hit")
        assert attrs["execute_tool opaque"]["agentreel.output.lossy"] == "builtins:object"
        with pytest.raises(NotReplayable) as e:
            build_plan(store, rid)
    msg = str(e.value)
    assert "method or a nested function" in msg
    assert "step 3 (tool opaque)" in msg
    assert "builtins:object" in msg
    assert "step 4 (tool big): its result was cut" in msg
