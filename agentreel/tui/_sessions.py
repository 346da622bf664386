"""The sessions screen: runs grouped into conversations, one read as a transcript.

The table lists sessions (runs that carry one ``gen_ai.conversation.id`` or
``session.id``), newest activity first. Under it, the highlighted session's turns in
order, each with what the user said and what the agent answered (or how it failed);
enter on a turn opens its run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import polars as pl
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static

from agentreel._fmt import fmt_cost, fmt_duration, fmt_tokens, said
from agentreel.store import Run, Session, records
from agentreel.tui._footer import KeyFooter
from agentreel.tui._format import column_widths, fmt_time, status_text
from agentreel.tui._messages import StoreFailed, post_read
from agentreel.tui._reader import StoreReader

__all__ = ["SessionsScreen"]

_SESSION_COLUMNS = ("session", "turns", "started", "took", "tokens", "cost", "err", "ended")
_TURN_COLUMNS = ("turn", "run", "status", "user", "agent")
#: Characters of a turn's input or output shown in the transcript table.
SAID_WIDTH = 200


@dataclass
class SessionsLoaded(Message):
    sessions: pl.DataFrame


@dataclass
class TurnsLoaded(Message):
    session_id: str
    turns: pl.DataFrame


def _session_cells(r: Session) -> list[Text]:
    tokens = (
        None
        if r["input_tokens"] is None and r["output_tokens"] is None
        else (r["input_tokens"] or 0) + (r["output_tokens"] or 0)
    )
    return [
        Text(r["session_id"]),
        Text(str(r["turns"]), justify="right"),
        Text(fmt_time(r["start_time"], short=True)),
        Text(fmt_duration(r["duration_ms"]), justify="right"),
        Text(fmt_tokens(tokens), justify="right"),
        Text(fmt_cost(r["cost_usd"]), justify="right"),
        Text(str(r["error_count"]), style="red" if r["error_count"] else "dim", justify="right"),
        status_text(r["ended"]),
    ]


def _turn_cells(i: int, r: Run) -> list[Text]:
    if r["status"] == "error":
        answer = Text(f"{r['error_type'] or 'error'}: {r['error_message'] or ''}", style="red")
    else:
        answer = Text(said(r["output"], SAID_WIDTH))
    return [
        Text(str(i), justify="right"),
        Text(r["run_id"][:8], style="dim"),
        status_text(r["status"]),
        Text(said(r["input"], SAID_WIDTH)),
        answer,
    ]


class SessionsScreen(Screen[None]):
    """Sessions, newest first; the highlighted one's turns; enter opens a turn's run."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open", "Turns; open the run", show=False),
        Binding("r", "refresh", "Refresh"),
        Binding("question_mark", "app.help", "Help"),
        Binding("q", "app.quit", "Quit", show=False),
    ]

    def __init__(self, reader: StoreReader, *, refresh_every: float = 5.0) -> None:
        super().__init__()
        self.reader = reader
        self.refresh_every = refresh_every
        self.sessions: list[Session] = []
        self._loaded_once = False
        self.turns: list[Run] = []
        self.shown: str | None = None  # the session whose turns are shown

    def compose(self) -> ComposeResult:
        yield Static("reading sessions…", id="sessions-header")
        yield DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
        yield Static("", id="turns-header")
        yield DataTable(id="turns", cursor_type="row")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#sessions", DataTable).focus()
        self.load()
        self.set_interval(self.refresh_every, self.load)

    # -- data ------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="sessions")
    def load(self) -> None:
        post_read(self, self.reader.sessions, SessionsLoaded)

    @work(thread=True, exclusive=True, group="turns")
    def load_turns(self, session_id: str) -> None:
        post_read(
            self,
            lambda: self.reader.session_turns(session_id),
            lambda frame: TurnsLoaded(session_id, frame),
        )

    @on(StoreFailed)
    def _failed(self, event: StoreFailed) -> None:
        self.query_one("#sessions-header", Static).update(Text(event.error, style="bold red"))

    @on(SessionsLoaded)
    def _loaded(self, event: SessionsLoaded) -> None:
        rows = list(records(event.sessions, Session))
        if self._loaded_once and rows == self.sessions:
            return  # nothing new: keep the cursor where it is
        self._loaded_once = True
        self.sessions = rows
        n = len(rows)
        header = Text.assemble(("sessions ", "bold"), (f"{n} session{'s' * (n != 1)}", "dim"))
        if not rows:
            header.append(
                "\nno run belongs to a session yet: agentreel.run(..., session=ID), or a "
                "gen_ai.conversation.id / session.id attribute, puts it in one",
                style="dim",
            )
        self.query_one("#sessions-header", Static).update(header)
        table = self.query_one("#sessions", DataTable)
        keep = self.shown
        table.clear(columns=True)
        cells = [_session_cells(r) for r in rows]
        for name, width in zip(
            _SESSION_COLUMNS, column_widths(list(_SESSION_COLUMNS), cells), strict=True
        ):
            table.add_column(name, key=name, width=width)
        for r, c in zip(rows, cells, strict=True):
            table.add_row(*c, key=r["session_id"])
        ids = [r["session_id"] for r in rows]
        if ids:
            table.move_cursor(row=ids.index(keep) if keep in ids else 0)
            self._show(table.cursor_row)

    def _show(self, row: int) -> None:
        if 0 <= row < len(self.sessions):
            self.load_turns(self.sessions[row]["session_id"])

    @on(TurnsLoaded)
    def _turns_loaded(self, event: TurnsLoaded) -> None:
        self.shown = event.session_id
        self.turns = list(records(event.turns, Run))
        self.query_one("#turns-header", Static).update(
            Text.assemble(
                ("transcript ", "bold"),
                event.session_id,
                (f" · {len(self.turns)} turns · enter opens a turn's run", "dim"),
            )
        )
        table = self.query_one("#turns", DataTable)
        keep = table.cursor_row
        table.clear(columns=True)
        cells = [_turn_cells(i, r) for i, r in enumerate(self.turns, 1)]
        for name, width in zip(
            _TURN_COLUMNS, column_widths(list(_TURN_COLUMNS), cells), strict=True
        ):
            table.add_column(name, key=name, width=width)
        for r, c in zip(self.turns, cells, strict=True):
            table.add_row(*c, key=r["run_id"])
        if self.turns:
            table.move_cursor(row=min(keep, len(self.turns) - 1))

    # -- events and actions ----------------------------------------------------

    @on(DataTable.RowHighlighted, "#sessions")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show(event.cursor_row)

    @on(DataTable.RowSelected, "#sessions")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.query_one("#turns", DataTable).focus()

    @on(DataTable.RowSelected, "#turns")
    def _turn_selected(self, event: DataTable.RowSelected) -> None:
        self.open_turn(event.cursor_row)

    def action_open(self) -> None:
        turns = self.query_one("#turns", DataTable)
        if turns.has_focus:
            self.open_turn(turns.cursor_row)
        else:
            turns.focus()

    def open_turn(self, row: int) -> None:
        """Open the run of the turn in `row`."""
        if not (0 <= row < len(self.turns)):
            return
        from agentreel.tui._run import RunScreen

        self.app.push_screen(RunScreen(self.reader, str(self.turns[row]["run_id"])))

    def action_back(self) -> None:
        turns = self.query_one("#turns", DataTable)
        if turns.has_focus:
            self.query_one("#sessions", DataTable).focus()
            return
        self.app.pop_screen()

    def action_refresh(self) -> None:
        self._loaded_once = False
        self.load()
