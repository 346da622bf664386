"""The sessions screen: runs grouped into conversations, a session read as a transcript."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

import agentreel
from agentreel._fmt import said
from agentreel.tui import AgentreelApp
from agentreel.tui._run import RunScreen
from agentreel.tui._sessions import SAID_WIDTH, SessionsScreen
from tests.tui.test_app import cell_text, drive, runs_ready, text_of, until


@agentreel.agent
def bot(message: str) -> str:
    if message == "boom":
        raise ValueError("the tool is down")
    return "re: " + message


@pytest.fixture(scope="module")
def talked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("sessions") / "store"
    agentreel.init(d, tracer_provider=TracerProvider())
    try:
        for sid, messages in [("chat-1", ["hi", "how are you"]), ("chat-2", ["hello", "boom"])]:
            for m in messages:
                try:
                    with agentreel.run("turn", session=sid):
                        bot(m)
                except ValueError:
                    pass
        with agentreel.run("alone"):
            bot("no session")
    finally:
        agentreel.shutdown()
    return d


def table(pilot: Pilot[None], name: str) -> DataTable:  # type: ignore[type-arg]
    return pilot.app.screen.query_one(name, DataTable)


def test_v_lists_sessions_reads_a_transcript_and_opens_a_turn(talked: Path) -> None:
    async def steps(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: runs_ready(pilot))
        await pilot.press("v")
        await until(
            pilot,
            lambda: (
                isinstance(pilot.app.screen, SessionsScreen)
                and table(pilot, "#turns").row_count > 0
            ),
        )
        screen = pilot.app.screen
        assert isinstance(screen, SessionsScreen)
        sessions = table(pilot, "#sessions")
        assert sessions.row_count == 2  # the run with no session is in none
        ids = [cell_text(sessions, i, "session") for i in range(2)]
        assert ids == ["chat-2", "chat-1"]  # newest activity first
        assert "error" in cell_text(sessions, 0, "ended")
        assert "2 sessions" in text_of(screen.query_one("#sessions-header", Static))
        turns = table(pilot, "#turns")
        assert [cell_text(turns, i, "user") for i in range(2)] == ["hello", "boom"]
        assert cell_text(turns, 0, "agent") == "re: hello"
        assert "ValueError: the tool is down" in cell_text(turns, 1, "agent")
        # the other session's transcript follows the cursor
        sessions.move_cursor(row=1)
        await until(pilot, lambda: screen.shown == "chat-1")
        assert [cell_text(turns, i, "user") for i in range(2)] == ["hi", "how are you"]
        # enter goes to the turns, enter again opens that turn's run
        await pilot.press("enter")
        assert turns.has_focus
        await pilot.press("down", "enter")
        await until(
            pilot, lambda: isinstance(pilot.app.screen, RunScreen) and bool(pilot.app.screen.rows)
        )
        run_screen = pilot.app.screen
        assert isinstance(run_screen, RunScreen)
        assert run_screen.run_id == screen.turns[1]["run_id"]
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, SessionsScreen))
        await pilot.press("escape", "escape")  # turns -> sessions -> back to the runs
        await until(pilot, lambda: runs_ready(pilot))

    drive(AgentreelApp(talked, refresh_every=0.2), steps)


def test_a_store_without_sessions_says_how_to_make_one(tmp_path: Path) -> None:
    d = tmp_path / "store"
    agentreel.init(d, tracer_provider=TracerProvider())
    try:
        bot("x")
    finally:
        agentreel.shutdown()

    async def steps(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: runs_ready(pilot))
        await pilot.press("v")
        await until(
            pilot,
            lambda: (
                isinstance(pilot.app.screen, SessionsScreen)
                and "0 sessions" in text_of(pilot.app.screen.query_one("#sessions-header", Static))
            ),
        )
        header = text_of(pilot.app.screen.query_one("#sessions-header", Static))
        assert "agentreel.run(..., session=ID)" in header

    drive(AgentreelApp(d, refresh_every=0.2), steps)


@pytest.mark.parametrize(
    ("payload", "shown"),
    [
        ('"plain"', "plain"),
        ('{"question": "why?"}', "why?"),
        ('{"a": 1, "b": 2}', '{"a": 1, "b": 2}'),
        ("not json", "not json"),
        (None, ""),
        ('"' + "x" * 300 + '"', "x" * 199 + "…"),
    ],
)
def test_what_a_turn_said_is_one_line(payload: str | None, shown: str) -> None:
    assert said(payload, SAID_WIDTH) == shown


def test_plus_marks_a_run_good_with_a_comment_and_d_keeps_it_as_a_case(
    talked: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from agentreel.store import Store

    d = tmp_path / "store"
    shutil.copytree(talked, d)
    monkeypatch.chdir(tmp_path)  # the dataset file lands in ./agentreel-datasets
    with Store.open(d) as store:
        store.ingest()
        run_id = store.runs(query="session:chat-1").sort("start_time")["run_id"][0]

    async def steps(pilot: Pilot[None]) -> None:
        from agentreel.tui._ask import AskScreen

        await until(pilot, lambda: runs_ready(pilot))
        pilot.app.push_screen(RunScreen(pilot.app.reader, run_id))  # type: ignore[attr-defined]
        await until(
            pilot, lambda: isinstance(pilot.app.screen, RunScreen) and bool(pilot.app.screen.rows)
        )
        await pilot.press("minus")
        await until(pilot, lambda: isinstance(pilot.app.screen, AskScreen))
        await pilot.press("escape")  # cancelled: nothing stored
        await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen))
        await pilot.press("plus")
        await until(pilot, lambda: isinstance(pilot.app.screen, AskScreen))
        await pilot.press(*"greets back", "enter")
        await until(
            pilot,
            lambda: (
                "human good: greets back"
                in text_of(pilot.app.screen.query_one("#run-header", Static))
            ),
        )
        await pilot.press("D")
        await until(pilot, lambda: isinstance(pilot.app.screen, AskScreen))
        await pilot.press("enter")  # the offered name: regressions
        await until(pilot, lambda: (tmp_path / "agentreel-datasets" / "regressions.json").exists())

    drive(AgentreelApp(d, refresh_every=0.2), steps)
    with Store.open(d) as store:
        (e,) = store.evaluations(run_id).iter_rows(named=True)
    assert (e["name"], e["label"], e["score"], e["explanation"]) == (
        "human",
        "good",
        1.0,
        "greets back",
    )
    assert e["source"].startswith("user")
    from agentreel import datasets

    (case,) = datasets.load("regressions", tmp_path / "agentreel-datasets").cases
    assert case.run_id == run_id
