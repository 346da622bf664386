"""The run filter language shared by the TUI's filter bar and ``agentreel runs --query``.

    status:error name:nightly* tag:dataset=qa-v2 model:gpt-4.1 tool:search duration>2s since:1h
    session:chat-42

``origin:replay``, ``origin:fork`` or ``origin:any`` selects the runs that
``agentreel replay`` and ``fork`` recorded, which a filter without an ``origin:``
term leaves out (``origin:recorded``).

Terms are separated by spaces and all must hold; ``-term`` negates one; values
with spaces go in double quotes. Bare words search run names and ids, span names
payloads and error messages. Every value reaches SQL as a bound parameter, never as text.
docs/tui.md documents the language.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agentreel._errors import AgentreelError
from agentreel._when import BadTime, point_in_time, range_hint
from agentreel.store._blobs import REFS_OF_SPANS

__all__ = ["FILTER_KEYS", "ORIGINS", "FilterError", "RunFilter", "origin_condition", "parse_filter"]


class FilterError(AgentreelError):
    """A filter expression that cannot be understood."""


_TERM = re.compile(r"^(?P<neg>-?)(?P<key>[a-z_]+)(?P<op>:|>=|<=|>|<|=)(?P<value>.*)$", re.S)
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNIT_MS = {"ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0, None: 1000.0}

#: Comparable numeric run columns: key -> (column, parser help)
_NUMERIC = {
    "duration": "duration_ms",
    "cost": "cost_usd",
    "tokens": "coalesce(input_tokens, 0) + coalesce(output_tokens, 0)",
    "spans": "span_count",
    "errors": "error_count",
    "llm": "llm_count",
    "tools": "tool_count",
}
#: Keys matched with ``key:value``.
_MATCH = (
    "status",
    "name",
    "tag",
    "model",
    "tool",
    "agent",
    "service",
    "id",
    "since",
    "until",
    "text",
    "origin",
    "session",
)
FILTER_KEYS = tuple(sorted((*_MATCH, *_NUMERIC)))
_STATUSES = ("ok", "error", "running", "interrupted")
#: Where a run came from: recorded by an agent, or a replay or fork of a recorded run.
ORIGINS = ("recorded", "replay", "fork", "any")
_ORIGIN_SQL = (
    "CASE WHEN json_extract_string(tags, '$.forked_from') IS NOT NULL THEN 'fork' "
    "WHEN json_extract_string(tags, '$.replay_of') IS NOT NULL THEN 'replay' "
    "ELSE 'recorded' END"
)


def origin_condition(origin: str) -> str | None:
    """SQL over ``runs`` selecting runs of `origin` (None for ``any``).

    Raises `FilterError` for an origin not in `ORIGINS`.
    """
    if origin not in ORIGINS:
        raise FilterError(f"origin:{origin} is not one of {', '.join(ORIGINS)}")
    return None if origin == "any" else f"{_ORIGIN_SQL} = '{origin}'"


@dataclass
class RunFilter:
    """A parsed filter: SQL conditions over the ``runs`` table and their parameters."""

    conditions: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    #: True when the filter has an ``origin:`` term (else replays and forks are left out).
    origin_given: bool = False

    def add(self, sql: str, *values: Any, negate: bool = False) -> None:
        names = []
        for v in values:
            name = f"f{len(self.params)}"
            self.params[name] = v
            names.append(name)
        cond = sql.format(*(f"${n}" for n in names))
        self.conditions.append(f"NOT ({cond})" if negate else f"({cond})")

    @property
    def where(self) -> str:
        """The conditions joined with AND, or ``true`` when there are none."""
        return " AND ".join(self.conditions) or "true"


def _number(key: str, raw: str) -> float:
    raw = raw.strip().lstrip("$").replace(",", "")
    if key == "duration":
        m = _DURATION.match(raw)
        if not m:
            raise FilterError(f"duration {raw!r} is not a duration like 500ms, 2s, 1.5m or 1h")
        return float(m.group(1)) * _UNIT_MS[m.group(2)]
    mult = 1.0
    if key == "tokens" and raw[-1:].lower() in ("k", "m"):
        mult = 1000.0 if raw[-1].lower() == "k" else 1_000_000.0
        raw = raw[:-1]
    try:
        return float(raw) * mult
    except ValueError:
        raise FilterError(f"{key} needs a number, not {raw!r}") from None


def _time(key: str, raw: str, now: datetime) -> datetime:
    try:
        t = point_in_time(raw, now)
    except BadTime as e:
        if e.kind == "too_far":
            raise FilterError(f"{key}:{raw} reaches back too far: {range_hint()}") from None
        if e.kind == "out_of_range":
            raise FilterError(f"{key}:{raw} is out of range: {range_hint()}") from None
        raise FilterError(
            f"{key}:{raw} needs an age like 30m, 2h, 7d or an ISO date like 2026-11-01"
        ) from None
    assert t is not None  # only None is no time, and `raw` is text
    return t


def _glob(value: str) -> tuple[str, str]:
    if "*" in value or "?" in value:
        return "GLOB", value
    return "=", value


def parse_filter(
    text: str, *, live: list[str] | None = None, now: datetime | None = None
) -> RunFilter:
    """Compile a filter expression into conditions over ``runs``.

    `live` lists the process ids whose heartbeat is fresh (for ``status:running``
    versus ``status:interrupted``). Raises `FilterError` naming the bad term.

    Example::

        f = parse_filter("status:error tool:search duration>2s")
        store.sql(f"SELECT * FROM runs WHERE {f.where}", f.params)
    """
    now = now or datetime.now(UTC).replace(tzinfo=None)
    try:
        terms = shlex.split(text, posix=True)
    except ValueError as e:
        raise FilterError(f"cannot read the filter: {e} (close the quotes)") from None
    f = RunFilter()
    status_sql = (
        "CASE WHEN status = 'running' AND (process_id IS NULL OR NOT list_contains({0}, process_id)) "
        "THEN 'interrupted' ELSE status END = {1}"
    )
    for term in terms:
        m = _TERM.match(term)
        if not m or (m.group("key") not in _MATCH and m.group("key") not in _NUMERIC):
            neg = term.startswith("-") and len(term) > 1
            word = term[1:] if neg else term
            if m and m.group("op") == ":":
                raise FilterError(
                    f"unknown filter key {m.group('key')!r}; known keys: {', '.join(FILTER_KEYS)}"
                )
            _text(f, word, neg)
            continue
        key, op, value, neg = m.group("key"), m.group("op"), m.group("value"), bool(m.group("neg"))
        if not value:
            raise FilterError(f"{key}{op} needs a value")
        if key in _NUMERIC:
            if op == ":" or op == "=":
                op = "="
            f.add(f"{_NUMERIC[key]} {op} {{0}}", _number(key, value), negate=neg)
            continue
        if op != ":":
            raise FilterError(f"{key} takes {key}:value, not {key}{op}{value}")
        if key == "status":
            if value not in _STATUSES:
                raise FilterError(f"status:{value} is not one of {', '.join(_STATUSES)}")
            f.add(status_sql, live or [], value, negate=neg)
        elif key == "name":
            op_sql, v = _glob(value)
            f.add(f"name {op_sql} {{0}}", v, negate=neg)
        elif key == "tag":
            if "=" not in value:
                raise FilterError(f"tag:{value} needs key=value, e.g. tag:dataset=qa-v2")
            k, v = value.split("=", 1)
            f.add(
                "json_extract_string(tags, '$.' || to_json({0})::VARCHAR) = {1}", k, v, negate=neg
            )
        elif key in ("model", "tool", "agent"):
            col = {
                "model": "coalesce(response_model, request_model)",
                "tool": "tool_name",
                "agent": "agent_name",
            }[key]
            op_sql, v = _glob(value)
            alt = " OR request_model " + op_sql + " {0}" if key == "model" else ""
            f.add(
                f"run_id IN (SELECT run_id FROM spans WHERE {col} {op_sql} {{0}}{alt})",
                v,
                negate=neg,
            )
        elif key == "service":
            op_sql, v = _glob(value)
            f.add(f"service_name {op_sql} {{0}}", v, negate=neg)
        elif key == "session":
            op_sql, v = _glob(value)
            f.add(f"session_id {op_sql} {{0}}", v, negate=neg)
        elif key == "id":
            f.add("starts_with(run_id, {0})", value.lower(), negate=neg)
        elif key == "since":
            f.add("start_time >= {0}", _time(key, value, now), negate=neg)
        elif key == "until":
            f.add("start_time < {0}", _time(key, value, now), negate=neg)
        elif key == "origin":
            f.origin_given = True
            cond = origin_condition(value)
            if cond is not None:
                f.add(cond, negate=neg)
        elif key == "text":
            _text(f, value, neg)
    return f


_REFS = REFS_OF_SPANS.replace("{", "{{").replace("}", "}}")


def _text(f: RunFilter, word: str, negate: bool) -> None:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like = "%" + escaped + "%"
    f.add(
        "(name ILIKE {0} ESCAPE '\\' OR starts_with(run_id, lower({1})) OR run_id IN ("
        "SELECT run_id FROM spans WHERE name ILIKE {0} ESCAPE '\\' OR input ILIKE {0} ESCAPE '\\' "
        "OR output ILIKE {0} ESCAPE '\\' OR error_message ILIKE {0} ESCAPE '\\') "
        # the parts of long LLM inputs stored once in `blobs` (docs/data-model.md): the
        # runs whose references reach a node that matches
        "OR run_id IN (SELECT run_id FROM (" + _REFS + ") WHERE hash IN ("
        "WITH RECURSIVE d(hash) AS (SELECT hash FROM blobs WHERE body ILIKE {0} ESCAPE '\\' "
        "UNION SELECT b.hash FROM d JOIN blobs b ON b.prev = d.hash) SELECT hash FROM d)))",
        like,
        word,
        negate=negate,
    )
