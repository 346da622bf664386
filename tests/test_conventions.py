"""`agentreel lint-spans`: spans against the OpenTelemetry GenAI semantic conventions."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

import agentreel
from agentreel.checks import RecordedSpans
from agentreel.conventions import RULES, lint_span
from tests._cli import agentreel_cli
from tests.conftest import Recorded

CHAT = {
    "name": "chat gpt-4.1",
    "kind": "llm",
    "span_kind": "client",
    "status": "ok",
    "attributes": {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4.1",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 3,
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
        ),
        "gen_ai.output.messages": json.dumps(
            [
                {
                    "role": "assistant",
                    "parts": [{"type": "tool_call", "name": "search", "arguments": {}}],
                    "finish_reason": "tool_call",
                }
            ]
        ),
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
    },
}


def _with(**changes: Any) -> dict[str, Any]:
    span = {**CHAT, "attributes": dict(CHAT["attributes"])}
    for k, v in changes.items():
        if k.startswith("a_"):
            key = k[2:].replace("__", ".")
            if v is None:
                span["attributes"].pop(key, None)
            else:
                span["attributes"][key] = v
        else:
            span[k] = v
    return span


def test_a_span_in_the_current_form_breaks_no_rule() -> None:
    assert lint_span(CHAT) == []


@pytest.mark.parametrize(
    ("span", "rule", "says"),
    [
        (_with(a_gen_ai__operation__name=None), "operation-name", "missing"),
        (
            _with(a_gen_ai__operation__name="think", name="think gpt-4.1"),
            "operation-known",
            "think",
        ),
        (_with(a_gen_ai__provider__name=None), "provider-name", "provider.name is missing"),
        (
            _with(a_gen_ai__provider__name=None, a_gen_ai__system="openai"),
            "deprecated",
            "gen_ai.system is deprecated; use gen_ai.provider.name",
        ),
        (_with(a_gen_ai__request__model=None, name="chat"), "request-model", "missing"),
        (_with(status="error"), "error-type", "no error.type"),
        (_with(span_kind="internal"), "span-kind", "CLIENT, not INTERNAL"),
        (_with(name="openai.chat"), "span-name", "'chat gpt-4.1'"),
        (_with(a_gen_ai__usage__input_tokens=None), "usage", "input_tokens missing"),
        (_with(a_gen_ai__input__messages="{oops"), "messages", "is not JSON"),
        (
            _with(a_gen_ai__input__messages=json.dumps([{"role": "user", "content": "hi"}])),
            "messages",
            "the older form",
        ),
        (
            _with(a_gen_ai__input__messages=json.dumps([{"role": "user", "parts": [{}]}])),
            "messages",
            "has no string 'type'",
        ),
        (
            _with(
                a_gen_ai__input__messages=json.dumps(
                    [{"role": "user", "parts": [{"type": "blob", "content": "AA=="}]}]
                )
            ),
            "messages",
            "(blob) lacks modality",
        ),
        (
            _with(
                a_gen_ai__output__messages=json.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": "x"}]}]
                )
            ),
            "messages",
            "has no 'finish_reason'",
        ),
        (
            _with(a_gen_ai__system_instructions=json.dumps("Be brief.")),
            "messages",
            "is not a list",
        ),
        (
            _with(a_gen_ai__usage__prompt_tokens=10, a_gen_ai__usage__input_tokens=None),
            "deprecated",
            "use gen_ai.usage.input_tokens",
        ),
        (
            {
                "name": "execute_tool",
                "kind": "tool",
                "span_kind": "internal",
                "status": "ok",
                "attributes": {"gen_ai.operation.name": "execute_tool"},
            },
            "tool-name",
            "gen_ai.tool.name is missing",
        ),
        (
            {  # an OpenInference LLM span: agentreel reads it, the conventions want more
                "name": "ChatCompletion",
                "kind": "llm",
                "span_kind": "internal",
                "status": "ok",
                "attributes": {"openinference.span.kind": "LLM"},
            },
            "operation-name",
            "missing",
        ),
    ],
)
def test_each_rule_names_what_is_wrong(span: dict[str, Any], rule: str, says: str) -> None:
    found = lint_span(span)
    hits = [f for f in found if f[1] == rule]
    assert hits, found
    level, _, message = hits[0]
    assert level == RULES[rule][0]
    assert says in message


def test_a_run_span_with_a_session_is_not_a_genai_operation() -> None:
    chain = {"name": "turn", "kind": "chain", "attributes": {"gen_ai.conversation.id": "c1"}}
    assert lint_span(chain) == []


@agentreel.tool
def search(q: str) -> list[str]:
    return ["a"]


@agentreel.llm(provider="openai", model="gpt-4.1")
def chat(prompt: str) -> dict[str, Any]:
    return {"model": "gpt-4.1", "usage": {"prompt_tokens": 5, "completion_tokens": 2}}


@agentreel.agent
def helper(q: str) -> Any:
    search(q)
    return chat(q)


def test_what_agentreel_writes_itself_breaks_no_rule_of_level_error(recorded: Recorded) -> None:
    helper("tides")
    spans = RecordedSpans(recorded.path, agentreel.flush)
    spans.assert_conventions()  # errors only: an in-process agent has no provider (a warning)
    with pytest.raises(AssertionError, match="agent-provider"):
        spans.assert_conventions(warnings=True)


OTLP = {
    "resourceSpans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "x"}}]},
            "scopeSpans": [
                {
                    "spans": [
                        {
                            "traceId": "7" * 32,
                            "spanId": "1" * 16,
                            "name": "openai.chat",
                            "kind": 3,
                            "startTimeUnixNano": "1700000000000000000",
                            "endTimeUnixNano": "1700000001000000000",
                            "attributes": [
                                {"key": "gen_ai.system", "value": {"stringValue": "openai"}},
                                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                                {"key": "gen_ai.usage.prompt_tokens", "value": {"intValue": "9"}},
                            ],
                        }
                    ]
                }
            ],
        }
    ]
}


def test_the_command_lists_findings_with_exit_codes(tmp_path: Path) -> None:
    (tmp_path / "old.json").write_text(json.dumps(OTLP))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return agentreel_cli(tmp_path / "store", *args, cwd=tmp_path)

    assert cli("import", "old.json").returncode == 0
    out = cli("lint-spans", "--json")
    assert out.returncode == 1, out.stderr
    found = {(f["level"], f["rule"]) for f in json.loads(out.stdout)}
    assert found == {
        ("error", "provider-name"),
        ("warn", "span-name"),
        ("warn", "deprecated"),
    }
    text = cli("lint-spans", "7777")
    assert "gen_ai.system is deprecated; use gen_ai.provider.name" in text.stdout
    assert "1 error, 3 warnings" in text.stdout  # span name and two deprecated attributes
    missing = cli("lint-spans", "abcdef12")
    assert missing.returncode == 2
    assert "no run" in missing.stderr
