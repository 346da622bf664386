"""Shapes of JSON values, checked when a saved baseline is read.

A shape is a function of a value and where it is (``measures.loops.scopes.all``) that
raises `ShapeError` when the value does not fit. Each check declares the shape of
what it measures (`BuiltinCheck.measure_shape`), next to the code that writes it, so
a hand-edited or damaged baseline file is refused with the place and what belongs
there, instead of failing deep inside a check.

Example::

    rates = fields(scopes=mapping(pair(count, count)))
    rates({"scopes": {"all": [3, 120]}}, "measures.loops")   # fits
    rates({"scopes": {"all": [3]}}, "measures.loops")        # ShapeError
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

__all__ = [
    "Shape",
    "ShapeError",
    "any_object",
    "count",
    "fields",
    "finite",
    "list_of",
    "mapping",
    "nullable",
    "number",
    "pair",
    "scalar",
    "text",
]

Shape = Callable[[object, str], None]


class ShapeError(ValueError):
    """A value that does not have the shape it should: where it is and what belongs there."""

    def __init__(self, where: str, value: object, expected: str) -> None:
        shown = json.dumps(value, default=str)
        if len(shown) > 40:
            shown = shown[:37] + "..."
        self.where = where
        super().__init__(f"{where or 'the file'} is {shown}, where {expected} belongs")


def _at(where: str, key: str) -> str:
    """The place of `key` inside `where` (``""`` is the whole file: ``runs``, not ``.runs``)."""
    return f"{where}.{key}" if where else key


def count(value: object, where: str) -> None:
    """A whole number, at least 0."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ShapeError(where, value, "a whole number of at least 0")


def number(value: object, where: str) -> None:
    """A number (JSON's NaN and infinities included: a statistic may be one)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ShapeError(where, value, "a number")


def finite(value: object, where: str) -> None:
    """A number that is not NaN nor infinite: what a distribution's quantiles are."""
    number(value, where)
    assert isinstance(value, int | float)
    if not math.isfinite(value):
        raise ShapeError(where, value, "a finite number")


def text(value: object, where: str) -> None:
    """A string."""
    if not isinstance(value, str):
        raise ShapeError(where, value, "a string")


def scalar(value: object, where: str) -> None:
    """A number, true or false, or null: what a metric check's value may be."""
    if value is not None and not isinstance(value, int | float):
        raise ShapeError(where, value, "a number, true, false or null")


def any_object(value: object, where: str) -> None:
    """An object with any keys."""
    if not isinstance(value, dict):
        raise ShapeError(where, value, "an object")


def nullable(shape: Shape) -> Shape:
    """`shape`, or null."""

    def check(value: object, where: str) -> None:
        if value is not None:
            shape(value, where)

    return check


def pair(first: Shape, second: Shape) -> Shape:
    """A list of two items, of these shapes."""

    def check(value: object, where: str) -> None:
        if not isinstance(value, list) or len(value) != 2:
            raise ShapeError(where, value, "a list of two items")
        first(value[0], f"{where}[0]")
        second(value[1], f"{where}[1]")

    return check


def list_of(item: Shape) -> Shape:
    """A list whose items have the shape `item`."""

    def check(value: object, where: str) -> None:
        if not isinstance(value, list):
            raise ShapeError(where, value, "a list")
        for i, v in enumerate(value):
            item(v, f"{where}[{i}]")

    return check


def mapping(item: Shape) -> Shape:
    """An object with any keys, whose values have the shape `item`."""

    def check(value: object, where: str) -> None:
        any_object(value, where)
        assert isinstance(value, dict)
        for k, v in value.items():
            item(v, _at(where, k))

    return check


def fields(*, optional: bool = False, **shapes: Shape) -> Shape:
    """An object with these keys (each may be absent when `optional`); others are ignored."""

    def check(value: object, where: str) -> None:
        any_object(value, where)
        assert isinstance(value, dict)
        for key, shape in shapes.items():
            if key in value:
                shape(value[key], _at(where, key))
            elif not optional:
                raise ShapeError(where, value, f"an object with {key!r}")

    return check
