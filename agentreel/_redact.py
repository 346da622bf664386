"""Redaction: secrets and personal data masked before anything leaves the agent's process.

By default the redactor masks API keys and tokens of the common providers, bearer
tokens, passwords in URLs, JSON fields named like secrets, and e-mail addresses.
Users add their own patterns, or a function of their own, or turn it off::

    agentreel.init(redact=agentreel.Redactor(patterns=[r"ACME-\\d{6}"]))
    agentreel.init(redact=agentreel.Redactor(fn=my_scrubber))
    agentreel.init(redact=False)

It runs on every captured payload (arguments, results, messages), on exception
messages and tracebacks, on attributes, run names and tags, status messages and
events set on agentreel's spans other than from its own code, and, for spans
other instrumentation made, on every string attribute, before the span is written
to the spool. Spans that arrive over OTLP (`agentreel serve`) or from files
(`agentreel import`) go through `redact_record` the same way before they are
spooled.

Shared by the tracer and the store; it imports neither.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from agentreel._errors import ConfigError

__all__ = ["MASK", "Redactor", "redact_record", "redact_value", "redactor_from"]

MASK = "[REDACTED]"

# (name, triggers, pattern, replacement). A rule runs only on text that contains one of
# its trigger substrings (cheap C-level `in` checks), so ordinary text costs a few
# substring scans and no regex at all. Triggers of the secret-field rule are matched
# against the lower-cased text.
_DEFAULTS: list[tuple[str, tuple[str, ...], str, str]] = [
    (
        "url_password",
        ("://",),
        r"(?P<url>[A-Za-z][A-Za-z0-9+.\-]*://[^\s/:@\"']+:)[^\s@/\"']+(?=@)",
        r"\g<url>" + MASK,
    ),
    (
        "bearer",
        ("earer",),
        r"(?P<bearer>\b[Bb]earer\s+)[A-Za-z0-9\-._~+/]{8,}=*",
        r"\g<bearer>" + MASK,
    ),
    ("openai_key", ("sk-",), r"\bsk-[A-Za-z0-9_\-]{16,}", MASK),
    ("aws_access_key", ("AKIA", "ASIA"), r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", MASK),
    (
        "github_token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})",
        MASK,
    ),
    ("slack_token", ("xox",), r"\bxox[abprs]-[A-Za-z0-9\-]{10,}", MASK),
    ("google_api_key", ("AIza",), r"\bAIza[0-9A-Za-z\-_]{35}", MASK),
    (
        "email",
        ("@",),
        r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b",
        MASK,
    ),
]
_FIELD_TRIGGERS = ("pass", "secret", "key", "token")
_FIELD_RULE = (
    r"(?P<field>(?i:password|passwd|secret|api[_\-]?key|access[_\-]?token|auth[_\-]?token|client[_\-]?secret)"
    r"\\*[\"']?\s*[:=]\s*\\*[\"']?)[^\s\"'\\,}&]{4,}"
)


class Redactor:
    """Masks secrets in text. Call it on a string; it returns the masked string.

    Args:
        patterns: extra regular expressions whose matches are replaced by ``[REDACTED]``.
        fn: a function applied after the patterns, for anything a regex cannot say.
        defaults: keep the built-in patterns (keys, tokens, URL passwords, e-mails).

    Example::

        r = Redactor(patterns=[r"ACME-\\d{6}"])
        r("card ACME-123456 for bob@example.com")   # 'card [REDACTED] for [REDACTED]'
    """

    def __init__(
        self,
        patterns: Iterable[str | re.Pattern[str]] = (),
        *,
        fn: Callable[[str], str] | None = None,
        defaults: bool = True,
    ) -> None:
        self._rules: list[tuple[tuple[str, ...], re.Pattern[str], str]] = []
        self._field: re.Pattern[str] | None = re.compile(_FIELD_RULE) if defaults else None
        if defaults:
            self._rules += [(trig, re.compile(p), repl) for _, trig, p, repl in _DEFAULTS]
        self._extra: list[re.Pattern[str]] = []
        for p in patterns:
            try:
                self._extra.append(re.compile(p) if isinstance(p, str) else p)
            except re.error as e:
                raise ConfigError(
                    f"redaction pattern {p!r} is not a valid regular expression: {e}"
                ) from None
        self._fn = fn

    def __call__(self, text: str) -> str:
        for triggers, rx, repl in self._rules:
            for t in triggers:
                if t in text:
                    text = rx.sub(repl, text)
                    break
        if self._field is not None:
            low = text.lower()
            if any(t in low for t in _FIELD_TRIGGERS):
                text = self._field.sub(r"\g<field>" + MASK, text)
        for rx in self._extra:
            text = rx.sub(MASK, text)
        if self._fn is not None:
            text = self._fn(text)
        return text

    def value(self, v: Any) -> Any:
        """Redact an attribute value: strings, and strings inside tuples and lists."""
        if isinstance(v, str):
            return self(v)
        if isinstance(v, tuple | list):
            return type(v)(self(x) if isinstance(x, str) else x for x in v)
        return v


def redactor_from(redact: object) -> Callable[[str], str] | None:
    """The function a ``redact=`` option names: True for the default `Redactor`,
    False or None for none, or a `Redactor` or any function of a string."""
    if redact is True:
        return Redactor()
    if redact is False or redact is None:
        return None
    if callable(redact):
        return redact
    raise ConfigError(
        f"redact={redact!r} must be True, False, a Redactor or a function of a string"
    )


def redact_value(v: Any, redact: Callable[[str], str]) -> Any:
    """An attribute value with its strings (alone, or in a list or tuple) masked."""
    if isinstance(v, str):
        return redact(v)
    if isinstance(v, tuple | list):
        return [redact(x) if isinstance(x, str) else x for x in v]
    return v


def redact_record(rec: dict[str, Any], redact: Callable[[str], str]) -> None:
    """Mask a spool record in place: payloads, error and status messages, and every
    string of its attributes and of its events' attributes."""
    for key in ("input", "output", "error_message", "status_message"):
        if rec.get(key) is not None:
            rec[key] = redact(rec[key])
    attributes = rec.get("attributes")
    if isinstance(attributes, dict):
        rec["attributes"] = {k: redact_value(v, redact) for k, v in attributes.items()}
    for e in rec.get("events") or ():
        if isinstance(e.get("attributes"), dict):
            e["attributes"] = {k: redact_value(v, redact) for k, v in e["attributes"].items()}
