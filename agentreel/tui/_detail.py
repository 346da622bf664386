"""The detail pane: everything about one span, rendered for reading."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from agentreel._fmt import NOT_COUNTED
from agentreel.store import Span
from agentreel.tui._format import (
    ERROR_STYLE,
    KIND_ICONS,
    KIND_STYLE,
    fmt_cost,
    fmt_duration,
    fmt_tokens,
    payload,
    status_text,
)

__all__ = ["SpanDetail", "render_span"]


def _offset(t: datetime | None, start: datetime | None) -> str:
    if t is None or start is None:
        return "—"
    return "+" + fmt_duration((t - start).total_seconds() * 1000)


def _section(title: str) -> Text:
    return Text(f"\n{title}", style="bold underline")


def render_span(
    span: Span, run_start: datetime | None, *, hint: str = "", open_as: str = "running"
) -> RenderableType:
    """A span's header, model and usage, error with traceback, input, output and attributes.

    A span that has not ended is shown as `open_as`: ``running``, or ``interrupted`` when
    its run's process is gone.

    `hint` follows the line saying how much of a long payload is not shown.
    """
    parts: list[RenderableType] = []
    kind = span["kind"]
    head = Text.assemble(
        (f"{KIND_ICONS.get(kind, '·')} {span['name']}", KIND_STYLE.get(kind, "") + " bold")
    )
    parts.append(head)
    status = (
        "open" if span["end_time"] is None else ("error" if span["status"] == "error" else "ok")
    )
    parts.append(
        Text.assemble(
            status_text(open_as if status == "open" else status),
            f"  ·  {kind}  ·  {fmt_duration(span['duration_ms'])}  ·  starts {_offset(span['start_time'], run_start)}",
            ("  ·  " + span["span_id"], "dim"),
        )
    )
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="dim")
    facts.add_column()
    for label, value in (
        ("agent", span.get("agent_name")),
        ("tool", span.get("tool_name")),
        ("tool call", span.get("tool_call_id")),
        ("model", span.get("response_model") or span.get("request_model")),
        ("provider", span.get("provider")),
        ("finish", span.get("finish_reason")),
        ("session", span.get("session_id")),
    ):
        if value:
            facts.add_row(label, str(value))
    if span.get("input_tokens") is not None or span.get("output_tokens") is not None:
        facts.add_row(
            "tokens",
            f"{fmt_tokens(span.get('input_tokens'))} in / {fmt_tokens(span.get('output_tokens'))} out"
            + (f"  ({NOT_COUNTED})" if span.get("usage_counted") is False else ""),
        )
        parts_of = [
            f"{fmt_tokens(n)} {label}"
            for n, label in (
                (span.get("cache_read_tokens"), "read from cache"),
                (span.get("cache_creation_tokens"), "written to cache"),
                (span.get("reasoning_tokens"), "reasoning"),
            )
            if n
        ]
        if parts_of:
            facts.add_row("of which", ", ".join(parts_of))
    if span.get("cost_usd") is not None:
        facts.add_row("cost", fmt_cost(span["cost_usd"]))
    if facts.row_count:
        parts.append(facts)
    if status == "error":
        parts.append(_section("Error"))
        parts.append(
            Text(
                f"{span.get('error_type') or 'error'}: {span.get('error_message') or ''}",
                style=ERROR_STYLE,
            )
        )
        for event in _events(span):
            stack = (event.get("attributes") or {}).get("exception.stacktrace")
            if stack:
                parts.append(Text(str(stack).rstrip(), style="red"))
    parts.append(_section("Input"))
    parts.append(payload(span.get("input"), hint=hint))
    parts.append(_section("Output"))
    parts.append(payload(span.get("output"), hint=hint))
    attrs = _json(span.get("attributes"))
    if isinstance(attrs, dict) and attrs:
        parts.append(_section("Attributes"))
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="cyan", no_wrap=True)
        grid.add_column(overflow="fold")
        for k in sorted(attrs):
            v = attrs[k]
            grid.add_row(k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
        parts.append(grid)
    return Group(*parts)


def _json(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _events(span: Span) -> list[dict[str, Any]]:
    ev = _json(span.get("events"))
    return [e for e in ev if isinstance(e, dict)] if isinstance(ev, list) else []


class SpanDetail(VerticalScroll):
    """A scrollable pane showing one span."""

    DEFAULT_CSS = """
    SpanDetail { padding: 0 1; }
    """

    def __init__(self, *, hint: str = "", id: str | None = None) -> None:
        super().__init__(id=id)
        #: where the whole of a payload shown in part can be read, if anywhere
        self.hint = hint

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(Text("select a span", style="dim"), id="detail-body")

    def show(self, span: Span, run_start: datetime | None, open_as: str = "running") -> None:
        self.query_one("#detail-body", Static).update(
            render_span(span, run_start, hint=self.hint, open_as=open_as)
        )
        self.scroll_home(animate=False)
