"""Redaction: secrets and personal data masked before anything leaves the agent's process.

By default the redactor masks API keys and tokens of the common providers, bearer
tokens, passwords in URLs, JSON fields named like secrets, and e-mail addresses.
Users add their own patterns, or a function of their own, or turn it off::

    agentreel.init(redact=agentreel.Redactor(patterns=[r"ACME-\\d{6}"]))
    agentreel.init(redact=agentreel.Redactor(fn=my_scrubber))
    agentreel.init(redact=False)

It runs on every captured payload (arguments, results, messages), on exception
messages and tracebacks, and, for spans other instrumentation made, on every
string attribute, before the span is written to the spool.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["MASK", "Redactor"]

MASK = "[REDACTED]"

# (name, pattern, replacement); replacements may keep a prefix group so the reader sees
# what was masked.
_DEFAULTS: list[tuple[str, str, str]] = [
    (
        "url_password",
        r"(?P<url>[A-Za-z][A-Za-z0-9+.\-]*://[^\s/:@\"']+:)[^\s@/\"']+(?=@)",
        r"\g<url>" + MASK,
    ),
    ("bearer", r"(?P<bearer>\b[Bb]earer\s+)[A-Za-z0-9\-._~+/]{8,}=*", r"\g<bearer>" + MASK),
    (
        "secret_field",
        r"(?P<field>(?i:password|passwd|secret|api[_\-]?key|access[_\-]?token|auth[_\-]?token|client[_\-]?secret)\\*[\"']?\s*[:=]\s*\\*[\"']?)[^\s\"'\\,}&]{4,}",
        r"\g<field>" + MASK,
    ),
    ("openai_key", r"\bsk-[A-Za-z0-9_\-]{16,}", MASK),
    ("aws_access_key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", MASK),
    ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})", MASK),
    ("slack_token", r"\bxox[abprs]-[A-Za-z0-9\-]{10,}", MASK),
    ("google_api_key", r"\bAIza[0-9A-Za-z\-_]{35}", MASK),
    ("email", r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}\b", MASK),
]
# A cheap pre-check: text with none of these characters cannot match any default pattern.
_MAYBE = re.compile(
    r"sk-|AKIA|ASIA|gh[pousr]_|github_pat_|xox|AIza|@|[Bb]earer|://|(?i:pass|secret|key|token)"
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
        self._rules: list[tuple[re.Pattern[str], str]] = []
        if defaults:
            self._rules += [(re.compile(p), repl) for _, p, repl in _DEFAULTS]
        extra = []
        for p in patterns:
            try:
                extra.append((re.compile(p) if isinstance(p, str) else p, MASK))
            except re.error as e:
                from agentreel._errors import ConfigError

                raise ConfigError(
                    f"redaction pattern {p!r} is not a valid regular expression: {e}"
                ) from None
        self._rules += extra
        self._defaults_only = defaults and not extra
        self._fn = fn

    def __call__(self, text: str) -> str:
        if not self._defaults_only or _MAYBE.search(text):
            for rx, repl in self._rules:
                text = rx.sub(repl, text)
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
