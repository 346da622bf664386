"""Where a check run spends its time: loading, each check, and Pandera's validate calls."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = ["Timings", "pandera_timer", "timed"]


@dataclass
class Timings:
    """Seconds spent per phase of one `run_checks` call."""

    total: float = 0.0
    load: float = 0.0
    pandera: float = 0.0
    checks: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "total": round(self.total, 4),
            "load": round(self.load, 4),
            "pandera": round(self.pandera, 4),
            "checks": {k: round(v, 4) for k, v in self.checks.items()},
        }


_current: ContextVar[Timings | None] = ContextVar("agentreel_check_timings", default=None)


@contextmanager
def timed(timings: Timings) -> Iterator[Timings]:
    """Make `timings` the one `pandera_timer` adds to, for the enclosed block."""
    token = _current.set(timings)
    t0 = time.perf_counter()
    try:
        yield timings
    finally:
        timings.total += time.perf_counter() - t0
        _current.reset(token)


@contextmanager
def pandera_timer() -> Iterator[None]:
    """Count the enclosed block (a Pandera ``validate`` call) as time in Pandera."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        t = _current.get()
        if t is not None:
            t.pandera += time.perf_counter() - t0
