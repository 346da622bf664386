"""Table cells laid out ahead of time, off the UI thread.

A `DataTable` draws each visible cell through Rich (wrap, justify, split into
segments) on the UI thread, the moment it paints; after a filter or a sort every
visible cell is new, and on a 160x50 terminal that is about half the UI thread's
work for the result. A `LaidOut` cell carries the segments its `Text` renders to
at its column's width, made in the worker that read the rows; drawn at that width
it hands them over, drawn at any other it renders its `Text` as usual. Either way
the segments are the `Text`'s own, so the screen is the same.

It has no ``__rich_measure__``: the tables that use it give every column an
explicit width, so the table never needs to measure a cell (and measuring is a
good share of adding a row).

Example::

    options = app.console_options
    cells = [lay_out(Text("ok"), 6, app.console, options)]
    table.add_row(*cells)
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console, ConsoleOptions
from rich.segment import Segment
from rich.text import Text

__all__ = ["LaidOut", "lay_out"]


def _key(options: ConsoleOptions) -> tuple[object, ...]:
    """What of the options a `Text` reads to render itself."""
    return (options.max_width, options.justify, options.overflow, options.no_wrap)


class LaidOut:
    """A `Text` and the segments it renders to with one set of console options."""

    __slots__ = ("_key", "_segments", "text")

    def __init__(self, text: Text, console: Console, options: ConsoleOptions) -> None:
        self.text = text
        self._key = _key(options)
        self._segments = list(text.__rich_console__(console, options))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterable[Segment]:
        if _key(options) == self._key:
            return self._segments
        return self.text.__rich_console__(console, options)  # another width: as usual

    def __str__(self) -> str:
        return self.text.plain

    def __repr__(self) -> str:
        return f"LaidOut({self.text.plain!r})"


def lay_out(cell: str | Text, width: int, console: Console, options: ConsoleOptions) -> LaidOut:
    """`cell` as a one-line `DataTable` cell `width` cells wide draws it.

    `options` are the app's console options (``App.console_options``); a plain
    string is read as console markup, as the table itself reads one.
    """
    text = Text.from_markup(cell, end="") if isinstance(cell, str) else cell
    if isinstance(cell, str):
        text.no_wrap = True  # what the table does with a string in a one-line row
    return LaidOut(text, console, options.update_dimensions(width, 1).update(no_wrap=True))
