"""A row of bars over the listed runs, scaled from zero, with its scale beside it.

The runs screen shows two: durations and error counts. Textual's `Sparkline` scales
between the smallest and the largest value, so one run with no error drew a full
bar, and runs that all failed alike drew a flat floor. These bars start at zero: no
errors is no bar, and the label says what a full bar is.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.widgets import Static

__all__ = ["RunStrip", "bars"]

_LEVELS = "▁▂▃▄▅▆▇█"


def bars(values: list[float], width: int) -> str:
    """`values` (oldest first) as `width` bars or fewer, each the largest value it covers,
    scaled so that the largest is a full bar; zero is no bar at all.

    >>> bars([0, 1, 2, 4], 4)
    ' ▂▄█'
    """
    if not values or width <= 0:
        return ""
    n = min(width, len(values))
    buckets = [max(values[i * len(values) // n : (i + 1) * len(values) // n]) for i in range(n)]
    top = max(buckets)
    if top <= 0:
        return " " * n
    out = []
    for v in buckets:
        if v <= 0:
            out.append(" ")
        else:
            out.append(_LEVELS[min(len(_LEVELS) - 1, max(0, round(v / top * len(_LEVELS)) - 1))])
    return "".join(out)


class RunStrip(Static):
    """A labelled row of bars: ``errors  (max 4)  ▁ ▄ █``."""

    def __init__(self, label: str, fmt: Callable[[float], str], style: str, **kw: object) -> None:
        super().__init__("", **kw)  # type: ignore[arg-type]
        self.label = label
        self.fmt = fmt
        self.bar_style = style
        self.values: list[float] = []

    def set_values(self, values: list[float]) -> None:
        self.values = values
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        top = max(self.values, default=0.0)
        scale = " (none)" if not self.values else f" (max {self.fmt(top)})"
        head = Text.assemble((self.label, "bold"), (scale, "dim"), " ")
        width = max(self.size.width - head.cell_len, 0)
        self.update(head + Text(bars(self.values, width), style=self.bar_style))
