"""The help overlay (`?`): every key of the screen underneath, and the filter language."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

__all__ = ["HelpScreen"]

FILTER_HELP = [
    ("status:error", "ok, error, running, interrupted"),
    ("name:nightly*", "run name (globs with * and ?)"),
    ("tag:dataset=qa-v2", "a run tag"),
    ("model:gpt-4.1  tool:search  agent:x", "runs with such a span"),
    ("duration>2s  cost>0.01  tokens>1k", "also spans, errors, llm, tools; > >= < <= ="),
    ("since:1h  until:2026-11-01", "start time: an age or an ISO date"),
    ("-term", "negate a term"),
    ('words  "two words"', "names, ids, payloads, error messages"),
]


def _key(b: Binding) -> str:
    names = {
        "question_mark": "?",
        "slash": "/",
        "escape": "esc",
        "space": "space",
        "enter": "enter",
        "left_square_bracket": "[",
        "right_square_bracket": "]",
    }
    return ", ".join(names.get(k, k) for k in b.key.split(","))


class HelpScreen(ModalScreen[None]):
    """Keys of `screen` and of the app; closes on any of esc, ?, q."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]

    def __init__(self, screen: Screen[object]) -> None:
        super().__init__()
        self.under = screen

    def compose(self) -> ComposeResult:
        keys = Table(
            title="Keys", title_justify="left", show_header=False, box=None, padding=(0, 2)
        )
        keys.add_column(style="bold cyan", no_wrap=True)
        keys.add_column()
        seen: set[str] = set()
        bindings: list[BindingType] = [*self.under.BINDINGS, *self.app.BINDINGS]
        for b in bindings:
            if isinstance(b, Binding) and b.description and b.key not in seen:
                seen.add(b.key)
                keys.add_row(_key(b), b.tooltip or b.description)
        keys.add_row("ctrl+p", "command palette: every action by name")
        filters = Table(
            title="Filter language",
            title_justify="left",
            show_header=False,
            box=None,
            padding=(0, 2),
        )
        filters.add_column(style="bold green", no_wrap=True)
        filters.add_column()
        for term, meaning in FILTER_HELP:
            filters.add_row(term, meaning)
        with VerticalScroll(id="help-box"):
            yield Static(keys)
            yield Static(Text(""))
            yield Static(filters)
            yield Static(Text("\nesc or ? closes this", style="dim"))
