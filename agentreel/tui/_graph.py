"""The agent graph of the run on screen: who called (or handed over to) whom, and what it cost.

`g` on the run screen. One line per edge, ``caller ─call×2→ callee``, with the LLM and
tool calls, errors, tokens, cost and time of those invocations; then each agent's
totals. Computed from the spans the run screen already holds.
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from agentreel._fmt import fmt_agent_edge, fmt_agent_node
from agentreel.store import agent_graph
from agentreel.tui._format import ERROR_STYLE

__all__ = ["GraphScreen", "graph_text"]


def graph_text(title: str, tree: pl.DataFrame) -> Text:
    """The graph of a run's spans as text: edges, then agents."""
    graph = agent_graph(tree)
    out = Text.assemble((f"agents of {title}", "bold"), ("   escape closes\n\n", "dim"))
    if not graph.nodes:
        out.append("no agent spans in this run", style="dim")
        return out
    width = max(len(fmt_agent_edge(e)[0]) for e in graph.edges)
    for e in graph.edges:
        arrow, what = fmt_agent_edge(e)
        out.append(arrow.ljust(width) + "  ", style="bold" if e.how == "handoff" else "")
        out.append(what + "\n", style=ERROR_STYLE if e.errors else "dim")
    out.append("\nagents\n", style="bold")
    for n in graph.nodes:
        out.append(f"  {n.name}", style="bold")
        out.append(f"  {fmt_agent_node(n)}\n", style=ERROR_STYLE if n.errors else "")
    out.rstrip()
    return out


class GraphScreen(ModalScreen[None]):
    """The agent graph over the run screen; escape (or g) closes it."""

    DEFAULT_CSS = """
    GraphScreen { align: center middle; }
    GraphScreen > VerticalScroll {
        width: 90%; height: auto; max-height: 80%; padding: 1 2;
        border: round $primary; background: $surface;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("g", "dismiss", "Close", show=False),
    ]

    def __init__(self, title: str, tree: pl.DataFrame) -> None:
        super().__init__()
        self.body = graph_text(title, tree)

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self.body, id="graph")
