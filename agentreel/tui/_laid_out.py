"""Table cells laid out ahead of time, off the UI thread, and drawn without Rich's pipeline.

A `DataTable` draws each visible cell through Rich on the UI thread the moment it
paints: the cell's `Text` wrapped and justified, padded (`rich.padding.Padding`),
then styled for its row (cursor, zebra stripe), each step through
``Console.render``. After a filter or a sort every visible cell is new, and on a
160x50 terminal that was about half the UI thread's work for the result.

A `LaidOut` cell keeps what its `Text` renders to, padded as the table pads it,
for the last width it was drawn at. `lay_out_rows` makes them in the worker that
read the rows, for the rows that will be in sight (equal cells share one), so a
`LaidOutTable` only applies the row's styles to those segments: the last step of
the table's own ``_render_cell``. The segments are made by the same Rich calls,
so the screen is the same; tests compare the two ways segment for segment. A
cell drawn at another width is laid out again, then and there.

A `LaidOut` has no ``__rich_measure__``: the tables that use it give every column
an explicit width, so the table never measures a cell (measuring was a good share
of adding a row).

Example::

    rows = lay_out_rows([["ok", Text("3", justify="right")]], [2, 1], range(1),
                        app.console, app.console_options)
    for cells in rows:
        table.add_row(*cells)
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from itertools import islice
from typing import Any

from rich.console import Console, ConsoleOptions
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable

__all__ = ["LaidOut", "LaidOutTable", "lay_out_rows"]

#: The padding each side of a cell of a `DataTable` (its ``cell_padding`` default).
PADDING = 1


def _key(options: ConsoleOptions) -> tuple[object, ...]:
    """What of the options a `Text` reads to render itself."""
    return (options.max_width, options.justify, options.overflow, options.no_wrap)


class LaidOut:
    """A `Text` that keeps the segments it renders to, padded as a table pads it."""

    __slots__ = ("_key", "_padded", "_padded_key", "_segments", "text")

    def __init__(self, text: Text) -> None:
        self.text = text
        self._key: tuple[object, ...] | None = None
        self._segments: list[Segment] = []
        self._padded_key: tuple[object, ...] | None = None
        self._padded: list[Segment] = []

    def padded(self, console: Console, options: ConsoleOptions, padding: int) -> list[Segment]:
        """The cell padded `padding` each side, in a line of `options` (its width, one
        line high): what ``Padding(cell, (0, padding))`` renders to, kept for next time."""
        key = (*_key(options), padding)
        if key != self._padded_key:
            self._padded = [
                s  # Padding yields segments only (Console.render would render anything else)
                for s in Padding(self, (0, padding)).__rich_console__(console, options)
                if isinstance(s, Segment)
            ]
            self._padded_key = key
        return self._padded

    def line(
        self, console: Console, options: ConsoleOptions, padding: int, pre: Style, post: Style
    ) -> list[Segment]:
        """The cell's line as a `DataTable` draws it with `options` (its row's width, one
        line high), `padding` and the row's styles `pre` and `post`.

        It is ``console.render_lines(Styled(Padding(cell), pre, post), options)``, the
        padding laid out beforehand: the styles applied, the line cut or padded to width.
        """
        styled = Segment.apply_style(
            self.padded(console, options, padding), style=pre, post_style=post
        )
        width = options.max_width
        lines = list(
            islice(
                Segment.split_and_crop_lines(
                    styled, width, include_new_lines=False, pad=True, style=None
                ),
                None,
                1,
            )
        )
        return lines[0] if lines else [Segment(" " * width, None)]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterable[Segment]:
        key = _key(options)
        if key != self._key:
            self._segments = list(self.text.__rich_console__(console, options))
            self._key = key
        return self._segments

    def __str__(self) -> str:
        return self.text.plain

    def __repr__(self) -> str:
        return f"LaidOut({self.text.plain!r})"


def _identity(text: Text) -> tuple[object, ...]:
    """Everything of a `Text` its rendering reads: equal ones render alike."""
    return (
        text.plain,
        text.style,
        text.justify,
        text.overflow,
        text.no_wrap,
        text.end,
        text.tab_size,
        tuple(text.spans),
    )


def lay_out_rows(
    rows: list[list[str | Text]],
    widths: list[int],
    in_sight: Container[int],
    console: Console,
    options: ConsoleOptions,
    padding: int = PADDING,
) -> list[list[LaidOut]]:
    """`rows` of cells as `LaidOut` cells for a `LaidOutTable` whose columns are
    `widths` wide, the rows `in_sight` (indices) laid out now, the others when drawn.

    A string is read as console markup, as the table reads one; equal cells share
    one `LaidOut`. `options` are the app's (``App.console_options``).
    """
    shared: dict[tuple[object, ...], LaidOut] = {}
    cell_options = {
        w: options.update_dimensions(w + 2 * padding, 1).update(no_wrap=True) for w in set(widths)
    }
    out: list[list[LaidOut]] = []
    for i, cells in enumerate(rows):
        row: list[LaidOut] = []
        for cell, width in zip(cells, widths, strict=True):
            if isinstance(cell, str):
                text = Text.from_markup(cell, end="")
                text.no_wrap = True  # what the table does with a string in a one-line row
            else:
                text = cell
            key = (*_identity(text), width)
            laid = shared.get(key)
            if laid is None:
                laid = shared[key] = LaidOut(text)
            if i in in_sight:  # (laid out once, if another row in sight shares it)
                laid.padded(console, cell_options[width], padding)
            row.append(laid)
        out.append(row)
    return out


class LaidOutTable(DataTable[Any]):
    """A `DataTable` that draws its `LaidOut` cells from their segments (see above)."""

    #: The options a cell of each width is drawn with, for the app's size they were made at
    #: (``App.console_options`` makes a new object on each call: too slow per cell).
    _options_for: tuple[object, dict[int, ConsoleOptions]] = (None, {})

    def _cell_options(self, width: int) -> ConsoleOptions:
        size, by_width = self._options_for
        if size != self.app.size:
            size, by_width = self._options_for = (self.app.size, {})
        options = by_width.get(width)
        if options is None:
            options = self.app.console_options.update_dimensions(width, 1).update(no_wrap=True)
            by_width[width] = options
        return options

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        # The table's own method up to its last step, for a body cell one line high
        # holding a LaidOut; anything else goes to it.
        row_key = self._row_locations.get_key(row_index) if row_index >= 0 else None
        column_key = self._column_locations.get_key(column_index) if column_index >= 0 else None
        if row_key is None or column_key is None or self.rows[row_key].height != 1:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        cell = self._data[row_key].get(column_key)
        if not isinstance(cell, LaidOut):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        cache_key = (
            row_key,
            column_key,
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        cached = self._cell_render_cache.get(cache_key)
        if cached is not None:
            return cached
        component_style, post_style = self._get_styles_to_render_cell(
            False,
            False,
            row_index < self.fixed_rows or column_index < self.fixed_columns,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        pre = base_style + Style.from_meta({"row": row_index, "column": column_index})
        options = self._cell_options(width)
        line = cell.line(
            self.app.console, options, self.cell_padding, pre + component_style, post_style
        )
        lines = [line]
        self._cell_render_cache[cache_key] = lines
        return lines
