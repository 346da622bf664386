"""An agent killed with SIGKILL at random points loses at most its unflushed batch.

tests/test_processes.py kills an agent at one chosen point (after an explicit
flush); here the kill lands at random while the agent records, writing through
(``AGENTREEL_FLUSH=each``) or flushing every 0.2 s, and what reached the store is
compared with what the agent said had ended.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentreel.store import Store

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

INTERVAL = 0.2
#: How late a flush may come on a loaded machine before the test calls it lost.
SLACK_S = 1.5


def _crash(store: Path, flush: str, delay: float) -> tuple[list[tuple[str, float]], float]:
    """Run the agent, SIGKILL it after `delay` s; the spans it saw end and the kill time."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability._crash_agent", str(store)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "AGENTREEL_FLUSH": flush},
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    time.sleep(delay)
    killed_at = time.time()
    child.send_signal(signal.SIGKILL)
    out, _ = child.communicate(timeout=30)
    ended = []
    for line in out.splitlines():
        word, span_id, at = line.split()
        assert word == "ended"
        ended.append((span_id, float(at)))
    for hb in (store / "spool" / "live").iterdir():  # stale now, instead of in 15 s
        os.utime(hb, (time.time() - 60, time.time() - 60))
    return ended, killed_at


@pytest.mark.parametrize("flush", ["each", str(INTERVAL)])
def test_sigkill_at_random_points_loses_at_most_the_unflushed_batch(
    tmp_path: Path, flush: str
) -> None:
    rng = random.Random(f"crash-{flush}")
    for attempt in range(3):
        store = tmp_path / f"s{attempt}"
        ended, killed_at = _crash(store, flush, rng.uniform(0.4, 1.6))
        assert len(ended) > 25, "the agent should have finished some spans before the kill"
        with Store.open(store) as s:
            s.ingest()
            spans = s.sql("SELECT span_id, end_time IS NOT NULL AS done, run_id FROM spans")
            runs = s.runs(limit=1000)
        complete = set(spans.filter(spans["done"])["span_id"])
        order = [sid for sid, _ in ended]
        kept = [sid in complete for sid in order]
        # what is kept is what ended first: the loss is a tail, never a hole
        assert kept == sorted(kept, reverse=True), "a span was lost before a later one was kept"
        if flush == "each":
            assert all(kept), "a written-through span was lost"
        else:
            lost_at = [at for (_, at), k in zip(ended, kept, strict=True) if not k]
            assert all(at > killed_at - INTERVAL - SLACK_S for at in lost_at), (
                f"lost spans ended up to {killed_at - min(lost_at):.2f}s before the kill"
            )
        # a run whose root was kept complete is ok; every other run the kill cut
        # short is interrupted, and keeps the spans it had
        for row in runs.iter_rows(named=True):
            have = spans.filter(spans["run_id"] == row["run_id"]).height
            assert row["span_count"] == have >= 1
            if row["root_span_id"] in complete:
                assert row["status"] == "ok"
            else:
                assert (row["status"], row["end_time"]) == ("interrupted", None)
        cut = runs.filter(runs["status"] == "interrupted")
        if flush == "each":
            roots = set(runs["root_span_id"].drop_nulls())
            # only the run in progress, and it is there if any of its spans had ended
            assert cut.height <= 1
            if order[-1] not in roots:
                assert cut.height == 1
                assert cut["start_time"][0] == runs["start_time"].max()
