"""How much an agent killed with SIGKILL loses, on a quiet and on a busy machine.

Run by hand from the repository root (with ``--busy`` it keeps both cores busy)::

    python bench/bench_crash_window.py --kills 20
    python bench/bench_crash_window.py --kills 20 --busy 4

Each kill runs tests/reliability/_crash_agent.py (runs of 25 tool steps, about 4 ms
each, flushing every `--flush` seconds), SIGKILLs it at a random moment 1.5–3.5 s in,
drains its spool, and finds the spans it said had ended that are not in the store.
The *window* of a kill is how long before the kill the earliest lost span ended (0
when nothing was lost). With ``--busy N``, N processes spin on the CPU meanwhile.
Printed: the windows' median, 90th percentile and maximum, and how many exceed the
flush interval.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentreel.store import Store
from tests.reliability.test_crash_agent import _crash


def _spin(stop: object) -> None:
    while not stop.is_set():  # type: ignore[attr-defined]
        sum(range(10_000))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--flush", default="1")
    ap.add_argument("--busy", type=int, default=0, help="processes spinning on the CPU")
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    spinners = [ctx.Process(target=_spin, args=(stop,)) for _ in range(args.busy)]
    for p in spinners:
        p.start()
    rng = random.Random(7)
    windows = []
    try:
        for k in range(args.kills):
            store = Path(tempfile.mkdtemp(prefix="agentreel-bench-crash-")) / f"s{k}"
            ended, killed_at = _crash(store, args.flush, rng.uniform(1.5, 3.5))
            with Store.open(store) as s:
                s.ingest()
                done = set(s.sql("SELECT span_id FROM spans WHERE end_time IS NOT NULL")["span_id"])
            lost = [at for sid, at in ended if sid not in done]
            windows.append(round(killed_at - min(lost), 3) if lost else 0.0)
            print(f"kill {k + 1}: lost {len(lost)} of {len(ended)}, window {windows[-1]} s")
    finally:
        stop.set()
        for p in spinners:
            p.join(10)
    windows.sort()
    flush = float(args.flush)
    result = {
        "flush_s": flush,
        "busy_processes": args.busy,
        "kills": len(windows),
        "median_window_s": statistics.median(windows),
        "p90_window_s": windows[int(0.9 * (len(windows) - 1))],
        "max_window_s": windows[-1],
        "over_the_interval": sum(w > flush for w in windows),
    }
    print(json.dumps(result))
    out = Path(__file__).parent / "results" / f"crash-window-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({**result, "windows": windows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
