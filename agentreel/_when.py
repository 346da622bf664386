"""Points in time a user can ask about: ages ('7d') and dates, within what the store holds.

The store keeps times in nanoseconds (``TIMESTAMP_NS``), which reach from 1677 to
2262; Python's dates reach from the year 1 to 9999. An age or a date outside the
store's range cannot select anything the store holds, and would fail deep in
Python or DuckDB, so callers refuse it with their own error type and say why.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Literal

__all__ = [
    "EARLIEST",
    "LATEST",
    "BadTime",
    "age_seconds",
    "ago",
    "out_of_range",
    "point_in_time",
    "range_hint",
]

#: The first and last instants a ``TIMESTAMP_NS`` column holds (naive UTC).
EARLIEST = datetime(1677, 9, 22)
LATEST = datetime(2262, 4, 11)


def ago(now: datetime, seconds: float | timedelta) -> datetime | None:
    """`now` less an age, or None when that falls outside the store's range.

    Example: ``ago(now, 7 * 86400)`` is a week before `now`; ``ago(now, 1e12)`` is None.
    """
    try:
        age = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
        t = now - age
    except (OverflowError, ValueError):  # too large for timedelta, or before the year 1
        return None
    return None if out_of_range(t) else t


def out_of_range(t: datetime) -> bool:
    """Whether the naive UTC time `t` lies outside what the store can hold."""
    return not EARLIEST <= t <= LATEST


def range_hint() -> str:
    """The words an error about such a time ends with."""
    return f"the store holds times from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}"


_AGE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def age_seconds(text: str) -> float | None:
    """The seconds of an age written ``90s``, ``15m``, ``2h``, ``7d`` or ``1w``; None
    when `text` is not one.

    Example: ``age_seconds("2h")`` is 7200.0; ``age_seconds("2026-11-01")`` is None.
    """
    m = _AGE.fullmatch(text)
    return float(m.group(1)) * _UNIT_S[m.group(2)] if m else None


class BadTime(ValueError):
    """A time `point_in_time` cannot place; each caller words it in its own error type.

    `kind` says why: ``unreadable`` (neither an age nor an ISO date), ``too_far`` (an age
    reaching back before what the store holds) or ``out_of_range`` (a date outside it,
    then in `date` as it was given).
    """

    def __init__(
        self, kind: Literal["unreadable", "too_far", "out_of_range"], date: datetime | None = None
    ) -> None:
        super().__init__(kind)
        self.kind = kind
        self.date = date


def point_in_time(value: datetime | timedelta | str | None, now: datetime) -> datetime | None:
    """A naive UTC time from a datetime, an age (a timedelta or ``"24h"``), an ISO date,
    or None; an age counts back from `now` (naive UTC). Raises `BadTime`.

    Example: ``point_in_time("24h", now)`` is ``now - timedelta(hours=24)``.
    """
    if value is None:
        return None
    if isinstance(value, datetime):  # the store keeps naive UTC
        naive = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        if out_of_range(naive):
            raise BadTime("out_of_range", value)
        return naive
    age: float | timedelta | None = value if isinstance(value, timedelta) else None
    if isinstance(value, str):
        age = age_seconds(value)
        if age is None:
            try:
                return point_in_time(datetime.fromisoformat(value.strip()), now)
            except ValueError as e:
                if isinstance(e, BadTime):
                    raise
                raise BadTime("unreadable") from None
    assert age is not None
    t = ago(now, age)
    if t is None:
        raise BadTime("too_far")
    return t
