from __future__ import annotations

import json
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel import Redactor
from tests.conftest import Recorded, spool_records

SECRETS = {
    "openai": "sk-proj-abcdefghijklmnopqrstuvwx1234",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "github": "ghp_" + "a1b2c3d4e5" * 4,
    "bearer": "Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
    "url": "postgres://admin:hunter2pass@db.internal:5432/app",
    "email": "jane.doe@example.com",
    "field": '{"password": "correct-horse-battery"}',
}
NEEDLES = [
    "abcdefghijklmnopqrstuvwx1234",
    "AKIAIOSFODNN7EXAMPLE",
    "a1b2c3d4e5a1b2c3",
    "eyJhbGciOiJIUzI1NiJ9",
    "hunter2pass",
    "jane.doe@example.com",
    "correct-horse-battery",
]


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_default_patterns_mask_each_kind(name: str) -> None:
    out = Redactor()(f"before {SECRETS[name]} after")
    assert "[REDACTED]" in out
    assert not any(n in out for n in NEEDLES)
    assert (out.startswith("before ") and out.endswith(" after")) or name == "field"


def test_ordinary_text_is_left_alone() -> None:
    text = "The token count was 42; see https://example.org/page and ask-me-anything."
    assert Redactor()(text) == text


def test_user_patterns_and_functions() -> None:
    r = Redactor(patterns=[r"ACME-\d{6}"], fn=lambda s: s.replace("Alice", "[NAME]"))
    assert r("Alice paid with ACME-123456") == "[NAME] paid with [REDACTED]"
    assert Redactor(defaults=False)("bob@example.com") == "bob@example.com"
    with pytest.raises(agentreel.ConfigError, match="not a valid regular expression"):
        Redactor(patterns=["(unclosed"])


def test_secrets_in_arguments_messages_and_exceptions_never_reach_the_spool(
    recorded: Recorded,
) -> None:
    @agentreel.llm(provider="openai", model="gpt-4.1")
    def chat(messages: list[dict[str, str]], api_key: str) -> dict[str, object]:
        return {"choices": [{"message": {"content": f"mail {SECRETS['email']}"}}]}

    @agentreel.tool
    def connect(url: str) -> None:
        raise ConnectionError(f"cannot reach {url} with {SECRETS['bearer']}")

    chat(
        [{"role": "user", "content": f"my key is {SECRETS['openai']} and {SECRETS['aws']}"}],
        api_key=SECRETS["github"],
    )
    with pytest.raises(ConnectionError):
        connect(SECRETS["url"])
    with agentreel.span("manual") as s:
        s.set_output({"note": SECRETS["field"]})
    agentreel.flush()
    raw = "".join(p.read_text() for p in (recorded.path / "spool").glob("*.jsonl"))
    assert "[REDACTED]" in raw
    for needle in NEEDLES:
        assert needle not in raw, needle
    # the exception is still recorded, minus the secret
    err = next(r for r in spool_records(recorded.path) if r["name"] == "execute_tool connect")
    assert err["error_type"] == "ConnectionError"
    assert "cannot reach postgres://admin:[REDACTED]@db.internal" in err["error_message"]
    assert "ConnectionError" in err["events"][0]["attributes"]["exception.stacktrace"]


def test_spans_from_other_instrumentation_are_redacted_too(recorded: Recorded) -> None:
    tracer = recorded.provider.get_tracer("openinference.instrumentation.openai")
    with tracer.start_as_current_span(
        "ChatCompletion",
        attributes={
            "openinference.span.kind": "LLM",
            "input.value": json.dumps({"messages": [{"content": SECRETS["openai"]}]}),
            "llm.input_messages.0.message.content": f"write to {SECRETS['email']}",
            "tags": (SECRETS["aws"], "plain"),
        },
    ) as span:
        span.record_exception(ValueError(SECRETS["url"]))
    raw = (
        "".join(p.read_text() for p in (recorded.path / "spool").glob("*.jsonl"))
        if agentreel.flush()
        else ""
    )
    for needle in NEEDLES:
        assert needle not in raw, needle
    (r,) = spool_records(recorded.path)
    assert r["attributes"]["tags"] == ["[REDACTED]", "plain"]


def test_redaction_off_and_custom(tmp_path: Path) -> None:
    agentreel.init(tmp_path / "a", tracer_provider=TracerProvider(), redact=False)
    try:

        @agentreel.tool
        def t(x: str) -> str:
            return x

        t(SECRETS["email"])
        agentreel.flush()
        assert SECRETS["email"] in spool_records(tmp_path / "a")[0]["input"]
    finally:
        agentreel.shutdown()
    agentreel.init(tmp_path / "b", tracer_provider=TracerProvider(), redact=lambda s: s.upper())
    try:
        t("quiet")
        agentreel.flush()
        assert spool_records(tmp_path / "b")[0]["input"] == '{"X":"QUIET"}'
    finally:
        agentreel.shutdown()
    with pytest.raises(agentreel.ConfigError, match="redact="):
        agentreel.init(tmp_path / "c", tracer_provider=TracerProvider(), redact=42)  # type: ignore[arg-type]
