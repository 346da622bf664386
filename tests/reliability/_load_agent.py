"""One recording process of the load test and bench: spans through the real tracer.

usage: python -m tests.reliability._load_agent STORE SPANS [--per-run N] [--rate SPANS_PER_S]

Imports and initialises agentreel, prints ``ready``, and waits for a line on stdin
so that every process starts recording at the same moment. It then records runs
of one agent step calling tools (``--per-run`` spans a run, counting the run's
root), times every decorated call, and prints one JSON line:
``{"spans": N, "max_call_s": ..., "seconds": ...}``. A long call means recording
stalled the agent. With ``--rate`` it paces itself to about that many spans a
second, as an agent waiting on its model does; without, it records flat out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import agentreel


@agentreel.tool
def lookup(i: int) -> dict[str, object]:
    return {"i": i, "hits": ["https://example.org/a", "https://example.org/b"]}


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("spans", type=int)
    ap.add_argument("--per-run", type=int, default=50)
    ap.add_argument("--rate", type=float, default=0.0)
    args = ap.parse_args(argv)
    tools = args.per_run - 2  # the run's root and the agent step
    rec = agentreel.init(args.store)
    clock = time.perf_counter
    longest = 0.0

    @agentreel.agent(name="loader")
    def work(n: int) -> str:
        nonlocal longest
        for i in range(n):
            t0 = clock()
            lookup(i)
            took = clock() - t0
            if took > longest:
                longest = took
        return f"{n} lookups"

    print("ready", flush=True)
    sys.stdin.readline()
    done = 0
    t_start = clock()
    while done < args.spans:
        n = min(tools, args.spans - done - 2)
        with agentreel.run("load", tags={"suite": "load"}):
            work(n)
        done += n + 2
        if args.rate:
            ahead = t_start + done / args.rate - clock()
            if ahead > 0:
                time.sleep(ahead)
    recorded_s = clock() - t_start
    t0 = clock()
    agentreel.flush()
    print(
        json.dumps(
            {
                "spans": done,
                "max_call_s": longest,
                "recorded_s": recorded_s,
                "flush_s": clock() - t0,
                "dropped": rec.dropped,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
