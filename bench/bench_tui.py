"""How fast the TUI shows a big store: first rows of the runs screen, opening a 10,000-span run.

Run by hand from the repository root::

    .venv/bin/python bench/bench_tui.py          # about a minute, most of it building stores

Goals: the runs screen shows its first rows within 1 s on a store of 1,000,000 spans in
20,000 runs; a run of 10,000 spans opens within 0.5 s and scrolls without lag. The app
runs headless under Textual's test driver at 160x50; times are wall clock from the
moment the app (or the run screen) is asked for until its table has rows, medians of 5.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual.widgets import DataTable

from agentreel.store import Store
from agentreel.tui import AgentreelApp
from agentreel.tui._run import RunScreen
from agentreel.tui._runs import RunsScreen
from agentreel.tui._spanview import SpanView
from bench._synthetic import make_store

SIZE = (160, 50)
REPEATS = 5


async def _until(pilot, cond, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    end = time.perf_counter() + timeout
    while not cond():
        if time.perf_counter() > end:
            raise SystemExit("the app did not get there in time")
        await asyncio.sleep(0.005)


async def first_rows(path: Path) -> float:
    app = AgentreelApp(path, refresh_every=60)
    t0 = time.perf_counter()
    async with app.run_test(size=SIZE) as pilot:
        await _until(
            pilot,
            lambda: (
                isinstance(app.screen, RunsScreen)
                and app.screen.query_one("#runs", DataTable).row_count > 0
            ),
        )
        return time.perf_counter() - t0


async def open_big_run(path: Path, run_id: str) -> tuple[float, float, int]:
    app = AgentreelApp(path, refresh_every=60)
    async with app.run_test(size=SIZE) as pilot:
        await _until(
            pilot,
            lambda: (
                isinstance(app.screen, RunsScreen)
                and app.screen.query_one("#runs", DataTable).row_count > 0
            ),
        )
        t0 = time.perf_counter()
        app.push_screen(RunScreen(app.reader, run_id))
        await _until(
            pilot,
            lambda: (
                isinstance(app.screen, RunScreen)
                and bool(app.screen.rows)
                and app.screen.query_one("#spans", SpanView).row_count > 0
            ),
        )
        opened = time.perf_counter() - t0
        rows = app.screen.query_one("#spans", SpanView).row_count
        t1 = time.perf_counter()
        presses = 30
        for _ in range(presses):
            await pilot.press("pagedown")
        scroll_ms = (time.perf_counter() - t1) / presses * 1000
        t2 = time.perf_counter()
        for _ in range(presses):
            await pilot.press("x")  # bound to nothing: what a key press costs the test driver
        idle_ms = (time.perf_counter() - t2) / presses * 1000
        return opened, scroll_ms - idle_ms, rows


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="agentreel-bench-tui-"))
    t = time.perf_counter()
    big = make_store(work / "big", runs=20_000, spans_per_run=50)
    one = make_store(work / "one", runs=1, spans_per_run=10_000, seed=1)
    print(
        f"built stores ({big['spans']:,} spans; one run of {one['spans']:,}) in {time.perf_counter() - t:.1f} s"
    )
    with Store.open(work / "one") as store:
        run_id = str(store.runs()["run_id"][0])
    firsts = [asyncio.run(first_rows(work / "big")) for _ in range(REPEATS)]
    opens = [asyncio.run(open_big_run(work / "one", run_id)) for _ in range(REPEATS)]
    result = {
        "runs_screen_first_rows_s": round(statistics.median(firsts), 3),
        "runs_screen_first_rows_all_s": [round(x, 3) for x in firsts],
        "open_10k_span_run_s": round(statistics.median(o[0] for o in opens), 3),
        "open_10k_span_run_all_s": [round(o[0], 3) for o in opens],
        "scroll_ms_per_page": round(statistics.median(o[1] for o in opens), 2),
        "rows_in_big_run": opens[0][2],
    }
    print(
        f"runs screen, first rows on 1,000,000 spans / 20,000 runs: {result['runs_screen_first_rows_s']:.3f} s (goal < 1 s)"
    )
    print(f"open a run of 10,000 spans: {result['open_10k_span_run_s']:.3f} s (goal < 0.5 s)")
    print(
        f"scroll: {result['scroll_ms_per_page']:.1f} ms per page down (beyond the test driver's own cost of a key press)"
    )
    out = Path(__file__).parent / "results" / f"tui-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
