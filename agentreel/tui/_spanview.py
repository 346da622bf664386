"""`SpanView`: the span tree and its waterfall as one virtual list.

Only the rows on screen are rendered (Textual's line API), each from a cache, so a
run of 10,000 spans opens and scrolls as fast as one of ten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from agentreel._fmt import fmt_span_tokens, tree_prefixes
from agentreel.tui._format import (
    ERROR_GLYPH,
    ERROR_STYLE,
    KIND_ICONS,
    KIND_STYLE,
    bar,
    fmt_duration,
)

if TYPE_CHECKING:
    from agentreel.store import Span

__all__ = ["SpanView"]

_NAME_W = 46
_MIN_NAME = 14  # the name column never gets narrower
_MIN_BAR = 6  # the waterfall, when the terminal is too narrow for more
_DUR_W = 9
_TOK_W = 12
_STATUS_W = 8
_STATUS_STYLE = {"ok": "green", "error": ERROR_STYLE, "open": "cyan", "interrupted": "yellow"}


@dataclass
class _Row:
    span: Span
    prefix: str
    folded: bool


class SpanView(ScrollView, can_focus=True):
    """Rows of spans: tree, duration, tokens, status and a waterfall bar."""

    DEFAULT_CSS = """
    /* never scrolled sideways: its rows fit its width (a sideways scroll bar, which
       appeared when the one for the rows took two cells, hid the last row) */
    SpanView { background: $surface; overflow-x: hidden; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
    ]

    cursor_row: reactive[int] = reactive(0, always_update=True)

    class Highlighted(Message):
        """The cursor moved to another span."""

        def __init__(self, view: SpanView, index: int) -> None:
            super().__init__()
            self.view = view
            self.index = index

        @property
        def control(self) -> SpanView:
            return self.view

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: list[_Row] = []
        self._t0: datetime | None = None
        self._total = 0.0
        self._cache: dict[tuple[int, int, bool], Strip] = {}
        self._open_as = "running"
        self._marked: set[str] = set()  # spans that match the run's search

    # -- data ------------------------------------------------------------------

    def set_rows(
        self,
        spans: list[Span],
        folded: set[str],
        t0: datetime | None,
        total_s: float,
        open_as: str = "running",
    ) -> None:
        """Show `spans`; those not ended are `open_as` (``running``, or ``interrupted``:
        their bar then stops where the run was last heard of, instead of running on)."""
        self._open_as = open_as
        prefixes = tree_prefixes([s["depth"] for s in spans], wide=False)
        self._rows = [
            _Row(s, p, s["span_id"] in folded) for s, p in zip(spans, prefixes, strict=True)
        ]
        self._t0, self._total = t0, total_s
        self._cache.clear()
        self.virtual_size = Size(self._width_needed(), len(self._rows))
        self.cursor_row = min(self.cursor_row, max(len(self._rows) - 1, 0))
        self.refresh()

    def mark(self, span_ids: set[str]) -> None:
        """Highlight these spans' names (the matches of a search); an empty set clears it."""
        if span_ids != self._marked:
            self._marked = set(span_ids)
            self._cache.clear()
            self.refresh()

    @property
    def row_count(self) -> int:
        return len(self._rows)

    def _width_needed(self) -> int:
        # never wider than the view: a narrow terminal shortens the names (below), so no
        # horizontal scrollbar hides the last row and every column stays in sight
        return self.size.width

    @staticmethod
    def _name_width(width: int) -> int:
        """The name column: as wide as it may be, shortened on a narrow terminal so the
        duration, tokens and status stay in sight (and some bar, when there is room)."""
        room = width - (_DUR_W + _TOK_W + _STATUS_W + 1) - _MIN_BAR
        return max(_MIN_NAME, min(_NAME_W, room))

    # -- rendering -------------------------------------------------------------

    def _row_strip(self, index: int, width: int, selected: bool) -> Strip:
        key = (index, width, selected)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        r = self._rows[index]
        s = r.span
        err = s["status"] == "error"
        st = "open" if s["end_time"] is None else ("error" if err else "ok")
        if st == "open" and self._open_as == "interrupted":
            st = "interrupted"
        name = Text(r.prefix, style="dim", no_wrap=True, overflow="ellipsis")
        name.append(
            ("[+] " if r.folded else "") + KIND_ICONS.get(s["kind"], "·") + " ",
            style=KIND_STYLE.get(s["kind"], ""),
        )
        found = s["span_id"] in self._marked
        name.append(
            s["name"] or "",
            style=(ERROR_STYLE if err else "") + (" reverse" if found else ""),
        )
        name.truncate(self._name_width(width) - 1, overflow="ellipsis", pad=True)
        line = name
        line.append(" ")
        line.append(fmt_duration(s["duration_ms"]).rjust(_DUR_W - 1) + " ")
        tok = fmt_span_tokens(s)
        line.append(tok.rjust(_TOK_W - 1) + " ", style="dim")
        label = {"open": "running", "error": f"{ERROR_GLYPH} error"}.get(st, st)
        line.append(label.ljust(_STATUS_W), style=_STATUS_STYLE[st])
        bw = max(width - line.cell_len - 1, 4)
        if self._total > 0 and self._t0 is not None:
            a = (s["start_time"] - self._t0).total_seconds() / self._total
            b = (
                (1.0 if st == "interrupted" else None)  # last heard of: the end of the run's time
                if s["end_time"] is None
                else (s["end_time"] - self._t0).total_seconds() / self._total
            )
        else:
            a, b = 0.0, 1.0
        style = (
            ERROR_STYLE.replace("bold ", "")
            if err
            else KIND_STYLE.get(s["kind"], "white").replace("bold ", "")
        )
        line.append_text(bar(a, b, bw, style))
        line.truncate(width, pad=True)
        segments = list(line.render(self.app.console))
        strip = Strip(segments).adjust_cell_length(width)
        if selected:
            strip = strip.apply_style(
                Style(bgcolor="#2a4d7a" if self.has_focus else "#333a44", bold=True)
            )
        if len(self._cache) > 4000:
            self._cache.clear()
        self._cache[key] = strip
        return strip

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.size.width
        if not (0 <= index < len(self._rows)):
            return Strip([Segment(" " * width)])
        return self._row_strip(index, width, index == self.cursor_row)

    def on_resize(self) -> None:
        self._cache.clear()
        self.virtual_size = Size(self._width_needed(), len(self._rows))

    def on_focus(self) -> None:
        self._cache.clear()
        self.refresh()

    def on_blur(self) -> None:
        self._cache.clear()
        self.refresh()

    # -- cursor ----------------------------------------------------------------

    def watch_cursor_row(self, old: int, new: int) -> None:
        if not self._rows:
            return
        top = self.scroll_offset.y
        height = max(self.size.height, 1)
        if new < top:
            self.scroll_to(y=new, animate=False)
        elif new >= top + height:
            self.scroll_to(y=new - height + 1, animate=False)
        self.refresh()
        self.post_message(self.Highlighted(self, new))

    def move_cursor(self, *, row: int) -> None:
        if self._rows:
            self.cursor_row = max(0, min(row, len(self._rows) - 1))

    def action_cursor(self, step: int) -> None:
        self.move_cursor(row=self.cursor_row + step)

    def action_page(self, step: int) -> None:
        self.move_cursor(row=self.cursor_row + step * max(self.size.height - 1, 1))

    def action_jump(self, where: int) -> None:
        self.move_cursor(row=0 if where == 0 else len(self._rows) - 1)

    def on_click(self, event: Click) -> None:
        self.move_cursor(row=self.scroll_offset.y + event.y)
