"""A drain killed with SIGKILL at random points, 50 times, neither loses nor duplicates a span.

tests/test_processes.py kills a drain a few times over a spool an agent program made;
this test kills it fifty times, after a random number (0-3) of committed
transactions plus a random moment (so the kills land in opening the store, in its
first migration, inside a transaction, between a commit and the archiving of its
segments, or between two transactions), with transactions of 1, 5 or 20 segments,
over a spool of thousands of one-span segments plus start records whose complete
records come later. Counting transactions, not sleeping, keeps the kills mid-drain
on a fast machine and a slow one alike.
"""

from __future__ import annotations

import gzip
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel.store import Store, rebuild

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

RUNS, TOOLS = 120, 18
KILLS = 50

# The child prints "ready" once imported, then drains in transactions of `limit`
# segments until the spool is empty, printing a line after each transaction, so the
# parent can kill it after a chosen number of transactions plus a random moment.
_DRAIN = """
import sys
from agentreel.store import Store
limit = int(sys.argv[2])
print("ready", flush=True)
with Store.open(sys.argv[1], wait=10) as s:
    while s.ingest(limit=limit).segments:
        print("took", flush=True)
print("done", flush=True)
"""


def _record_spool(path: Path, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Record RUNS runs writing through, a flush after each tool call: a segment per tool
    span (and one for each run's last two spans); returns the span ids."""
    monkeypatch.setenv("AGENTREEL_FLUSH", "each")
    rec = agentreel.init(path, tracer_provider=TracerProvider())
    ids: set[str] = set()

    @agentreel.tool
    def lookup(i: int) -> int:
        ids.add(agentreel.current_span().span_id)
        return i

    try:
        for r in range(RUNS):
            with agentreel.run("job", tags={"r": r}) as run:
                ids.add(run.span_id)
                with agentreel.span("worker", kind="agent") as a:
                    ids.add(a.span_id)
                    rec.open_spans.tick()  # start records of the open run and agent
                    for i in range(TOOLS):
                        lookup(i)
                        agentreel.flush()  # its journal sealed: a segment of one span
    finally:
        agentreel.shutdown()
    return ids


def test_a_drain_killed_fifty_times_at_random_points_keeps_every_span_exactly_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_dir = tmp_path / "store"
    expected = _record_spool(store_dir, monkeypatch)
    spool = store_dir / "spool"
    segments = sorted(p.name for p in spool.glob("*.jsonl"))
    originals = {p.name: p.read_bytes() for p in spool.glob("*.jsonl")}
    assert len(expected) == RUNS * (TOOLS + 2)
    assert sum(n.endswith(".open.jsonl") for n in segments) == RUNS
    assert len(segments) == RUNS * (TOOLS + 1) + RUNS

    rng = random.Random(20261128)
    killed_mid_drain = 0
    rounds_with_progress = 0
    pending = len(segments)
    t0 = time.monotonic()
    for _ in range(KILLS):
        limit = rng.choice([1, 5, 20])
        child = subprocess.Popen(
            [sys.executable, "-c", _DRAIN, str(store_dir), str(limit)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        # let 0-3 transactions commit, then kill at a random moment of the next one (or
        # of opening the store, when 0)
        for _ in range(rng.randint(0, 3)):
            if child.stdout.readline().strip() != "took":
                break
        time.sleep(rng.uniform(0.0, 0.015))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            killed_mid_drain += 1
        child.wait(timeout=30)
        child.stdout.close()
        now_pending = len(list(spool.glob("*.jsonl")))
        rounds_with_progress += now_pending < pending
        pending = now_pending
    kill_seconds = time.monotonic() - t0
    left = pending
    assert killed_mid_drain >= KILLS - 2, "the drains finished before they could be killed"
    assert rounds_with_progress >= KILLS // 5, "most kills should land after a drain began"
    assert left > 0, "the kills should land part-way through the spool"

    # a last, clean drain takes the rest
    with Store.open(store_dir) as store:
        store.ingest()
        rows = store.sql(
            "SELECT span_id, count(*) AS n, count(end_time) AS ended FROM spans GROUP BY span_id"
        )
        assert rows.height == len(expected)
        assert set(rows["span_id"]) == expected  # nothing lost
        assert set(rows["n"]) == {1}  # nothing twice
        assert set(rows["ended"]) == {1}  # every start record replaced by its complete record
        runs = store.runs(limit=1000)
        assert runs.height == RUNS
        assert set(runs["status"]) == {"ok"}
        assert set(runs["span_count"]) == {TOOLS + 2}
        seg = store.sql(
            "SELECT name, count(*) AS n, any_value(status) AS status FROM segments GROUP BY name"
        )
        assert sorted(seg["name"]) == segments
        assert set(seg["n"]) == {1}
        assert set(seg["status"]) == {"ingested"}
    assert not list(spool.glob("*.jsonl"))
    assert not list(spool.glob(".drain-*"))  # no joined file left behind by a kill
    # every segment archived, alone or in a bundle of small ones (and compressed,
    # NAME.gz, once it has settled); a kill between a bundle's archiving and the
    # deletion of its segments archives them again alone, which a rebuild reads once
    kept = b"".join(
        gzip.decompress(p.read_bytes()) if p.name.endswith(".gz") else p.read_bytes()
        for p in sorted((spool / "archive").iterdir())
    )
    assert [n for n, data in sorted(originals.items()) if data not in kept] == []
    assert not list((spool / "rejected").iterdir())
    report = rebuild(store_dir, force=True)
    with Store.open(store_dir) as store:
        again = store.sql("SELECT span_id, count(*) AS n FROM spans GROUP BY span_id")
        assert set(again["span_id"]) == expected
        assert set(again["n"]) == {1}
        assert store.runs(limit=1000).height == RUNS == report.runs
    print(
        json.dumps(
            {
                "segments": len(segments),
                "kills": killed_mid_drain,
                "kill_seconds": round(kill_seconds, 1),
                "rounds_with_progress": rounds_with_progress,
                "left_after_kills": left,
            }
        )
    )
