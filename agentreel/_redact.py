"""Redaction: secrets and personal data masked before anything leaves the agent's process.

By default the redactor masks API keys and tokens of the common providers, JWTs,
bearer tokens, private key blocks, payment card numbers (Luhn-checked), passwords
in URLs, values assigned to names like ``password``, ``secret``, ``api_key`` or
``token``, and e-mail addresses. Users add their own patterns, or a function of
their own, or turn it off::

    agentreel.init(redact=agentreel.Redactor(patterns=[r"ACME-\\d{6}"]))
    agentreel.init(redact=agentreel.Redactor(fn=my_scrubber))
    agentreel.init(redact=False)

The built-in patterns match the text as the user wrote it, whatever surrounds a
secret, and also the same text written inside JSON or a Python ``repr`` (once or
nested: a line break there is ``\\n``, a quote ``\\"``), because payloads reach the
redactor as JSON text: a key that follows a line break, a quote or a letter is
masked all the same. A mask never leaves JSON text invalid: where it would (a card
number or a password given as a JSON number), the JSON is read and its strings are
masked one by one.

It runs on every captured payload (arguments, results, messages), on exception
messages and tracebacks, on attributes, span and run names, tags, status messages,
events and scope names, and, for spans other instrumentation made, on every
attribute (nested maps and lists too) before any column is filled from it. Spans
that arrive over OTLP (`agentreel serve`) or from files (`agentreel import`) are
masked the same way while they are decoded.

Shared by the tracer and the store; it imports neither.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import orjson

from agentreel._errors import ConfigError

__all__ = [
    "MASK",
    "Redactor",
    "redact_argv",
    "redact_attributes",
    "redact_many",
    "redact_name",
    "redact_value",
    "redactor_from",
]

MASK = "[REDACTED]"

# -- the built-in patterns ------------------------------------------------------------
#
# Each rule finds the spans to mask in the original text; the spans of all rules are
# merged before anything is replaced, so one rule's mask never hides part of a secret
# from another. A rule with triggers runs only on text holding one of them (C-level
# `in` scans: ordinary text costs a few of those and no regex); a rule whose pattern
# starts with a literal is searched directly, which costs the same. None relies on a
# word boundary before a secret: in JSON text a line break before a key is `\n`, and
# `\b` would see the `n`.

# whitespace as written, or as JSON or a repr writes it inside a string (nested: `\\n`)
_WS = r"(?:\s|\\+[nrtfv]|\\+u00(?:0[9a-dA-D]|20)|\\+x(?:0[9a-dA-D]|20))"
_HSPACE = r"(?:[ \t]|\\+t)*"
_QUOTE = r"\\*[\"']"

_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?P<s>.*?)"
    r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
    re.DOTALL,
)
_URL_PASSWORD = re.compile(
    r"(?<![A-Za-z0-9+.\-])[A-Za-z0-9+.\-]*:(?:\\*/){2}[^\s/:@\"'\\]*:(?P<s>[^\s@/\"'\\]+)@"
)
# the token is read in a lookahead, so a token that holds "Bearer" is masked too
_BEARER = re.compile(r"(?:[Bb]earer|BEARER)(?=" + _WS + r"+(?P<s>[A-Za-z0-9\-._~+/]{8,}=*))")
# `sk-` keys (OpenAI, Anthropic and others): 16 characters or more where the key
# starts a word (a line break written as `\n` counts as a word's end); glued to a
# letter or digit before it, 32 or more (every real key is longer) with a capital or
# a digit among the first 40 (kebab-case words after "task-" or "ask-" have none).
_SK_KEY = re.compile(
    r"(?:(?<![A-Za-z0-9])|(?<=\\[nrtbfv])|(?<=\\u[0-9A-Fa-f]{4})|(?<=\\x[0-9A-Fa-f]{2}))"
    r"sk-[A-Za-z0-9_\-]{16,}|sk-(?=[a-z_\-]{0,40}[A-Z0-9])[A-Za-z0-9_\-]{32,}"
)
_AWS_KEY = re.compile(r"A(?:KI|SI)A[0-9A-Z]{16}")
_GITHUB_TOKEN = re.compile(r"gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}")
_SLACK_TOKEN = re.compile(r"xox[abprse]-[A-Za-z0-9\-]{10,}")
_GOOGLE_KEY = re.compile(r"AIza[0-9A-Za-z\-_]{35}")
# A dotted run of base64url segments holding `.eyJ`: the JWT inside it is found in
# Python (`_jwt_spans`), so the regex never restarts inside a run (no quadratic case).
_JWT_RUN = re.compile(
    r"(?<![A-Za-z0-9_.\-])[A-Za-z0-9_\-]*+(?:\.[A-Za-z0-9_\-]*+)*?\.eyJ[A-Za-z0-9_.\-]*+"
)
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
)
# 13 characters or more of digits, spaces and hyphens; `_card_spans` picks the
# card numbers (13-19 digits, starting 2-6, Luhn-valid) out of the digit groups.
_DIGIT_RUN = re.compile(r"[0-9][0-9 \-]{11,}[0-9]")
_DIGIT_GROUP = re.compile(r"[0-9]+")
# Names that say their value is a secret. `token` alone counts only in `token=...`
# (a JSON field "token" is as often a word an LLM produced as a credential).
_SECRET_NAME = (
    r"(?i:pass(?:word|wd|phrase)|secret|apikey"
    r"|(?:api|secret|private|access|client|auth|signing|encryption)[_.\-]?key)"
    r"|(?<=[A-Za-z0-9][_.\-])(?i:token)|(?<=[a-z])Token"
)
# What follows a secret's name up to its value; a quoted value runs to the closing
# quote, a bare one to a space, quote, comma, semicolon, ampersand or bracket.
_ASSIGNED = re.compile(
    r"(?:" + _QUOTE + r")?[ \t]*(?P<op>[:=])" + _HSPACE + r"(?P<q>" + _QUOTE + r")?"
)
_QUOTED_VALUE = re.compile(r"[^\"'\\\r\n]+")
_BARE_VALUE = re.compile(r"[^\s\"'\\,;&<>(){}\[\]]+")
_KEY_PREFIXES = ("api", "secret", "private", "access", "client", "auth", "signing", "encryption")
_KEYWORDS = ("pass", "secret", "key", "token")
_SECRET_KEY = re.compile(r"(?:" + _SECRET_NAME + r")\Z")


@functools.lru_cache(maxsize=4096)
def _secret_key(key: str) -> int:
    """0 for a key that names no secret, 1 for one that does, 2 for a token's (whose
    numbers are counts). Cached: spans repeat the same few attribute keys."""
    low = key.lower()
    if not ("pass" in low or "secret" in low or "key" in low or "token" in low):
        return 0
    if not _SECRET_KEY.search(key):
        return 0
    return 2 if low.endswith("token") else 1


_NOT_SECRETS = frozenset({"true", "false", "null", "none", MASK.lower()})


def _group_spans(rx: re.Pattern[str], group: str) -> Callable[[str], Iterator[tuple[int, int]]]:
    def spans(text: str) -> Iterator[tuple[int, int]]:
        for m in rx.finditer(text):
            a, b = m.span(group)
            if a < b:
                yield a, b

    return spans


def _at_spans(text: str) -> Iterator[tuple[int, int]]:
    """URL passwords, and e-mail addresses that are not a URL's password and host."""
    urls = list(_group_spans(_URL_PASSWORD, "s")(text))
    yield from urls
    for m in _EMAIL.finditer(text):
        a, b = m.span()
        if not any(ua < b and a < ub for ua, ub in urls):
            yield a, b


def _field_spans(text: str) -> Iterator[tuple[int, int]]:
    low = text.lower()
    if len(low) != len(text):  # a few non-ASCII letters lower to two characters
        low = "".join(c if c.isascii() else "\0" for c in text).lower()
    # The bare value last read, and where its digits-only tail starts: a name inside it
    # (`password=password=...`) has a value ending where that one ends, found without
    # reading the run again (each name costs the same however long the run).
    run = (0, 0, 0)
    for kw in _KEYWORDS:
        i = low.find(kw)
        while i >= 0:
            end, equals_only = _name_end(text, low, kw, i)
            m = _ASSIGNED.match(text, end) if end else None
            if m is not None and (m.group("op") == "=" or not equals_only):
                p = m.end()
                if m.group("q"):
                    v = _QUOTED_VALUE.match(text, p)
                    stop, digits_from = (v.end() if v else p), len(text)
                else:
                    if not run[0] <= p < run[1]:
                        v = _BARE_VALUE.match(text, p)
                        stop = v.end() if v else p
                        run = (p, stop, p + len(text[p:stop].rstrip("0123456789")))
                    stop, digits_from = run[1], run[2]
                if p < stop and not (
                    (stop - p <= 5 and text[p:stop].lower() in _NOT_SECRETS)
                    or (kw == "token" and p >= digits_from)  # max_token=4096: a count
                ):
                    yield p, stop
            i = low.find(kw, i + 1)


def _named(low: str, i: int) -> bool:
    """Whether the `token` at `i` ends a compound name (`access_token`, `X-Auth-Token`),
    rather than standing alone (which counts only as `token=`)."""
    return i > 1 and low[i - 1] in "_.-" and low[i - 2].isalnum()


def _name_end(text: str, low: str, kw: str, i: int) -> tuple[int, bool]:
    """Where the secret-looking name whose keyword `kw` is at `i` ends (0: it is none),
    and whether it counts only before `=` (`token` standing alone)."""
    if kw == "pass":
        for w in ("password", "passwd", "passphrase"):
            if low.startswith(w, i):
                return i + len(w), False
        return 0, False
    if kw == "secret":
        return i + 6, False
    if kw == "key":
        j = i - 1 if i and low[i - 1] in "_.-" else i
        return (i + 3 if low.endswith(_KEY_PREFIXES, 0, j) else 0), False
    # token: in a compound name, camelCase (accessToken), or alone (then only token=)
    before = low[i - 1] if i else ""
    if _named(low, i) or (text[i] == "T" and before.isalpha() and text[i - 1].islower()):
        return i + 5, False
    if before.isalnum() or before in ("_", ".", "-"):
        return 0, False
    return i + 5, True


def _jwt_spans(text: str) -> Iterator[tuple[int, int]]:
    """JWTs: a segment holding `eyJ` then one starting with it; masked from that
    `eyJ` to the end of the dotted run (the signature and anything glued to it)."""
    for m in _JWT_RUN.finditer(text):
        pos = m.start()
        segments = m.group().split(".")
        for head, payload in itertools.pairwise(segments):
            at = head.find("eyJ")
            if at >= 0 and len(head) - at >= 8 and payload.startswith("eyJ") and len(payload) >= 8:
                yield pos + at, m.end()
                break
            pos += len(head) + 1


def _luhn(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        n = ord(c) - 48
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


_HEX = frozenset("0123456789abcdefABCDEF")


def _escape_digits(text: str, start: int) -> int:
    """How many characters from `start` belong to a `\\uXXXX` / `\\xXX` escape begun before it."""
    for letter, width in (("u", 4), ("x", 2), ("U", 8)):
        for used in range(width):
            at = start - used - 1  # where the escape's letter would be
            if at < 1 or text[at] != letter or text[at - 1] != "\\":
                continue
            if all(c in _HEX for c in text[at + 1 : start]) and _escaped(text, at):
                return width - used
    return 0


def _escaped(text: str, at: int) -> bool:
    """Whether the character at `at` follows a backslash: the letter of an escape, or
    of an escape nested in JSON once more (`\\\\n`), read as one all the same."""
    return at > 0 and text[at - 1] == "\\"


def _card_spans(text: str) -> Iterator[tuple[int, int]]:
    for m in _DIGIT_RUN.finditer(text):
        yield from _cards_in(text, m.start(), m.end())
        skip = _escape_digits(text, m.start())
        if skip:  # `\x41...` may be an escape, or a backslash and x as written: try both
            yield from _cards_in(text, m.start() + skip, m.end())


def _cards_in(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Card numbers among the digit groups of text[start:end]: 13-19 digits in groups
    joined by one space or hyphen, starting 2-6, Luhn-valid; the longest from each group."""
    groups = [(g.start(), g.end(), g.group()) for g in _DIGIT_GROUP.finditer(text, start, end)]
    i = 0
    while i < len(groups):
        found = -1
        total = 0
        for j in range(i, len(groups)):
            if j > i and groups[j][0] - groups[j - 1][1] != 1:
                break
            total += len(groups[j][2])
            if total > 19:
                break
            if total >= 13:
                digits = "".join(g[2] for g in groups[i : j + 1])
                if digits[0] in "23456" and _luhn(digits):
                    found = j
        if found >= 0:
            yield groups[i][0], groups[found][1]
            i = found + 1
        else:
            i += 1


_PRIVATE_KEY_SPANS = _group_spans(_PRIVATE_KEY, "s")
_BEARER_SPANS = _group_spans(_BEARER, "s")


def _find(text: str) -> list[tuple[int, int]]:
    """The spans of `text` the built-in patterns mask (unmerged, maybe overlapping).

    Each rule runs only when a substring it needs is in the text (C-level scans), so
    ordinary text costs a few of those and no regex.
    """
    spans: list[tuple[int, int]] = []
    if "PRIVATE KEY" in text:
        spans += _PRIVATE_KEY_SPANS(text)
    if "@" in text:
        spans += _at_spans(text)
    if "earer" in text or "EARER" in text:
        spans += _BEARER_SPANS(text)
    if "sk-" in text:
        spans += [m.span() for m in _SK_KEY.finditer(text)]
    if "AKIA" in text or "ASIA" in text:
        spans += [m.span() for m in _AWS_KEY.finditer(text)]
    if "_" in text and ("gh" in text or "github" in text):
        spans += [m.span() for m in _GITHUB_TOKEN.finditer(text)]
    if "xox" in text:
        spans += [m.span() for m in _SLACK_TOKEN.finditer(text)]
    if "AIza" in text:
        spans += [m.span() for m in _GOOGLE_KEY.finditer(text)]
    if "eyJ" in text:
        spans += _jwt_spans(text)
    if len(text) >= 13:
        spans += _card_spans(text)
    if "=" in text or ":" in text:
        spans += _field_spans(text)
    return spans


def _mask_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with the `spans` (merged where they touch) replaced by the mask. A span
    that starts on the letter of an escape (the `n` of `\\n`) starts after the escape."""
    merged: list[list[int]] = []
    for a, b in sorted(spans):
        a = _after_escape(text, a)
        if a >= b:
            continue
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out: list[str] = []
    pos = 0
    for a, b in merged:
        out.append(text[pos:a])
        out.append(MASK)
        pos = b
    out.append(text[pos:])
    return "".join(out)


def _after_escape(text: str, a: int) -> int:
    """`a`, moved past the escape it falls in (`\\n`, `\\u00e9`), if it falls in one."""
    inside = _escape_digits(text, a)
    if inside:
        return a + inside
    if a >= len(text) or not _escaped(text, a):
        return a
    width = {"u": 4, "x": 2, "U": 8}.get(text[a], 0)
    hexits = text[a + 1 : a + 1 + width]
    if width and len(hexits) == width and all(c in _HEX for c in hexits):
        return a + 1 + width
    return a + 1


def _looks_like_json(text: str) -> bool:
    head = text[:1]
    if head in ("{", "[", '"'):
        return True
    return head.isspace() and text.lstrip()[:1] in ("{", "[", '"')


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)  # integers beyond 64 bits


class Redactor:
    """Masks secrets in text. Call it on a string; it returns the masked string.

    Args:
        patterns: extra regular expressions whose matches are replaced by ``[REDACTED]``.
        fn: a function applied after the patterns, for anything a regex cannot say.
        defaults: keep the built-in patterns (keys, tokens, cards, URL passwords, e-mails).

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
        self._defaults = defaults
        self._extra: list[re.Pattern[str]] = []
        for p in patterns:
            try:
                self._extra.append(re.compile(p) if isinstance(p, str) else p)
            except re.error as e:
                raise ConfigError(
                    f"redaction pattern {p!r} is not a valid regular expression: {e}"
                ) from None
        self._fn = fn
        self._keys: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        if self._defaults:
            text = _builtin(text)
        for rx in self._extra:
            text = rx.sub(MASK, text)
        if self._fn is not None:
            text = self._fn(text)
        return text

    def key(self, k: str) -> str:
        """`k` masked, and remembered: attribute keys and names repeat from span to span."""
        masked = self._keys.get(k)
        if masked is None:
            masked = self(k)
            if len(self._keys) < 4096:
                self._keys[k] = masked
        return masked

    def value(self, v: Any) -> Any:
        """Redact an attribute value: a string, or the strings (and keys) inside lists,
        tuples and mappings, at any depth. A mapping's value under a name that says it
        is a secret (``password``, ``api_key``, ``client_secret``, ``access_token``...)
        is masked whole."""
        return _walk(v, self, self._defaults)


def _builtin(text: str) -> str:
    """`text` with the built-in patterns masked, valid JSON kept valid."""
    spans = _find(text)
    if not spans:
        return text
    masked = _mask_spans(text, spans)
    if _looks_like_json(text):
        try:
            orjson.loads(masked)
        except orjson.JSONDecodeError:
            # A mask outside a string (a card number or a password given as a JSON
            # number): mask the document's strings and numbers one by one instead.
            try:
                doc = _loads(text)
                return json.dumps(
                    _walk(doc, _builtin, True), ensure_ascii=False, separators=(",", ":")
                )
            except (ValueError, RecursionError):  # not JSON after all, or nested too deep
                return masked
    return masked


def _walk(v: Any, redact: Callable[[str], str], names: bool) -> Any:
    """`v` with every string in it (mapping keys too) passed through `redact`; with
    `names`, values under secret-looking names masked whole, and numbers that are
    card numbers masked."""
    if isinstance(v, str):
        return redact(v)
    if isinstance(v, list | tuple):
        return [_walk(x, redact, names) for x in v]
    if isinstance(v, Mapping):
        out: dict[Any, Any] = {}
        for k, x in v.items():
            if isinstance(k, str):
                secret = _secret_key(k) if names else 0
                if secret:
                    x = _mask_all(x, token=secret == 2)
                k = redact(k)
            out[k] = _walk(x, redact, names)
        return out
    big = isinstance(v, int | float) and not isinstance(v, bool) and abs(v) >= 10**12
    if names and big and _find(str(v)):
        return MASK  # a card number written as a JSON number
    return v


def _mask_all(v: Any, *, token: bool) -> Any:
    """A secret's value masked: strings and numbers (not a token's count), at any depth."""
    if isinstance(v, str):
        return v if not v or v.lower() in _NOT_SECRETS or (token and v.isdigit()) else MASK
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int | float):
        return v if token else MASK
    if isinstance(v, list | tuple):
        return [_mask_all(x, token=token) for x in v]
    if isinstance(v, Mapping):
        return {k: _mask_all(x, token=token) for k, x in v.items()}
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
    """An attribute value with its strings masked: alone, or in lists, tuples and
    mappings (keys too) at any depth. A `Redactor` also masks values under
    secret-looking names whole (see `Redactor.value`)."""
    if isinstance(v, str):
        return redact(v)
    if isinstance(redact, Redactor):
        return redact.value(v)
    return _walk(v, redact, False)


def redact_name(name: str, redact: Callable[[str], str]) -> str:
    """A name (a span's, a scope's, an event's) masked; a `Redactor` remembers the
    names it has seen, as they repeat from span to span."""
    return redact.key(name) if isinstance(redact, Redactor) else redact(name)


def redact_attributes(a: Mapping[str, Any], redact: Callable[[str], str]) -> dict[str, Any]:
    """A span's (or resource's) attributes masked: keys, values, and a value under a
    secret-looking key whole. Run it before any field is read from the attributes."""
    names = isinstance(redact, Redactor) and redact._defaults
    short = redact.key if isinstance(redact, Redactor) else redact
    out: dict[str, Any] = {}
    for k, v in a.items():
        secret = _secret_key(k) if names else 0
        if secret:
            v = _mask_all(v, token=secret == 2)
        if isinstance(v, str):
            # short values (models, operations, names) repeat like keys do
            v = short(v) if len(v) <= 64 else redact(v)
        elif not isinstance(v, int | float) or (names and not isinstance(v, bool)):
            v = redact_value(v, redact)
        out[short(k)] = v
    return out


def redact_argv(argv: Iterable[str], redact: Callable[[str], str]) -> list[str]:
    """A command line masked: each argument, and the one after a flag named like a
    secret (``--password hunter2``, ``--api-key KEY``, ``--token T``) whole."""
    out: list[str] = []
    secret_next = False
    for arg in argv:
        out.append(MASK if secret_next and arg else redact(arg))
        flag = arg.lstrip("-")
        secret_next = (
            arg.startswith("-")
            and "=" not in arg
            and (bool(_SECRET_KEY.search(flag)) or flag.lower() == "token")
        )
    return out


def redact_many(texts: list[str], redact: Callable[[str], str]) -> list[str]:
    """``[redact(t) for t in texts]``, cheaper for many short texts with the default
    `Redactor`.

    The built-in patterns run once over all the texts joined by a line break, and only
    the texts a match touches are then redacted one by one, as `redact` alone would.
    A raw line break ends every built-in pattern's match and looks, to each pattern's
    look-behind and to the checks around a secret's name, like the start or end of a
    text; a match running across one (a private key block without its end line) only
    touches more texts. Texts that hold a line break themselves (JSON text never does)
    and redactors with patterns or a function of their own go one by one.

    >>> redact_many(['{"q":"hi"}', '{"k":"sk-abcdefghijklmnop1234"}'], Redactor())
    ['{"q":"hi"}', '{"k":"[REDACTED]"}']
    """
    if not (
        type(redact) is Redactor and redact._defaults and not redact._extra and redact._fn is None
    ):
        return [redact(t) for t in texts]
    out = list(texts)
    batch = [i for i, t in enumerate(texts) if "\n" not in t]
    if len(batch) < len(texts):
        for i in set(range(len(texts))) - set(batch):
            out[i] = redact(texts[i])
    if not batch:
        return out
    starts: list[int] = []
    pos = 0
    for i in batch:
        starts.append(pos)
        pos += len(texts[i]) + 1
    touched: set[int] = set()
    for a, b in _find("\n".join(texts[i] for i in batch)):
        first = bisect.bisect_right(starts, a) - 1
        last = bisect.bisect_right(starts, max(a, b - 1)) - 1
        touched.update(range(max(first, 0), last + 1))
    for j in touched:
        i = batch[j]
        out[i] = redact(texts[i])
    return out
