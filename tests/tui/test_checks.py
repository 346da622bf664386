"""The checks screen: saved check results, a failure's rows, its history, and the way to the run."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from opentelemetry.sdk.trace import TracerProvider
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

import agentreel
from agentreel.checks import CheckConfig, Window, run_checks, save_results
from agentreel.demo import run_demo
from agentreel.store import Store
from agentreel.tui import AgentreelApp
from agentreel.tui._check_runs import check_runs, failing_rows
from agentreel.tui._checks import ChecksScreen
from agentreel.tui._reader import StoreReader
from agentreel.tui._run import RunScreen
from agentreel.tui._spanview import SpanView
from tests.tui.test_app import cell_text, drive, runs_ready, text_of, until


def strict_config() -> CheckConfig:
    """Limits the demo breaks: any failed run or tool call is an error."""
    config = CheckConfig()
    config.settings["run_error_rate"].update(min_n=1, max_warn=0.0, max_error=0.05)
    config.settings["tool_error_rate"].update(min_n=1, max_warn=0.0, max_error=0.05)
    return config


def record_demo(d: Path, runs: int, seed: int) -> None:
    agentreel.init(d, tracer_provider=TracerProvider())
    try:
        run_demo(runs, seed=seed, latency=0.001)
    finally:
        agentreel.shutdown()


@pytest.fixture(scope="module")
def checked_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo store checked twice: 6 runs, then 12 (two check runs of history)."""
    d = tmp_path_factory.mktemp("checks") / "store"
    record_demo(d, 6, seed=0)
    with Store.open(d, create=True) as store:
        store.ingest()
        save_results(
            store, run_checks(store, current=Window(), baseline=False, config=strict_config())
        )
    record_demo(d, 6, seed=1)
    with Store.open(d) as store:
        store.ingest()
        save_results(
            store, run_checks(store, current=Window(), baseline=False, config=strict_config())
        )
    return d


def results(pilot: Pilot[None]) -> DataTable:  # type: ignore[type-arg]
    return pilot.app.screen.query_one("#check-results", DataTable)


def failures(pilot: Pilot[None]) -> DataTable:  # type: ignore[type-arg]
    return pilot.app.screen.query_one("#check-failures", DataTable)


def test_checks_screen_shows_failures_history_and_opens_the_span(checked_dir: Path) -> None:
    with Store.open(checked_dir) as store:
        saved = store.check_results()
    latest = saved.filter(pl.col("checked_at") == pl.col("checked_at").max())
    errors = latest.filter(pl.col("status") == "error")
    assert errors.height >= 2
    tool_row = latest.filter(
        (pl.col("check_name") == "tool_error_rate")
        & (pl.col("scope") == "all")
        & (pl.col("statistic") == "tool error rate")
    ).row(0, named=True)
    assert tool_row["status"] == "error"

    async def steps(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: runs_ready(pilot))
        await pilot.press("c")
        await until(
            pilot,
            lambda: isinstance(pilot.app.screen, ChecksScreen) and results(pilot).row_count > 0,
        )
        screen = pilot.app.screen
        assert isinstance(screen, ChecksScreen)
        table = results(pilot)
        assert table.row_count == latest.height
        # errors first
        statuses = [cell_text(table, i, "status") for i in range(table.row_count)]
        assert statuses[: errors.height] == ["error"] * errors.height
        assert "error" not in statuses[errors.height :]
        checks = [cell_text(table, i, "check") for i in range(errors.height)]
        assert {"run_error_rate", "tool_error_rate"} <= set(checks)
        header = text_of(screen.query_one("#checks-header", Static))
        assert "checks error" in header
        assert f"{errors.height} errors" in header
        assert "check run 1 of 2 (latest)" in header
        assert "current: all runs (12 runs)" in header
        # the tool error rate's failing tool calls, and its two check runs of history
        row = next(
            i
            for i in range(table.row_count)
            if cell_text(table, i, "check") == "tool_error_rate"
            and cell_text(table, i, "scope") == "all"
            and cell_text(table, i, "statistic") == "tool error rate"
        )
        table.move_cursor(row=row)
        await pilot.pause()
        bad_calls = failures(pilot)
        assert bad_calls.row_count > 0
        assert [str(c.key.value) for c in bad_calls.ordered_columns][:2] == ["run_id", "span_id"]
        history = text_of(screen.query_one("#history-list", Static))
        assert len(history.strip().splitlines()) == 2
        assert "history · 2 check runs" in text_of(screen.query_one("#history-title", Static))
        # enter goes to the failing rows, enter again opens the run on the failing span
        first = screen.failures[0]
        await pilot.press("enter")
        assert bad_calls.has_focus
        await pilot.press("enter")
        await until(
            pilot,
            lambda: isinstance(pilot.app.screen, RunScreen) and bool(pilot.app.screen.rows),
        )
        run_screen = pilot.app.screen
        assert isinstance(run_screen, RunScreen)
        assert run_screen.detail is not None
        assert run_screen.detail.run["run_id"] == first["run_id"]
        assert (
            run_screen.rows[run_screen.query_one("#spans", SpanView).cursor_row]["span_id"]
            == first["span_id"]
        )
        # back to the checks, then to the older check run: 6 runs checked
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, ChecksScreen))
        await pilot.press("escape")  # out of the failing rows
        assert results(pilot).has_focus
        await pilot.press("left_square_bracket")
        header = text_of(screen.query_one("#checks-header", Static))
        assert "check run 2 of 2 (older)" in header
        assert "(6 runs)" in header
        await pilot.pause(0.1)
        # the same result stays under the cursor, and the history marks the older run
        table = results(pilot)
        assert cell_text(table, table.cursor_row, "check") == "tool_error_rate"
        assert cell_text(table, table.cursor_row, "statistic") == "tool error rate"
        marks = text_of(screen.query_one("#history-list", Static)).strip().splitlines()
        assert [m.startswith("▶") for m in marks] == [False, True]
        await pilot.press("right_square_bracket")
        assert "(latest)" in text_of(screen.query_one("#checks-header", Static))
        await pilot.press("escape")
        await until(pilot, lambda: runs_ready(pilot))

    drive(AgentreelApp(checked_dir, refresh_every=60), steps)


def test_checks_screen_without_results_says_how_to_get_them(tmp_path: Path) -> None:
    d = tmp_path / "store"
    record_demo(d, 1, seed=0)
    with Store.open(d, create=True) as store:
        store.ingest()

    async def steps(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: runs_ready(pilot))
        app = pilot.app
        checks = [c for c in app.get_system_commands(app.screen) if c.title == "Checks"]
        assert len(checks) == 1  # in the command palette
        checks[0].callback()
        await until(
            pilot,
            lambda: (
                isinstance(pilot.app.screen, ChecksScreen)
                and any(w.display for w in pilot.app.screen.query("#checks-empty"))
            ),
        )
        message = text_of(pilot.app.screen.query_one("#checks-empty", Static))
        assert "No check results yet" in message
        assert "agentreel check" in message
        assert not results(pilot).display

    drive(AgentreelApp(d, refresh_every=60), steps)


def test_check_runs_of_an_empty_or_old_store_are_none() -> None:
    # Store.check_results gives an empty frame, without columns, for a store older than the table
    assert check_runs(pl.DataFrame()) == []


def test_failing_rows_read_the_saved_json_and_survive_bad_json() -> None:
    assert failing_rows({"failures": '[{"run_id": "ab", "span_id": "cd"}]'}) == [
        {"run_id": "ab", "span_id": "cd"}
    ]
    assert failing_rows({"failures": None}) == []
    assert failing_rows({"failures": "not json"}) == []


def test_every_key_of_the_checks_screen_is_documented() -> None:
    from textual.binding import Binding

    text = (Path(__file__).resolve().parents[2] / "docs" / "tui.md").read_text()
    section = text.split("## Checks screen", 1)[1].split("\n## ", 1)[0]
    for b in ChecksScreen.BINDINGS:
        assert isinstance(b, Binding)
        if b.action.startswith("app."):
            continue  # help and quit are the app's, documented once
        key = b.key_display or {"escape": "esc"}.get(b.key, b.key)
        assert f"`{key}`" in section, f"docs/tui.md: the checks screen does not document {key}"


def test_the_reader_leaves_out_a_check_run_cut_short_by_its_limit(checked_dir: Path) -> None:
    reader = StoreReader(checked_dir)
    everything = reader.check_results()
    newest = everything["check_run_id"][0]
    newest_rows = everything.filter(pl.col("check_run_id") == newest).height
    assert everything["check_run_id"].n_unique() == 2
    cut = reader.check_results(limit=newest_rows + 1)
    assert set(cut["check_run_id"]) == {newest}
    assert cut.height == newest_rows
