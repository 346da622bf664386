"""The diff screen: two runs side by side, aligned step by step, the first difference first."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Static

from agentreel.store import RunDiff, Span
from agentreel.tui._detail import SpanDetail
from agentreel.tui._footer import KeyFooter
from agentreel.tui._format import ERROR_STYLE, KIND_ICONS, KIND_STYLE, column_widths, fmt_duration
from agentreel.tui._messages import DiffLoaded, StoreFailed, post_read
from agentreel.tui._reader import StoreReader

__all__ = ["DiffScreen"]

_OP_STYLE = {"same": "dim", "changed": "yellow", "only_a": "red", "only_b": "green"}
_OP_MARK = {"same": " ", "changed": "~", "only_a": "-", "only_b": "+"}


def _cell(s: Span | None) -> Text:
    if s is None:
        return Text("")
    name = s.get("tool_name") or s.get("agent_name") or s["name"]
    t = Text("  " * int(s.get("depth") or 0))
    t.append(f"{KIND_ICONS.get(s['kind'], '·')} ", style=KIND_STYLE.get(s["kind"], ""))
    t.append(str(name), style=ERROR_STYLE if s.get("status") == "error" else "")
    t.append(f" · {fmt_duration(s.get('duration_ms'))}", style="dim")
    return t


class DiffScreen(Screen[None]):
    """Run A against run B."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("f", "first", "First difference"),
        Binding("n", "next_difference", "Next difference"),
        Binding("N", "previous_difference", "Prev difference"),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self, reader: StoreReader, run_a: str, run_b: str) -> None:
        super().__init__()
        self.reader = reader
        self.run_a = run_a
        self.run_b = run_b
        self.diff: RunDiff | None = None

    def compose(self) -> ComposeResult:
        yield Static("aligning…", id="diff-header")
        yield DataTable(id="diff", cursor_type="row")
        with Horizontal(id="diff-detail"):
            yield SpanDetail(id="detail-a")
            yield SpanDetail(id="detail-b")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="diff")
    def _load(self) -> None:
        post_read(self, lambda: self.reader.diff(self.run_a, self.run_b), DiffLoaded)

    @on(StoreFailed)
    def _failed(self, event: StoreFailed) -> None:
        self.query_one("#diff-header", Static).update(Text(event.error, style=ERROR_STYLE))

    @on(DiffLoaded)
    def _loaded(self, event: DiffLoaded) -> None:
        d = self.diff = event.diff
        n = sum(p.differs for p in d.pairs)
        summary = (
            "the same steps, inputs and outputs"
            if n == 0
            else f"{n} of {len(d.pairs)} steps differ"
        )
        self.query_one("#diff-header", Static).update(
            Text.assemble(
                ("A ", "bold"),
                (d.run_a["run_id"][:12], "red"),
                f" {d.run_a['name']}   ",
                ("B ", "bold"),
                (d.run_b["run_id"][:12], "green"),
                f" {d.run_b['name']}   ",
                (summary, "bold"),
            )
        )
        table = self.query_one("#diff", DataTable)
        first = d.first_difference
        rows: list[list[Text]] = []
        for i, p in enumerate(d.pairs):
            note = "; ".join(p.changes) or {"only_a": "only in A", "only_b": "only in B"}.get(
                p.op, ""
            )
            label = Text(note, style=_OP_STYLE[p.op])
            if i == first:
                label = Text("▶ first difference: ", style="bold") + label
            rows.append(
                [Text(_OP_MARK[p.op], style=_OP_STYLE[p.op]), _cell(p.a), _cell(p.b), label]
            )
        _, wa, wb, wc = column_widths(["", "A", "B", "difference"], rows)
        # Narrower than the three columns, the difference keeps at least 16 cells and A
        # and B share the rest; whatever is cut ends in an ellipsis. (Each column has a
        # cell of padding either side; the scroll bar takes 2.)
        room = self.size.width - 2 * 4 - 2 - 1
        if wa + wb + wc > room:
            wc = min(wc, max(16, room - wa - wb))
            if wa + wb > room - wc:
                wa = wb = max((room - wc) // 2, 8)
            for cells in rows:
                cells[1:] = [_clipped(c, w) for c, w in zip(cells[1:], (wa, wb, wc), strict=True)]
        table.add_column("", key="op", width=1)
        table.add_column(Text("A", style="red"), key="a", width=wa)
        table.add_column(Text("B", style="green"), key="b", width=wb)
        table.add_column("difference", key="changes", width=wc)
        for i, cells in enumerate(rows):
            table.add_row(*cells, key=str(i))
        table.focus()
        self.action_first()

    def _show(self, row: int) -> None:
        if self.diff is None or not (0 <= row < len(self.diff.pairs)):
            return
        p = self.diff.pairs[row]
        for side, span, run in (("a", p.a, self.diff.run_a), ("b", p.b, self.diff.run_b)):
            pane = self.query_one(f"#detail-{side}", SpanDetail)
            if span is None:
                pane.query_one("#detail-body", Static).update(
                    Text(f"no such step in run {side.upper()}", style="dim")
                )
            else:
                pane.show(span, run["start_time"])

    @on(DataTable.RowHighlighted, "#diff")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show(event.cursor_row)

    def _move(self, step: int) -> None:
        if self.diff is None:
            return
        table = self.query_one("#diff", DataTable)
        n = len(self.diff.pairs)
        for k in range(1, n + 1):
            i = table.cursor_row + step * k
            if 0 <= i < n and self.diff.pairs[i].differs:
                table.move_cursor(row=i)
                return
        self.notify("no more differences")

    def action_first(self) -> None:
        if self.diff is not None and self.diff.first_difference is not None:
            self.query_one("#diff", DataTable).move_cursor(row=self.diff.first_difference)

    def action_next_difference(self) -> None:
        self._move(1)

    def action_previous_difference(self) -> None:
        self._move(-1)


def _clipped(text: Text, width: int) -> Text:
    """`text` cut to `width` cells, its styles kept, ending in an ellipsis when cut."""
    if text.cell_len <= width:
        return text
    out = text.copy()
    out.truncate(width, overflow="ellipsis")
    return out
