"""Points in time a user can ask about: ages ('7d') and dates, within what the store holds.

The store keeps times in nanoseconds (``TIMESTAMP_NS``), which reach from 1677 to
2262; Python's dates reach from the year 1 to 9999. An age or a date outside the
store's range cannot select anything the store holds, and would fail deep in
Python or DuckDB, so callers refuse it with their own error type and say why.
"""

from __future__ import annotations

from datetime import datetime, timedelta

__all__ = ["EARLIEST", "LATEST", "ago", "out_of_range", "range_hint"]

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
