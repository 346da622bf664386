"""Human formats for durations, tokens, cost and times, shared by the CLI and the TUI."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["KIND_ICONS", "fmt_cost", "fmt_duration", "fmt_time", "fmt_tokens"]

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


def fmt_cost(usd: float | None) -> str:
    if usd is None:
        return "—"
    if usd == 0:
        return "$0"
    return f"${usd:.4f}" if usd < 1 else f"${usd:,.2f}"


def fmt_time(t: datetime | None, *, short: bool = False) -> str:
    """A stored (naive UTC) time in the local zone."""
    if t is None:
        return "—"
    return (
        t.replace(tzinfo=UTC)
        .astimezone()
        .strftime("%m-%d %H:%M:%S" if short else "%Y-%m-%d %H:%M:%S")
    )
