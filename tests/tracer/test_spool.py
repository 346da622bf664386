from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import agentreel
from agentreel._normalize import normalize_into
from tests.conftest import Recorded, spool_records


def test_segments_are_owner_only_and_whole_lines(recorded: Recorded) -> None:
    @agentreel.tool
    def t(i: int) -> int:
        return i

    for i in range(50):
        t(i)
    agentreel.flush()
    segs = list((recorded.path / "spool").glob("*.jsonl"))
    assert segs
    for seg in segs:
        assert stat.S_IMODE(seg.stat().st_mode) == 0o600
        data = seg.read_bytes()
        assert data.endswith(b"\n")
        for line in data.splitlines():
            json.loads(line)
    assert stat.S_IMODE((recorded.path / "spool").stat().st_mode) == 0o700
    assert not list((recorded.path / "spool").glob(".*tmp"))
    assert len(recorded.records()) == 50


def test_open_agent_and_llm_spans_are_spooled_as_start_records(tmp_path: Path) -> None:
    agentreel.init(tmp_path, tracer_provider=TracerProvider(), flush_interval=0.05)
    try:
        with agentreel.run("long") as r, agentreel.span("thinking", kind="llm"):
            with agentreel.span("quick", kind="tool"):
                pass
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                opened = {x["name"] for x in spool_records(tmp_path) if x["end_ns"] is None}
                if {"long", "thinking"} <= opened:
                    break
                time.sleep(0.02)
            assert {"long", "thinking"} <= opened
            assert (tmp_path / "spool" / "live" / agentreel.recorder().process_id).exists()  # type: ignore[union-attr]
        starts = [x for x in spool_records(tmp_path) if x["end_ns"] is None]
        # one start record each; the short tool span never needed one
        assert sorted(x["name"] for x in starts) == ["long", "thinking"]
        assert all(x["trace_id"] == r.run_id and x["status"] == "unset" for x in starts)
    finally:
        pid = agentreel.recorder().process_id  # type: ignore[union-attr]
        agentreel.shutdown()
    assert not (tmp_path / "spool" / "live" / pid).exists()  # clean exit removes the heartbeat


def test_foreign_tracer_provider_keeps_receiving_spans(tmp_path: Path) -> None:
    mine = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(mine))
    agentreel.init(tmp_path, tracer_provider=provider)
    try:
        app_tracer = provider.get_tracer("app")

        @agentreel.tool
        def lookup(q: str) -> str:
            return q

        with app_tracer.start_as_current_span("http request"):
            lookup("x")
        agentreel.flush()
        names = sorted(s.name for s in mine.get_finished_spans())
        assert names == ["execute_tool lookup", "http request"]
        assert sorted(r["name"] for r in spool_records(tmp_path)) == [
            "execute_tool lookup",
            "http request",
        ]
    finally:
        agentreel.shutdown()


def test_init_twice_same_path_is_idempotent_other_path_is_an_error(tmp_path: Path) -> None:
    a = agentreel.init(tmp_path / "a", tracer_provider=TracerProvider())
    try:
        assert agentreel.init(tmp_path / "a") is a
        with pytest.raises(agentreel.ConfigError, match="already recording"):
            agentreel.init(tmp_path / "b")
    finally:
        agentreel.shutdown()
    b = agentreel.init(tmp_path / "b", tracer_provider=TracerProvider())
    assert b is not a
    agentreel.shutdown()


def test_init_reports_an_unwritable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(agentreel.ConfigError, match="cannot create the agentreel store"):
        agentreel.init(blocker / "store", tracer_provider=TracerProvider())


def test_flush_env_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTREEL_FLUSH", "often")
    with pytest.raises(agentreel.ConfigError, match="AGENTREEL_FLUSH='often'"):
        agentreel.init(tmp_path, tracer_provider=TracerProvider())
    monkeypatch.setenv("AGENTREEL_FLUSH", "each")
    agentreel.init(tmp_path, tracer_provider=TracerProvider())
    try:

        @agentreel.tool
        def t() -> None:
            return None

        t()  # written through: on disk with no flush, in the process's journal
        (journal,) = (tmp_path / "spool").glob(".*.journal")
        assert [json.loads(ln)["name"] for ln in journal.read_bytes().splitlines()] == [
            "execute_tool t"
        ]
        assert spool_records(tmp_path) == []  # a drain takes it once sealed: each tick
        agentreel.flush()
        assert [r["name"] for r in spool_records(tmp_path)] == ["execute_tool t"]
        assert not list((tmp_path / "spool").glob(".*"))
    finally:
        agentreel.shutdown()


def test_spool_write_failure_drops_with_a_counter_and_recording_resumes(
    recorded: Recorded, caplog: pytest.LogCaptureFixture
) -> None:
    @agentreel.tool
    def t(i: int) -> int:
        return i

    spool = recorded.path / "spool"
    moved = recorded.path / "spool.away"
    spool.rename(moved)
    spool.write_text("a file where the spool directory was")  # every write now fails, even as root
    try:
        assert t(1) == 1  # the agent runs on
        agentreel.flush()
        assert recorded.recorder.dropped == 1
        assert "spans are being dropped" in caplog.text
    finally:
        spool.unlink()
        moved.rename(spool)
    assert t(2) == 2
    assert [json.loads(r["input"]) for r in recorded.records()] == [{"i": 2}]
    assert recorded.recorder.dropped == 1


def test_normalize_reads_openinference_and_older_genai_forms() -> None:
    oi: dict[str, object] = {}
    normalize_into(
        oi,
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o",
            "llm.provider": "openai",
            "llm.token_count.prompt": 100,
            "llm.token_count.completion": 20,
            "input.value": '{"messages": []}',
            "output.value": "hi",
            "session.id": "s1",
        },
    )
    assert (
        oi["kind"],
        oi["request_model"],
        oi["provider"],
        oi["input_tokens"],
        oi["output_tokens"],
    ) == (
        "llm",
        "gpt-4o",
        "openai",
        100,
        20,
    )
    assert (oi["input"], oi["output"], oi["session_id"]) == ('{"messages": []}', "hi", "s1")
    assert "input.value" not in oi["attributes"]  # type: ignore[operator]

    old: dict[str, object] = {}
    normalize_into(
        old,
        {
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": "claude-3-5-sonnet",
            "gen_ai.usage.prompt_tokens": 9,
            "gen_ai.usage.completion_tokens": 4,
            "gen_ai.response.finish_reasons": ("max_tokens",),
        },
    )
    assert (
        old["kind"],
        old["provider"],
        old["input_tokens"],
        old["output_tokens"],
        old["finish_reason"],
    ) == (
        "llm",
        "anthropic",
        9,
        4,
        "max_tokens",
    )

    tool: dict[str, object] = {}
    normalize_into(tool, {"openinference.span.kind": "TOOL", "tool.name": "search"})
    assert (tool["kind"], tool["tool_name"]) == ("tool", "search")

    plain: dict[str, object] = {}
    normalize_into(plain, {"http.method": "GET"})
    assert plain["kind"] == "other"


def test_init_joins_a_globally_configured_provider(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = """
import sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
app = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(app))
trace.set_tracer_provider(provider)
import agentreel
rec = agentreel.init(sys.argv[1])
assert rec.provider is provider

@agentreel.tool
def t():
    return 1

with trace.get_tracer("app").start_as_current_span("request"):
    t()
print(sorted(s.name for s in app.get_finished_spans()))
"""
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['execute_tool t', 'request']"
    # flushed at exit with no explicit flush
    recs = spool_records(tmp_path)
    assert sorted(r["name"] for r in recs) == ["execute_tool t", "request"]
    assert len({r["trace_id"] for r in recs}) == 1


def test_normalize_keeps_payloads_it_did_not_use_and_checks_the_kind() -> None:
    rec: dict[str, object] = {}
    normalize_into(
        rec,
        {
            "openinference.span.kind": "LLM",
            "input.value": "first form",
            "gen_ai.input.messages": "second form",
            "agentreel.span.kind": "banana",  # not a kind: ignored, the convention decides
        },
    )
    assert rec["input"] == "first form"
    assert rec["attributes"] == {  # only the key that became `input` left
        "openinference.span.kind": "LLM",
        "gen_ai.input.messages": "second form",
        "agentreel.span.kind": "banana",
    }
    assert rec["kind"] == "llm"


def test_a_relative_store_path_survives_chdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    agentreel.init("rel-store", tracer_provider=TracerProvider())
    try:

        @agentreel.tool
        def t() -> int:
            return 1

        (tmp_path / "elsewhere").mkdir()
        monkeypatch.chdir(tmp_path / "elsewhere")
        t()
        agentreel.flush()
        assert agentreel.recorder().dropped == 0  # type: ignore[union-attr]
        assert [r["name"] for r in spool_records(tmp_path / "rel-store")] == ["execute_tool t"]
    finally:
        agentreel.shutdown()


def test_normalize_rebuilds_older_flattened_genai_messages() -> None:
    rec: dict[str, object] = {}
    normalize_into(
        rec,
        {
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "be brief",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "hi",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "hello",
        },
    )
    assert json.loads(rec["input"]) == [  # type: ignore[arg-type]
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert json.loads(rec["output"]) == [{"role": "assistant", "content": "hello"}]  # type: ignore[arg-type]
    assert rec["attributes"] == {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o"}
    assert rec["kind"] == "llm"


def test_normalize_keeps_one_copy_of_openinference_flattened_messages() -> None:
    """OpenInference sends each message twice: in `input.value` and one attribute per field.

    The flattened copy is left out of `attributes` (it is rebuilt into `input` when the
    span has no `input.value`), so a long conversation is not stored twice per call.
    """
    flat = {
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "be brief",
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.content": "hi",
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": "hello",
    }
    base = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o"}
    whole = {
        "input.value": json.dumps({"messages": [{"role": "system", "content": "be brief"}]}),
        "output.value": "hello",
    }
    rec: dict[str, object] = {}
    normalize_into(rec, {**base, **whole, **flat})
    assert rec["input"] == whole["input.value"]
    assert rec["output"] == "hello"
    assert rec["attributes"] == base
    rec = {}
    normalize_into(rec, {**base, **flat})  # no whole payload: the flattened form is it
    assert json.loads(rec["input"]) == [  # type: ignore[arg-type]
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert json.loads(rec["output"]) == [{"role": "assistant", "content": "hello"}]  # type: ignore[arg-type]
    assert rec["attributes"] == base
    assert rec["kind"] == "llm"
