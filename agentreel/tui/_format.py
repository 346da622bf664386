"""Small renderers shared by the screens: kind icons, statuses, durations, bars, payloads."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len, set_cell_size
from rich.console import Group, RenderableType
from rich.text import Text

from agentreel._fmt import KIND_ICONS, fmt_cost, fmt_duration, fmt_time, fmt_tokens

if TYPE_CHECKING:
    from agentreel.store import Evaluation

__all__ = [
    "ERROR_GLYPH",
    "ERROR_STYLE",
    "KIND_ICONS",
    "KIND_STYLE",
    "bar",
    "clip",
    "fmt_cost",
    "fmt_duration",
    "fmt_time",
    "fmt_tokens",
    "payload",
    "status_text",
]

#: The colour of errors, and nothing else: every kind's colour stays clear of red (a
#: terminal's magenta is close to red in some themes, so LLM calls are violet).
ERROR_STYLE = "bold #ff5f5f"
#: Marks an error where colour alone may not be seen.
ERROR_GLYPH = "✗"

KIND_STYLE = {
    "agent": "bold cyan",
    "llm": "#af87ff",
    "tool": "yellow",
    "retriever": "green",
    "embedding": "blue",
    "chain": "bold",
    "other": "dim",
}
_STATUS_STYLE = {
    "ok": "green",
    "unset": "green",
    "error": ERROR_STYLE,
    "running": "cyan",
    "interrupted": "yellow",
}
_EIGHTHS = " ▏▎▍▌▋▊▉█"


def clip(text: str, width: int | None) -> str:
    """`text` cut to `width` terminal cells, ending in an ellipsis when cut.

    Example::

        clip("dataset=qa-v2 model=gpt-4.1", 12)  # 'dataset=qa-…'
    """
    if width is None or cell_len(text) <= width:
        return text
    return set_cell_size(text, max(width - 1, 0)) + "…" if width > 0 else ""


def column_widths(headers: list[str], rows: list[list[Text]]) -> list[int]:
    """The width of each column: its widest cell or header.

    Tables are given explicit widths rather than left to measure their cells, which
    they do when the app is idle: a row drawn before that stays cut to the header's
    width in the table's cell cache.
    """
    widths = [Text(h).cell_len for h in headers]
    for cells in rows:
        for i, cell in enumerate(cells):
            widths[i] = max(widths[i], cell.cell_len)
    return widths


def evaluations_line(evaluations: list[Evaluation]) -> Text:
    """A run's evaluations on one line: ``human bad: wrong city · helpfulness 0.8``."""
    out = Text(no_wrap=True, overflow="ellipsis")
    for i, e in enumerate(evaluations):
        if i:
            out.append("  ·  ", style="dim")
        out.append(e["name"], style="bold")
        if e["score"] is not None and e["label"] is None:
            out.append(f" {e['score']:g}")
        if e["label"] is not None:
            good = e["label"].lower() in ("good", "pass", "correct")
            bad = e["label"].lower() in ("bad", "fail", "wrong", "incorrect")
            out.append(f" {e['label']}", style="green" if good else ERROR_STYLE if bad else "")
        if e["explanation"]:
            out.append(f": {' '.join(e['explanation'].split())}", style="dim")
        if e["span_id"]:
            out.append(f" (span {e['span_id'][:8]})", style="dim")
    return out


def status_text(status: str) -> Text:
    """A run's or span's status, coloured; an error also carries `ERROR_GLYPH`."""
    label = f"{ERROR_GLYPH} {status}" if status == "error" else status
    return Text(label, style=_STATUS_STYLE.get(status, ""))


def bar(start: float, end: float | None, width: int, style: str) -> Text:
    """A waterfall bar: `start` and `end` are fractions of the run (0..1); open spans run to the end."""
    width = max(width, 1)
    s = min(max(start, 0.0), 1.0) * width
    e = min(max(end if end is not None else 1.0, start), 1.0) * width
    lead = int(s)
    cells = max(e - lead, 1 / 8)
    full = int(cells)
    part = _EIGHTHS[int((cells - full) * 8)] if full < width - lead else ""
    body = "█" * full + (part if part.strip() else "")
    if not body:
        body = "▏"
    t = Text(" " * lead, no_wrap=True)
    t.append(body[: width - lead], style=style + ("" if end is not None else " blink"))
    t.append(" " * max(width - lead - len(body), 0))
    return t


def _is_messages(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(m, dict) and "role" in m for m in v)


def _find_messages(v: Any) -> list[dict[str, Any]] | None:
    """An LLM conversation inside a payload: a list of {role, content}, or under "messages"."""
    if _is_messages(v):
        return list(v)
    if isinstance(v, dict):
        for key in ("messages", "input", "choices"):
            inner = v.get(key)
            if key == "choices" and isinstance(inner, list):
                msgs: list[dict[str, Any]] = [
                    c["message"]
                    for c in inner
                    if isinstance(c, dict) and isinstance(c.get("message"), dict)
                ]
                if msgs and all("role" in m for m in msgs):
                    return msgs
            elif isinstance(inner, list) and _is_messages(inner):
                return list(inner)
    return None


def _content(m: dict[str, Any]) -> str:
    c = m.get("content")
    if c is None and isinstance(m.get("parts"), list):  # GenAI semconv message parts
        c = [
            p.get("content") or p.get("arguments") or p.get("result")
            for p in m["parts"]
            if isinstance(p, dict)
        ]
    if isinstance(c, list):
        return "\n".join(
            str(x.get("text", x) if isinstance(x, dict) else x) for x in c if x is not None
        )
    return "" if c is None else str(c)


#: A transcript shows at most this many messages (the latest); a long conversation's
#: earlier ones are one line saying how many, so a cursor move never renders thousands.
TRANSCRIPT_TAIL = 40
#: Pretty-printed JSON and plain text show at most this many lines.
PAYLOAD_LINES = 1500


def _omitted(n: int, what: str, hint: str) -> Text:
    t = Text(f"… {n:,} {what} not shown", style="dim italic")
    if hint:
        t.append(f" ({hint})", style="dim")
    return t


def _transcript(messages: list[dict[str, Any]], hint: str = "") -> RenderableType:
    parts: list[RenderableType] = []
    styles = {
        "system": "dim",
        "user": "bold green",
        "assistant": f"bold {KIND_STYLE['llm']}",
        "tool": "yellow",
    }
    if len(messages) > TRANSCRIPT_TAIL:
        parts.append(_omitted(len(messages) - TRANSCRIPT_TAIL, "earlier messages", hint))
        messages = messages[-TRANSCRIPT_TAIL:]
    for m in messages:
        role = str(m.get("role", "?"))
        head = Text(f"{role}", style=styles.get(role, "bold"))
        if m.get("tool_call_id"):
            head.append(f"  ← {m['tool_call_id']}", style="dim")
        parts.append(head)
        body = _content(m)
        if body:
            parts.append(Text("  " + body.replace("\n", "\n  ")))
        for call in m.get("tool_calls") or []:
            fn = call.get("function", call) if isinstance(call, dict) else {}
            args = fn.get("arguments", "")
            if not isinstance(args, str):
                args = json.dumps(args, ensure_ascii=False)
            parts.append(Text(f"  → {fn.get('name', '?')}({args})", style="cyan"))
    return Group(*parts)


def _head(text: str, hint: str) -> tuple[str, Text | None]:
    """`text` cut to `PAYLOAD_LINES` lines, and the line saying what was left out."""
    cut = -1
    for _ in range(PAYLOAD_LINES):
        cut = text.find("\n", cut + 1)
        if cut < 0:
            return text, None
    rest = text.count("\n", cut + 1) + 1
    return text[:cut], _omitted(rest, "more lines", hint)


def payload(text: str | None, *, width: int = 100, hint: str = "") -> RenderableType:
    """A payload for reading: LLM messages as a transcript, JSON pretty-printed, text wrapped.

    Long ones are shown in part (the latest `TRANSCRIPT_TAIL` messages, the first
    `PAYLOAD_LINES` lines), with a line saying how much was left out and `hint`.
    """
    if text is None:
        return Text("—", style="dim")
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    else:
        msgs = _find_messages(value)
        if msgs is not None:
            return _transcript(msgs, hint)
    if isinstance(value, str):
        shown, more = _head(value, hint)
        return Group(Text(shown), more) if more is not None else Text(shown)
    pretty, more = _head(json.dumps(value, indent=2, ensure_ascii=False), hint)
    from rich.syntax import Syntax  # here: it loads Pygments, which the runs list never needs

    syntax = Syntax(pretty, "json", word_wrap=True, background_color="default", theme="ansi_dark")
    return Group(syntax, more) if more is not None else syntax
