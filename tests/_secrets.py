"""Hypothesis strategies for secrets of every kind the default redactor masks.

Each strategy draws a `Secret`: the text as a user would write it (`text`) and the
parts that must never be stored (`cores`: the key, the token, the password; for a
private key each line of its body). `surrounded` puts arbitrary characters before
and after it, with the neighbours that make a secret a different string left out
(documented in docs/python-api.md#redaction: a card number glued to more digits is
another number, a bare `token=` glued to a word is another name).
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass

from hypothesis import assume
from hypothesis import strategies as st

ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "_-"


@dataclass(frozen=True)
class Secret:
    kind: str
    text: str
    cores: tuple[str, ...]

    def leaked_in(self, data: str | bytes) -> str | None:
        """The first core found in `data`, as written or as JSON writes it; None if none."""
        for core in self.cores:
            forms = {core, json.dumps(core)[1:-1], json.dumps(core, ensure_ascii=False)[1:-1]}
            for form in forms:
                needle: str | bytes = form.encode() if isinstance(data, bytes) else form
                if needle in data:  # type: ignore[operator]
                    return core
        return None


def _text(alphabet: str, lo: int, hi: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=lo, max_size=hi)


_NOT_HEX = "ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ"


@st.composite
def _distinct(draw: st.DrawFn, alphabet: str, lo: int, hi: int) -> str:
    """Text with a digit and a letter that is no hex digit in it, so that it cannot be
    a run of an id, a time or a word the store holds anyway (the test looks for it)."""
    body = draw(_text(alphabet, lo, hi))
    for extra in (draw(st.sampled_from(_NOT_HEX)), draw(st.sampled_from(string.digits))):
        at = draw(st.integers(0, len(body)))
        body = body[:at] + extra + body[at:]
    return body


@st.composite
def _sk_key(draw: st.DrawFn) -> Secret:
    prefix = draw(st.sampled_from(["sk-", "sk-proj-", "sk-svcacct-", "sk-ant-api03-"]))
    body = draw(_text(B64URL, 32, 60))
    # a real key is random: it has capitals and digits (a run of lower-case words
    # glued after "task-" does not, and is not masked)
    at = draw(st.integers(0, 31))
    body = body[:at] + draw(st.sampled_from(string.digits + string.ascii_uppercase)) + body[at:]
    key = prefix + body
    return Secret("openai/anthropic", key, (key,))


@st.composite
def _aws(draw: st.DrawFn) -> Secret:
    key = draw(st.sampled_from(["AKIA", "ASIA"])) + draw(
        _text(string.ascii_uppercase + string.digits, 16, 16)
    )
    return Secret("aws", key, (key,))


@st.composite
def _github(draw: st.DrawFn) -> Secret:
    if draw(st.booleans()):
        key = "gh" + draw(st.sampled_from("pousr")) + "_" + draw(_text(ALNUM, 36, 40))
    else:
        key = "github_pat_" + draw(_text(ALNUM + "_", 60, 82))
    return Secret("github", key, (key,))


@st.composite
def _bearer(draw: st.DrawFn) -> Secret:
    word = draw(st.sampled_from(["Bearer", "bearer", "BEARER"]))
    sep = draw(st.sampled_from([" ", "  ", "\t", "\n"]))
    token = draw(_distinct(ALNUM + "-._~+/", 16, 40))
    return Secret("bearer", word + sep + token, (token,))


@st.composite
def _jwt(draw: st.DrawFn) -> Secret:
    token = (
        "eyJ"
        + draw(_text(B64URL, 10, 30))
        + ".eyJ"
        + draw(_text(B64URL, 10, 60))
        + "."
        + draw(_text(B64URL, 16, 43))
    )
    return Secret("jwt", token, (token,))


def _luhn_digit(partial: str) -> str:
    total = 0
    for i, c in enumerate(reversed(partial)):
        n = int(c)
        if i % 2 == 0:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return str((10 - total % 10) % 10)


@st.composite
def _card(draw: st.DrawFn) -> Secret:
    length = draw(st.sampled_from([13, 15, 16, 16, 19]))
    head = draw(st.sampled_from(["4", "51", "55", "2221", "34", "37", "6011", "65"]))
    body = head + draw(_text(string.digits, length - len(head) - 1, length - len(head) - 1))
    digits = body + _luhn_digit(body)
    sep = draw(st.sampled_from(["", " ", "-"]))
    written = sep.join(digits[i : i + 4] for i in range(0, len(digits), 4)) if sep else digits
    return Secret("card", written, (written,))


@st.composite
def _private_key(draw: st.DrawFn) -> Secret:
    label = draw(st.sampled_from(["", "RSA ", "EC ", "OPENSSH ", "ENCRYPTED "]))
    lines = draw(st.lists(_distinct(ALNUM + "+/", 16, 64), min_size=1, max_size=4))
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    block = (
        f"-----BEGIN {label}PRIVATE KEY-----{nl}"
        + nl.join(lines)
        + f"{nl}-----END {label}PRIVATE KEY-----"
    )
    return Secret("private key", block, tuple(lines))


@st.composite
def _url(draw: st.DrawFn) -> Secret:
    scheme = draw(st.sampled_from(["postgres", "https", "redis", "mongodb+srv", "amqp"]))
    user = draw(_text(ALNUM + "._-", 0, 10))
    password = draw(_distinct(ALNUM + "!$%*+._~-", 8, 20))
    host = draw(st.sampled_from(["db.internal", "localhost:5432", "10.0.0.7", "example.com/x"]))
    return Secret("url", f"{scheme}://{user}:{password}@{host}", (password,))


_NAMES = [
    "password",
    "db_password",
    "PASSWORD",
    "passwd",
    "passphrase",
    "secret",
    "client_secret",
    "SECRET",
    "api_key",
    "API-KEY",
    "apikey",
    "x-api-key",
    "secret_key",
    "AWS_SECRET_ACCESS_KEY",
    "access_token",
    "GITHUB_TOKEN",
    "accessToken",
    "X-Auth-Token",
]
_VALUE_CHARS = ALNUM + "!#$%*+./:=?@^_~-"


@st.composite
def _field(draw: st.DrawFn) -> Secret:
    name = draw(st.sampled_from(_NAMES))
    value = draw(_distinct(_VALUE_CHARS, 8, 24))
    form = draw(
        st.sampled_from(
            [
                "{n}={v}",
                "{n}: {v}",
                "{n} = '{v}'",
                '"{n}": "{v}"',
                '{n}="{v}"',
                "'{n}': '{v}'",
                "export {n}={v}",
            ]
        )
    )
    return Secret("assignment", form.format(n=name, v=value), (value,))


@st.composite
def _email(draw: st.DrawFn) -> Secret:
    local = draw(_text(ALNUM + "._%+-", 1, 20))
    domain = draw(_text(string.ascii_lowercase + string.digits, 1, 12))
    tld = draw(_text(string.ascii_lowercase, 2, 6))
    address = f"{local}@{domain}.{tld}"
    return Secret("email", address, (address,))


KINDS = {
    "openai/anthropic": _sk_key(),
    "aws": _aws(),
    "github": _github(),
    "bearer": _bearer(),
    "jwt": _jwt(),
    "card": _card(),
    "private key": _private_key(),
    "url": _url(),
    "assignment": _field(),
    "email": _email(),
}
secrets = st.one_of(*KINDS.values())

#: Characters that once let a secret through: line breaks and tabs (escaped in JSON),
#: quotes and backslashes, letters and underscores glued to a key, non-ASCII and
#: control characters (escaped as \uXXXX), and the starts of other secrets.
_TRICKY = [
    "\n",
    "\r\n",
    "\t",
    '"',
    "'",
    "\\",
    "\\n",
    "x",
    "_",
    "-",
    ".",
    "=",
    ":",
    "/",
    "@",
    "é",
    "\u00a0",
    "\x00",
    "\x1b",
    "日本",
    "sk-",
    "Bearer ",
    "password=",
    "eyJ",
]
_chars = st.characters(exclude_categories=("Cs",))
_around = st.one_of(
    st.text(_chars, max_size=12),
    st.sampled_from(_TRICKY),
    st.lists(st.sampled_from(_TRICKY), max_size=3).map("".join),
)


def _fits(secret: Secret, before: str, after: str) -> bool:
    if secret.kind == "card":
        # a card number glued to more digits is another number
        return not (before[-1:].isdigit() or after[:1].isdigit())
    return True


@st.composite
def surrounded(draw: st.DrawFn, kinds: st.SearchStrategy[Secret] = secrets) -> tuple[Secret, str]:
    """A secret, and a text holding it between arbitrary characters."""
    secret = draw(kinds)
    before = draw(_around)
    after = draw(_around)
    if not _fits(secret, before, after):
        before, after = before + " ", " " + after
    text = before + secret.text + after
    # what surrounds the secret must not hold a copy of it
    assume(all(text.count(core) == 1 for core in secret.cores))
    return secret, text
