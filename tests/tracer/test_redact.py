from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel import Redactor
from agentreel.tracer._capture import dump_payload
from tests._secrets import Secret, surrounded
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


# -- whatever surrounds a secret, in whatever encoding it reaches the redactor ----------


def _encodings(text: str) -> dict[str, str]:
    """The forms a user's text takes on its way to the redactor."""
    return {
        "as written": text,
        "JSON": json.dumps(text),
        "JSON, non-ASCII kept": json.dumps(text, ensure_ascii=False),
        "JSON in JSON": json.dumps({"arguments": json.dumps({"content": text})}),
        "repr": repr({"content": text}),
        "JSON of a repr": json.dumps(repr(text)),
    }


@settings(max_examples=400, deadline=None)
@given(surrounded())
def test_no_secret_survives_the_redactor_whatever_surrounds_or_encodes_it(
    case: tuple[Secret, str],
) -> None:
    secret, text = case
    r = Redactor()
    for how, form in _encodings(text).items():
        out = r(form)
        assert secret.leaked_in(out) is None, (secret.kind, how, out)
        if how.startswith("JSON"):
            json.loads(out)  # a mask never breaks JSON


@settings(max_examples=150, deadline=None)
@given(surrounded(), st.booleans())
def test_payloads_are_masked_in_keys_values_and_nested_json_and_stay_json(
    case: tuple[Secret, str], as_key: bool
) -> None:
    secret, text = case
    value: object = {text: 1} if as_key else {"messages": [{"role": "user", "content": text}]}
    out, _ = dump_payload({"nested": [value, (text,)]}, 1 << 20, Redactor())
    assert secret.leaked_in(out) is None, (secret.kind, out)
    json.loads(out)


@pytest.mark.parametrize(
    "text",
    [
        "order 4111111111111112 shipped",  # fails the Luhn check
        "span 1733572454123456789 ended",  # a nanosecond time
        '{"max_tokens": 1024, "tokens": ["a", "b"], "token": "Hello", "logprob": -0.1}',
        "tokenizer: gpt2; max_token=4096; token_count: 12",
        "ask-the-user-for-confirmation-before-deleting-anything",
        "id 9f1c2e4a-8d7b-4c3e-9a1f-2b3c4d5e6f70 and sha 3f2c1a9b8e7d6c5b4a392817",
        "the bearer of bad news; task-management; keyword: value; monkey: banana",
        '{"secret": true, "password": null}',
    ],
)
def test_ordinary_text_that_looks_a_little_like_a_secret_is_kept(text: str) -> None:
    assert Redactor()(text) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("key sk-abcdefghij0123456789 here", "key [REDACTED] here"),  # short, word start
        ("card 4111 1111 1111 1111 ok", "card [REDACTED] ok"),
        ("amex 3782-822463-10005.", "amex [REDACTED]."),
        ("token=abcd1234 and TOKEN=wxyz9876", "token=[REDACTED] and TOKEN=[REDACTED]"),
        ("db:\n  password: s3cr3t!\n  user: bob", "db:\n  password: [REDACTED]\n  user: bob"),
        (
            '{"password": 12345678, "n": 4111111111111111, "ok": 7}',
            '{"password":"[REDACTED]","n":"[REDACTED]","ok":7}',
        ),
        (
            "-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----",
            "-----BEGIN PRIVATE KEY-----[REDACTED]-----END PRIVATE KEY-----",
        ),
    ],
)
def test_new_default_patterns(text: str, masked: str) -> None:
    assert Redactor()(text) == masked


def test_values_under_secret_names_are_masked_whole_in_mappings() -> None:
    v = {"db": {"password": "two words", "host": "h"}, "x-api-key": ["k1", "k2"], "n": 3}
    assert Redactor().value(v) == {
        "db": {"password": "[REDACTED]", "host": "h"},
        "x-api-key": ["[REDACTED]", "[REDACTED]"],
        "n": 3,
    }


def test_the_command_line_is_masked_with_the_value_after_a_secret_flag() -> None:
    from agentreel._redact import redact_argv

    argv = ["agent.py", "--password", "hunter2", "--api-key=sk-abcdefghij0123456789", "-v"]
    assert redact_argv(argv, Redactor()) == [
        "agent.py",
        "--password",
        "[REDACTED]",
        "--api-key=[REDACTED]",
        "-v",
    ]
