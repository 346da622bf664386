"""The records agentreel writes do not depend on where their work was done.

Payloads are redacted and cut when the span is written if agentreel's processor is
alone on the provider, and as they are captured otherwise; the exporter maps a span's
attributes to fields through a plan made once per set of keys. Each way must give the
same records as the other.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    DEFAULT_ON,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    SamplingResult,
)

import agentreel
from agentreel._normalize import SOURCES, normalize_into
from agentreel._redact import Redactor, redact_many
from agentreel.tracer._exporter import RAW, _normalize_planned, _plan
from tests._secrets import surrounded
from tests.conftest import spool_records

KEY = "sk-proj-abcdefghijklmnopqrstuvwx1234"
CAP = 200
VOLATILE = ("trace_id", "span_id", "parent_span_id", "start_ns", "end_ns", "process_id")


def _calls() -> None:
    @agentreel.tool
    def lookup(query: str, api_key: str) -> dict[str, Any]:
        return {"query": query, "token_echo": f"Bearer {api_key}", "n": 3}

    @agentreel.tool
    def long(n: int) -> str:
        return "word " * n + KEY

    @agentreel.llm(provider="openai", model="gpt-4.1-mini")
    def chat(messages: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "model": "gpt-4.1-mini-2025",
            "usage": {"prompt_tokens": 11, "completion_tokens": 3},
            "choices": [{"finish_reason": "stop", "message": {"content": "hi"}}],
        }

    @agentreel.tool
    def stream(n: int) -> Iterator[str]:
        for i in range(n):
            yield f"mail me at jane{i}@example.com"

    @agentreel.tool
    def told(x: str) -> str:
        agentreel.current_span().set_input({"x": x, "pad": "y" * CAP})
        return x

    @agentreel.agent
    def main() -> None:
        lookup("capital of France", KEY)
        long(100)  # cut: longer than the cap once redacted
        chat([{"role": "user", "content": f"my key is {KEY}"}])
        list(stream(3))
        told("z")

    with agentreel.run("same"):
        main()


def _record(path: Path, *, alone: bool) -> list[dict[str, Any]]:
    provider = TracerProvider()
    rec = agentreel.init(path, tracer_provider=provider, max_payload_bytes=CAP)
    try:
        if not alone:
            provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
        assert rec.defers_redaction() is alone
        _calls()
        agentreel.flush()
    finally:
        agentreel.shutdown()
    records = [r for r in spool_records(path) if r["end_ns"] is not None]
    for r in records:
        for k in VOLATILE:
            r.pop(k, None)
        r["attributes"].pop("agentreel.env", None)
        r["attributes"].pop("agentreel.request.hash", None)  # holds the unredacted key
    return sorted(records, key=lambda r: (r["name"], r["attributes"].get("agentreel.step", 0)))


def test_payloads_redacted_when_written_give_the_records_of_payloads_redacted_at_capture(
    tmp_path: Path,
) -> None:
    later = _record(tmp_path / "later", alone=True)
    now = _record(tmp_path / "now", alone=False)
    assert later == now
    text = json.dumps(later)
    assert "abcdefghijklmnopqrstuvwx" not in text
    assert "jane0@example.com" not in text
    assert RAW not in text
    long = next(r for r in later if r["name"] == "execute_tool long")
    assert long["attributes"]["agentreel.output.truncated"] > CAP
    told = next(r for r in later if r["name"] == "execute_tool told")
    # cut once (a JSON string of the head), not twice (a JSON string of that string)
    assert json.loads(told["input"]).startswith('{"x":"z","pad":"yyy')


def test_a_processor_added_during_a_call_sees_its_input_redacted(tmp_path: Path) -> None:
    provider = TracerProvider()
    agentreel.init(tmp_path, tracer_provider=provider)
    app = InMemorySpanExporter()
    try:

        @agentreel.tool
        def leaky(key: str) -> str:
            provider.add_span_processor(SimpleSpanProcessor(app))
            return "done"

        leaky(KEY)
        agentreel.flush()
    finally:
        agentreel.shutdown()
    (span,) = app.get_finished_spans()
    seen = json.dumps(dict(span.attributes or {}))
    assert "abcdefghijklmnopqrstuvwx" not in seen
    assert "[REDACTED]" in seen
    (record,) = [r for r in spool_records(tmp_path) if r["end_ns"] is not None]
    assert record["input"] == json.loads(seen)["agentreel.input"]
    assert RAW not in record["attributes"]


def test_a_start_record_of_an_open_call_holds_its_input_redacted(tmp_path: Path) -> None:
    rec = agentreel.init(tmp_path, tracer_provider=TracerProvider())
    inside, release = threading.Event(), threading.Event()
    try:

        @agentreel.llm(provider="openai", model="m")
        def chat(prompt: str) -> str:
            inside.set()
            assert release.wait(10)
            return "ok"

        t = threading.Thread(target=chat, args=(f"key {KEY}",))
        t.start()
        assert inside.wait(10)
        rec.open_spans.tick()
        release.set()
        t.join(10)
        agentreel.flush()
    finally:
        agentreel.shutdown()
    starts = [r for r in spool_records(tmp_path) if r["end_ns"] is None]
    assert [json.loads(r["input"]) for r in starts] == [{"prompt": "key [REDACTED]"}]
    assert RAW not in starts[0]["attributes"]


def test_start_records_are_chosen_by_the_attributes_a_call_put_in_its_span(
    tmp_path: Path,
) -> None:
    # A decorated call opens its span bare and writes its attributes in afterwards, so
    # whether an open span wants a start record is read at the tick, not at its start.
    rec = agentreel.init(tmp_path, tracer_provider=TracerProvider())
    inside, release = threading.Event(), threading.Event()
    try:
        assert rec.writes_attributes()

        @agentreel.llm(provider="openai", model="m")
        def chat(prompt: str) -> str:
            inside.set()
            assert release.wait(10)
            return "ok"

        @agentreel.tool
        def ask(q: str) -> str:
            return chat(q)

        @agentreel.agent
        def main() -> str:
            return ask("why")

        t = threading.Thread(target=main)
        t.start()
        assert inside.wait(10)
        rec.open_spans.tick()
        release.set()
        t.join(10)
        agentreel.flush()
    finally:
        agentreel.shutdown()
    starts = sorted(r["name"] for r in spool_records(tmp_path) if r["end_ns"] is None)
    assert starts == ["chat m", "invoke_agent main"]  # the tool span wants none


def test_a_span_caught_between_its_start_and_its_attributes_is_looked_at_again(
    tmp_path: Path,
) -> None:
    rec = agentreel.init(tmp_path, tracer_provider=TracerProvider())
    try:
        with agentreel.run("outer"):
            # what a decorated call does in the instant between opening its span bare and
            # writing its attributes in: a tick then must not decide the span wants none
            span = rec.tracer.start_span("chat m")
            rec.open_spans.tick()
            span.set_attributes({"agentreel.span.kind": "llm", "gen_ai.operation.name": "chat"})
            rec.open_spans.tick()
            span.end()
        agentreel.flush()
    finally:
        agentreel.shutdown()
    starts = [r for r in spool_records(tmp_path) if r["end_ns"] is None]
    assert sorted(r["name"] for r in starts) == ["chat m", "outer"]
    (chat,) = [r for r in starts if r["name"] == "chat m"]
    assert chat["kind"] == "llm"


class _Watching(Sampler):
    """A sampler of the application's own, which decides on a span's attributes."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def should_sample(self, *args: Any, **kwargs: Any) -> SamplingResult:
        self.seen.append(dict(args[4] or {}))
        return ALWAYS_ON.should_sample(*args, **kwargs)

    def get_description(self) -> str:
        return "watching"


def test_a_sampler_of_the_applications_own_sees_a_calls_attributes_at_start(
    tmp_path: Path,
) -> None:
    watching = _Watching()
    rec = agentreel.init(tmp_path, tracer_provider=TracerProvider(sampler=watching))
    try:
        assert not rec.writes_attributes()

        @agentreel.tool
        def lookup(q: str) -> str:
            return "found"

        lookup("capital")
    finally:
        agentreel.shutdown()
    (seen,) = watching.seen
    assert seen["gen_ai.tool.name"] == "lookup"
    assert json.loads(seen["agentreel.input"]) == {"q": "capital"}


def test_the_sdks_own_samplers_let_a_call_write_its_attributes(tmp_path: Path) -> None:
    for sampler in (DEFAULT_ON, ParentBasedTraceIdRatio(0.5), ALWAYS_ON):
        rec = agentreel.init(tmp_path, tracer_provider=TracerProvider(sampler=sampler))
        try:
            assert rec.writes_attributes()
        finally:
            agentreel.shutdown()
    rec = agentreel.init(tmp_path, tracer_provider=TracerProvider(sampler=ParentBased(_Watching())))
    try:
        assert not rec.writes_attributes()
    finally:
        agentreel.shutdown()


def test_a_length_limit_on_attribute_values_keeps_redaction_at_capture(tmp_path: Path) -> None:
    # The SDK would cut the address to "jane.doe@example.c", which no longer looks like one.
    limited = TracerProvider(span_limits=SpanLimits(max_attribute_length=24))
    rec = agentreel.init(tmp_path, tracer_provider=limited)
    try:
        assert not rec.defers_redaction()
        assert not rec.writes_attributes()

        @agentreel.tool
        def mail(q: str) -> str:
            return "sent"

        mail("jane.doe@example.com")
        agentreel.flush()
    finally:
        agentreel.shutdown()
    (record,) = [r for r in spool_records(tmp_path) if r["end_ns"] is not None]
    assert record["input"] == '{"q":"[REDACTED]"}'


# -- the exporter's plan gives normalize_into's record ------------------------------

_KEYS = [
    *sorted({k for keys in SOURCES.values() for k in keys}),
    "agentreel.span.kind",
    "gen_ai.prompt.0.content",
    "llm.output_messages.1.message.role",
    "custom.thing",
    "traceloop.entity.name",
    "traceloop.span.kind",
    "mcp.method.name",
    RAW,
]
_VALUES = st.one_of(
    st.none(),
    st.text(max_size=5),
    st.integers(-3, 2**65),
    st.booleans(),
    st.lists(st.text(max_size=3), max_size=2).map(tuple),
    st.sampled_from(["tool", "llm", "agent", "nonsense"]),
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=8))
def test_the_planned_record_is_normalize_intos(attrs: dict[str, Any]) -> None:
    expected: dict[str, Any] = {}
    normalize_into(expected, attrs)
    got: dict[str, Any] = {}
    _normalize_planned(got, attrs, _plan(attrs))
    assert list(got.items()) == list(expected.items())


_SETTLED = st.fixed_dictionaries(
    {},
    optional={
        "agentreel.input": st.text(max_size=5),
        "agentreel.output": st.text(max_size=5),
        "agentreel.input.truncated": st.integers(0, 99),
        "agentreel.output.truncated": st.integers(0, 99),
    },
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=8), _SETTLED)
def test_payloads_settled_at_writing_give_the_record_of_attributes_holding_them(
    attrs: dict[str, Any], settled: dict[str, Any]
) -> None:
    # the exporter puts payloads redacted since capture in place of the span's own,
    # without `RAW`, and without copying the span's attributes to do it
    settled = {k: v for k, v in settled.items() if k.endswith("truncated") or k in attrs}
    merged = {k: v for k, v in attrs.items() if k != RAW} | settled
    expected: dict[str, Any] = {}
    normalize_into(expected, merged)
    got: dict[str, Any] = {}
    _normalize_planned(got, attrs, _plan(attrs), settled)
    assert got == expected


# -- redacting many texts at once masks what each alone would -----------------------

_JSONISH = st.builds(
    lambda parts: json.dumps(parts, ensure_ascii=False),
    st.lists(st.one_of(surrounded().map(lambda c: c[1]), st.text(max_size=20)), max_size=3),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(_JSONISH, surrounded().map(lambda c: c[1])), min_size=1, max_size=8))
def test_redacting_many_texts_at_once_masks_what_each_alone_would(texts: list[str]) -> None:
    red = Redactor()
    assert redact_many(texts, red) == [red(t) for t in texts]
