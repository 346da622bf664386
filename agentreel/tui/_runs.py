"""The runs screen: a filter bar, a strip of runs over time, and the runs table."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import polars as pl
from rich.console import ConsoleOptions
from rich.markup import escape
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static

from agentreel._errors import AgentreelError
from agentreel._fmt import fmt_tags
from agentreel.store import Run, records
from agentreel.tui._focus import focus_now, keep_typing
from agentreel.tui._footer import KeyFooter
from agentreel.tui._format import (
    ERROR_STYLE,
    clip,
    fmt_cost,
    fmt_duration,
    fmt_time,
    fmt_tokens,
    status_text,
)
from agentreel.tui._laid_out import LaidOutTable, lay_out_rows
from agentreel.tui._messages import RunsLoaded, StoreFailed
from agentreel.tui._reader import StoreReader
from agentreel.tui._strip import RunStrip

__all__ = ["RunsScreen"]

#: (column key, label, run column it sorts by)
COLUMNS: list[tuple[str, str, str]] = [
    ("status", "status", "status"),
    ("name", "name", "name"),
    ("start", "started", "start_time"),
    ("duration", "duration", "duration_ms"),
    ("spans", "spans", "span_count"),
    ("llm", "llm", "llm_count"),
    ("tools", "tools", "tool_count"),
    ("tokens", "tokens", "input_tokens"),
    ("cost", "cost", "cost_usd"),
    ("errors", "errors", "error_count"),
    ("tags", "tags", "tags"),
    ("id", "run", "run_id"),
]
#: What the status line calls each sort column: the table's own header, not the store's name.
_SORT_LABELS = {column: label for _, label, column in COLUMNS} | {
    "input_tokens": "tokens",
    "start_time": "start",
}
#: the widest a column grows, for the free-text ones
_CAPPED = {"name": 32, "tags": 40}
_RIGHT = {"duration", "spans", "llm", "tools", "tokens", "cost", "errors"}


def columns_for(width: int) -> list[str]:
    """The columns that fit a terminal `width` wide: tags, ids and counts give way first."""
    keys = [k for k, _, _ in COLUMNS]
    if width < 150:
        keys.remove("id")
    if width < 120:
        keys.remove("tags")
    if width < 100:
        keys = [k for k in keys if k not in ("spans", "llm", "tools")]
    return keys


def _cells(r: Run, keys: list[str]) -> list[Any]:
    tokens = None
    if r["input_tokens"] is not None or r["output_tokens"] is not None:
        tokens = (r["input_tokens"] or 0) + (r["output_tokens"] or 0)
    cells: dict[str, Any] = {
        "status": status_text(r["status"]),
        "name": clip(r["name"] or "", _CAPPED["name"]),
        "start": fmt_time(r["start_time"], short=True),
        "duration": fmt_duration(r["duration_ms"]),
        "spans": str(r["span_count"]),
        "llm": str(r["llm_count"]),
        "tools": str(r["tool_count"]),
        "tokens": fmt_tokens(tokens),
        "cost": fmt_cost(r["cost_usd"]),
        "errors": Text(str(r["error_count"]), style=ERROR_STYLE if r["error_count"] else "dim"),
        "tags": clip(fmt_tags(r["tags"]), _CAPPED["tags"]),
        "id": Text(r["run_id"][:12], style="dim"),
    }
    # The table reads plain strings as console markup, and names and tags are data: escape
    # them. (Text cells would do too, but the table keeps and re-measures those objects.)
    return [
        Text(v, justify="right")
        if k in _RIGHT and isinstance(v, str)
        else escape(v)
        if isinstance(v, str)
        else v
        for k, v in ((key, cells[key]) for key in keys)
    ]


def _counted(shown: int, matching: int, total: int, filtered: bool) -> str:
    """``1,204 runs``, ``12 of 1,204 runs match``, with ``showing 200`` when paged."""

    def runs(n: int) -> str:
        return f"{n:,} run" + ("" if n == 1 else "s")

    text = f"{matching:,} of {runs(total)} match" if filtered else runs(matching)
    if shown < matching:
        text += f" · showing the first {shown:,}, more as you move down"
    return text


#: The table's moves (key: action) that a key pressed between a filter's enter and its
#: rows makes at once, on the table.
_MOVES = {
    "down": "cursor_down",
    "up": "cursor_up",
    "pagedown": "page_down",
    "pageup": "page_up",
    "home": "first_row",
    "end": "last_row",
}


class RunsTable(LaidOutTable):
    """The runs table: Home and End go to the first and the last run (not sideways)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "first_row", "First run", show=False),
        Binding("end", "last_row", "Last run", show=False),
    ]

    def action_first_row(self) -> None:
        self.move_cursor(row=0)

    def action_last_row(self) -> None:
        self.move_cursor(row=max(self.row_count - 1, 0))


def column_widths(keys: list[str], rows: list[list[Any]]) -> list[int]:
    """Each column's width: its widest cell (free-text columns capped), at least its label."""
    labels = {k: label for k, label, _ in COLUMNS}
    widths = [len(labels[k]) for k in keys]
    for cells in rows:
        for i, cell in enumerate(cells):
            text = cell if isinstance(cell, Text) else Text.from_markup(str(cell))
            widths[i] = max(widths[i], text.cell_len)
    return [min(w, _CAPPED[k]) if k in _CAPPED else w for k, w in zip(keys, widths, strict=True)]


#: Runs the table holds at first; moving near its end reads the next page. A table row
#: costs the UI thread about half a millisecond to add and measure, so a page is drawn
#: in a tenth of a second, whatever the store holds.
PAGE = 100
#: How close to the last row the cursor comes before the next page is read.
PAGE_AHEAD = 20

#: At most this share of the UI thread goes to rebuilding the live runs table: a rebuild
#: of 2,000 rows and its drawing take about half a second, and the drain and the reads
#: of the same process need the rest while runs stream in.
REBUILD_SHARE = 0.25


@dataclass(frozen=True)
class _Sight:
    """What the worker that reads a page needs to lay out the rows in sight."""

    options: ConsoleOptions  # the app's console options
    height: int  # the table's height
    current: str | None  # the run under the cursor, which the cursor stays on


class RunsScreen(Screen[None]):
    """Every run, newest first; filter, sort, open one."""

    #: its help lists the filter language (its filter bar reads it)
    FILTERS_RUNS = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("enter", "open_run", "Open run", show=False),
        Binding("s", "cycle_sort", "Sort"),
        Binding("d", "diff", "Diff", tooltip="Mark this run; a second d diffs the two"),
        Binding("c", "app.checks", "Checks"),
        Binding("v", "app.sessions", "Sessions"),
        Binding("r", "refresh", "Refresh"),
        Binding("question_mark", "app.help", "Help"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, reader: StoreReader, *, refresh_every: float = 1.0) -> None:
        super().__init__()
        self.reader = reader
        self.refresh_every = refresh_every
        self.query_text = ""
        self.order_by = "start_time"
        self.descending = True
        self.run_ids: list[str] = []
        self.diff_from: str | None = None
        self._loading = False
        self._asked = False  # the user asked for this load: show it whatever it costs
        self._next_rebuild = 0.0
        self.limit = PAGE  # runs the table holds; grows a page at a time
        self._again = False
        self._deferred: Timer | None = None  # a load put off by the rebuild limit
        self.total = 0  # runs that match the filter
        self._focus_table = False  # a filter was submitted: the table takes the focus with its rows

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="filter: status:error name:nightly* tag:k=v model:gpt-4.1 tool:search duration>2s since:1h words",
            id="filter",
        )
        with Horizontal(id="strip"):
            yield RunStrip("duration", lambda ms: fmt_duration(ms), "#5f87d7", id="durations")
            yield RunStrip("errors", lambda n: f"{n:.0f}", ERROR_STYLE, id="errors")
        yield RunsTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Static(Text(f"opening {self.reader.path} …", style="dim"), id="status-line")
        yield KeyFooter()

    def _set_columns(self) -> None:
        keys = columns_for(self.size.width or self.app.size.width)
        if keys == getattr(self, "_keys", None):
            return
        self._keys = keys
        self._widths: list[int] | None = None
        table = self.query_one("#runs", DataTable)
        table.clear(columns=True)
        labels = {k: label for k, label, _ in COLUMNS}
        for key in keys:
            table.add_column(labels[key], key=key)
        self.run_ids = []  # refill on the next load

    def _fit_columns(self, table: DataTable[Any], widths: list[int]) -> None:
        """Empty the table and give each column its width (`column_widths`).

        Explicit widths, not the table's own measuring: that happens when the app is
        idle, and a row drawn before it stays cut to the header's width in the table's
        cell cache.
        """
        labels = {k: label for k, label, _ in COLUMNS}
        if widths == getattr(self, "_widths", None):
            table.clear()
            return
        self._widths = widths
        table.clear(columns=True)
        for k, w in zip(self._keys, widths, strict=True):
            table.add_column(labels[k], key=k, width=w)

    def on_resize(self) -> None:
        if not self.query("#runs"):
            return  # not composed yet: on_mount sets the columns
        before = getattr(self, "_keys", None)
        self._set_columns()
        if before is not None and before != self._keys:
            self.action_refresh()

    async def on_key(self, event: events.Key) -> None:
        move = _MOVES.get(event.key) if self._focus_table else None
        if move is not None:
            # a move in the table, pressed before the filtered rows came: the table's
            table = self.query_one("#runs", RunsTable)
            self._take_focus()
            event.stop()
            event.prevent_default()
            await table.run_action(move)
            return
        keep_typing(
            self, event, "slash", self.query_one("#filter", Input), self.action_focus_filter
        )

    def on_mount(self) -> None:
        self._set_columns()
        self.query_one("#runs", DataTable).focus()
        self.load()
        self.set_interval(self.refresh_every, self.load)

    # -- data ------------------------------------------------------------------

    def reload(self, *, more: bool = False) -> None:
        """Load now, for the user (a filter, a sort, `r`): the table is rebuilt at once.

        A new filter or sort starts again from the first page; `more` reads one page more.
        """
        self.limit = self.limit + PAGE if more else PAGE
        self._asked = True
        self._loading = False
        self.load()

    def load(self) -> None:
        """Load for the live view: while runs stream in, the table is rebuilt at most
        `REBUILD_SHARE` of the time, so the drain and reads keep the rest."""
        if self._loading:
            self._again = True  # what this load was asked for may be newer than what is read
            return
        self._loading, self._again = True, False
        # for the worker's layout, read here on the UI thread: the app's console options,
        # how many rows the table shows (before its first layout, a screenful) and the
        # run under the cursor, which the cursor stays on
        table = self.query_one("#runs", DataTable)
        sight = _Sight(
            self.app.console_options,
            table.size.height or self.app.size.height,
            self.run_ids[table.cursor_row] if table.cursor_row < len(self.run_ids) else None,
        )
        self._load(self.query_text, self.order_by, self.descending, self.limit, self._keys, sight)

    @work(thread=True, exclusive=True, group="runs")
    def _load(
        self,
        query: str,
        order_by: str,
        descending: bool,
        limit: int,
        keys: list[str],
        sight: _Sight,
    ) -> None:
        # the read, the cells, their widths and their layout: all off the UI thread,
        # which only adds the rows and paints them
        try:
            page = self.reader.runs(query, order_by, descending, limit=limit)
            cells = [_cells(r, keys) for r in records(page.runs, Run)]
        except AgentreelError as e:
            self.post_message(StoreFailed(str(e)))
        else:
            widths = column_widths(keys, cells)
            # the rows in sight laid out now, the others as they come into sight
            ids = page.runs["run_id"].to_list()
            at = ids.index(sight.current) if sight.current in ids else 0
            in_sight = range(max(0, at - sight.height + 1), max(sight.height, at + 1))
            laid_out = lay_out_rows(cells, widths, in_sight, self.app.console, sight.options)
            self.post_message(RunsLoaded(page, query, list(keys), laid_out, widths))

    def _done_loading(self) -> None:
        self._loading = False
        if self._again:  # asked again while it read (a drain brought runs): read again,
            self.call_after_refresh(self.load)  # once these rows are drawn

    @on(StoreFailed)
    def _failed(self, event: StoreFailed) -> None:
        self._done_loading()
        if self._focus_table:
            self._take_focus()
        self.query_one("#status-line", Static).update(Text(event.error, style=ERROR_STYLE))

    @on(RunsLoaded)
    def _loaded(self, event: RunsLoaded) -> None:
        self._done_loading()  # the rows are in the table with this message, drawn next
        if self._focus_table:
            self._take_focus()
        if event.query != self.query_text:
            return  # a newer filter is on its way
        runs = event.page.runs
        table = self.query_one("#runs", DataTable)
        ids = runs["run_id"].to_list()
        current = (
            self.run_ids[table.cursor_row]
            if self.run_ids and table.cursor_row < len(self.run_ids)
            else None
        )
        if event.keys != self._keys:
            self.reload()  # the terminal was resized meanwhile: other columns
            return
        asked, self._asked = self._asked, False
        self.total = event.page.matching
        n = len(self.run_ids)
        if (
            ids[:n] == self.run_ids
            and len(ids) > n
            and event.widths == self._widths
            and not self._changed(runs.head(n))
        ):
            # the next page of the same list: add its rows, keep the rest and the cursor
            for run_id, cells in zip(ids[n:], event.cells[n:], strict=True):
                table.add_row(*cells, key=run_id)
            self.run_ids = ids
            self._last = runs
        elif not (ids != self.run_ids or self._changed(runs)):
            pass  # nothing to redraw
        elif not (asked or time.monotonic() >= self._next_rebuild):
            # changed, but the last rebuild was a moment ago: show it when its turn comes
            # (dropped, it would wait for the next refresh, which may be a minute away)
            if self._deferred is None:
                self._deferred = self.set_timer(
                    self._next_rebuild - time.monotonic(), self._deferred_load
                )
        else:
            t0 = time.monotonic()
            self._fit_columns(table, event.widths)
            for run_id, cells in zip(ids, event.cells, strict=True):
                table.add_row(*cells, key=run_id)
            self.run_ids = ids
            self._last = runs
            if current in ids:
                table.move_cursor(row=ids.index(current))
            self.call_after_refresh(self._rebuilt, t0)
        self._strip(runs)
        shown = _counted(len(ids), event.page.matching, event.page.total, bool(self.query_text))
        direction = "↓" if self.descending else "↑"
        self.query_one("#status-line", Static).update(
            Text.assemble(
                (shown, "bold"),
                f"  ·  sorted by {_SORT_LABELS.get(self.order_by, self.order_by)} {direction}"
                f"  ·  {self.reader.path}",
                style="dim",
            )
        )

    def _deferred_load(self) -> None:
        self._deferred = None
        self.load()

    def _rebuilt(self, t0: float) -> None:
        """The table was rebuilt and drawn: the next rebuild waits in proportion."""
        cost = time.monotonic() - t0
        self._next_rebuild = time.monotonic() + cost * (1 / REBUILD_SHARE - 1)

    _last: pl.DataFrame | None = None

    def _changed(self, runs: pl.DataFrame) -> bool:
        last = self._last
        if last is None or last.height != runs.height:
            return True
        cols = [
            "status",
            "span_count",
            "error_count",
            "duration_ms",
            "input_tokens",
            "output_tokens",
        ]
        return not runs.select(cols).equals(last.select(cols))

    def _strip(self, runs: pl.DataFrame) -> None:
        chrono = runs.sort("start_time")
        durations = [d or 0.0 for d in chrono["duration_ms"].to_list()]
        errors = [float(e or 0) for e in chrono["error_count"].to_list()]
        self.query_one("#durations", RunStrip).set_values(durations)
        self.query_one("#errors", RunStrip).set_values(errors)

    # -- actions ---------------------------------------------------------------

    @on(Input.Submitted, "#filter")
    def _filter(self, event: Input.Submitted) -> None:
        self.query_text = event.value.strip()
        self.reload()
        # The table takes the focus when the filtered rows arrive, not now: a focus
        # change redraws the whole table (its cursor's colour), and drawn now, with the
        # old rows, it would cost the UI thread as much as the new ones while the read
        # runs. A key that is not for the field (an arrow, page down) moves it at once.
        self._focus_table = True

    def _take_focus(self) -> None:
        self._focus_table = False
        self.set_focus(self.query_one("#runs", DataTable))

    @on(DataTable.HeaderSelected)
    def _sort_by_header(self, event: DataTable.HeaderSelected) -> None:
        column = next(c for k, _, c in COLUMNS if k == str(event.column_key.value))
        self._sort(column)

    def _sort(self, column: str) -> None:
        if column == self.order_by:
            self.descending = not self.descending
        else:
            self.order_by, self.descending = (
                column,
                column not in ("name", "status", "tags", "run_id"),
            )
        self.reload()

    def action_cycle_sort(self) -> None:
        order = [c for _, _, c in COLUMNS]
        i = order.index(self.order_by) if self.order_by in order else -1
        self.order_by = order[(i + 1) % len(order)]
        self.descending = self.order_by not in ("name", "status", "tags", "run_id")
        self.reload()

    def action_focus_filter(self) -> None:
        self._focus_table = False  # back in the field before the last filter's rows came: stay
        focus_now(self.query_one("#filter", Input))

    def action_clear_filter(self) -> None:
        f = self.query_one("#filter", Input)
        if f.value or self.query_text:
            f.value = ""
            self.query_text = ""
            self.reload()
        self.query_one("#runs", DataTable).focus()

    def action_refresh(self) -> None:
        self.reload()

    @on(DataTable.RowHighlighted, "#runs")
    def _near_the_end(self, event: DataTable.RowHighlighted) -> None:
        """Read the next page when the cursor comes near the last row the table holds."""
        n = len(self.run_ids)
        if n < self.total and event.cursor_row >= n - PAGE_AHEAD and self.limit <= n:
            self.reload(more=True)

    @on(DataTable.RowSelected, "#runs")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.open_run(str(event.row_key.value))

    def action_open_run(self) -> None:
        table = self.query_one("#runs", DataTable)
        if self.run_ids and table.cursor_row < len(self.run_ids):
            self.open_run(self.run_ids[table.cursor_row])

    def action_diff(self) -> None:
        """First `d` marks run A; `d` on another run opens A against it."""
        table = self.query_one("#runs", DataTable)
        if not self.run_ids or table.cursor_row >= len(self.run_ids):
            return
        here = self.run_ids[table.cursor_row]
        if self.diff_from is None or self.diff_from == here:
            self.diff_from = here
            self.notify(f"run {here[:8]} is A; press d on another run to compare")
            return
        from agentreel.tui._diff import DiffScreen

        a, self.diff_from = self.diff_from, None
        self.app.push_screen(DiffScreen(self.reader, a, here))

    def open_run(self, run_id: str) -> None:
        from agentreel.tui._run import RunScreen

        self.app.push_screen(RunScreen(self.reader, run_id))
