"""Focus a text field at once, so the keys typed right after the key that opened it land in it.

`Widget.focus()` moves the focus later (after the messages already queued), so when
the UI is busy and keys pile up, the ones typed after ``/`` would still reach the
screen's bindings: ``q`` in ``tag:eq`` quits, ``c`` opens the checks. Moving it now,
before the next queued key is read, keeps them in the field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual import events
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input

__all__ = ["focus_now", "keep_typing"]


def focus_now(widget: Widget) -> None:
    """Show `widget` (it may be hidden by a class) and give it the focus before the next key."""
    widget.display = True
    widget.screen.set_focus(widget)
    if widget.screen.focused is not widget:  # not focusable yet (not mounted): the usual way
        widget.focus()


def keep_typing(
    screen: Screen[Any], event: events.Key, opener: str, field: Input, open: Callable[[], None]
) -> None:
    """Open `field` on the `opener` key (`open` shows and focuses it, with `focus_now`),
    and put the printable keys behind it into the field.

    The app hands each key to the widget focused when it reads the key, and runs the
    screen's bindings only when the key has bubbled back up to it. Keys queued while
    the UI was busy therefore all go to the widget that had the focus before, and
    a binding that focuses a field runs too late for the keys behind it: they reach
    the bindings (``q`` quits, ``c`` opens the checks). Handled here, on the way up,
    in order, the opener focuses the field at once, and a printable key that reaches
    the screen while the field has the focus (a focused `Input` takes printable keys
    itself and stops them) was meant for it. Call from the screen's ``on_key``.
    """
    if event.key == opener and screen.focused is not field:
        open()
        event.stop()
        event.prevent_default()
        return
    if screen.focused is field and event.is_printable and event.character:
        field.insert_text_at_cursor(event.character)
        event.stop()
        event.prevent_default()
