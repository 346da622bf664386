"""The TUI driven as a user would, with Textual's Pilot, on real stores."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from textual.css.query import NoMatches
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

import agentreel
from agentreel.demo import run_demo
from agentreel.store import Store
from agentreel.tui import AgentreelApp
from agentreel.tui._empty import EmptyScreen
from agentreel.tui._help import HelpScreen
from agentreel.tui._run import RunScreen
from agentreel.tui._runs import RunsScreen
from agentreel.tui._spanview import SpanView

ROOT = Path(__file__).resolve().parents[2]
N_RUNS = 12


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("tui") / "store"
    agentreel.init(d, tracer_provider=TracerProvider())
    try:
        run_demo(N_RUNS, seed=0, latency=0.001)
    finally:
        agentreel.shutdown()
    with Store.open(d, create=True) as store:
        store.ingest()
    return d


def drive(
    app: AgentreelApp,
    steps: Callable[[Pilot[None]], Awaitable[None]],
    size: tuple[int, int] = (160, 44),
) -> None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await steps(pilot)

    asyncio.run(main())


async def until(pilot: Pilot[None], cond: Callable[[], Any], timeout: float = 30.0) -> None:
    """Let the app work until `cond()` holds (worker threads finish in their own time).

    A widget `cond` looks for may not be there yet: a screen just pushed is current
    before its widgets are mounted. That counts as not yet.
    """
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        try:
            if cond():
                return
        except NoMatches:
            pass
        if loop.time() > end:
            raise AssertionError(f"the app did not get there in time; {_state(pilot.app)}")
        await pilot.pause(0.05)


def _state(app: Any) -> str:
    """What the app shows, for a failure's message: its screen, its toasts, its workers."""
    toasts = [str(n.message) for n in getattr(app, "_notifications", [])]
    workers = [f"{w.group}:{w.state.name}" for w in app.workers]
    says = getattr(app.screen, "message", None)  # an empty screen's reason
    shown = f" saying {str(says)!r}" if says is not None else ""
    return f"screen {type(app.screen).__name__}{shown}, notifications {toasts}, workers {workers}"


def runs_ready(pilot: Pilot[None]) -> bool:
    """The runs screen is up and takes keys (the store opens in a worker, then it is pushed)."""
    screen = pilot.app.screen
    return isinstance(screen, RunsScreen) and screen.is_mounted


def text_of(widget: Static) -> str:
    """What a Static shows, as plain text (rich renderables rendered at 250 columns)."""
    from rich.console import Console

    console = Console(width=250, record=True, color_system=None)
    console.print(widget.content)
    return console.export_text()


def runs_table(pilot: Pilot[None]) -> DataTable:  # type: ignore[type-arg]
    return pilot.app.screen.query_one("#runs", DataTable)


def cell_text(table: DataTable, row: int, column: str) -> str:  # type: ignore[type-arg]
    return str(
        table.get_cell_at((row, [str(c.key.value) for c in table.ordered_columns].index(column)))
    )


def test_runs_screen_lists_filters_and_sorts(demo_dir: Path) -> None:
    with Store.open(demo_dir) as store:
        runs = store.runs()
    n_errors = runs.filter(runs["status"] == "error").height
    assert 0 < n_errors < N_RUNS

    async def steps(pilot: Pilot[None]) -> None:
        await until(
            pilot,
            lambda: (
                isinstance(pilot.app.screen, RunsScreen) and runs_table(pilot).row_count == N_RUNS
            ),
        )
        table = runs_table(pilot)
        assert cell_text(table, 0, "name") == "research"
        status_line = text_of(pilot.app.screen.query_one("#status-line", Static))
        assert f"{N_RUNS} runs" in status_line
        # filter from the keyboard
        await pilot.press("slash")
        await pilot.press(*"status:error")
        await pilot.press("enter")
        await until(pilot, lambda: runs_table(pilot).row_count == n_errors)
        assert {cell_text(table, i, "status") for i in range(table.row_count)} == {
            "✗ error"
        }  # an error carries a glyph, not only a colour
        # a bad filter says what is wrong and keeps the table
        await pilot.press("slash")
        await pilot.press("ctrl+a", "ctrl+k", *"colour:red", "enter")
        await until(
            pilot,
            lambda: (
                "unknown filter key" in text_of(pilot.app.screen.query_one("#status-line", Static))
            ),
        )
        await pilot.press("escape")  # clear the filter
        await until(pilot, lambda: runs_table(pilot).row_count == N_RUNS)
        # sort: s moves to the next column (duration), longest first
        await pilot.press("s")
        await until(pilot, lambda: pilot.app.screen.order_by == "duration_ms")  # type: ignore[attr-defined]
        await until(
            pilot,
            lambda: (
                cell_text(runs_table(pilot), 0, "id")
                == runs.sort("duration_ms", descending=True)["run_id"][0][:12]
            ),
        )

    drive(AgentreelApp(demo_dir), steps)


def test_run_screen_tree_detail_errors_fold_and_search(demo_dir: Path) -> None:
    with Store.open(demo_dir) as store:
        failed = store.runs(status="error").row(0, named=True)

    async def steps(pilot: Pilot[None]) -> None:
        await until(
            pilot,
            lambda: (
                isinstance(pilot.app.screen, RunsScreen) and runs_table(pilot).row_count == N_RUNS
            ),
        )
        await pilot.press("slash", *f"id:{failed['run_id'][:8]}", "enter")
        await until(pilot, lambda: runs_table(pilot).row_count == 1)
        await pilot.press("enter")
        await until(
            pilot, lambda: isinstance(pilot.app.screen, RunScreen) and pilot.app.screen.rows
        )
        screen = pilot.app.screen
        assert isinstance(screen, RunScreen)
        spans = screen.query_one("#spans", SpanView)
        assert spans.row_count == failed["span_count"]
        assert "research" in text_of(screen.query_one("#run-header", Static))
        # next error: the cursor lands on a failed span, and the detail shows its error
        await pilot.press("n")
        current = screen.current()
        assert current is not None
        assert current["status"] == "error"
        await until(pilot, lambda: "Error" in text_of(screen.query_one("#detail-body", Static)))
        detail = text_of(screen.query_one("#detail-body", Static))
        assert "Error" in detail
        assert (current["error_type"] or "") in detail
        # fold the root: one row left; unfold: all back
        spans.move_cursor(row=0)
        await pilot.pause()
        await pilot.press("space")
        assert spans.row_count == 1
        await pilot.press("space")
        assert spans.row_count == failed["span_count"]
        # search within the run
        await pilot.press("slash", *"web_search", "enter")
        found = screen.current()
        assert found is not None
        # the first span after the root that mentions it: the planner's tool call
        assert found["kind"] == "llm"
        assert "web_search" in found["output"]
        await pilot.press("slash", *"execute_tool web_search", "enter")
        assert screen.current()["tool_name"] == "web_search"  # type: ignore[index]
        # copy a payload
        await pilot.press("c")
        await pilot.press("escape")
        await until(pilot, lambda: runs_ready(pilot))

    drive(AgentreelApp(demo_dir), steps)


def test_help_overlay_lists_every_key_of_the_screen(demo_dir: Path) -> None:
    async def steps(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: runs_ready(pilot))
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
        text = " ".join(text_of(w) for w in pilot.app.screen.query(Static))
        for label in ("Filter", "Sort", "Refresh", "Quit", "status:error", "command palette"):
            assert label in text
        await pilot.press("escape")
        await until(pilot, lambda: runs_ready(pilot))

    drive(AgentreelApp(demo_dir), steps)


def test_empty_store_says_how_to_start_and_notices_the_first_run(tmp_path: Path) -> None:
    store_dir = tmp_path / "fresh"

    async def steps(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: isinstance(pilot.app.screen, EmptyScreen))
        message = text_of(pilot.app.screen.query_one("#empty-message", Static))
        assert "No runs recorded yet" in message
        assert "agentreel demo" in message
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests._agent_program", str(store_dir), "1", "2", cwd=str(ROOT)
        )
        assert await proc.wait() == 0
        await until(
            pilot,
            lambda: isinstance(pilot.app.screen, RunsScreen) and runs_table(pilot).row_count == 1,
        )

    drive(AgentreelApp(store_dir), steps)


def test_live_runs_appear_without_a_key_and_the_cli_is_not_blocked(tmp_path: Path) -> None:
    store_dir = tmp_path / "live"
    subprocess.run(
        [sys.executable, "-m", "tests._agent_program", str(store_dir), "2", "2"],
        cwd=ROOT,
        check=True,
        timeout=60,
    )

    async def steps(pilot: Pilot[None]) -> None:
        await until(
            pilot,
            lambda: isinstance(pilot.app.screen, RunsScreen) and runs_table(pilot).row_count == 2,
        )
        # a run that stays open shows as running, and new runs arrive by themselves
        hang = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests._agent_program",
            str(store_dir),
            "2",
            "3",
            "--hang",
            cwd=str(ROOT),
            stdout=asyncio.subprocess.PIPE,
            env={**__import__("os").environ, "AGENTREEL_FLUSH": "0.2"},
        )
        try:
            assert hang.stdout is not None
            while b"flushed 3" not in await hang.stdout.readline():
                pass
            await until(pilot, lambda: runs_table(pilot).row_count == 4)
            await until(
                pilot,
                lambda: "running" in {cell_text(runs_table(pilot), i, "status") for i in range(4)},
            )
            # meanwhile the CLI gets the store
            cli = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "agentreel",
                "runs",
                "--json",
                "--dir",
                str(store_dir),
                cwd=str(ROOT),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(cli.communicate(), 60)
            assert cli.returncode == 0, err
            assert len(json.loads(out)) == 4
        finally:
            hang.kill()
            await hang.wait()

    drive(AgentreelApp(store_dir, refresh_every=0.2), steps)


def test_a_newer_store_is_explained_not_touched(tmp_path: Path) -> None:
    import duckdb

    store_dir = tmp_path / "newer"
    Store.open(store_dir, create=True).close()
    con = duckdb.connect(str(store_dir / "agentreel.duckdb"))
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.close()

    async def steps(pilot: Pilot[None]) -> None:
        def message() -> str:
            return text_of(pilot.app.screen.query_one("#empty-message", Static))

        # the store is opened in a worker: "opening ..." first, then what it found
        await until(
            pilot,
            lambda: isinstance(pilot.app.screen, EmptyScreen) and "opening" not in message(),
        )
        assert "newer than this agentreel" in message()

    drive(AgentreelApp(store_dir), steps)


def test_diff_two_runs_from_the_runs_screen(demo_dir: Path) -> None:
    from agentreel.tui._diff import DiffScreen

    async def steps(pilot: Pilot[None]) -> None:
        await until(
            pilot,
            lambda: (
                isinstance(pilot.app.screen, RunsScreen) and runs_table(pilot).row_count == N_RUNS
            ),
        )
        await pilot.press("d")  # run A: the newest
        await pilot.press("down", "d")  # run B: the one before
        await until(
            pilot,
            lambda: isinstance(pilot.app.screen, DiffScreen) and pilot.app.screen.diff is not None,
        )
        screen = pilot.app.screen
        assert isinstance(screen, DiffScreen)
        assert screen.diff is not None
        table = screen.query_one("#diff", DataTable)
        assert table.row_count == len(screen.diff.pairs)
        assert screen.diff.first_difference is not None  # two different demo runs
        assert table.cursor_row == screen.diff.first_difference
        header = text_of(screen.query_one("#diff-header", Static))
        assert "steps differ" in header
        before = table.cursor_row
        await pilot.press("n")
        assert table.cursor_row > before
        assert screen.diff.pairs[table.cursor_row].differs
        await pilot.press("escape")
        await until(pilot, lambda: runs_ready(pilot))

    drive(AgentreelApp(demo_dir), steps)


def test_light_terminals_get_the_light_theme_and_no_color_is_respected(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLORFGBG", "0;15")  # dark text on a white background
    assert AgentreelApp(demo_dir).theme == "textual-light"
    monkeypatch.setenv("COLORFGBG", "15;0")
    assert AgentreelApp(demo_dir).theme != "textual-light"
    monkeypatch.setenv("NO_COLOR", "1")
    app = AgentreelApp(demo_dir)
    assert app.no_color

    async def steps(pilot: Pilot[None]) -> None:
        await until(
            pilot,
            lambda: (
                isinstance(pilot.app.screen, RunsScreen) and runs_table(pilot).row_count == N_RUNS
            ),
        )

    drive(app, steps)


def test_replay_steps_plays_and_shows_the_state_as_the_agent_saw_it(demo_dir: Path) -> None:
    from agentreel.tui._replay import ReplayScreen

    with Store.open(demo_dir) as store:
        failed = store.runs(status="error").row(0, named=True)

    async def steps(pilot: Pilot[None]) -> None:
        await until(
            pilot,
            lambda: (
                isinstance(pilot.app.screen, RunsScreen) and runs_table(pilot).row_count == N_RUNS
            ),
        )
        await pilot.press("slash", *f"id:{failed['run_id'][:8]}", "enter")
        await until(pilot, lambda: runs_table(pilot).row_count == 1)
        await pilot.press("enter")
        await until(
            pilot, lambda: isinstance(pilot.app.screen, RunScreen) and pilot.app.screen.rows
        )
        await pilot.press("r")
        await until(pilot, lambda: isinstance(pilot.app.screen, ReplayScreen))
        screen = pilot.app.screen
        assert isinstance(screen, ReplayScreen)
        n = failed["span_count"]
        assert len(screen.state) == n
        assert screen.index == 0
        state = text_of(screen.query_one("#state-body", Static))
        assert f"step 1/{n}" in state
        assert "no LLM call yet" in state
        # step forward to the first LLM call, then past it: its reply is in the conversation
        await pilot.press("l")
        llm_step = screen.index
        assert screen.state.steps[llm_step]["kind"] == "llm"
        await pilot.press("right")
        state = text_of(screen.query_one("#state-body", Static))
        assert "user" in state
        assert "web_search" in state  # the planner asked for searches
        # back is instant and exact
        await pilot.press("left", "left")
        assert screen.index == llm_step - 1
        # the first error, with the running totals up to it
        await pilot.press("e")
        assert screen.state.steps[screen.index]["status"] == "error"
        # play: the playhead moves by itself; space pauses
        await pilot.press("home", "m")  # one step per tick
        assert not screen.real_time
        await pilot.press("space")
        await until(pilot, lambda: screen.index >= 3)
        await pilot.press("space")
        paused_at = screen.index
        await pilot.pause(0.4)
        assert screen.index == paused_at
        # speed and go-to
        await pilot.press("plus", "plus")
        assert screen.speed == 4.0
        await pilot.press("g", *"5", "enter")
        assert screen.index == 4
        lanes = text_of(screen.query_one("#lanes", Static))
        assert "researcher" in lanes
        assert "llm" in lanes
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen))

    drive(AgentreelApp(demo_dir), steps)


def test_run_names_and_tags_are_shown_as_written_not_as_markup(tmp_path: Path) -> None:
    d = tmp_path / "store"
    agentreel.init(d, tracer_provider=TracerProvider())
    try:
        with agentreel.run("eval [tool=search] [bold]x", tags={"note": "[red]hot"}):
            pass
    finally:
        agentreel.shutdown()
    with Store.open(d, create=True) as store:
        store.ingest()

    async def steps(pilot: Pilot[None]) -> None:
        await until(
            pilot,
            lambda: isinstance(pilot.app.screen, RunsScreen) and runs_table(pilot).row_count == 1,
        )
        await pilot.pause(0.1)
        shown = runs_table(pilot).render_line(1).text  # the first row, as drawn
        assert "eval [tool=search] [bold]x" in shown
        assert "note=[red]hot" in shown

    drive(AgentreelApp(d), steps)


def test_a_long_conversation_shows_its_latest_messages_and_the_pager_has_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An LLM call sent 100 messages: the detail pane shows the latest 40 and says how
    many it left out (a cursor move never renders a whole long conversation); `o` hands
    the pager every one of them."""
    from agentreel.tui._format import TRANSCRIPT_TAIL

    d = tmp_path / "store"
    agentreel.init(d, tracer_provider=TracerProvider())
    try:

        @agentreel.llm(provider="openai", model="gpt-4.1")
        def chat(messages: list[dict[str, str]]) -> str:
            return "fine"

        with agentreel.run("long talk"):
            chat([{"role": "user", "content": f"message number {i:03d}"} for i in range(100)])
    finally:
        agentreel.shutdown()
    paged = tmp_path / "paged.json"
    monkeypatch.setenv("PAGER", f"sh -c 'cat \"$0\" > {paged}'")
    # a headless test app cannot give its terminal away: `o` says so, and does not crash
    refused: list[str] = []

    async def steps(pilot: Pilot[None]) -> None:
        await until(
            pilot,
            lambda: isinstance(pilot.app.screen, RunsScreen) and runs_table(pilot).row_count,
        )
        await pilot.press("enter")
        await until(
            pilot, lambda: isinstance(pilot.app.screen, RunScreen) and pilot.app.screen.rows
        )
        screen = pilot.app.screen
        assert isinstance(screen, RunScreen)
        await pilot.press("slash", *"chat", "enter")
        assert screen.current()["kind"] == "llm"  # type: ignore[index]
        await until(pilot, lambda: "Input" in text_of(screen.query_one("#detail-body", Static)))
        detail = text_of(screen.query_one("#detail-body", Static))
        hidden = 100 - TRANSCRIPT_TAIL
        assert f"… {hidden} earlier messages not shown (o opens the whole payload" in detail
        assert "message number 099" in detail
        assert f"message number {hidden:03d}" in detail
        assert f"message number {hidden - 1:03d}" not in detail
        notify = screen.notify
        monkeypatch.setattr(screen, "notify", lambda m, **k: (refused.append(m), notify(m, **k)))
        await pilot.press("o")
        await until(pilot, lambda: refused)
        assert "cannot hand the terminal to $PAGER here" in refused[0]
        assert not paged.exists()
        # where it can (a real terminal), the pager gets every message
        monkeypatch.setattr(type(pilot.app), "suspend", lambda self: contextlib.nullcontext())
        await pilot.press("o")
        await until(pilot, paged.exists)

    drive(AgentreelApp(d), steps)
    sent = json.loads(paged.read_text())["input"]["messages"]
    assert [m["content"] for m in sent] == [f"message number {i:03d}" for i in range(100)]
