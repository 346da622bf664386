"""Store access between processes, by behaviour: who waits for whom, who drains, who
gives way, that nothing is lost and that nobody is blocked for good.

The rules are agentreel/store/_access.py's and docs/architecture.md's ("Sharing the
store"). Real processes stand in for the other side wherever the rule is about
processes (DuckDB's lock is per process); the tests wait for conditions, and assert
the order in which things happened, never how long they took.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from agentreel._errors import AgentreelError, StoreBusy
from agentreel._spool import SpoolPaths
from agentreel.store import Store, _access, keep_draining, spool_status, stop_draining
from agentreel.store._markers import readers_waiting, waiting_for
from agentreel.tui import AgentreelApp
from agentreel.tui._reader import StoreReader
from tests.tui.test_app import drive, until

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


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
            # a bound only for an open that never says it waits, not a figure
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not seen:
                if spool_status(tmp_path).readers_waiting:
                    seen.append(True)
                    holder.stdin.write("go\n")  # let go, as a drain that gives way does
                    holder.stdin.flush()
                time.sleep(0.01)

        watcher = threading.Thread(target=watch)
        watcher.start()
        with Store.open(tmp_path, wait=120.0) as store:  # gets in once the holder lets go
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

    from agentreel.cli import main

    store_dir = tmp_path / "store"
    with Store.open(store_dir, create=True) as store:
        for n in range(6):
            _segment(store.paths.dir, n, 500)
        heartbeat = store.paths.live / "feedfacefeedface"
        heartbeat.touch()  # a process is recording
    monkeypatch.setattr(_access, "LIVE_DRAIN_BUDGET_S", 0.0)  # spent at once: one batch
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
    monkeypatch.setattr(_access, "DRAINER_WAIT_S", 0.2)
    slow = runner.invoke(main, ["runs", "--json", "--dir", str(store_dir)])
    assert slow.exit_code == 0, slow.output
    assert spool_status(store_dir).pending_segments == left
    assert f"note: {left} spool segment(s) not ingested yet (another" in slow.stderr

    # once it is waited for, the drainer empties the spool and the command shows it all
    def drain() -> None:
        with Store.open(store_dir) as s:
            s.ingest()

    drainer = threading.Timer(0.05, drain)
    monkeypatch.setattr(_access, "DRAINER_WAIT_S", 30.0)
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


# A process that opens the store, says so, and holds it until a line comes on stdin.
_HOLD_UNTIL_TOLD = """
import sys
from agentreel.store import Store
with Store.open(sys.argv[1], wait=30) as s:
    print("in", flush=True)
    sys.stdin.readline()
"""


def test_an_open_in_a_process_holding_the_store_lets_a_waiting_process_in_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The TUI's reads share the file while its drain has it open; without taking turns,
    # a command waiting for it waited for as long as new reads kept joining.
    store_dir = tmp_path / "store"
    Store.open(store_dir, create=True).close()
    held = Store.open(store_dir)
    waiter = _waiting_process(store_dir, _HOLDER, "0.3")
    taking_turn = threading.Event()
    holders = _access.holders

    def watched(db: Path) -> int:
        if threading.current_thread() is not threading.main_thread():
            taking_turn.set()
        return holders(db)

    monkeypatch.setattr(_access, "holders", watched)
    try:
        got_in: list[float] = []

        def read() -> None:
            with Store.open(store_dir, wait=30) as s:
                got_in.append(time.time())
                assert s.sql("SELECT 1 AS one")["one"][0] == 1

        reader = threading.Thread(target=read)
        reader.start()
        assert taking_turn.wait(30)  # it waits for this process's other Store to let go
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
    waiters: list[subprocess.Popen[str]] = []
    joined: list[int] = []
    still_waiting: list[bool] = []

    def hold_and_open_again() -> None:
        with Store.open(store_dir) as held:
            waiters.append(_waiting_process(store_dir, _HOLDER, "0.0"))
            # a wait of an hour: an open that waited for its turn would wait for itself
            with Store.open(store_dir, wait=3600) as again:
                joined.append(int(again.sql("SELECT 1 AS one")["one"][0]))
            still_waiting.append(waiters[0].poll() is None)
            assert held.sql("SELECT 1 AS one").height == 1

    t = threading.Thread(target=hold_and_open_again, daemon=True)
    try:
        t.start()
        t.join(120)  # nobody blocked for good: far less than the open's wait
        assert not t.is_alive()
        assert joined == [1]
        assert still_waiting == [True]  # the thread never let go while it joined
        out, _ = waiters[0].communicate(timeout=30)
        assert out.startswith("in ")  # and once it did, the waiting process got in
    finally:
        for w in waiters:
            w.kill()
            w.wait()


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


def test_the_tuis_drain_never_waits_for_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A drain that waited would say so, and a check would hand the store over to it.
    store_dir = tmp_path / "store"
    with Store.open(store_dir, create=True) as store:
        _segment(store.paths.dir, 0, 20)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_UNTIL_TOLD, str(store_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    waits: list[object] = []
    monkeypatch.setattr(_access, "waiting_for", lambda paths: waits.append(paths))
    try:
        assert holder.stdout is not None
        assert holder.stdin is not None
        assert holder.stdout.readline().strip() == "in"
        reader = StoreReader(store_dir)
        # another process has the file, and holds it until told: the drain comes back
        # while it still does, having never waited (nor said it waits)
        assert reader.drain() is None
        assert waits == []
        assert holder.poll() is None
        holder.communicate("go\n", timeout=30)
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


@pytest.mark.parametrize("store_busy", [False, True], ids=["opened", "held elsewhere"])
def test_a_keeper_stopped_while_it_opens_the_store_leaves_no_mark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_busy: bool
) -> None:
    """The viewer quits (its keeper stops) while a turn opens the store, and the open
    marks the store as kept drained again: the turn takes that mark back."""
    from agentreel.store import Keeper
    from agentreel.store._store import Store as StoreClass

    store_dir = tmp_path / "store"
    with Store.open(store_dir, create=True) as store:
        _segment(store.paths.dir, 0, 20)
    keeper = Keeper(store_dir)
    real_open = StoreClass.open.__func__  # type: ignore[attr-defined]

    def open_while_stopping(cls: type[Store], *a: Any, **k: Any) -> Store:
        keeper.stop()  # the quit lands here
        if store_busy:
            keep_draining(SpoolPaths(store_dir))  # the open marks before it finds the file held
            raise StoreBusy("held by another process")
        return real_open(cls, *a, **k)  # type: ignore[no-any-return]

    monkeypatch.setattr(StoreClass, "open", classmethod(open_while_stopping))
    assert keeper.turn() is None
    assert not spool_status(store_dir).draining
    assert spool_status(store_dir).pending_segments == 1  # nothing drained after the stop


def test_a_purpose_not_known_is_refused_in_one_sentence(tmp_path: Path) -> None:
    Store.open(tmp_path, create=True).close()
    with pytest.raises(AgentreelError, match=r"^purpose 'view' is not one of read, write, "):
        Store.open(tmp_path, purpose="view")  # type: ignore[arg-type]


def test_each_purpose_drains_at_open_by_its_rule(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    Store.open(store_dir, create=True).close()
    paths = SpoolPaths(store_dir)
    for purpose in ("ingest", "tui", "drain"):  # these leave the drain to their caller
        _segment(paths.dir, 0, 10)
        with Store.open(store_dir, purpose=purpose) as store:
            assert store.access.purpose == purpose
            assert store.access.drained is None
            assert len(paths.pending()) == 1
            assert store.access.kept_drained == (purpose == "drain")
        stop_draining(paths)
        paths.pending()[0].unlink()
    for n, purpose in enumerate(("read", "write")):  # a command's: everything, first
        _segment(paths.dir, n + 1, 10)
        with Store.open(store_dir, purpose=purpose) as store:
            assert store.access.drained is not None
            assert store.access.drained.spans == 10
            assert store.access.left == 0
            assert not paths.pending()


def test_an_ingest_that_shares_the_store_with_a_keeper_is_told_so(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    Store.open(store_dir, create=True).close()
    paths = SpoolPaths(store_dir)
    paths.create()
    with Store.open(store_dir, purpose="ingest") as store:
        assert not store.access.kept_drained
    keep_draining(paths)  # as the TUI or serve does
    with Store.open(store_dir, purpose="ingest") as store:
        assert store.access.kept_drained  # `agentreel ingest` then gives way between steps
    stop_draining(paths)


def test_a_keeper_open_never_waits_and_refuses_while_another_process_holds_the_file(
    tmp_path: Path,
) -> None:
    store_dir = tmp_path / "store"
    Store.open(store_dir, create=True).close()
    SpoolPaths(store_dir).create()
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_UNTIL_TOLD, str(store_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "in"
        with pytest.raises(StoreBusy):
            Store.open(store_dir, purpose="drain")
        assert holder.poll() is None  # refused while the holder still held it
        assert spool_status(store_dir).draining  # and said it keeps the store drained
        holder.communicate("go\n", timeout=30)
        with Store.open(store_dir, purpose="drain") as store:
            assert store.access.kept_drained
    finally:
        holder.kill()
        holder.wait()
        stop_draining(SpoolPaths(store_dir))


# A keeper in a process of its own: Keeper turns until a line comes on stdin, then a last
# turn, and the mark taken back (what the TUI's drain worker does).
_KEEPER = """
import sys, threading
from pathlib import Path
from agentreel.store import Keeper
keeper = Keeper(Path(sys.argv[1]))
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
print("keeping", flush=True)
while not stop.wait(0.05):
    keeper.turn()
keeper.turn()
keeper.stop()
"""


#: Each agent's runs and pace: 30 runs of 20 spans at about 2,000 spans a second.
PACE = ("--per-run", "20", "--rate", "2000")


def test_agents_a_keeper_and_commands_share_a_store_and_nothing_is_lost(tmp_path: Path) -> None:
    # Two agents record while a keeper (the TUI's drain, in its own process) drains and
    # this process reads as a command does, over and over: every read gets in (none
    # fails as busy), and at the end every span is in the store exactly once.
    store_dir = tmp_path / "store"
    Store.open(store_dir, create=True).close()
    keeper = subprocess.Popen(
        [sys.executable, "-c", _KEEPER, str(store_dir)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    agents = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.reliability._load_agent", str(store_dir), "600", *PACE],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        assert keeper.stdout is not None
        assert keeper.stdout.readline().strip() == "keeping"
        for a in agents:
            assert a.stdout is not None
            assert a.stdout.readline().strip() == "ready"
        for a in agents:
            assert a.stdin is not None
            a.stdin.write("go\n")
            a.stdin.flush()
        reads: list[Any] = []
        while any(a.poll() is None for a in agents) or len(reads) < 3:
            with Store.open(store_dir, purpose="read") as store:
                reads.append(store.access)
                store.runs(limit=10)
        for a in agents:
            out, _ = a.communicate(timeout=120)
            assert a.returncode == 0
            assert json.loads(out.strip().splitlines()[-1])["spans"] == 600
        keeper.communicate("stop\n", timeout=120)
        assert keeper.returncode == 0
    finally:
        for p in (keeper, *agents):
            p.kill()
            p.wait()
    assert not spool_status(store_dir).draining  # the keeper took its mark back
    assert any(r.kept_drained for r in reads)  # the reads left the drain to the keeper
    with Store.open(store_dir, purpose="read") as store:
        total, distinct = store.sql(
            "SELECT count(*) AS n, count(DISTINCT (trace_id, span_id)) AS d FROM spans"
        ).row(0)
        assert (total, distinct) == (1200, 1200)
        assert store.sql("SELECT count(*) AS n FROM runs WHERE status = 'ok'")["n"][0] == 60


def test_a_stopped_keeper_never_puts_its_mark_back(tmp_path: Path) -> None:
    # the TUI's drain worker may take a turn after the quitting app took the mark back
    store_dir = tmp_path / "store"
    with Store.open(store_dir, create=True) as store:
        _segment(store.paths.dir, 0, 20)
    keeper = _access.Keeper(store_dir)
    report = keeper.turn()
    assert report is not None
    assert report.spans == 20
    assert spool_status(store_dir).draining
    keeper.stop()
    assert not spool_status(store_dir).draining
    with Store.open(store_dir) as store:
        _segment(store.paths.dir, 1, 5)
    assert keeper.turn() is None  # stopped: neither a mark nor a drain
    assert not spool_status(store_dir).draining
    assert spool_status(store_dir).pending_segments == 1
