"""Masking a whole request's span attributes at once, for the protobuf decoder.

`_masked_attributes` gives the same result as masking each span's attributes with
`redact_attributes`, for less: the default `Redactor` runs its patterns once over
all the request's string values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentreel._redact import Redactor, redact_attributes, redact_many

__all__: list[str] = []


class _Known(Redactor):
    """A `Redactor` that answers from `known` (texts already masked, a request's at once)
    and masks anything else as `base` does, sharing its memory of keys and names."""

    def __init__(self, base: Redactor, known: dict[str, str]) -> None:
        self.__dict__.update(base.__dict__)
        self._known = known

    def __call__(self, text: str) -> str:
        masked = self._known.get(text)
        return super().__call__(text) if masked is None else masked


def _masked_attributes(
    attributes: list[dict[str, Any]], redact: Callable[[str], str]
) -> tuple[list[dict[str, Any]], Callable[[str], str]]:
    """Many spans' attributes masked as `redact_attributes` masks each, but cheaper.

    With the default `Redactor`, the string values are first masked together by
    `redact_many` (the built-in patterns run once over all of them, and only the
    texts a match touches are masked one by one), and `redact_attributes` then takes
    each from that table. Also returns the redactor to mask the rest of the request
    with (a name or a scope seen among the values is then found in the table too).
    """
    if type(redact) is Redactor:
        texts = list({v for a in attributes for v in a.values() if type(v) is str})
        redact = _Known(redact, dict(zip(texts, redact_many(texts, redact), strict=True)))
    return [redact_attributes(a, redact) for a in attributes], redact
