"""Progress of a long command: a live line on a terminal, one summary line elsewhere.

On a terminal (stderr a TTY, and not under CI) a command that ingests, imports,
exports, compacts or replays shows what it has done so far, its rate and the time
spent, on stderr, and clears that line when it ends. In a pipe or a CI log, where a
live line would be noise, it prints one line at the end instead::

    ingested 5,000,000 spans in 24.1 s (207,000 spans/s)

With ``--json`` nothing is printed: the JSON already has the counts and seconds.
The work reports through `Tracker.advance`, called once per batch (a drain's
transaction, a spool segment, a chunk of rows), never per span. rich is imported
only when a live line is shown, so commands start no slower for it.
"""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import IO, Any

__all__ = ["Tracker", "live_terminal", "rate", "summary", "under_ci"]


def under_ci() -> bool:
    """Whether the ``CI`` variable says this runs in continuous integration."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def live_terminal(stream: IO[str] | None = None) -> bool:
    """Whether a live progress line belongs on `stream` (stderr by default)."""
    s = stream if stream is not None else sys.stderr
    try:
        return s.isatty() and not under_ci()
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False


def rate(count: int, seconds: float) -> str:
    """Items per second, to three significant figures: ``207,000``, ``45.2``, ``0.5``."""
    if seconds <= 0:
        return "—"
    r = count / seconds
    if r >= 100:
        digits = len(str(int(r))) - 3
        return f"{round(r, -digits):,.0f}"
    return f"{r:.3g}"


def summary(done: str, count: int, unit: str, seconds: float) -> str:
    """The line a command prints at the end in a pipe or a CI log."""
    return f"{done} {count:,} {unit} in {seconds:.1f} s ({rate(count, seconds)} {unit}/s)"


class Tracker:
    """Counts what a command has done and shows it (see the module's docstring).

    Example::

        with Tracker("ingesting", "ingested", "spans", quiet=as_json) as progress:
            store.ingest(progress=progress.advance)

    `then(doing)` starts a later phase whose items are shown live but not summed:
    an import that then ingests what it spooled says how many spans it imported.
    `console` (a rich Console) replaces stderr, and counts as a terminal when it is
    one (tests pass ``Console(force_terminal=True)``).
    """

    def __init__(
        self, doing: str, done: str, unit: str, *, quiet: bool = False, console: Any = None
    ) -> None:
        self.doing, self.done, self.unit = doing, done, unit
        self.quiet = quiet
        self.count = 0
        self._console = console
        self._summed = True
        self._live: Any = None  # a rich Progress while shown
        self._task: Any = None
        self._t0 = 0.0

    def __enter__(self) -> Tracker:
        self._t0 = time.perf_counter()
        if self.quiet:
            return self
        terminal = (
            self._console.is_terminal and not under_ci()
            if self._console is not None
            else live_terminal()
        )
        if terminal:
            self._live = _live_progress(self._console, self.unit)
            self._live.start()
            self._task = self._live.add_task(self.doing, total=None)
        return self

    def advance(self, n: int) -> None:
        """Count `n` more items done (call once per batch)."""
        if self._summed:
            self.count += n
        if self._live is not None:
            self._live.advance(self._task, n)

    def then(self, doing: str) -> None:
        """Go on to a phase shown live under `doing`, whose items the summary leaves out."""
        self._summed = False
        if self._live is not None:
            self._live.update(self._task, visible=False)
            self._task = self._live.add_task(doing, total=None)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        seconds = time.perf_counter() - self._t0
        if self._live is not None:
            self._live.stop()
            self._live = None
        elif not self.quiet and exc_type is None:
            line = summary(self.done, self.count, self.unit, seconds)
            if self._console is not None:
                self._console.print(line, highlight=False, markup=False, soft_wrap=True)
            else:
                print(line, file=sys.stderr, flush=True)


def _live_progress(console: Any, unit: str) -> Any:
    from rich.console import Console
    from rich.progress import (
        Progress,
        ProgressColumn,
        SpinnerColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            if speed is None and task.completed and task.elapsed:
                speed = task.completed / task.elapsed  # one step so far: its average
            shown = "—" if speed is None else rate(int(speed * 1000), 1000.0)
            return Text(f"{shown} {unit}/s", style="progress.data.speed")

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,.0f} " + unit.replace("[", r"\[")),
        Rate(),
        TimeElapsedColumn(),
        console=console if console is not None else Console(stderr=True),
        transient=True,
    )
