"""The help overlay (`?`): every key of the screen underneath, and the filter language."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
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
    ("origin:replay  origin:fork  origin:any", "replays and forks, left out otherwise"),
    ("-term", "negate a term"),
    ('words  "two words"', "names, ids, payloads, error messages"),
]


def _key(app: App[object], b: Binding) -> str:
    """The keys of `b` as a person types them (``+``, not ``plus``)."""
    show = app.get_key_display
    return ", ".join(show(Binding(k.strip(), "")) for k in b.key.split(","))


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
                keys.add_row(_key(self.app, b), b.tooltip or b.description)
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
            if getattr(self.under, "FILTERS_RUNS", False):  # only where the filter bar is
                yield Static(Text(""))
                yield Static(filters)
            yield Static(Text("\nesc or ? closes this", style="dim"))
