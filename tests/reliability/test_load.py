"""Many agents recording at once while the TUI's live view and `agentreel check` read.

16 processes record spans through the real tracer into one store. Meanwhile the
TUI (driven by Pilot) refreshes its runs screen, `agentreel runs --json` runs
over and over, and `agentreel check` runs too, all against the same store. Every
span must land exactly once, no reader may wait more than a second for an answer,
no decorated call may stall, and the reading process's memory stays bounded.
bench/bench_load.py runs the same at full size (16 x 50,000 spans) and prints
the throughput.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from agentreel._spool import SpoolPaths
from agentreel.store import Store
from agentreel.tui import AgentreelApp
from agentreel.tui._reader import RunsPage
from agentreel.tui._runs import RunsScreen
from tests.tui.test_app import drive, runs_table, until

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 16
SPANS = 3_000
PER_RUN = 50
pytestmark = pytest.mark.slow

# `agentreel runs --json`, timed from inside the command (the interpreter's own start-up,
# which the store has nothing to do with, is left out).
_TIMED_CLI = """
import sys, time
from agentreel.cli import main
t0 = time.perf_counter()
try:
    main(sys.argv[1:], standalone_mode=False)
    code = 0
except SystemExit as e:
    code = e.code
sys.stderr.write(f"\\nanswered {code} {time.perf_counter() - t0:.4f}\\n")
"""


def rss_bytes() -> int:
    """This process's resident memory now (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def timed_cli(*args: str) -> tuple[int, float, bytes]:
    """Run an agentreel command; its exit code, seconds to answer, and stdout."""
    p = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _TIMED_CLI,
        *args,
        cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(p.communicate(), 120)
    last = err.decode().strip().splitlines()[-1].split()
    assert last[0] == "answered", err.decode()
    return int(last[1]) if last[1] != "None" else 0, float(last[2]), out


def run_load(
    store_dir: Path, processes: int, spans: int, *, rate: float = 0.0, cli_every: float = 0.1
) -> dict[str, Any]:
    """Record `processes` x `spans` spans while the TUI, the CLI and check read; the figures.

    `rate` paces each recording process (spans a second, 0 for flat out). Readers'
    times are taken only while the processes record (not while 16 interpreters
    start up).
    """
    with Store.open(store_dir, create=True):
        pass  # the TUI opens on its runs screen, not on the empty-store page
    app = AgentreelApp(store_dir, refresh_every=0.25)
    refreshes: list[float] = []
    runs_of = app.reader.runs
    recording = [False]

    def timed_runs(*a: Any, **kw: Any) -> RunsPage:
        t0 = time.perf_counter()
        try:
            return runs_of(*a, **kw)
        finally:
            if recording[0]:
                refreshes.append(time.perf_counter() - t0)

    app.reader.runs = timed_runs  # type: ignore[method-assign]
    figures: dict[str, Any] = {"cli": [], "checks": [], "rss": [rss_bytes()]}
    expected_runs = processes * -(-spans // PER_RUN)
    extra = ["--per-run", str(PER_RUN), "--rate", str(rate)]

    async def steps(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: isinstance(pilot.app.screen, RunsScreen))
        agents = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.reliability._load_agent",
                str(store_dir),
                str(spans),
                *extra,
                cwd=str(ROOT),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(processes)
        ]
        for a in agents:
            assert a.stdout is not None
            line = await asyncio.wait_for(a.stdout.readline(), 120)
            assert line == b"ready\n", line
        t0 = time.perf_counter()
        recording[0] = True
        waits = [asyncio.ensure_future(a.communicate(b"go\n")) for a in agents]
        n = 0
        while not all(w.done() for w in waits):
            figures["rss"].append(rss_bytes())
            if n % 4 == 3:
                code, took, _ = await timed_cli("check", "--dir", str(store_dir), "--no-save")
                figures["checks"].append((code, took))
            else:
                code, took, out = await timed_cli("runs", "--json", "--dir", str(store_dir))
                assert code == 0, out[:500]
                try:
                    shown = json.loads(out)
                except ValueError:
                    raise AssertionError(f"runs --json printed {out[:300]!r}") from None
                assert isinstance(shown, list)
                figures["cli"].append(took)
            n += 1
            await pilot.pause(cli_every)
        figures["recorded_s"] = time.perf_counter() - t0
        figures["agents"] = []
        for a, w in zip(agents, waits, strict=True):
            out, err = w.result()
            assert a.returncode == 0, err.decode()
            figures["agents"].append(json.loads(out.decode().strip().splitlines()[-1]))
        # the live view catches up by itself: every run shows without a key pressed (the
        # runs screen lists the newest 2,000), and nothing is left in the spool
        shown = min(expected_runs, 2000)
        spool = SpoolPaths(store_dir)
        await until(
            pilot,
            lambda: runs_table(pilot).row_count == shown and not spool.pending(),
            timeout=600,
        )
        recording[0] = False
        figures["caught_up_s"] = time.perf_counter() - t0
        figures["rss"].append(rss_bytes())

    drive(app, steps)
    figures["refreshes"] = refreshes
    return figures


def test_sixteen_processes_record_while_the_tui_and_check_read(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    # each process paced like an agent waiting on its model: together about 6,400 spans/s,
    # the whole store's recording cost then is about one of this machine's two cores
    figures = run_load(store_dir, PROCESSES, SPANS, rate=400, cli_every=0.4)
    agents = figures["agents"]
    assert len(agents) == PROCESSES
    assert {a["spans"] for a in agents} == {SPANS}
    assert {a["dropped"] for a in agents} == {0}
    # recording never stalls the agent: the slowest decorated call, over all 48,000
    assert max(a["max_call_s"] for a in agents) < 1.0
    # every reader answered within a second, however much was being recorded
    assert len(figures["refreshes"]) >= 5
    assert max(figures["refreshes"]) < 1.0, sorted(figures["refreshes"])[-5:]
    assert figures["cli"]
    assert max(figures["cli"]) < 1.0, sorted(figures["cli"])[-5:]
    assert figures["checks"]
    assert {code for code, _ in figures["checks"]} <= {0, 1}  # findings, never a crash
    assert max(took for _, took in figures["checks"]) < 5.0
    # the TUI and drain process's memory does not grow with what passed through it
    rss = figures["rss"]
    assert max(rss) - rss[0] < 300 * 1024 * 1024, [r // 2**20 for r in rss]
    # every span arrived exactly once
    with Store.open(store_dir) as store:
        store.ingest()
        total, distinct = store.sql(
            "SELECT count(*) AS n, count(DISTINCT (trace_id, span_id)) AS d FROM spans"
        ).row(0)
        assert (total, distinct) == (PROCESSES * SPANS, PROCESSES * SPANS)
        runs = store.sql("SELECT status, count(*) AS n FROM runs GROUP BY ALL")
        assert runs.rows() == [("ok", PROCESSES * SPANS // PER_RUN)]


def _segment(spool: Path, n: int, records: int) -> None:
    """A spool segment of `records` complete spans, each with a 2 KiB payload."""
    SpoolPaths(spool.parent).create()
    trace = f"{n + 1:032x}"
    lines = [
        json.dumps(
            {
                "trace_id": trace,
                "span_id": f"{n * records + i + 1:016x}",
                "parent_span_id": None,
                "name": "step",
                "kind": "tool",
                "start_ns": 1_700_000_000_000_000_000 + i,
                "end_ns": 1_700_000_000_100_000_000 + i,
                "status": "ok",
                "input": "x" * 2048,
            }
        )
        for i in range(records)
    ]
    (spool / f"{n:020d}-feedfacefeedface-{n:07d}.jsonl").write_text("\n".join(lines) + "\n")


def test_a_drain_with_a_budget_lets_go_and_the_next_drain_takes_the_rest(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    with Store.open(store_dir, create=True) as store:
        for n in range(10):  # 10 segments of about 1 MiB: the budget's batches are 4 MiB
            _segment(store.paths.dir, n, 500)
        first = store.ingest(budget=0.0)  # spent at once: one batch, then let go
        assert 0 < first.segments < 10
        assert len(store.paths.pending()) == 10 - first.segments
        rest = store.ingest()
        assert first.segments + rest.segments == 10
        assert store.sql("SELECT count(*) AS n, count(DISTINCT span_id) AS d FROM spans").row(
            0
        ) == (5000, 5000)


def test_check_lets_go_of_the_store_once_the_windows_are_read(tmp_path: Path) -> None:
    from agentreel.checks import Window, run_checks

    store_dir = tmp_path / "store"
    with Store.open(store_dir, create=True) as store:
        _segment(store.paths.dir, 0, 20)
        store.ingest()
    store = Store.open(store_dir)
    held_while_computing: list[bool] = []

    def loaded() -> None:
        store.close()
        with Store.open(store_dir, wait=0.0):  # another process could open it now
            held_while_computing.append(False)

    report = run_checks(store, current=Window(), baseline=False, loaded=loaded)
    assert held_while_computing == [False]
    assert report.current["spans"] == 20
