"""How fast the TUI is on a big store, each repeat in a fresh process.

Run by hand from the repository root::

    .venv/bin/python bench/bench_tui.py          # a few minutes, most of it building stores

Goals (1,000,000 spans in 20,000 runs, 160x50): the runs screen shows its first rows
within 1 s of the process starting (imports included); sorting, filtering and
clearing the filter each show their result within 0.3 s, and the UI never stops
taking keys meanwhile (the longest gap between two ticks of a 10 ms timer is
reported as the longest stall); a run of 10,000 spans opens within 0.5 s; peak RSS
stays under 300 MB.

Each repeat starts a fresh Python process (``--child``) that runs the app headless
under Textual's test driver. Its start is taken in the parent, just before the
process is spawned, so "first rows" counts interpreter start-up and imports. The
figures are medians and the worst of the repeats, with the CPU time of each child.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SIZE = (160, 50)


async def _until(pilot: Any, cond: Any, timeout: float = 60.0) -> None:
    end = time.perf_counter() + timeout
    while not cond():
        if time.perf_counter() > end:
            raise SystemExit("the app did not get there in time")
        await asyncio.sleep(0.002)


def _child_runs(path: Path) -> dict[str, Any]:
    """In a fresh process: first rows, then sort, filter and clear, each with its longest stall."""
    from textual.widgets import DataTable, Static

    from agentreel.tui import AgentreelApp
    from agentreel.tui._runs import RunsScreen

    out: dict[str, Any] = {}

    async def main() -> None:
        app = AgentreelApp(path, refresh_every=600)
        async with app.run_test(size=SIZE) as pilot:

            def table() -> Any:
                s = app.screen
                if not isinstance(s, RunsScreen) or not s.query("#runs"):
                    return None
                return s.query_one("#runs", DataTable)

            await _until(pilot, lambda: table() is not None and table().row_count > 0)
            out["first_rows_at"] = time.time()
            screen = app.screen
            assert isinstance(screen, RunsScreen)
            ticks: list[float] = []
            app.set_interval(0.01, lambda: ticks.append(time.perf_counter()))
            await pilot.pause(0.2)

            def status() -> str:
                return str(screen.query_one("#status-line", Static).content)

            async def timed(name: str, keys: list[str], done: Any) -> None:
                await pilot.pause(0.1)
                ticks.clear()
                t0 = time.perf_counter()
                await pilot.press(*keys)
                await _until(pilot, done)
                out[name] = time.perf_counter() - t0
                await pilot.pause(0.05)
                gaps = [b - a for a, b in itertools.pairwise(ticks)]
                out[name + "_stall"] = max(gaps) if gaps else 0.0

            await timed("sort", ["s"], lambda: "sorted by duration" in status())
            await pilot.press("slash", *"status:error")  # typed; the filter runs on enter
            await timed(
                "filter",
                ["enter"],
                lambda: "match" in status() and not screen._loading,
            )
            await timed(
                "clear", ["escape"], lambda: "match" not in status() and not screen._loading
            )

    asyncio.run(main())
    return out


def _child_open(path: Path, run_id: str) -> dict[str, Any]:
    """In a fresh process: open a run of 10,000 spans from the runs screen."""
    from textual.widgets import DataTable

    from agentreel.tui import AgentreelApp
    from agentreel.tui._run import RunScreen
    from agentreel.tui._runs import RunsScreen
    from agentreel.tui._spanview import SpanView

    out: dict[str, Any] = {}

    async def main() -> None:
        app = AgentreelApp(path, refresh_every=600)
        async with app.run_test(size=SIZE) as pilot:
            await _until(
                pilot,
                lambda: (
                    isinstance(app.screen, RunsScreen)
                    and bool(app.screen.query("#runs"))
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
            out["open"] = time.perf_counter() - t0
            out["rows"] = app.screen.query_one("#spans", SpanView).row_count

    asyncio.run(main())
    return out


def _child(argv: list[str]) -> None:
    kind, path = argv[0], Path(argv[1])
    out = _child_runs(path) if kind == "runs" else _child_open(path, argv[2])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child of the big
    # parent that built the stores would report the parent's peak
    with open("/proc/self/status") as f:
        hwm_kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    out["peak_rss_mb"] = hwm_kb / 1024
    out["cpu_s"] = usage.ru_utime + usage.ru_stime
    print(json.dumps(out))


def _spawn(*args: str) -> tuple[float, dict[str, Any]]:
    started = time.time()
    p = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=600,
        check=False,
    )
    if p.returncode:
        raise SystemExit(f"the child failed:\n{p.stderr[-3000:]}")
    return started, json.loads(p.stdout.strip().splitlines()[-1])


def _summary(xs: list[float]) -> str:
    return f"median {statistics.median(xs):.3f}, worst {max(xs):.3f} (all: {', '.join(f'{x:.3f}' for x in xs)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    sys.path.insert(0, str(ROOT))
    from agentreel.store import Store
    from bench._synthetic import make_store

    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores; results vary above 0.5)")
    work = Path(tempfile.mkdtemp(prefix="agentreel-bench-tui-"))
    t = time.perf_counter()
    big = make_store(work / "big", runs=20_000, spans_per_run=50)
    make_store(work / "one", runs=1, spans_per_run=10_000, seed=1)
    print(
        f"built stores ({big['spans']:,} spans; one run of 10,000) in {time.perf_counter() - t:.1f} s"
    )
    with Store.open(work / "one") as store:
        run_id = str(store.runs()["run_id"][0])
    runs, opens = [], []
    for _ in range(args.repeats):  # alternate the two children
        started, r = _spawn("runs", str(work / "big"))
        r["first_rows"] = r.pop("first_rows_at") - started
        runs.append(r)
        opens.append(_spawn("open", str(work / "one"), run_id)[1])
    result: dict[str, Any] = {
        "repeats": args.repeats,
        "load_average": os.getloadavg()[0],
        "runs": runs,
        "open": opens,
    }
    print("1,000,000 spans / 20,000 runs, each repeat a fresh process:")
    for key, label, goal in [
        ("first_rows", "first rows from process start", "< 1 s"),
        ("sort", "sort (s)", "< 0.3 s"),
        ("sort_stall", "  longest UI stall while sorting", ""),
        ("filter", "filter (/status:error)", "< 0.3 s"),
        ("filter_stall", "  longest UI stall while filtering", ""),
        ("clear", "clear the filter (esc)", "< 0.3 s"),
        ("clear_stall", "  longest UI stall while clearing", ""),
        ("peak_rss_mb", "peak RSS, MB", "< 300"),
        ("cpu_s", "CPU of the child, s", ""),
    ]:
        print(f"  {label:38} {_summary([r[key] for r in runs])}  {goal}")
    print(f"  {'open a run of 10,000 spans':38} {_summary([o['open'] for o in opens])}  < 0.5 s")
    print(f"  {'  peak RSS of that child, MB':38} {_summary([o['peak_rss_mb'] for o in opens])}")
    out = Path(__file__).parent / "results" / f"tui-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
