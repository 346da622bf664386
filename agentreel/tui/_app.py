"""The agentreel app: screens and bindings; the work lives in the screens."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from agentreel._errors import AgentreelError, StoreBusy, StoreVersionError
from agentreel.store import SCHEMA_VERSION, spool_status
from agentreel.tui._empty import EmptyScreen, no_store_message
from agentreel.tui._messages import SpoolDrained
from agentreel.tui._reader import StoreReader
from agentreel.tui._runs import RunsScreen

__all__ = ["AgentreelApp"]

#: Seconds between drain steps while segments are left over (others may take the store).
CATCH_UP_GAP_S = 0.05
#: Seconds before trying again when another process had the store or waited for it.
BUSY_GAP_S = 0.25


def _terminal_is_light() -> bool:
    """COLORFGBG ("fg;bg", set by many terminals) says whether the background is light."""
    bg = os.environ.get("COLORFGBG", "").split(";")[-1]
    return bg in ("7", "15")


class AgentreelApp(App[None]):
    """Browse recorded runs: `AgentreelApp(Path(".agentreel")).run()`."""

    TITLE = "agentreel"
    CSS_PATH = "agentreel.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", show=False),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, path: Path, *, refresh_every: float = 1.0) -> None:
        super().__init__()
        self.reader = StoreReader(path)
        self.refresh_every = refresh_every
        self._last_drain_error: str | None = None
        if _terminal_is_light():
            self.theme = "textual-light"

    def on_mount(self) -> None:
        if not self.reader.exists():
            self._drain()  # notices the first segment an agent writes
            self.push_screen(EmptyScreen(no_store_message(str(self.reader.path))))
            return
        # Opening may wait for another process or migrate the store: not on the UI thread.
        # The runs screen comes up meanwhile (its reads wait for the open, in their own
        # worker); what the open finds wrong replaces it.
        self.push_screen(RunsScreen(self.reader, refresh_every=self.refresh_every))
        self._open_store()

    @work(thread=True, group="open")
    def _open_store(self) -> None:
        try:
            problem = self._check_store()
        except Exception as e:  # whatever it is, say it; the app stays up
            problem = Text.assemble(
                ("Cannot open the store\n\n", "bold"), f"{type(e).__name__}: {e}"
            )
        self.call_from_thread(self._opened, problem)

    def _opened(self, problem: Text | None) -> None:
        if problem is None:
            self._freeze()
            self._drain()  # after the open: a drain that met it would have given way
            return
        if isinstance(self.screen, (EmptyScreen, RunsScreen)):
            self.pop_screen()
        self.push_screen(EmptyScreen(problem, watch=False))

    @staticmethod
    def _freeze() -> None:
        # What is alive now (modules, the app, the store's libraries: most of the
        # process's objects) stays alive: kept out of the garbage collector's full
        # passes, which otherwise walk all of it and stall a filter or a sort by up to
        # a quarter of a second (measured on a million-span store).
        gc.freeze()

    def on_unmount(self) -> None:
        gc.unfreeze()
        # commands that read go back to draining for themselves
        self.reader.stop_draining()

    def _check_store(self) -> Text | None:
        try:
            with self.reader.session():
                return None
        except StoreVersionError as e:
            return Text.assemble(
                ("This store is newer than this agentreel\n\n", "bold"),
                str(e),
                f"\n\n(this agentreel reads schema version {SCHEMA_VERSION})",
            )
        except StoreBusy:
            return None  # the runs screen retries on each refresh
        except AgentreelError as e:
            return Text.assemble(("Cannot open the store\n\n", "bold"), str(e))

    # -- the live drain: spool -> store, apart from every read -----------------

    @work(thread=True, group="drain")
    def _drain(self) -> None:
        spans, more, busy = 0, False, False
        try:
            if self.reader.exists():
                report = self.reader.drain()
                # a run that ended changes the list as much as a new one
                spans = report.spans + report.completed if report is not None else 0
                more = spool_status(self.reader.path).pending_segments > 0
                busy = report is None
        except AgentreelError:
            pass  # a busy or unreadable store: the screens' own reads say why
        except Exception as e:  # never let a failed drain take the viewer down
            self.call_from_thread(self._drain_failed, f"{type(e).__name__}: {e}")
        self.post_message(SpoolDrained(spans, more, busy))

    def _drain_failed(self, error: str) -> None:
        """Say once why draining failed (it is tried again on the next tick)."""
        if error != self._last_drain_error:
            self._last_drain_error = error
            first = error.strip().splitlines()[0] if error.strip() else error
            self.notify(f"could not drain the spool: {first}", severity="error", timeout=10)

    @on(SpoolDrained)
    def _drained(self, event: SpoolDrained) -> None:
        if event.spans and isinstance(self.screen, RunsScreen):
            self.screen.load()
        gap = self.refresh_every
        if event.more:  # a backlog: soon, or a little later if another process had the store
            gap = BUSY_GAP_S if event.busy else CATCH_UP_GAP_S
        self.set_timer(gap, self._drain)

    def show_runs(self) -> None:
        if isinstance(self.screen, EmptyScreen):
            self.pop_screen()
        self._freeze()
        self.push_screen(RunsScreen(self.reader, refresh_every=self.refresh_every))

    # The checks and help screens are imported when first shown: the runs list, which
    # every start shows first, needs neither (nor the libraries they load).

    def action_checks(self) -> None:
        from agentreel.tui._checks import ChecksScreen

        if not isinstance(self.screen, ChecksScreen):
            self.push_screen(ChecksScreen(self.reader, refresh_every=max(self.refresh_every, 5.0)))

    def action_sessions(self) -> None:
        from agentreel.tui._sessions import SessionsScreen

        if not isinstance(self.screen, SessionsScreen):
            self.push_screen(
                SessionsScreen(self.reader, refresh_every=max(self.refresh_every, 5.0))
            )

    def action_help(self) -> None:
        from agentreel.tui._help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        from agentreel.tui._checks import ChecksScreen

        yield from super().get_system_commands(screen)
        for b in screen.BINDINGS:
            if isinstance(b, Binding) and b.description and not b.action.startswith("app."):
                yield SystemCommand(
                    b.description, f"key: {b.key}", lambda a=b.action: screen.run_action(a)
                )
        if not isinstance(screen, (EmptyScreen, ChecksScreen)):
            yield SystemCommand(
                "Checks",
                "the latest check results, their failing runs and history",
                self.action_checks,
            )
        yield SystemCommand(
            "Sessions", "runs grouped into conversations, read as transcripts", self.action_sessions
        )
        yield SystemCommand("Help", "show every key", self.action_help)
