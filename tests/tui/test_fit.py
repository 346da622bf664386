"""What does not fit a terminal ends in an ellipsis or gives way whole, never cut mid-word."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from textual.pilot import Pilot
from textual.widgets import DataTable, Static
from textual.widgets._footer import FooterKey

import agentreel
from agentreel.store import Store
from agentreel.tui import AgentreelApp
from agentreel.tui._footer import KeyFooter, fitting
from agentreel.tui._format import clip
from agentreel.tui._run import RunScreen
from agentreel.tui._runs import RunsScreen, _cells, columns_for
from agentreel.tui._spanview import SpanView
from tests.tui.test_app import demo_dir, drive, runs_ready, runs_table, until
from tests.tui.test_checks import checked_dir

__all__ = ["checked_dir", "demo_dir"]  # the fixtures, shared with those modules


def test_clip_ends_what_it_cuts_in_an_ellipsis() -> None:
    assert clip("dataset=qa-v2", 20) == "dataset=qa-v2"
    assert clip("dataset=qa-v2 model=gpt-4.1", 12) == "dataset=qa-…"
    assert clip("数据集数据集", 5) == "数据…"  # wide characters count two cells
    assert clip("abc", None) == "abc"


def test_the_footer_drops_the_last_keys_first_and_keeps_help() -> None:
    keys = [("esc", "Back", "back"), ("n", "Next error", "next"), ("?", "Help", "app.help")]
    assert fitting(keys, 200) == [0, 1, 2]
    assert fitting(keys, 3 + 4 + 3 + 1 + 4 + 3) == [0, 2]  # Next error gives way, not help
    assert fitting(keys, 1 + 4 + 3) == [2]
    assert fitting(keys, 2) == []


def _footer_fits(pilot: Pilot[None]) -> None:
    width = pilot.app.size.width
    shown = list(pilot.app.screen.query_one(KeyFooter).query(FooterKey))
    assert shown, "the footer shows some keys"
    assert any(k.action == "app.help" for k in shown)
    for k in shown:  # whole: the label's width, inside the screen
        assert k.region.right <= width
        assert k.region.width >= len(k.key_display) + len(k.description) + 3


def _line(widget: Any) -> str:
    return widget.render_line(0).text.rstrip()


def test_at_80x24_footers_fit_and_the_run_header_ends_in_an_ellipsis(demo_dir: Path) -> None:
    async def steps(pilot: Pilot[None]) -> None:
        await until(
            pilot,
            lambda: isinstance(pilot.app.screen, RunsScreen) and runs_table(pilot).row_count,
        )
        await pilot.pause()
        _footer_fits(pilot)
        await pilot.press("enter")
        await until(
            pilot,
            lambda: (
                isinstance(pilot.app.screen, RunScreen)
                and pilot.app.screen.detail is not None
                and pilot.app.screen.query_one("#spans", SpanView).row_count > 0
            ),
        )
        await pilot.pause()
        _footer_fits(pilot)
        header = _line(pilot.app.screen.query_one("#run-header", Static))
        assert "error" in header
        assert "tokens" in header
        assert "$" in header
        assert header.endswith("…")
        await pilot.press("escape", "c")
        await until(pilot, lambda: bool(pilot.app.screen.query("#check-results")))
        await pilot.pause()
        _footer_fits(pilot)

    drive(AgentreelApp(demo_dir, refresh_every=60), steps, size=(80, 24))


def test_at_160_columns_the_run_header_cuts_the_run_id_with_an_ellipsis(demo_dir: Path) -> None:
    with Store.open(demo_dir) as store:
        run_id = str(store.runs(status="error")["run_id"][0])

    async def steps(pilot: Pilot[None]) -> None:
        # after the runs screen: the app pushes it once the store is open, over any other
        await until(pilot, lambda: runs_ready(pilot))
        pilot.app.push_screen(RunScreen(pilot.app.reader, run_id))  # type: ignore[attr-defined]
        await until(
            pilot,
            lambda: isinstance(pilot.app.screen, RunScreen) and pilot.app.screen.detail is not None,
        )
        await pilot.pause()
        header = _line(pilot.app.screen.query_one("#run-header", Static))
        assert len(header) <= 160
        assert header.endswith("…")
        assert run_id[:8] in header  # the start of the id, then the ellipsis

    drive(AgentreelApp(demo_dir, refresh_every=60), steps, size=(160, 50))


def test_long_names_and_tags_end_in_an_ellipsis_in_the_runs_table() -> None:
    keys = columns_for(160)
    run = {
        "status": "ok",
        "name": "a-very-long-run-name-" * 4,
        "start_time": None,
        "duration_ms": 1.0,
        "span_count": 1,
        "llm_count": 0,
        "tool_count": 0,
        "input_tokens": None,
        "output_tokens": None,
        "cost_usd": None,
        "error_count": 0,
        "tags": '{"dataset": "' + "q" * 80 + '"}',
        "run_id": "ab" * 16,
    }
    cells = dict(zip(keys, _cells(run, keys), strict=True))
    assert str(cells["name"]).endswith("…")
    assert len(str(cells["name"])) == 32
    assert str(cells["tags"]).startswith("dataset=q")
    assert str(cells["tags"]).endswith("…")
    assert len(str(cells["tags"])) == 40


def test_the_last_span_of_a_long_run_is_in_sight_at_80x24(tmp_path: Path) -> None:
    store = tmp_path / "store"
    agentreel.init(store, tracer_provider=TracerProvider())
    try:

        @agentreel.tool
        def step(i: int) -> int:
            return i

        with agentreel.run("long"):
            for i in range(60):
                step(i)
    finally:
        agentreel.shutdown()

    async def steps(pilot: Pilot[None]) -> None:
        await until(
            pilot,
            lambda: isinstance(pilot.app.screen, RunsScreen) and runs_table(pilot).row_count,
        )
        await pilot.press("enter")
        await until(
            pilot,
            lambda: (
                isinstance(pilot.app.screen, RunScreen)
                and pilot.app.screen.query_one("#spans", SpanView).row_count == 61
            ),
        )
        await pilot.press("end")
        await pilot.pause()
        spans = pilot.app.screen.query_one("#spans", SpanView)
        assert spans.cursor_row == 60
        assert not spans.show_horizontal_scrollbar  # it hid the last row
        last = spans.cursor_row - spans.scroll_offset.y
        assert 0 <= last < spans.scrollable_content_region.height
        assert spans.render_line(last).text.startswith("└ ")  # the last span of the tree

    drive(AgentreelApp(store, refresh_every=60), steps, size=(80, 24))


def test_checks_messages_fit_the_screen_and_end_in_an_ellipsis(checked_dir: Path) -> None:
    async def steps(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: bool(pilot.app.screen.query("#check-results")))
        table = pilot.app.screen.query_one("#check-results", DataTable)
        await until(pilot, lambda: table.row_count > 0)
        await pilot.pause()
        assert "message" in [str(c.key.value) for c in table.ordered_columns]
        width = table.columns[next(k for k in table.columns if str(k.value) == "message")].width
        messages = [
            str(table.get_cell_at((i, len(table.columns) - 1))) for i in range(table.row_count)
        ]
        assert all(len(m) <= width for m in messages)
        assert any(m.endswith("…") for m in messages)
        assert table.virtual_size.width <= table.size.width  # nothing runs off the edge

    app = AgentreelApp(checked_dir, refresh_every=60)

    async def open_checks(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: runs_ready(pilot))  # mounted: it takes the key
        await pilot.press("c")
        await steps(pilot)

    drive(app, open_checks, size=(150, 40))


def test_at_80_columns_the_diff_fits_and_ends_what_it_cuts_in_an_ellipsis(demo_dir: Path) -> None:
    from agentreel.tui._diff import DiffScreen

    with Store.open(demo_dir) as store:
        a, b = store.runs(limit=2)["run_id"].to_list()

    async def steps(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: isinstance(pilot.app.screen, RunsScreen))
        pilot.app.push_screen(DiffScreen(pilot.app.reader, a, b))  # type: ignore[attr-defined]
        await until(
            pilot,
            lambda: (
                isinstance(pilot.app.screen, DiffScreen)
                and pilot.app.screen.query_one("#diff", DataTable).row_count > 0
            ),
        )
        await pilot.pause()
        table = pilot.app.screen.query_one("#diff", DataTable)
        assert table.virtual_size.width <= table.size.width  # nothing runs off the edge
        differences = [str(table.get_cell_at((i, 3))) for i in range(table.row_count)]
        assert any(d.endswith("…") for d in differences)
        _footer_fits(pilot)

    drive(AgentreelApp(demo_dir, refresh_every=60), steps, size=(80, 24))


def test_the_footer_fits_again_when_the_terminal_narrows(demo_dir: Path) -> None:
    async def steps(pilot: Pilot[None]) -> None:
        await until(
            pilot,
            lambda: isinstance(pilot.app.screen, RunsScreen) and runs_table(pilot).row_count,
        )
        await pilot.press("enter")
        await until(
            pilot,
            lambda: isinstance(pilot.app.screen, RunScreen) and pilot.app.screen.detail is not None,
        )
        await pilot.pause()
        wide = [k.description for k in pilot.app.screen.query_one(KeyFooter).query(FooterKey)]
        assert "Open in pager" in wide
        await pilot.resize_terminal(80, 24)
        await until(
            pilot,
            lambda: (
                "Open in pager"
                not in [
                    k.description for k in pilot.app.screen.query_one(KeyFooter).query(FooterKey)
                ]
            ),
        )
        await pilot.pause()
        _footer_fits(pilot)

    drive(AgentreelApp(demo_dir, refresh_every=60), steps, size=(160, 40))
