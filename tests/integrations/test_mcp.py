"""MCP: a real server and the real client over stdio, each process recording to one store.

The agent (a script in its own process, as a user runs it) starts the server with
the SDK's stdio client; both call `agentreel.instrument("mcp")`. The server's tool
raises when ``MCP_FORBID`` is set, so a replay that reproduces proves the recorded
results were served and the server never ran the tool.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from agentreel.store import Store, import_otlp_json
from tests.conftest import Recorded
from tests.replay._harness import _cli, _env, _json

pytest.importorskip("mcp.server.mcpserver", reason="the mcp extra (SDK 2.x) is not installed")

SERVER = '''
import os
import agentreel
from mcp.server.mcpserver import MCPServer

agentreel.instrument("mcp")
app = MCPServer("weather")


@app.tool()
def get_weather(city: str) -> str:
    """The weather in a city."""
    if os.environ.get("MCP_FORBID"):
        raise AssertionError("the server ran the tool during a replay")
    if city == "Atlantis":
        raise ValueError("no such city")
    return f"sunny in {city}"


@app.resource("notes://today")
def today() -> str:
    return "bring an umbrella"


@app.prompt()
def greet(name: str) -> str:
    return f"Hello {name}"


if __name__ == "__main__":
    try:
        app.run()
    finally:
        agentreel.shutdown()
'''

AGENT = """
import asyncio
import os
import sys

import agentreel
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

agentreel.instrument("mcp")


@agentreel.tool
async def weather(session: ClientSession, city: str) -> str:
    result = await session.call_tool("get_weather", {"city": city})
    return result.content[0].text


@agentreel.agent
async def main(city: str) -> str:
    server = StdioServerParameters(
        command=sys.executable, args=["mcp_server.py"], env=dict(os.environ)
    )
    async with stdio_client(server) as (r, w), ClientSession(r, w) as session:
        await session.initialize()
        ok = await session.call_tool("get_weather", {"city": city})
        bad = await session.call_tool("get_weather", {"city": "Atlantis"})
        wrapped = await weather(session, "Oslo")
        doc = await session.read_resource("notes://today")
        prompt = await session.get_prompt("greet", {"name": "Ann"})
        return " | ".join(
            [ok.content[0].text, str(bad.is_error), wrapped, doc.contents[0].text,
             prompt.messages[0].content.text]
        )


if __name__ == "__main__":
    print(asyncio.run(main(sys.argv[1])))
    agentreel.shutdown()
"""


OUTPUT = "sunny in Paris | True | sunny in Oslo | bring an umbrella | Hello Ann"


@pytest.fixture(scope="module")
def mcp_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, pl.DataFrame]:
    """The agent's run over stdio: (working directory, run id, its spans in tree order)."""
    cwd = tmp_path_factory.mktemp("mcp")
    (cwd / "mcp_server.py").write_text(SERVER)
    (cwd / "mcp_agent.py").write_text(AGENT)
    out = subprocess.run(
        [sys.executable, "mcp_agent.py", "Paris"],
        cwd=cwd,
        env=_env(cwd / "store"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == OUTPUT
    with Store.open(cwd / "store") as store:
        store.ingest()
        runs = store.runs()
        assert runs["name"].to_list() == ["main"]  # the server's spans made no run of their own
        rid = runs["run_id"][0]
        return cwd, rid, store.tree(rid)


def _attrs(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(row["attributes"] or "{}")
    return out


def test_client_and_server_spans_join_one_run(mcp_run: tuple[Path, str, pl.DataFrame]) -> None:
    _, _, tree = mcp_run
    rows = tree.to_dicts()
    by_id = {r["span_id"]: r for r in rows}
    root = rows[0]
    calls = [
        r for r in rows if r["name"] == "tools/call get_weather" and r["span_kind"] != "server"
    ]
    assert len(calls) == 2
    for call in calls:
        assert call["parent_span_id"] == root["span_id"]
        assert (call["kind"], call["tool_name"], call["operation"]) == (
            "tool",
            "get_weather",
            "execute_tool",
        )
        a = _attrs(call)
        assert a["mcp.method.name"] == "tools/call"
        assert a["jsonrpc.request.id"]  # the SDK's own send span became this one
        (server,) = [
            r for r in rows if r["parent_span_id"] == call["span_id"] and r["span_kind"] == "server"
        ]
        assert server["name"] == "tools/call get_weather"
        assert (server["kind"], server["tool_name"]) == ("tool", "get_weather")
        assert server["process_id"] != call["process_id"]  # the server's own process
    ok, bad = calls
    assert json.loads(ok["input"]) == {"arguments": {"city": "Paris"}}
    assert json.loads(ok["output"])["content"][0]["text"] == "sunny in Paris"
    assert _attrs(ok)["agentreel.output.type"].endswith(":CallToolResult")  # rebuilt as one
    assert ok["status"] != "error"
    assert (bad["status"], bad["error_type"]) == ("error", "tool_error")
    (bad_server,) = [
        r for r in rows if r["parent_span_id"] == bad["span_id"] and r["span_kind"] == "server"
    ]
    assert (bad_server["status"], bad_server["error_type"]) == ("error", "tool_error")
    read = next(r for r in rows if r["name"] == "resources/read notes://today")
    assert (read["kind"], read["span_kind"]) == ("retriever", "client")
    assert "bring an umbrella" in read["output"]
    prompt = next(r for r in rows if r["name"] == "prompts/get greet")
    assert (prompt["kind"], _attrs(prompt)["gen_ai.prompt.name"]) == ("other", "greet")
    # every request the server handled hangs below a client span of this run
    for r in rows:
        if r["span_kind"] == "server":
            assert by_id[r["parent_span_id"]]["span_kind"] in ("client", "internal")


def test_a_tool_error_counts_but_a_run_that_handled_it_is_ok(
    mcp_run: tuple[Path, str, pl.DataFrame],
) -> None:
    cwd, rid, _ = mcp_run
    with Store.open(cwd / "store") as store:
        run = store.run(rid)
    # the tool_error on both sides; the agent read the result and went on
    assert (run["status"], run["error_count"], run["tool_count"]) == ("ok", 2, 3)


def test_replay_serves_the_recorded_results_without_the_server_running_the_tool(
    mcp_run: tuple[Path, str, pl.DataFrame],
) -> None:
    cwd, rid, _ = mcp_run
    p = _cli(cwd, "replay", rid, "--check", "--json", MCP_FORBID="1")
    assert p.returncode == 0, p.stdout + p.stderr
    r = _json(p)
    assert r["reproduced"]
    # the two calls, the isError result among them, and the @agentreel.tool around the third
    assert r["served"] == r["steps"] == 3
    assert r["output"] == json.dumps(OUTPUT)


def test_an_agentreel_tool_around_the_call_is_the_calls_one_span(
    mcp_run: tuple[Path, str, pl.DataFrame],
) -> None:
    _, _, tree = mcp_run
    client = tree.filter(pl.col("process_id") == tree["process_id"][0])
    tools = client.filter(pl.col("kind") == "tool")
    assert tools["name"].to_list() == [
        "tools/call get_weather",
        "tools/call get_weather",
        "execute_tool weather",  # no third client span of its own
    ]
    wrapper = tools.row(2, named=True)
    a = _attrs(wrapper)
    assert (a["mcp.method.name"], a["gen_ai.tool.name"]) == ("tools/call", "weather")
    assert a["jsonrpc.request.id"]
    assert client.filter(pl.col("parent_span_id") == wrapper["span_id"]).height == 0
    server = tree.filter(pl.col("parent_span_id") == wrapper["span_id"])
    assert server.select("name", "span_kind", "tool_name").rows() == [
        ("tools/call get_weather", "server", "get_weather")
    ]


def _span(
    name: str, span_id: str, parent: str | None, attrs: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": span_id,
        **({"parentSpanId": parent} if parent else {}),
        "name": name,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001000000000",
        "attributes": [
            {"key": k, "value": {"stringValue": v} if isinstance(v, str) else {"intValue": str(v)}}
            for k, v in attrs.items()
        ],
        **extra,
    }


def test_mcp_spans_of_other_instrumentations_land_in_the_same_columns(tmp_path: Path) -> None:
    error = {"status": {"code": 2, "message": "boom"}}
    spans = [
        _span("agent", "a000000000000001", None, {"gen_ai.operation.name": "invoke_agent"}),
        # the MCP SDK's own client span: no tool attribute, the name says it
        _span(
            "MCP send tools/call get_weather",
            "a000000000000002",
            "a000000000000001",
            {"mcp.method.name": "tools/call", "jsonrpc.request.id": "7"},
            kind=3,
        ),
        # the MCP conventions' server span, an isError result
        _span(
            "tools/call get_weather",
            "a000000000000003",
            "a000000000000002",
            {
                "mcp.method.name": "tools/call",
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "get_weather",
                "error.type": "tool_error",
            },
            kind=2,
            **error,
        ),
        # OpenLLMetry's MCP tool span
        _span(
            "lookup.tool",
            "a000000000000004",
            "a000000000000001",
            {
                "traceloop.span.kind": "tool",
                "traceloop.entity.name": "lookup",
                "traceloop.entity.input": '{"tool_name": "lookup", "arguments": {"q": "x"}}',
                "traceloop.entity.output": '{"result": "found"}',
            },
        ),
        _span(
            "tools/list.mcp",
            "a000000000000005",
            "a000000000000001",
            {"traceloop.entity.input": "{}"},
        ),
    ]
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    path = tmp_path / "otlp.json"
    path.write_text(json.dumps(doc))
    import_otlp_json(tmp_path / "store", [path])
    with Store.open(tmp_path / "store") as store:
        store.ingest()
        rows = {r["name"]: r for r in store.spans(store.runs()["run_id"][0]).to_dicts()}
    send = rows["MCP send tools/call get_weather"]
    assert (send["kind"], send["tool_name"]) == ("tool", "get_weather")
    served = rows["tools/call get_weather"]
    assert (served["kind"], served["tool_name"], served["status"], served["error_type"]) == (
        "tool",
        "get_weather",
        "error",
        "tool_error",
    )
    lookup = rows["lookup.tool"]
    assert (lookup["kind"], lookup["tool_name"]) == ("tool", "lookup")
    assert json.loads(lookup["input"])["arguments"] == {"q": "x"}
    assert json.loads(lookup["output"]) == {"result": "found"}
    listed = rows["tools/list.mcp"]
    assert (listed["kind"], listed["tool_name"]) == ("other", None)


def test_a_step_recorded_in_another_process_makes_a_run_not_replayable(tmp_path: Path) -> None:
    """Another process's spans are fine (the MCP server's, above); its steps are not."""
    from agentreel.replay import NotReplayable, build_plan

    entry = {
        "agentreel.span.kind": "agent",
        "agentreel.entry": "worker:main",
        "agentreel.input": "{}",
        "agentreel.output": '"done"',
    }

    def step(span_id: str, n: int) -> dict[str, Any]:
        attrs = {
            "agentreel.span.kind": "tool",
            "gen_ai.tool.name": "lookup",
            "agentreel.step": n,
            "agentreel.request.hash": "ab",
            "agentreel.input": "{}",
            "agentreel.output": '"x"',
        }
        return _span("execute_tool lookup", span_id, "b000000000000001", attrs)

    def process(name: str, spans: list[dict[str, Any]]) -> dict[str, Any]:
        resource = {"attributes": [{"key": "service.name", "value": {"stringValue": name}}]}
        return {"resource": resource, "scopeSpans": [{"spans": spans}]}

    doc = {
        "resourceSpans": [
            process(
                "agent",
                [_span("main", "b000000000000001", None, entry), step("b000000000000002", 1)],
            ),
            process("worker", [step("b000000000000003", 2)]),
        ]
    }
    path = tmp_path / "otlp.json"
    path.write_text(json.dumps(doc))
    import_otlp_json(tmp_path / "store", [path], redact=False)
    with Store.open(tmp_path / "store") as store:
        store.ingest()
        with pytest.raises(NotReplayable, match="step 2 was recorded in another process"):
            build_plan(store, store.runs()["run_id"][0])


def test_instrument_twice_wraps_once_and_shutdown_puts_the_sdk_back(recorded: Recorded) -> None:
    from mcp.client.session import ClientSession
    from mcp.server._otel import OpenTelemetryMiddleware
    from mcp.shared import jsonrpc_dispatcher

    import agentreel

    before = (
        ClientSession.call_tool,
        ClientSession.read_resource,
        ClientSession.get_prompt,
        jsonrpc_dispatcher.otel_span,
        OpenTelemetryMiddleware.__call__,
    )
    assert agentreel.instrument("mcp") == ["mcp"]
    agentreel.instrument("mcp")
    wrapped = ClientSession.call_tool
    assert wrapped is not before[0]
    assert wrapped._agentreel_original is before[0]  # type: ignore[attr-defined]
    assert jsonrpc_dispatcher.otel_span._agentreel_original is before[3]  # type: ignore[attr-defined]
    agentreel.shutdown()
    assert (
        ClientSession.call_tool,
        ClientSession.read_resource,
        ClientSession.get_prompt,
        jsonrpc_dispatcher.otel_span,
        OpenTelemetryMiddleware.__call__,
    ) == before


def test_the_high_level_client_records_through_the_same_step(recorded: Recorded) -> None:
    """`mcp.Client` calls the session with input-required and claimed results allowed.

    In process (``Client(app)``) the SDK sends no JSON-RPC, so there is no request id.
    """
    import asyncio

    from mcp import Client
    from mcp.server.mcpserver import MCPServer

    import agentreel

    agentreel.instrument("mcp")
    app = MCPServer("in-process")

    @app.tool()
    def add(a: int, b: int) -> int:
        return a + b

    @agentreel.agent
    async def main() -> str:
        async with Client(app) as client:
            result = await client.call_tool("add", {"a": 1, "b": 2})
            return str(result.content[0].text)

    assert asyncio.run(main()) == "3"
    tools = [r for r in recorded.records() if r["kind"] == "tool"]
    assert [(t["name"], t["tool_name"]) for t in tools] == [("tools/call add", "add")]
    a = tools[0]["attributes"]
    assert a["mcp.method.name"] == "tools/call"
    assert a["agentreel.output.type"].endswith(":CallToolResult")
