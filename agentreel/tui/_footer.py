"""The key footer of every screen: the keys that fit, whole, and no work when nothing changed.

Textual's `Footer` lays out every binding with ``show=True`` and lets the last ones run
off the edge of a narrow terminal, cut mid-word. `KeyFooter` shows only the keys
whose labels fit whole, leaving out the last ones first; ``? Help`` stays, since the
help lists every key. Below `PALETTE_FROM` columns it also leaves out the command
palette's key (ctrl+p still opens it).

`Footer` also rebuilds its keys (a dozen widgets styled and laid out) whenever the
focus moves, because the bindings may have changed; `KeyFooter` rebuilds only when
what it would show changes, so moving between two tables costs no rebuild, and
once for changes reported one after another before it runs (a focus move reports
two: the field's blur, then the table's focus).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from rich.cells import cell_len
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

__all__ = ["PALETTE_FROM", "KeyFooter", "fitting"]

#: Narrower than this, the footer leaves out the command palette's key.
PALETTE_FROM = 100
#: The action whose key the footer keeps whatever the width: help lists the others.
_KEEP = "app.help"


def fitting(keys: list[tuple[str, str, str]], width: int, *, pad: int = 3) -> list[int]:
    """The indices of `keys` (key label, description, action) whose labels fit `width`.

    Each label takes its key, its description and `pad` cells of padding. The last
    keys give way first; the help key stays as long as it fits at all.

    Example::

        fitting([("esc", "Back", "back"), ("?", "Help", "app.help")], 12)  # [1]
    """
    sizes = [cell_len(k) + cell_len(d) + pad for k, d, _ in keys]
    keep = list(range(len(keys)))
    drop = [i for i in reversed(keep) if keys[i][2] != _KEEP] + [
        i for i in keep if keys[i][2] == _KEEP
    ]
    while keep and sum(sizes[i] for i in keep) > width:
        keep.remove(drop.pop(0))
    return keep


class KeyFooter(Footer):
    """A `Footer` that shows the keys which fit whole and rebuilds only on a change."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._showing: tuple[Any, ...] | None = None
        self._rebuilding = False  # a rebuild was asked for and has not run yet

    def _width(self) -> int:
        return self.app.size.width

    def _wanted(self, screen: Screen[Any]) -> tuple[Any, ...]:
        """What the footer would show: the width and each shown binding's state."""
        shown = tuple(
            (b.key, b.key_display, b.description, b.action, enabled, tooltip)
            for _, b, enabled, tooltip in screen.active_bindings.values()
            if b.show
        )
        return (self._width() >= PALETTE_FROM, self._width(), shown)

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if screen is self.screen and self._bindings_ready:
            wanted = self._wanted(screen)
            if wanted == self._showing:
                return  # the focus moved, the keys did not: nothing to rebuild
            if self._rebuilding:
                return  # a rebuild is on its way; it reads the keys as they are then
            self._rebuilding = screen.app.app_focus and self.is_attached
        super().bindings_changed(screen)

    def on_resize(self) -> None:
        showing = self._showing
        if self._bindings_ready and showing is not None and self._wanted(self.screen) != showing:
            self.call_after_refresh(self.recompose)

    def compose(self) -> Iterator[Widget]:
        if self._bindings_ready:
            self._showing = self._wanted(self.screen)
        self._rebuilding = False
        self.set_reactive(Footer.show_command_palette, self._width() >= PALETTE_FROM)
        widgets = list(_fit(super().compose(), self._width(), compact=self.compact))
        self.styles.grid_size_columns = sum(
            not w.has_class("-command-palette") for w in widgets if isinstance(w, FooterKey)
        )
        yield from widgets


def _fit(widgets: Iterable[Widget], width: int, *, compact: bool) -> Iterator[Widget]:
    widgets = list(widgets)
    keys = [w for w in widgets if isinstance(w, FooterKey) and not w.has_class("-command-palette")]
    palette = [w for w in widgets if isinstance(w, FooterKey) and w.has_class("-command-palette")]
    # the palette's key is docked right, behind a one-cell rule
    room = width - sum(cell_len(w.key_display) + cell_len(w.description) + 4 for w in palette)
    keep = set(
        fitting(
            [(w.key_display, w.description, w.action) for w in keys], room, pad=1 if compact else 3
        )
    )
    for i, w in enumerate(keys):
        if i in keep:
            yield w
    yield from (w for w in widgets if w not in keys)
