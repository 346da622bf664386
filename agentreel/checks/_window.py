"""`Window`: which runs a check looks at (the current runs, or a live baseline).

A window selects finished runs (``ok``, ``error``, ``interrupted``; runs still in
progress are left out) by start time, tag, run name and git sha. Runs that
``agentreel replay`` and ``fork`` recorded are left out unless ``replays=True``: a
replay spends nothing and a fork is an experiment, and neither is the agent's
behaviour in the window. Ages such as
``"24h"`` are turned into dates once, by `resolve`, so the current window and
the baseline window meet exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from agentreel._when import BadTime, point_in_time, range_hint
from agentreel.checks._errors import CheckConfigError

__all__ = ["Window", "parse_when"]

When = datetime | timedelta | str | None


def parse_when(value: When, now: datetime, what: str) -> datetime | None:
    """A naive UTC datetime from a datetime, an age (timedelta or '90s', '15m', '2h', '7d'),
    an ISO date, or None.

    Example: ``parse_when("24h", now, "since")`` is ``now - 24 hours``.
    """
    try:
        return point_in_time(value, now)
    except BadTime as e:
        if e.kind == "out_of_range" and e.date is not None:
            raise CheckConfigError(
                f"{what}={e.date.isoformat()} is out of range: {range_hint()}"
            ) from None
        if e.kind == "too_far":
            raise CheckConfigError(
                f"{what}={str(value)!r} reaches back too far: {range_hint()}; write e.g. {what}=24h"
            ) from None
        raise CheckConfigError(
            f"{what}={value!r} is neither an age like 90s, 15m, 24h, 7d nor an ISO date; "
            f"write e.g. {what}=24h"
        ) from None


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Window:
    """A selection of runs.

    Example::

        Window(since="24h")                                  # the last day
        Window(since="8d", until="24h")                      # the week before it
        Window(tags={"env": "prod"}, name="research*")       # by tag and run name
        Window(git_sha="4f2a91c")                            # runs of one commit
        Window(since="24h", replays=True)                    # with replays and forks
    """

    since: When = None
    until: When = None
    tags: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None
    git_sha: str | None = None
    replays: bool = False

    def resolve(self, now: datetime | None = None) -> Window:
        """The same window with ages turned into dates, measured from `now`."""
        t = now or _now()
        return replace(
            self, since=parse_when(self.since, t, "since"), until=parse_when(self.until, t, "until")
        )

    def hours(self, now: datetime | None = None) -> float | None:
        """The window's length in hours, when it is bounded in time (else None)."""
        w = self.resolve(now)
        if not isinstance(w.since, datetime):
            return None
        until = w.until if isinstance(w.until, datetime) else (now or _now())
        return max((until - w.since).total_seconds() / 3600.0, 0.0)

    def describe(self) -> str:
        """A short human description, e.g. ``since 2026-11-27 10:00 · tag env=prod``."""
        parts: list[str] = []
        for label, v in (("since", self.since), ("until", self.until)):
            if isinstance(v, datetime):
                parts.append(f"{label} {v:%Y-%m-%d %H:%M}")
            elif v is not None:
                parts.append(f"{label} {v}")
        parts += [f"tag {k}={v}" for k, v in sorted(self.tags.items())]
        if self.name:
            parts.append(f"name {self.name}")
        if self.git_sha:
            parts.append(f"git {self.git_sha[:12]}")
        if self.replays:
            parts.append("replays and forks included")
        return " · ".join(parts) or "all runs"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (dates as ISO strings)."""
        w = self.resolve()
        return {
            "since": w.since.isoformat() if isinstance(w.since, datetime) else None,
            "until": w.until.isoformat() if isinstance(w.until, datetime) else None,
            "tags": dict(self.tags),
            "name": self.name,
            "git_sha": self.git_sha,
            "replays": self.replays,
            "description": self.describe(),
        }

    def where(self, prefix: str, alias: str = "r") -> tuple[str, dict[str, Any]]:
        """A SQL condition on the ``runs`` table (as `alias`) and its parameters.

        Parameter names start with `prefix`, so two windows can share one query.
        """
        w = self.resolve()
        conds = [f"{alias}.status <> 'running'"]
        if not self.replays:
            conds.append(
                f"json_extract_string({alias}.tags, '$.replay_of') IS NULL "
                f"AND json_extract_string({alias}.tags, '$.forked_from') IS NULL"
            )
        params: dict[str, Any] = {}
        if isinstance(w.since, datetime):
            conds.append(f"{alias}.start_time >= ${prefix}since")
            params[f"{prefix}since"] = w.since
        if isinstance(w.until, datetime):
            conds.append(f"{alias}.start_time < ${prefix}until")
            params[f"{prefix}until"] = w.until
        for i, (k, v) in enumerate(sorted(self.tags.items())):
            conds.append(
                f"json_extract_string({alias}.tags, '$.' || to_json(${prefix}tk{i})::VARCHAR) "
                f"= ${prefix}tv{i}"
            )
            params[f"{prefix}tk{i}"] = str(k)
            params[f"{prefix}tv{i}"] = str(v).lower() if isinstance(v, bool) else str(v)
        if self.name:
            op = "GLOB" if any(c in self.name for c in "*?[") else "="
            conds.append(f"{alias}.name {op} ${prefix}name")
            params[f"{prefix}name"] = self.name
        if self.git_sha:
            conds.append(f"starts_with({alias}.code_version, ${prefix}sha)")
            params[f"{prefix}sha"] = self.git_sha.lower()
        return " AND ".join(conds), params
