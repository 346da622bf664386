"""The TUI defects a person found in a real terminal, each driven here as they met it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from opentelemetry.sdk.trace import TracerProvider
from textual import events
from textual.app import App
from textual.keys import _character_to_key
from textual.pilot import Pilot
from textual.widgets import Input, Static

import agentreel
import agentreel.cli
from agentreel._editor import editor_command
from agentreel.cli import main
from agentreel.demo import run_demo
from agentreel.store import Store
from agentreel.tui import AgentreelApp
from agentreel.tui._external import run_outside
from agentreel.tui._run import RunScreen
from agentreel.tui._runs import RunsScreen
from agentreel.tui._spanview import SpanView
from tests.tui.test_app import ROOT, drive, runs_ready, runs_table, text_of, until


def test_plain_agentreel_opens_the_store_agentreel_dir_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Path] = []

    class App:
        def __init__(self, path: Path, refresh_every: float) -> None:
            opened.append(path)

        def run(self) -> None:
            pass

    monkeypatch.setattr(agentreel.cli, "_is_terminal", lambda: True)
    monkeypatch.setattr("agentreel.tui.AgentreelApp", App)
    store = tmp_path / "elsewhere"
    result = CliRunner().invoke(main, [], env={"AGENTREEL_DIR": str(store)})
    assert result.exit_code == 0, result.output
    assert opened == [store.absolute()]


class _Driver:
    """Stands in for Textual's terminal driver: records suspend and resume."""

    can_suspend = True

    def __init__(self) -> None:
        self.calls: list[str] = []

    def suspend_application_mode(self) -> None:
        self.calls.append("suspend")

    def resume_application_mode(self) -> None:
        self.calls.append("resume")

    def no_automatic_restart(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


class _App:
    """Just what `App.suspend` touches, with Textual's own `suspend` bound to it."""

    def __init__(self) -> None:
        self._driver = _Driver()
        self._suspend_signal = lambda: None
        self._resume_signal = lambda: None
        self.refresh = lambda **_: None

    def suspend(self) -> contextlib.AbstractContextManager[None]:
        return App.suspend(self)  # type: ignore[arg-type]


def test_a_pager_that_does_not_exist_leaves_the_app_running() -> None:
    app = _App()
    failure = run_outside(app, ["/nonexistent/pager", "x.json"], what="$PAGER")
    assert failure is not None
    assert "no such program" in failure
    assert app._driver.calls == []  # never suspended


@pytest.mark.parametrize(
    ("run", "says"),
    [
        (lambda *a, **k: subprocess.CompletedProcess(a, 3), "exited with status 3"),
        (lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()), "was interrupted"),
        (lambda *a, **k: (_ for _ in ()).throw(PermissionError(13, "denied")), "denied"),
    ],
)
def test_a_pager_or_editor_that_fails_gives_the_terminal_back(
    monkeypatch: pytest.MonkeyPatch, run: Any, says: str
) -> None:
    monkeypatch.setattr(subprocess, "run", run)
    app = _App()
    failure = run_outside(app, ["sh", "x.json"], what="$EDITOR")
    assert failure is not None
    assert says in failure
    assert app._driver.calls == ["suspend", "resume"]


def test_fork_and_edit_start_the_same_editor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", "nano -w")
    assert editor_command() == ["nano", "-w"]
    monkeypatch.setenv("VISUAL", "code --wait")
    assert editor_command() == ["code", "--wait"]
    seen: list[str | None] = []
    monkeypatch.setattr(
        click, "edit", lambda text, editor=None, **k: seen.append(editor) or '"edited"'
    )
    monkeypatch.setattr("agentreel.replay.steps", lambda run_id, store: [{"output": '"x"'}])
    from agentreel.cli._replay import _edited_response

    assert _edited_response("abcd", 1, Path("."), None) == "edited"
    assert seen == ["code --wait"]


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("trust") / "store"
    agentreel.init(d, tracer_provider=TracerProvider())
    try:
        run_demo(6, seed=0, latency=0.001)
    finally:
        agentreel.shutdown()
    with Store.open(d, create=True) as store:
        store.ingest()
    return d


def _typed_at_once(app: AgentreelApp, keys: str) -> None:
    """Queue keys as a person types them while the app is busy: all before any is handled."""
    assert app._driver is not None
    for ch in keys:
        event = events.Key(ch if ch.isalnum() else _character_to_key(ch), ch)
        event.set_sender(app)
        app._driver.send_message(event)  # as the terminal driver hands keys over


def test_keys_typed_after_slash_go_to_the_filter_even_when_queued(demo_store: Path) -> None:
    async def steps(pilot: Pilot[None]) -> None:
        await until(
            pilot, lambda: isinstance(pilot.app.screen, RunsScreen) and runs_table(pilot).row_count
        )
        # `q` (quit) and `c` (checks) are in the text: typed into the field, not run
        _typed_at_once(pilot.app, "/tag:eq name:research c")
        typed = "tag:eq name:research c"
        await until(pilot, lambda: pilot.app.screen.query_one("#filter", Input).value == typed)
        await pilot.pause()  # until the app is idle: every queued key has been handled
        assert isinstance(pilot.app.screen, RunsScreen)
        assert pilot.app.is_running
        assert pilot.app.screen.query_one("#filter", Input).value == "tag:eq name:research c"

    drive(AgentreelApp(demo_store, refresh_every=60), steps)


def test_an_arrow_pressed_right_after_a_filter_moves_in_the_table(demo_store: Path) -> None:
    """The table takes the focus when the filtered rows arrive (drawn once, with them); an
    arrow pressed before that moves the table's cursor, not the filter field's."""

    async def steps(pilot: Pilot[None]) -> None:
        await until(
            pilot, lambda: isinstance(pilot.app.screen, RunsScreen) and runs_table(pilot).row_count
        )
        screen = pilot.app.screen
        assert isinstance(screen, RunsScreen)
        gate = threading.Event()  # the filtered read waits until the arrow was handled
        read = screen.reader.runs

        def held(*args: Any, **kwargs: Any) -> Any:
            gate.wait(30)
            return read(*args, **kwargs)

        screen.reader.runs = held  # type: ignore[method-assign]
        await pilot.press("slash", *"name:research", "enter")
        await until(pilot, lambda: screen.query_text == "name:research")
        assert screen.focused is screen.query_one("#filter", Input)  # the rows are not here yet
        await pilot.press("down")
        assert screen.focused is runs_table(pilot)
        assert runs_table(pilot).cursor_row == 1
        gate.set()
        await until(pilot, lambda: "match" in text_of(screen.query_one("#status-line", Static)))
        await until(pilot, lambda: not screen._loading)
        assert screen.focused is runs_table(pilot)
        assert runs_table(pilot).cursor_row == 1  # every demo run is named research: same rows
        assert screen.query_one("#filter", Input).value == "name:research"

    drive(AgentreelApp(demo_store, refresh_every=60), steps)


def test_a_slash_before_the_filtered_rows_keeps_the_focus_in_the_field(demo_store: Path) -> None:
    """Back in the filter field before the last filter's rows came, the keys stay there:
    the rows arriving do not take the focus to the table (where `q` quits)."""

    async def steps(pilot: Pilot[None]) -> None:
        await until(
            pilot, lambda: isinstance(pilot.app.screen, RunsScreen) and runs_table(pilot).row_count
        )
        screen = pilot.app.screen
        assert isinstance(screen, RunsScreen)
        gate = threading.Event()
        read = screen.reader.runs

        def held(*args: Any, **kwargs: Any) -> Any:
            gate.wait(30)
            return read(*args, **kwargs)

        screen.reader.runs = held  # type: ignore[method-assign]
        await pilot.press("slash", *"name:research", "enter")
        await until(pilot, lambda: screen.query_text == "name:research")
        await pilot.press("escape", "slash")  # clear it, and back to the field
        gate.set()
        await until(pilot, lambda: not screen._loading)
        await pilot.pause()
        _typed_at_once(pilot.app, "q")
        await pilot.pause()
        assert screen.focused is screen.query_one("#filter", Input)
        assert screen.query_one("#filter", Input).value == "q"
        assert pilot.app.is_running

    drive(AgentreelApp(demo_store, refresh_every=60), steps)


def test_keys_typed_after_slash_go_to_the_run_search_even_when_queued(demo_store: Path) -> None:
    async def steps(pilot: Pilot[None]) -> None:
        await until(
            pilot, lambda: isinstance(pilot.app.screen, RunsScreen) and runs_table(pilot).row_count
        )
        await pilot.press("enter")
        await until(
            pilot, lambda: isinstance(pilot.app.screen, RunScreen) and pilot.app.screen.rows
        )
        _typed_at_once(pilot.app, "/quote")  # q is back, u and o are keys of this screen
        await until(pilot, lambda: pilot.app.screen.query_one("#search", Input).value == "quote")
        assert isinstance(pilot.app.screen, RunScreen)

    drive(AgentreelApp(demo_store, refresh_every=60), steps)


LIVE_PROGRAM = """
import pathlib, sys, time
import agentreel

store, go = sys.argv[1], pathlib.Path(sys.argv[2])
agentreel.init(store)


@agentreel.tool
def step(i: int) -> int:
    return i


with agentreel.run("live"):
    for i in range(3):
        step(i)
    agentreel.flush()
    print("half", flush=True)
    while not go.exists():
        time.sleep(0.02)
    for i in range(3, 10):
        step(i)
agentreel.shutdown()
print("done", flush=True)
"""


def _spans(pilot: Pilot[None]) -> SpanView:
    return pilot.app.screen.query_one("#spans", SpanView)


def _header(pilot: Pilot[None]) -> str:
    return text_of(pilot.app.screen.query_one("#run-header", Static))


def test_the_run_screen_follows_a_run_that_records(tmp_path: Path) -> None:
    store, go = tmp_path / "store", tmp_path / "go"

    async def steps(pilot: Pilot[None]) -> None:
        agent = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            LIVE_PROGRAM,
            str(store),
            str(go),
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "AGENTREEL_FLUSH": "0.1"},
        )
        try:
            assert agent.stdout is not None
            assert b"half" in await agent.stdout.readline()
            await until(pilot, lambda: runs_ready(pilot) and runs_table(pilot).row_count == 1)
            await pilot.press("enter")
            await until(
                pilot,
                lambda: isinstance(pilot.app.screen, RunScreen) and _spans(pilot).row_count == 4,
            )
            assert "running" in _header(pilot)
            _spans(pilot).move_cursor(row=2)  # the second step
            here = pilot.app.screen.current()
            go.touch()
            assert b"done" in await agent.stdout.readline()
            # the screen follows: the run's end, all its spans, the cursor where it was
            await until(pilot, lambda: _spans(pilot).row_count == 11, timeout=60)
            # the header catches up too (its row and the spans are read apart), ended ok
            await until(
                pilot,
                lambda: "11 spans" in _header(pilot) and "  ok  " in _header(pilot),
                timeout=60,
            )
            assert pilot.app.screen.current()["span_id"] == here["span_id"]
        finally:
            if agent.returncode is None:
                agent.kill()
            await agent.wait()

    store.mkdir()
    drive(AgentreelApp(store, refresh_every=0.2), steps)


def test_an_interrupted_run_reads_interrupted_in_the_tree_and_the_detail(tmp_path: Path) -> None:
    store = tmp_path / "store"
    agent = subprocess.Popen(
        [sys.executable, "-m", "tests._agent_program", str(store), "1", "2", "--hang"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "AGENTREEL_FLUSH": "0.1"},
    )
    try:
        assert agent.stdout is not None
        while b"flushed 2" not in agent.stdout.readline():
            pass
    finally:
        agent.kill()
        agent.wait()
    for beat in (store / "spool" / "live").iterdir():  # the process is gone: so is its heartbeat
        beat.unlink()

    async def steps(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: runs_ready(pilot) and runs_table(pilot).row_count == 1)
        await pilot.press("enter")
        await until(
            pilot, lambda: isinstance(pilot.app.screen, RunScreen) and _spans(pilot).row_count > 0
        )
        assert "interrupted" in _header(pilot)
        view = _spans(pilot)
        root = "".join(seg.text for seg in view.render_line(0))
        assert "interrupted" in root
        assert "running" not in root
        detail = text_of(pilot.app.screen.query_one("#detail-body", Static))
        assert "interrupted" in detail.splitlines()[1]

    drive(AgentreelApp(store, refresh_every=60), steps)


def test_search_in_a_run_marks_every_match_and_steps_through_them(demo_store: Path) -> None:
    async def steps(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: runs_ready(pilot) and runs_table(pilot).row_count)
        await pilot.press("enter")
        await until(
            pilot, lambda: isinstance(pilot.app.screen, RunScreen) and pilot.app.screen.rows
        )
        screen = pilot.app.screen
        assert isinstance(screen, RunScreen)
        await pilot.press("slash", *"web_search", "enter")
        fields = ("name", "input", "output", "error_message", "tool_name")
        hits = [
            i
            for i, s in enumerate(screen.rows)
            if any("web_search" in str(s.get(k) or "").lower() for k in fields)
        ]
        assert len(hits) >= 2
        view = _spans(pilot)
        assert view._marked == {screen.rows[i]["span_id"] for i in hits}
        assert view.cursor_row == hits[0]
        await pilot.press("right_square_bracket")
        assert view.cursor_row == hits[1]
        await pilot.press("left_square_bracket")
        assert view.cursor_row == hits[0]
        await pilot.press("left_square_bracket")  # wraps round to the last
        assert view.cursor_row == hits[-1]
        await pilot.press("slash")  # the last search comes back, to refine or replace
        assert screen.query_one("#search", Input).value == "web_search"

    drive(AgentreelApp(demo_store, refresh_every=60), steps)


def test_the_strip_above_the_runs_is_scaled_from_zero() -> None:
    from agentreel.tui._strip import bars

    assert bars([0.0], 40) == " "  # one run, no error: no bar (it was a full one)
    assert bars([4.0, 4.0], 40) == "██"  # runs that all failed alike: full bars, not a floor
    assert bars([], 40) == ""  # no run matches: nothing (it was full bars)
    assert bars([1.0, 0.0, 8.0], 40) == "▁ █"
    assert len(bars([float(i) for i in range(500)], 40)) == 40  # many runs: one bar a bucket
    assert bars([float(i) for i in range(500)], 40)[-1] == "█"
