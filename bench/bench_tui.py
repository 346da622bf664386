"""How fast the TUI is on a big store, each repeat in a fresh process.

Run by hand from the repository root::

    .venv/bin/python bench/bench_tui.py           # about a minute, most of it the children
    .venv/bin/python bench/bench_tui.py --quick   # 2,000 runs, 3 repeats: a few seconds

Goals (1,000,000 spans in 20,000 runs, 160x50): the runs screen shows its first rows
within 1 s of the process starting (imports included); sorting, filtering and
clearing the filter each show their result within 0.3 s, and the UI never stops
taking keys meanwhile (the longest gap between two ticks of a 10 ms timer is
reported as the longest stall); a run of 10,000 spans opens within 0.5 s; peak RSS
stays under 300 MB.

Each repeat starts a fresh Python process (``--child``) that runs the app headless
under Textual's test driver. Its start is taken in the parent, just before the
process is spawned, so "first rows" counts interpreter start-up and imports. Sort,
filter and clear are timed from the key, posted as a terminal would post it, to the
end of the first frame drawn with the result in the table (its rows added and
measured, the status line saying so); beside that, the process's CPU time over the
same span, and the time until Textual's Pilot finds the process idle (its
``press()`` waits for that, which counts work done after the result is on screen).
The figures are medians and the worst of the repeats, each also as a ratio to its goal.
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
    from textual import events
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
            table_now = table()
            # the end of every frame, and whether the result was in the table when it began
            frames: list[tuple[float, bool]] = []
            want: list[Any] = [lambda: False]
            cpu_at: list[float | None] = [None, None]  # the process's CPU time: asked, shown
            paint = screen._compositor_refresh

            def painted() -> None:
                ready = want[0]() and not table_now._require_update_dimensions
                paint()
                frames.append((time.perf_counter(), ready))
                if ready and cpu_at[1] is None:
                    cpu_at[1] = time.process_time()

            screen._compositor_refresh = painted  # type: ignore[method-assign]
            await pilot.pause(0.2)

            def status() -> str:
                return str(screen.query_one("#status-line", Static).content)

            async def timed(name: str, keys: list[str], done: Any) -> None:
                await pilot.pause(0.1)
                ticks.clear()
                frames.clear()
                want[0] = lambda: done() and not screen._loading
                cpu_at[:] = [time.process_time(), None]
                t0 = time.perf_counter()
                for key in keys:  # as a terminal sends them: nothing waits for the app
                    app.post_message(events.Key(key, key if len(key) == 1 else None))
                await _until(pilot, lambda: any(ready for _, ready in frames))
                out[name] = next(t for t, ready in frames if ready) - t0
                out[name + "_cpu"] = (cpu_at[1] or 0.0) - (cpu_at[0] or 0.0)
                await pilot.pause()  # Pilot's own wait: until the process is idle
                out[name + "_idle"] = time.perf_counter() - t0
                await pilot.pause(0.05)
                gaps = [b - a for a, b in itertools.pairwise(ticks)]
                out[name + "_stall"] = max(gaps) if gaps else 0.0

            await timed("sort", ["s"], lambda: "sorted by duration" in status())
            await pilot.press("slash", *"status:error")  # typed; the filter runs on enter
            await timed("filter", ["enter"], lambda: "match" in status())
            await timed("clear", ["escape"], lambda: "match" not in status())

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
    parser.add_argument(
        "--runs", type=int, default=20_000, help="runs of 50 spans in the big store"
    )
    parser.add_argument("--quick", action="store_true", help="2,000 runs, 3 repeats")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    if args.quick:
        args.runs, args.repeats = 2_000, 3
    sys.path.insert(0, str(ROOT))
    from agentreel.store import Store
    from bench._synthetic import make_store

    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores; results vary above 0.5)")
    work = Path(tempfile.mkdtemp(prefix="agentreel-bench-tui-"))
    t = time.perf_counter()
    big = make_store(work / "big", runs=args.runs, spans_per_run=50)
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
        "spans": big["spans"],
        "runs_in_store": args.runs,
        "load_average": os.getloadavg()[0],
        "runs": runs,
        "open": opens,
    }
    print(f"{big['spans']:,} spans / {args.runs:,} runs, each repeat a fresh process:")
    rows: list[tuple[str, list[float], float | None]] = [
        ("first rows from process start, s", [r["first_rows"] for r in runs], 1.0)
    ]
    for key, label in [
        ("sort", "sort (s)"),
        ("filter", "filter (/status:error)"),
        ("clear", "clear the filter (esc)"),
    ]:
        rows += [
            (f"{label}: shown, s", [r[key] for r in runs], 0.3),
            ("  CPU of the process meanwhile, s", [r[key + "_cpu"] for r in runs], None),
            ("  until Pilot finds it idle, s", [r[key + "_idle"] for r in runs], None),
            ("  longest UI stall, s", [r[key + "_stall"] for r in runs], None),
        ]
    rows += [
        ("peak RSS, MB", [r["peak_rss_mb"] for r in runs], 300.0),
        ("CPU of the child, s", [r["cpu_s"] for r in runs], None),
        ("open a run of 10,000 spans, s", [o["open"] for o in opens], 0.5),
        ("  peak RSS of that child, MB", [o["peak_rss_mb"] for o in opens], None),
    ]
    for label, xs, goal in rows:
        ratio = (
            f"  ratio to goal {goal:g}: median {statistics.median(xs) / goal:.2f}, worst {max(xs) / goal:.2f}"
            if goal
            else ""
        )
        print(f"  {label:38} {_summary(xs)}{ratio}")
    out = Path(__file__).parent / "results" / f"tui-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
