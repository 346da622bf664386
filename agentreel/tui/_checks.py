"""The checks screen: the latest check run's results, a result's failing rows and history.

`agentreel check` saves what it found in the store; this screen reads it back. The
results table puts errors and warnings first; under it, the failing runs or spans
behind the selected result (enter opens one), and the same result over past check
runs. ``[`` and ``]`` step to older and newer check runs.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Static

from agentreel._fmt import fmt_stat
from agentreel.tui._check_cells import (
    COLUMNS,
    check_status_text,
    columns_for,
    failure_cell,
    no_checks_message,
    result_cells,
)
from agentreel.tui._check_history import CheckHistory
from agentreel.tui._check_runs import CheckRun, check_runs, failing_rows, history, result_key
from agentreel.tui._footer import KeyFooter
from agentreel.tui._format import clip, column_widths, fmt_time
from agentreel.tui._messages import CheckResultsLoaded, StoreFailed, post_read
from agentreel.tui._reader import StoreReader

__all__ = ["ChecksScreen"]

#: The cells the results table's scroll bar takes.
_SCROLLBAR = 2


class ChecksScreen(Screen[None]):
    """The saved check runs, newest first: results, failing rows, history."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open", "Failing rows; open the run", show=False),
        Binding("left_square_bracket", "older", "Older check run", key_display="["),
        Binding("right_square_bracket", "newer", "Newer check run", key_display="]"),
        Binding("r", "refresh", "Refresh"),
        Binding("question_mark", "app.help", "Help"),
        Binding("q", "app.quit", "Quit", show=False),
    ]

    def __init__(self, reader: StoreReader, *, refresh_every: float = 5.0) -> None:
        super().__init__()
        self.reader = reader
        self.refresh_every = refresh_every
        self.runs: list[CheckRun] = []
        self.index = 0  # the check run shown: 0 is the newest
        self.failures: list[dict[str, Any]] = []  # the failing rows shown, in table order
        self._seen: tuple[int, str | None] | None = None
        self._key: tuple[str, str, str] | None = None  # the result under the cursor

    def compose(self) -> ComposeResult:
        yield Static("reading check results…", id="checks-header")
        yield Static(no_checks_message(), id="checks-empty", classes="hidden")
        yield DataTable(id="check-results", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="checks-below"):
            with Vertical(id="failures-pane"):
                yield Static("", id="check-detail")
                yield DataTable(id="check-failures", cursor_type="row")
            yield CheckHistory(id="history-pane")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._keys = columns_for(self.size.width or self.app.size.width)
        self.query_one("#check-results", DataTable).focus()
        self.load()
        self.set_interval(self.refresh_every, self.load)

    def on_resize(self) -> None:
        keys = columns_for(self.size.width)
        if keys != getattr(self, "_keys", None) or "message" in keys:  # the message fits the width
            self._keys = keys
            if self.runs:
                self._show_run()

    # -- data ------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="checks")
    def load(self) -> None:
        post_read(self, self.reader.check_results, CheckResultsLoaded)

    @on(StoreFailed)
    def _failed(self, event: StoreFailed) -> None:
        self.query_one("#checks-header", Static).update(Text(event.error, style="bold red"))

    @on(CheckResultsLoaded)
    def _loaded(self, event: CheckResultsLoaded) -> None:
        results = event.results
        newest = str(results["check_run_id"][0]) if results.height else None
        seen = (results.height, newest)
        if seen == self._seen:
            return  # nothing new since the last read: keep the cursors where they are
        self._seen = seen
        shown = self.runs[self.index].id if self.runs else None
        self.runs = check_runs(results) if results.height else []
        ids = [r.id for r in self.runs]
        self.index = ids.index(shown) if shown in ids else 0
        empty = not self.runs
        self.query_one("#checks-empty").set_class(not empty, "hidden")
        for name in ("#check-results", "#checks-below"):
            self.query_one(name).set_class(empty, "hidden")
        if empty:
            self.query_one("#checks-header", Static).update(Text("checks", style="bold"))
            return
        self._show_run()

    # -- rendering -------------------------------------------------------------

    def _show_run(self) -> None:
        run = self.runs[self.index]
        c = run.counts()
        which = "latest" if self.index == 0 else "older"
        header = Text.assemble(
            ("checks ", "bold"),
            check_status_text(run.status),
            f" · {fmt_time(run.checked_at, short=self.size.width < 100)} · ",
            (f"{c['error']} errors", "bold red" if c["error"] else "dim"),
            ", ",
            (f"{c['warn']} warnings", "bold yellow" if c["warn"] else "dim"),
            f", {c['pass']} passed, {c['skip']} skipped\n",
            (f"check run {self.index + 1} of {len(self.runs)} ({which}) · ", "dim"),
            self._windows(run),
        )
        self.query_one("#checks-header", Static).update(header)
        table = self.query_one("#check-results", DataTable)
        keys = [result_key(r) for r in run.rows]
        keep = keys.index(self._key) if self._key in keys else 0
        table.clear(columns=True)
        labels = dict(COLUMNS)
        if "scope" not in self._keys:
            labels["limits"] = "limits"
        rows = [result_cells(r, self._keys) for r in run.rows]
        widths = column_widths([labels[k] for k in self._keys], rows)
        if "message" in self._keys:
            # the message takes the room the other columns leave, its end an ellipsis
            i = self._keys.index("message")
            room = self.size.width - 2 * len(widths) - _SCROLLBAR - sum(widths) + widths[i]
            widths[i] = max(min(widths[i], room), len(labels["message"]))
            for cells in rows:
                cells[i] = Text(clip(cells[i].plain, widths[i]), style=cells[i].style)
        for key, width in zip(self._keys, widths, strict=True):
            table.add_column(labels[key], key=key, width=width)
        for i, cells in enumerate(rows):
            table.add_row(*cells, key=str(i))
        table.move_cursor(row=keep)
        self._show_result(table.cursor_row)

    def _windows(self, run: CheckRun) -> Text:
        cur = run.current
        t = Text(style="dim")
        t.append(f"current: {cur.get('description') or 'all runs'}")
        if cur.get("runs") is not None:
            t.append(f" ({cur['runs']} runs)")
        base = run.baseline
        t.append("\nbaseline: ")
        t.append(str(base.get("description")) if base else "none")
        if base and base.get("runs") is not None:
            t.append(f" ({base['runs']} runs)")
        return t

    def _show_result(self, row: int) -> None:
        if not self.runs or not (0 <= row < len(self.runs[self.index].rows)):
            return
        r = self.runs[self.index].rows[row]
        self._key = result_key(r)  # kept when stepping to another check run
        self.failures = failing_rows(r)
        detail = Text.assemble(
            check_status_text(r["status"]),
            " ",
            (r["check_name"], "bold"),
            f" · {r['scope']} · {r['statistic']}: ",
            (fmt_stat(r["value"], r["unit"]), "bold"),
        )
        if r["message"]:
            detail.append(f"  {r['message']}", style="dim")
        if self.failures:
            n = len(self.failures)
            label = "1 failing row" if n == 1 else f"{n if n < 20 else 'the first 20'} failing rows"
            detail.append(f"\n{label}", style="bold")
            if any(f.get("run_id") or f.get("trace_id") for f in self.failures):
                detail.append(" (enter opens the run)", style="dim")
        elif r["status"] in ("warn", "error"):
            detail.append("\nno failing rows saved for this result", style="dim")
        self.query_one("#check-detail", Static).update(detail)
        table = self.query_one("#check-failures", DataTable)
        table.clear(columns=True)
        columns: list[str] = []
        for f in self.failures:
            columns += [k for k in f if k not in columns]
        rows = [[failure_cell(k, f.get(k)) for k in columns] for f in self.failures]
        for key, width in zip(columns, column_widths(columns, rows), strict=True):
            table.add_column(Text(key), key=key, width=width)
        for i, cells in enumerate(rows):
            table.add_row(*cells, key=str(i))
        table.display = bool(self.failures)
        self.query_one(CheckHistory).show(
            history(self.runs, result_key(r)), self.runs[self.index].id
        )

    # -- events and actions ----------------------------------------------------

    @on(DataTable.RowHighlighted, "#check-results")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_result(event.cursor_row)

    @on(DataTable.RowSelected, "#check-results")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self._to_failures()

    @on(DataTable.RowSelected, "#check-failures")
    def _failure_selected(self, event: DataTable.RowSelected) -> None:
        self.open_failure(event.cursor_row)

    def _to_failures(self) -> None:
        if self.failures:
            table = self.query_one("#check-failures", DataTable)
            table.focus()
            table.move_cursor(row=0)
        else:
            self.notify("this result has no failing rows")

    def action_open(self) -> None:
        failures = self.query_one("#check-failures", DataTable)
        if failures.has_focus:
            self.open_failure(failures.cursor_row)
        else:
            self._to_failures()

    def open_failure(self, row: int) -> None:
        """Open the run a failing row names, on its span when it names one."""
        if not (0 <= row < len(self.failures)):
            return
        f = self.failures[row]
        run_id = f.get("run_id") or f.get("trace_id")
        if not run_id:
            self.notify("this failing row names no run")
            return
        from agentreel.tui._run import RunScreen

        span_id = f.get("span_id")
        self.app.push_screen(
            RunScreen(self.reader, str(run_id), span_id=str(span_id) if span_id else None)
        )

    def action_back(self) -> None:
        failures = self.query_one("#check-failures", DataTable)
        if failures.has_focus:
            self.query_one("#check-results", DataTable).focus()
            return
        self.app.pop_screen()

    def _step(self, step: int) -> None:
        i = self.index + step
        if not (0 <= i < len(self.runs)):
            self.notify("no older check run" if step > 0 else "this is the latest check run")
            return
        self.index = i
        self._show_run()

    def action_older(self) -> None:
        self._step(1)

    def action_newer(self) -> None:
        self._step(-1)

    def action_refresh(self) -> None:
        self._seen = None
        self.load()
