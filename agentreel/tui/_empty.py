"""The screen shown when there is nothing to show yet, or the store cannot be read."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Middle
from textual.screen import Screen
from textual.widgets import Static

from agentreel.tui._footer import KeyFooter

__all__ = ["EmptyScreen"]


def no_store_message(path: str) -> Text:
    return Text.assemble(
        ("No runs recorded yet\n\n", "bold"),
        f"There is no agentreel store at {path}.\n\n",
        "Record a first run:\n\n",
        ("  agentreel demo", "bold cyan"),
        "                 records runs of a bundled demo agent\n",
        ("  agentreel.init()", "bold cyan"),
        "               in your agent's code, with @agentreel.agent / llm / tool\n",
        ("  agentreel record -- python app.py", "bold cyan"),
        "  for a program on pydantic-ai, LangGraph, OpenAI Agents...\n\n",
        ("This screen notices the first run by itself.", "dim"),
    )


class EmptyScreen(Screen[None]):
    """A message in the middle of the screen; watches for the store to appear."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "app.help", "Help"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, message: Text, *, watch: bool = True) -> None:
        super().__init__()
        self.message = message
        self.watch_store = watch

    def compose(self) -> ComposeResult:
        with Middle(), Center():
            yield Static(self.message, id="empty-message")
        yield KeyFooter()

    def on_mount(self) -> None:
        if self.watch_store:
            self.set_interval(1.0, self._check)

    def _check(self) -> None:
        app = self.app
        if getattr(app, "reader", None) is not None and app.reader.exists():  # type: ignore[attr-defined]
            app.show_runs()  # type: ignore[attr-defined]
