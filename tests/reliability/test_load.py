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
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

import agentreel.store._store as store_module
from agentreel._spool import SpoolPaths
from agentreel.store import Store, keep_draining, spool_status, stop_draining
from agentreel.store._ingest import readers_waiting, waiting_for
from agentreel.tui import AgentreelApp
from agentreel.tui._reader import StoreReader
from agentreel.tui._runs import PAGE, RunsScreen
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
import agentreel.store._store as store_module
from agentreel.cli import main
waited = [0.0, 0.0]
connect = store_module._connect
def timed_connect(*a, **kw):
    t = time.perf_counter()
    try:
        return connect(*a, **kw)
    finally:
        w = time.perf_counter() - t
        waited[0] += w
        waited[1] = max(waited[1], w)
store_module._connect = timed_connect
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
    `check_every`-th command is `agentreel check`, the others `agentreel runs --json`.
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
    connect = store_module._connect
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
        while not all(w.done() for w in waits):
            figures["rss"].append(rss_bytes())
            if n % check_every == check_every - 1:
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

    store_module._connect = timed_connect  # type: ignore[assignment]
    try:
        drive(app, steps)
    finally:
        store_module._connect = connect  # type: ignore[assignment]
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


# A process that opens the store (waiting up to 30 s) and prints how many spans it holds.
_COUNTER = """
import sys
from agentreel.store import Store
with Store.open(sys.argv[1], wait=30) as s:
    print(s.sql('SELECT count(*) AS n FROM spans')['n'][0], flush=True)
"""


def _waiting_process(store_dir: Path, script: str, *args: str) -> subprocess.Popen[str]:
    """Start `script` on the store and return once it waits for it (the store must be held)."""
    p = subprocess.Popen(
        [sys.executable, "-c", script, str(store_dir), *args], stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 30
        while not spool_status(store_dir).readers_waiting:  # it found the store held
            assert p.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.01)
    except BaseException:
        p.kill()
        p.wait()
        raise
    return p


def test_a_drain_with_a_budget_lets_go_and_the_next_drain_takes_the_rest(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    with Store.open(store_dir, create=True) as store:
        for n in range(10):  # 10 segments of about 1 MiB: a budget's first bite is 1 MiB
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


def test_a_budgeted_drain_gives_way_to_a_process_waiting_for_the_store(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    with Store.open(store_dir, create=True) as store:
        for n in range(10):
            _segment(store.paths.dir, n, 500)
        with waiting_for(store.paths):  # as `Store.open(wait=...)` says it while it retries
            assert spool_status(store_dir).readers_waiting
            first = store.ingest(budget=60.0)
        assert 0 < first.segments < 10  # one transaction, then let go
        assert not spool_status(store_dir).readers_waiting  # the marker went with the block
        rest = store.ingest(budget=60.0)
        assert first.segments + rest.segments == 10
        # a full drain (no budget) is what someone asked for: it does not give way
        for n in range(10, 14):
            _segment(store.paths.dir, n, 500)
        with waiting_for(store.paths):
            assert store.ingest().segments == 4


def test_a_full_drain_that_gives_way_lets_a_waiting_process_in_and_then_takes_the_rest(
    tmp_path: Path,
) -> None:
    # What `agentreel runs` does with a backlog while the TUI reads the same store: all
    # of it is drained, but a process waiting for the store gets in between steps.
    store_dir = tmp_path / "store"
    with Store.open(store_dir, create=True) as store:
        for n in range(10):  # about 1 MiB each: the first transaction takes one
            _segment(store.paths.dir, n, 500)
        waiter = _waiting_process(store_dir, _COUNTER)
        try:
            report = store.ingest(give_way=True)
            out, _ = waiter.communicate(timeout=30)
        finally:
            waiter.kill()
            waiter.wait()
        assert report.segments == 10
        assert not store.paths.pending()
        assert 0 < int(out) < 5000  # it read between the drain's steps, not after them
        assert store.sql("SELECT count(*) AS n FROM spans")["n"][0] == 5000


def test_a_waiting_marker_left_by_a_dead_process_is_ignored_and_removed(tmp_path: Path) -> None:
    paths = SpoolPaths(tmp_path)
    paths.create()
    paths.waiting.mkdir()
    stale = paths.waiting / "4242-deadbeef"
    stale.touch()
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    assert not spool_status(tmp_path).readers_waiting
    assert not stale.exists()


def test_open_says_it_waits_while_another_process_holds_the_store(tmp_path: Path) -> None:
    Store.open(tmp_path, create=True).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ok', flush=True);"
            " sys.stdin.readline()",
            str(tmp_path / "agentreel.duckdb"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdin is not None
        assert holder.stdout.readline().strip() == "ok"
        seen: list[bool] = []

        def watch() -> None:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not seen:
                if spool_status(tmp_path).readers_waiting:
                    seen.append(True)
                    holder.stdin.write("go\n")  # let go, as a drain that gives way does
                    holder.stdin.flush()
                time.sleep(0.01)

        watcher = threading.Thread(target=watch)
        watcher.start()
        with Store.open(tmp_path, wait=10.0) as store:  # gets in once the holder lets go
            assert store.sql("SELECT 1 AS one")["one"][0] == 1
        watcher.join()
        assert seen == [True]
        assert not spool_status(tmp_path).readers_waiting  # and the marker is gone
    finally:
        holder.kill()
        holder.wait()


def test_the_tuis_drain_opens_the_store_only_for_work_and_never_while_someone_waits(
    tmp_path: Path,
) -> None:
    store_dir = tmp_path / "store"
    with Store.open(store_dir, create=True) as store:
        _segment(store.paths.dir, 0, 20)
    reader = StoreReader(store_dir)
    assert not spool_status(store_dir).draining
    with waiting_for(SpoolPaths(store_dir)):
        assert reader.drain() is None  # someone waits for the file: they go first
    assert spool_status(store_dir).draining  # it says it keeps the store drained
    report = reader.drain()
    assert report is not None
    assert report.spans == 20
    assert reader.drain() is None  # nothing waits, nobody started or stopped: not opened


def test_a_command_drains_a_bounded_part_while_processes_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from agentreel.cli import _commands, main

    store_dir = tmp_path / "store"
    with Store.open(store_dir, create=True) as store:
        for n in range(6):
            _segment(store.paths.dir, n, 500)
        heartbeat = store.paths.live / "feedfacefeedface"
        heartbeat.touch()  # a process is recording
    monkeypatch.setattr(_commands, "LIVE_DRAIN_BUDGET_S", 0.0)  # spent at once: one batch
    runner = CliRunner()
    live = runner.invoke(main, ["runs", "--json", "--dir", str(store_dir)])
    assert live.exit_code == 0, live.output
    assert isinstance(json.loads(live.stdout), list)  # stdout stays JSON
    left = spool_status(store_dir).pending_segments
    assert 0 < left < 6
    assert f"{left} spool segment(s) not ingested yet" in live.stderr
    # the TUI (or `serve`) keeps the store drained: the command leaves the drain to it
    keep_draining(SpoolPaths(store_dir))
    left_alone = runner.invoke(main, ["runs", "--json", "--dir", str(store_dir)])
    assert left_alone.exit_code == 0, left_alone.output
    assert spool_status(store_dir).pending_segments == left
    assert "another agentreel process drains them" in left_alone.stderr
    heartbeat.unlink()  # recording over, but the drainer is slow: said, not taken over
    monkeypatch.setattr(_commands, "DRAINER_WAIT_S", 0.2)
    slow = runner.invoke(main, ["runs", "--json", "--dir", str(store_dir)])
    assert slow.exit_code == 0, slow.output
    assert spool_status(store_dir).pending_segments == left
    assert f"note: {left} spool segment(s) not ingested yet (another" in slow.stderr

    # once it is waited for, the drainer empties the spool and the command shows it all
    def drain() -> None:
        with Store.open(store_dir) as s:
            s.ingest()

    drainer = threading.Timer(0.05, drain)
    monkeypatch.setattr(_commands, "DRAINER_WAIT_S", 30.0)
    drainer.start()
    waited = runner.invoke(main, ["runs", "--json", "--dir", str(store_dir)])
    drainer.join()
    assert waited.exit_code == 0, waited.output
    assert len(json.loads(waited.stdout)) == 6
    assert "not ingested yet" not in waited.stderr
    _segment(store.paths.dir, 6, 500)
    old = time.time() - 60  # the drainer is gone: the next read takes everything itself
    os.utime(SpoolPaths(store_dir).draining, (old, old))
    done = runner.invoke(main, ["runs", "--json", "--dir", str(store_dir)])
    assert done.exit_code == 0, done.output
    assert spool_status(store_dir).pending_segments == 0
    assert len(json.loads(done.stdout)) == 7
    assert "not ingested yet" not in done.stderr


def test_a_long_reader_gives_way_between_queries_to_a_command_waiting(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    with Store.open(store_dir, create=True) as store:
        _segment(store.paths.dir, 0, 20)
        store.ingest()
        assert store.give_way() is False  # nobody waits: nothing happens
        waiter = _waiting_process(store_dir, _COUNTER)
        try:
            assert store.give_way() is True
            out, _ = waiter.communicate(timeout=30)
            assert out.strip() == "20"  # it got in while this reader let go
            assert store.sql("SELECT count(*) AS n FROM spans")["n"][0] == 20  # and back
        finally:
            waiter.kill()
            waiter.wait()


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


# A process that opens the store, says when it got in, holds it `hold` seconds and
# says when it let go (times from time.time(), comparable across processes).
_HOLDER = """
import sys, time
from agentreel.store import Store
with Store.open(sys.argv[1], wait=30) as s:
    print("in", time.time(), flush=True)
    time.sleep(float(sys.argv[2]))
    print("out", time.time(), flush=True)
"""


def test_an_open_in_a_process_holding_the_store_lets_a_waiting_process_in_first(
    tmp_path: Path,
) -> None:
    # The TUI's reads share the file while its drain has it open; without taking turns,
    # a command waiting for it waited for as long as new reads kept joining.
    store_dir = tmp_path / "store"
    Store.open(store_dir, create=True).close()
    held = Store.open(store_dir)
    waiter = _waiting_process(store_dir, _HOLDER, "0.3")
    try:
        got_in: list[float] = []

        def read() -> None:
            with Store.open(store_dir, wait=30) as s:
                got_in.append(time.time())
                assert s.sql("SELECT 1 AS one")["one"][0] == 1

        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(0.3)
        assert not got_in  # it did not join the open store: a process waits for it
        held.close()
        reader.join(30)
        out, _ = waiter.communicate(timeout=30)
    finally:
        held.close()
        waiter.kill()
        waiter.wait()
    said = dict(line.split() for line in out.splitlines())
    # the waiting process had the store, let go, and only then did the reader get in
    assert float(said["in"]) < float(said["out"]) <= got_in[0]


def test_an_open_in_a_thread_that_holds_the_store_joins_at_once(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    Store.open(store_dir, create=True).close()
    held = Store.open(store_dir)
    waiter = _waiting_process(store_dir, _HOLDER, "0.0")
    try:
        t0 = time.monotonic()
        with Store.open(store_dir, wait=30) as again:  # waiting would wait for itself
            assert again.sql("SELECT 1 AS one")["one"][0] == 1
        assert time.monotonic() - t0 < 5
        assert waiter.poll() is None  # still waiting: this thread never let go
        held.close()
        out, _ = waiter.communicate(timeout=30)
        assert out.startswith("in ")
    finally:
        held.close()
        waiter.kill()
        waiter.wait()


def test_a_waiting_process_renews_its_marker_and_one_not_renewed_is_ignored(
    tmp_path: Path,
) -> None:
    store_dir = tmp_path / "store"
    Store.open(store_dir, create=True).close()
    paths = SpoolPaths(store_dir)
    with Store.open(store_dir):
        waiter = _waiting_process(store_dir, _HOLDER, "0.0")
        try:
            (marker,) = paths.waiting.iterdir()
            old = time.time() - 4
            os.utime(marker, (old, old))
            deadline = time.monotonic() + 10
            while marker.stat().st_mtime <= old:  # renewed while it waits
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert readers_waiting(paths, other_processes=True)  # another process's
        finally:
            waiter.kill()
            waiter.wait()
    # killed while it waited: its marker, no longer renewed, stops counting after 5 s
    assert marker.exists()
    old = time.time() - 6
    os.utime(marker, (old, old))
    assert not spool_status(store_dir).readers_waiting
    assert not marker.exists()
    # this process's own waits are told apart by the marker, not by a pid (which
    # another process, in another pid namespace, may share)
    with waiting_for(paths):
        assert readers_waiting(paths)
        assert not readers_waiting(paths, other_processes=True)
        (paths.waiting / f"{os.getpid()}-0badc0de").touch()
        assert readers_waiting(paths, other_processes=True)


def test_the_tuis_drain_never_waits_for_the_store(tmp_path: Path) -> None:
    # A drain that waited would say so, and a check would hand the store over to it.
    store_dir = tmp_path / "store"
    with Store.open(store_dir, create=True) as store:
        _segment(store.paths.dir, 0, 20)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(store_dir), "2"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().startswith("in ")
        reader = StoreReader(store_dir)
        t0 = time.monotonic()
        assert reader.drain() is None  # another process has the file: try again later
        assert time.monotonic() - t0 < 1.0
        assert not spool_status(store_dir).readers_waiting
        holder.communicate(timeout=30)
        report = reader.drain()
        assert report is not None
        assert report.spans == 20
    finally:
        holder.kill()
        holder.wait()


def test_the_drainers_mark_holds_while_it_lives_and_goes_with_it(tmp_path: Path) -> None:
    paths = SpoolPaths(tmp_path)
    paths.create()
    keep_draining(paths)
    assert spool_status(tmp_path).draining

    def aged(seconds: float) -> None:
        t = time.time() - seconds
        os.utime(paths.draining, (t, t))

    aged(30)  # a drainer starved of CPU marks it late: it still drains while it lives
    assert spool_status(tmp_path).draining
    aged(120)  # but not for ever
    assert not spool_status(tmp_path).draining
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    paths.draining.write_text(gone.stdout.strip())
    assert spool_status(tmp_path).draining  # fresh: a drainer's mark holds 5 s regardless
    aged(30)
    assert not spool_status(tmp_path).draining  # its process is gone
    stop_draining(paths)
    assert paths.draining.exists()  # another process's mark is not this one's to take back
    keep_draining(paths)
    stop_draining(paths)
    assert not paths.draining.exists()


def test_the_tui_takes_back_its_drainers_mark_when_it_quits(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    with Store.open(store_dir, create=True) as store:
        _segment(store.paths.dir, 0, 20)
    app = AgentreelApp(store_dir, refresh_every=0.1)

    async def steps(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: spool_status(store_dir).draining)

    drive(app, steps)
    assert not spool_status(store_dir).draining  # commands drain for themselves again
