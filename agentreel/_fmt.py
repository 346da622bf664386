"""Human formats for durations, tokens, cost and times, shared by the CLI and the TUI."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "KIND_ICONS",
    "fmt_agent_edge",
    "fmt_agent_node",
    "fmt_cost",
    "fmt_duration",
    "fmt_limits",
    "fmt_stat",
    "fmt_tags",
    "fmt_time",
    "fmt_tokens",
    "said",
    "tree_prefixes",
]

KIND_ICONS = {
    "agent": "◆",
    "llm": "✦",
    "tool": "⚙",
    "retriever": "⌕",
    "embedding": "≡",
    "chain": "▸",
    "other": "·",
}


def fmt_duration(ms: float | None) -> str:
    """52ms, 1.24s, 3m05s."""
    if ms is None:
        return "—"
    if ms < 1:
        return f"{ms * 1000:.0f}µs"
    if ms < 1000:
        return f"{ms:.0f}ms"
    s = ms / 1000
    if s < 60:
        return f"{s:.2f}s"
    m, s = divmod(int(s), 60)
    return f"{m}m{s:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"


def fmt_tokens(n: int | None) -> str:
    if n is None:
        return "—"
    if n < 10_000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.2f}M"


def fmt_span_tokens(span: Mapping[str, Any]) -> str:
    """A span's ``in/out`` tokens; in parentheses when they are not added to its run.

    A span whose ``usage_counted`` is false describes a model call that a span inside
    it reports again (docs/data-model.md), so its numbers are shown but not counted.

    >>> fmt_span_tokens({"input_tokens": 40, "output_tokens": 7, "usage_counted": False})
    '(40/7)'
    """
    i, o = span.get("input_tokens"), span.get("output_tokens")
    if i is None and o is None:
        return ""
    tok = f"{fmt_tokens(i)}/{fmt_tokens(o)}"
    return f"({tok})" if span.get("usage_counted") is False else tok


#: What the detail views say of a span whose usage is not counted.
NOT_COUNTED = "not added to the run: a span inside reports the same call"


def fmt_cost(usd: float | None) -> str:
    """A cost in US dollars, with two significant digits however small it is.

    >>> fmt_cost(0.0123456), fmt_cost(0.000056), fmt_cost(1234.5), fmt_cost(None)
    ('$0.0123', '$0.000056', '$1,234.50', '—')
    """
    if usd is None:
        return "—"
    if usd == 0:
        return "$0"
    if usd >= 1:
        return f"${usd:,.2f}"
    # four decimals, or as many as show two significant digits of a sub-cent cost
    decimals = min(max(4, 1 - math.floor(math.log10(abs(usd)))), 10)
    return f"${usd:.{decimals}f}"


def fmt_stat(v: float | None, unit: str) -> str:
    """A check's statistic in its unit: ``12.5%``, ``812 ms``, ``$0.0312``, ``1,204``.

    >>> fmt_stat(0.125, "share"), fmt_stat(812.4, "ms"), fmt_stat(None, "ms")
    ('12.5%', '812 ms', '-')
    """
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if unit == "share":
        return f"{v:.1%}" if v >= 0.001 or v == 0 else f"{v:.3%}"
    if unit == "ms":
        return (
            f"{v / 1000:.2f} s"
            if abs(v) >= 10_000
            else f"{v:.0f} ms"
            if abs(v) >= 10
            else f"{v:.2f} ms"
        )
    if unit == "usd":
        return f"${v:.4f}" if abs(v) < 1 else f"${v:,.2f}"
    if unit == "count":
        return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def fmt_limits(op: str | None, warn: float | None, error: float | None, unit: str) -> str:
    """A check's warn and error limits: ``≤ 6.0% / 9.0%`` (warn / error), ``≤ 0 (error)``.

    >>> fmt_limits("<=", None, 0.0, "count")
    '≤ 0 (error)'
    """
    sign = "≤" if op == "<=" else "≥"
    if warn is None and error is None:
        return "-"
    if warn is None or error is None:
        which = "error" if warn is None else "warn"
        return f"{sign} {fmt_stat(error if warn is None else warn, unit)} ({which})"
    return f"{sign} {fmt_stat(warn, unit)} / {fmt_stat(error, unit)}"


def fmt_time(t: datetime | None, *, short: bool = False) -> str:
    """A stored (naive UTC) time in the local zone."""
    if t is None:
        return "—"
    return (
        t.replace(tzinfo=UTC)
        .astimezone()
        .strftime("%m-%d %H:%M:%S" if short else "%Y-%m-%d %H:%M:%S")
    )


def fmt_tags(raw: str | None) -> str:
    """A run's tags (JSON text) as ``k=v k2=v2``."""
    if not raw:
        return ""
    try:
        tags = json.loads(raw)
    except ValueError:
        return raw
    if not isinstance(tags, dict):
        return str(tags)
    return " ".join(f"{k}={json.dumps(v) if isinstance(v, bool) else v}" for k, v in tags.items())


def tree_prefixes(depths: list[int], *, wide: bool = True) -> list[str]:
    """Box-drawing prefixes for tree rows given in depth-first order, one pass each way.

    >>> tree_prefixes([0, 1, 2, 1], wide=False)
    ['', '├ ', '│ └ ', '└ ']
    """
    branch, last_branch, pipe, blank = (
        ("├─ ", "└─ ", "│  ", "   ") if wide else ("├ ", "└ ", "│ ", "  ")
    )
    n = len(depths)
    last = [True] * n
    later: dict[int, bool] = {}  # depth -> a later sibling exists at this depth
    for i in range(n - 1, -1, -1):
        d = depths[i]
        last[i] = not later.get(d, False)
        later[d] = True
        for deeper in [k for k in later if k > d]:
            del later[deeper]
    out: list[str] = []
    open_levels: list[bool] = []
    for i, d in enumerate(depths):
        del open_levels[d:]
        if d == 0:
            out.append("")
        else:
            out.append(
                "".join(pipe if o else blank for o in open_levels[1:d])
                + (last_branch if last[i] else branch)
            )
        open_levels.extend([False] * (d + 1 - len(open_levels)))
        open_levels[d] = not last[i]
    return out


def _agent_work(w: Any) -> list[str]:
    tokens = w.input_tokens + w.output_tokens
    return [
        f"{w.llm_calls} llm",
        f"{w.tool_calls} tool",
        f"{w.errors} error{'s' * (w.errors != 1)}",
        fmt_tokens(tokens if tokens else None) + " tokens",
        fmt_cost(w.cost_usd if w.cost_usd else None),
    ]


def fmt_agent_edge(edge: Any) -> tuple[str, str]:
    """An agent graph's edge (`agentreel.store.AgentEdge`) as two parts: who called whom,
    and what those calls did (``researcher ─call×2→ summarizer``, ``2 llm · 1 error · $0.01``)."""
    times = f"×{edge.invocations}" if edge.invocations != 1 else ""
    arrow = f"{edge.caller} ─{edge.how}{times}→ {edge.callee}"
    return arrow, " · ".join([*_agent_work(edge), fmt_duration(edge.duration_ms)])


def fmt_agent_node(node: Any) -> str:
    """What an agent (`agentreel.store.AgentNode`) did in all its invocations:
    ``2 invocations · 3 llm · 11 tool · 0 errors · 1179 tokens · $0.00075``."""
    n = node.invocations
    return " · ".join([f"{n} invocation{'s' * (n != 1)}", *_agent_work(node)])


def said(payload: str | None, limit: int) -> str:
    """A run's input or output payload as one line of at most `limit` characters: a JSON
    string unquoted, a one-field object as its value (``{"question": "..."}``), anything
    else as compact JSON; cut with an ellipsis."""
    if payload is None:
        return ""
    try:
        value: Any = json.loads(payload)
    except ValueError:
        value = payload
    if isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
