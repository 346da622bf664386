"""Cells laid out off the UI thread draw exactly as the table draws them itself."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable

from agentreel.tui import AgentreelApp
from agentreel.tui._laid_out import LaidOut, LaidOutTable, lay_out_rows
from tests.tui.test_app import demo_dir, drive, runs_ready, runs_table, until

__all__ = ["demo_dir"]  # the fixture, shared with test_app


def test_laid_out_cells_draw_segment_for_segment_as_the_table_would(demo_dir: Path) -> None:
    async def steps(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: runs_ready(pilot) and runs_table(pilot).row_count > 0)
        await pilot.pause()
        table = runs_table(pilot)
        assert isinstance(table, LaidOutTable)
        checked = 0
        for focused in (True, False):
            if not focused:
                await pilot.press("slash")  # the table loses the focus: other cursor colours
                await pilot.pause()
            for row in range(min(table.row_count, 6)):
                styles = (table.rich_style, table._get_row_style(row, table.rich_style))
                for col, column in enumerate(table.ordered_columns):
                    cell = table.get_cell_at((row, col))
                    assert isinstance(cell, LaidOut)
                    width = column.get_render_width(table)
                    for base in styles:
                        for cursor, hover in ((False, False), (True, False), (False, True)):
                            table._cell_render_cache.clear()
                            fast = table._render_cell(row, col, base, width, cursor, hover)
                            table._cell_render_cache.clear()
                            usual = DataTable._render_cell(
                                table, row, col, base, width, cursor, hover
                            )
                            assert fast == usual, (row, column.key.value, cursor, hover)
                            checked += 1
        assert checked > 100

    drive(AgentreelApp(demo_dir, refresh_every=60), steps, size=(160, 30))


def test_a_cell_renders_as_its_text_at_every_width_and_equal_cells_share_one() -> None:
    from rich.console import Console

    console = Console(width=40)
    rows: list[list[str | Text]] = [
        ["a \\[b]", Text("12", justify="right")],
        ["a \\[b]", Text("12", justify="right")],
        ["c", Text("7", justify="right")],
    ]
    laid = lay_out_rows(rows, [6, 3], range(1), console, console.options)
    assert [[str(c) for c in row] for row in laid] == [["a [b]", "12"], ["a [b]", "12"], ["c", "7"]]
    assert laid[0][0] is laid[1][0]  # laid out once
    assert laid[0][1] is laid[1][1]
    for cell in (laid[0][1], laid[2][1]):  # laid out now, and not yet
        for width in (3, 8, 1):
            options = console.options.update_dimensions(width, 1).update(no_wrap=True)
            assert list(cell.__rich_console__(console, options)) == list(
                cell.text.__rich_console__(console, options)
            )
