"""Two runs side by side, aligned step by step.

Steps are aligned by what they are (kind, and tool, agent or span name), not by
position, with a longest-common-subsequence alignment (difflib), so one extra
tool call shifts nothing after it. Aligned steps are then compared: inputs
(tool arguments, prompts), outputs, status, tokens and duration.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from agentreel.store._records import Run, Span, records

__all__ = ["RunDiff", "StepPair", "diff_runs"]

_VOLATILE = re.compile(
    r"\b(?:call|chatcmpl|msg|toolu|resp|req)[_-][A-Za-z0-9_-]+|\b[0-9a-f]{16,}\b"
)
#: A duration change below this factor is noise, not a difference.
DURATION_FACTOR = 2.0
_MIN_DURATION_MS = 5.0


def _step_key(s: Span) -> tuple[str, str]:
    kind = s["kind"]
    label = s.get("tool_name") or s.get("agent_name") or s.get("request_model") or s["name"]
    return kind, str(label)


def _norm(payload: str | None) -> Any:
    """A payload with volatile ids (call ids, response ids, hex ids) masked, parsed when JSON."""
    if payload is None:
        return None
    masked = _VOLATILE.sub("<id>", payload)
    try:
        return json.loads(masked)
    except ValueError:
        return masked


def _canon(payload: str | None) -> str:
    return json.dumps(_norm(payload), sort_keys=True, default=str)


@dataclass
class StepPair:
    """One row of the alignment: a step of run A, of run B, or of both."""

    a: Span | None
    b: Span | None
    changes: list[str] = field(default_factory=list)

    @property
    def op(self) -> str:
        if self.a is None:
            return "only_b"
        if self.b is None:
            return "only_a"
        return "changed" if self.changes else "same"

    @property
    def differs(self) -> bool:
        return self.op != "same"

    def as_dict(self) -> dict[str, Any]:
        def brief(s: Span | None) -> dict[str, Any] | None:
            if s is None:
                return None
            return {
                k: s.get(k)
                for k in (
                    "span_id",
                    "depth",
                    "kind",
                    "name",
                    "tool_name",
                    "status",
                    "duration_ms",
                    "input_tokens",
                    "output_tokens",
                )
            }

        return {"op": self.op, "changes": self.changes, "a": brief(self.a), "b": brief(self.b)}


@dataclass
class RunDiff:
    """The aligned steps of two runs, and where they first part."""

    run_a: Run
    run_b: Run
    pairs: list[StepPair]

    @property
    def first_difference(self) -> int | None:
        """Index in `pairs` of the first step that differs, or None when the runs match."""
        return next((i for i, p in enumerate(self.pairs) if p.differs), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_a": self.run_a["run_id"],
            "run_b": self.run_b["run_id"],
            "first_difference": self.first_difference,
            "steps": [p.as_dict() for p in self.pairs],
        }


def _where_they_differ(a: Any, b: Any) -> str:
    """Which part of two payloads (JSON text) differs: keys, a list index, or the values.

    >>> _where_they_differ('{"q": "a", "k": 3}', '{"q": "b", "k": 3}')
    'q'
    >>> _where_they_differ('[1, 2, 3]', '[1, 5, 3]')
    '[1]'
    """
    try:
        x, y = json.loads(a) if a else None, json.loads(b) if b else None
    except (TypeError, ValueError):
        x, y = a, b
    if isinstance(x, dict) and isinstance(y, dict):
        keys = sorted(k for k in x.keys() | y.keys() if x.get(k) != y.get(k))
        return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
    if isinstance(x, list) and isinstance(y, list):
        i = next((i for i, (p, q) in enumerate(zip(x, y, strict=False)) if p != q), None)
        return f"[{i}]" if i is not None else f"length {len(x)} → {len(y)}"
    sx, sy = (str(v) for v in (x, y))
    return f"{sx} → {sy}" if max(len(sx), len(sy)) <= 24 else ""


def _compare(a: Span, b: Span) -> list[str]:
    changes: list[str] = []
    if (a["status"] == "error") != (b["status"] == "error"):
        sa, sb = ("error" if s["status"] == "error" else "ok" for s in (a, b))
        changes.append(f"status {sa} → {sb}")
    elif a["status"] == "error" and a.get("error_type") != b.get("error_type"):
        changes.append(f"error {a.get('error_type')} → {b.get('error_type')}")
    what = "arguments" if a["kind"] == "tool" else "input"
    if _norm(a.get("input")) != _norm(b.get("input")):
        where = _where_they_differ(a.get("input"), b.get("input"))
        said = f"{what} differ" if what == "arguments" else "input differs"
        changes.append(f"{said}: {where}" if where else said)
    if _norm(a.get("output")) != _norm(b.get("output")):
        where = _where_they_differ(a.get("output"), b.get("output"))
        changes.append(f"output differs: {where}" if where else "output differs")
    for col, label in (("input_tokens", "tokens in"), ("output_tokens", "tokens out")):
        x, y = a.get(col), b.get(col)
        if x != y and (x is not None or y is not None):
            changes.append(f"{label} {x if x is not None else '—'} → {y if y is not None else '—'}")
    da, db = a.get("duration_ms") or 0.0, b.get("duration_ms") or 0.0
    lo, hi = min(da, db), max(da, db)
    if hi >= _MIN_DURATION_MS and (lo == 0 or hi / lo >= DURATION_FACTOR):
        changes.append(f"duration {da:.0f}ms → {db:.0f}ms")
    model_a = a.get("response_model") or a.get("request_model")
    model_b = b.get("response_model") or b.get("request_model")
    if model_a != model_b:
        changes.append(f"model {model_a} → {model_b}")
    return changes


def diff_runs(run_a: Run, tree_a: pl.DataFrame, run_b: Run, tree_b: pl.DataFrame) -> RunDiff:
    """Align two runs' spans (each in tree order) and compare the aligned steps."""
    sa = list(records(tree_a, Span))
    sb = list(records(tree_b, Span))
    # Align on what a step is and what it was asked, so an inserted call shifts nothing;
    # steps of the same kind and name left unmatched are then paired as changed.
    ka = [(*_step_key(s), _canon(s.get("input"))) for s in sa]
    kb = [(*_step_key(s), _canon(s.get("input"))) for s in sb]
    pairs: list[StepPair] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ka, kb, autojunk=False).get_opcodes():
        if op == "equal":
            pairs.extend(
                StepPair(sa[i], sb[j], _compare(sa[i], sb[j]))
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            )
        else:
            # a replaced block: pair steps of the same kind in order, the rest stand alone
            left, right = list(range(i1, i2)), list(range(j1, j2))
            while left or right:
                if left and right and _step_key(sa[left[0]]) == _step_key(sb[right[0]]):
                    i, j = left.pop(0), right.pop(0)
                    pairs.append(StepPair(sa[i], sb[j], _compare(sa[i], sb[j])))
                elif (
                    left
                    and right
                    and sa[left[0]]["kind"] == sb[right[0]]["kind"]
                    and len(left) == len(right)
                ):
                    i, j = left.pop(0), right.pop(0)
                    renamed = f"{_step_key(sa[i])[1]} → {_step_key(sb[j])[1]}"
                    pairs.append(StepPair(sa[i], sb[j], [renamed, *_compare(sa[i], sb[j])]))
                elif left and (not right or len(left) >= len(right)):
                    pairs.append(StepPair(sa[left.pop(0)], None))
                else:
                    pairs.append(StepPair(None, sb[right.pop(0)]))
    return RunDiff(run_a, run_b, pairs)
