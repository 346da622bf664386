"""`CheckHistory`: one check result over past check runs, newest first, with a sparkline."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from agentreel._fmt import fmt_stat
from agentreel.tui._check_cells import STATUS_STYLE
from agentreel.tui._format import fmt_time

__all__ = ["CheckHistory"]


class CheckHistory(Vertical):
    """The value and status of one check, scope and statistic in each check run.

    `show(past, here)` takes the rows newest first and the check run to mark with ``▶``.
    """

    DEFAULT_CSS = """
    CheckHistory { padding: 0 1; }
    CheckHistory > #history-spark { height: 1; }
    CheckHistory > #history-list { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="history-title")
        yield Sparkline([], id="history-spark", summary_function=max)
        yield Static("", id="history-list")

    def show(self, past: list[dict[str, Any]], here: str) -> None:
        n = len(past)
        self.query_one("#history-title", Static).update(
            Text.assemble(("history", "bold"), f" · {n} check run{'s' if n != 1 else ''}")
        )
        values = [h["value"] for h in reversed(past) if h["value"] is not None]
        spark = self.query_one("#history-spark", Sparkline)
        spark.data = values or [0.0]
        spark.display = len(values) > 1
        lines = Text()
        for h in past:
            lines.append("▶ " if h["check_run_id"] == here else "  ", style="bold")
            lines.append(f"{fmt_time(h['checked_at'], short=True)[:-3]}  ", style="dim")
            lines.append(f"{h['status']:<6}", style=STATUS_STYLE.get(h["status"], ""))
            lines.append(f"  {fmt_stat(h['value'], h['unit'])}\n")
        lines.rstrip()
        self.query_one("#history-list", Static).update(lines)
