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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

import agentreel.store._access as access_module
from agentreel._spool import SpoolPaths
from agentreel.store import Store
from agentreel.tui import AgentreelApp
from agentreel.tui._reader import StoreReader
from agentreel.tui._runs import PAGE, RunsScreen
from tests.store.test_access import _segment
from tests.tui.test_app import drive, runs_table, until

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 16
SPANS = 3_000
PER_RUN = 50
pytestmark = pytest.mark.slow

# An agentreel command, timed from inside (the interpreter's own start-up, which the
# store has nothing to do with, is left out): its wall time, its CPU time (all threads),
# how long it waited in all for another process to let go of the store, and its longest
# single wait (a check opens the store again after each handover).
_TIMED_CLI = """
import sys, time
import agentreel.store._access as access_module
from agentreel.cli import main
waited = [0.0, 0.0]
connect = access_module.connect
def timed_connect(*a, **kw):
    t = time.perf_counter()
    try:
        return connect(*a, **kw)
    finally:
        w = time.perf_counter() - t
        waited[0] += w
        waited[1] = max(waited[1], w)
access_module.connect = timed_connect
t0, c0 = time.perf_counter(), time.process_time()
try:
    main(sys.argv[1:], standalone_mode=False)
    code = 0
except SystemExit as e:
    code = e.code
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
sys.stderr.write(f"\\nanswered {code} {wall:.4f} {cpu:.4f} {waited[0]:.4f} {waited[1]:.4f}\\n")
"""


@dataclass(frozen=True)
class Answer:
    """One timed command: exit code, seconds to answer, CPU seconds, seconds waiting."""

    code: int
    took: float
    cpu: float
    waited: float
    longest_wait: float
    out: bytes


def rss_bytes() -> int:
    """This process's resident memory now (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def timed_cli(*args: str) -> Answer:
    """Run an agentreel command and time it (see `_TIMED_CLI`)."""
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
    code = int(last[1]) if last[1] != "None" else 0
    return Answer(code, float(last[2]), float(last[3]), float(last[4]), float(last[5]), out)


def run_load(
    store_dir: Path,
    processes: int,
    spans: int,
    *,
    rate: float = 0.0,
    cli_every: float = 0.1,
    check_every: int = 4,
) -> dict[str, Any]:
    """Record `processes` x `spans` spans while the TUI, the CLI and check read; the figures.

    `rate` paces each recording process (spans a second, 0 for flat out); every
    `check_every`-th command, the first included, is `agentreel check`, the others
    `agentreel runs --json`.
    Readers' times are taken only while the processes record (not while 16
    interpreters start up).
    """
    with Store.open(store_dir, create=True):
        pass  # the TUI opens on its runs screen, not on the empty-store page
    app = AgentreelApp(store_dir, refresh_every=0.25)
    recording = [False]

    def timed(fn: Any, sink: list[float]) -> Any:
        """`fn`, timed into `sink` while the processes record."""

        def call(*a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                if recording[0]:
                    sink.append(time.perf_counter() - t0)

        return call

    refreshes: list[float] = []
    app.reader.runs = timed(app.reader.runs, refreshes)  # type: ignore[method-assign]
    # how long this process (the TUI's reads and its drain) waits for others to let go
    tui_waits: list[float] = []
    connect = access_module.connect
    timed_connect = timed(connect, tui_waits)

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
        # a check starts first, while every process records, and the loop goes on until
        # a `runs` has answered too: however busy the machine, each kind of reader is
        # seen to finish (never blocked for good), not only those that happen to fit
        while not all(w.done() for w in waits) or not figures["cli"]:
            figures["rss"].append(rss_bytes())
            if n % check_every == 0:
                figures["checks"].append(
                    await timed_cli("check", "--dir", str(store_dir), "--no-save")
                )
            else:
                answer = await timed_cli("runs", "--json", "--dir", str(store_dir))
                assert answer.code == 0, answer.out[:500]
                try:
                    shown = json.loads(answer.out)
                except ValueError:
                    raise AssertionError(f"runs --json printed {answer.out[:300]!r}") from None
                assert isinstance(shown, list)
                figures["cli"].append(answer)
            n += 1
            await pilot.pause(cli_every)
        figures["recorded_s"] = time.perf_counter() - t0
        figures["agents"] = []
        for a, w in zip(agents, waits, strict=True):
            out, err = w.result()
            assert a.returncode == 0, err.decode()
            figures["agents"].append(json.loads(out.decode().strip().splitlines()[-1]))
        # the live view catches up by itself: every run counts without a key pressed, and
        # nothing is left in the spool. The runs screen holds a page of the newest at least
        # (more when the cursor, kept on its run as newer ones arrive, neared the page's end)
        shown = min(expected_runs, PAGE)
        spool = SpoolPaths(store_dir)
        screen = pilot.app.screen
        assert isinstance(screen, RunsScreen)
        await until(
            pilot,
            lambda: (
                runs_table(pilot).row_count >= shown
                and screen.total == expected_runs
                and not spool.pending()
            ),
            timeout=600,
        )
        recording[0] = False
        figures["caught_up_s"] = time.perf_counter() - t0
        figures["rss"].append(rss_bytes())

    access_module.connect = timed_connect  # type: ignore[assignment]
    try:
        drive(app, steps)
    finally:
        access_module.connect = connect  # type: ignore[assignment]
    figures["refreshes"] = refreshes
    figures["tui_waits"] = tui_waits
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
    # Every reader kept answering while everything was recorded: the TUI refreshed,
    # and every command and check finished (none was blocked for good) without a crash.
    # How fast they answered depends on how busy the machine is, so it is a figure of
    # bench/bench_load.py and docs/reliability.md, not an assertion here.
    assert len(figures["refreshes"]) >= 5
    cli, checks = figures["cli"], figures["checks"]
    assert cli
    assert checks
    assert {a.code for a in checks} <= {0, 1}  # findings, never a crash
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


def test_a_drain_that_fails_is_said_once_and_the_viewer_stays_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_dir = tmp_path / "store"
    with Store.open(store_dir, create=True) as store:
        _segment(store.paths.dir, 0, 20)
    calls: list[int] = []

    def broken(self: StoreReader) -> None:
        calls.append(1)
        raise MemoryError("out of memory while draining")  # anything but AgentreelError

    monkeypatch.setattr(StoreReader, "drain", broken)
    app = AgentreelApp(store_dir, refresh_every=0.1)
    said: list[str] = []
    notify = app.notify
    monkeypatch.setattr(app, "notify", lambda m, **k: (said.append(m), notify(m, **k)))

    async def steps(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: len(calls) >= 3)  # tried again and again
        assert isinstance(pilot.app.screen, RunsScreen)  # and the app is still up
        await pilot.press("r")

    drive(app, steps)
    assert said == ["could not drain the spool: MemoryError: out of memory while draining"]
