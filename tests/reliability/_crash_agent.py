"""An agent that records runs until it is killed, printing each span id as its span ends.

usage: python -m tests.reliability._crash_agent STORE

The flush interval comes from ``AGENTREEL_FLUSH``. Each line ``ended <span_id> <unix time>`` is
printed after the span has ended (so after a write-through span is on disk).
"""

from __future__ import annotations

import sys
import time

import agentreel


def main(store: str) -> None:
    agentreel.init(store)

    @agentreel.tool
    def lookup(i: int) -> int:
        time.sleep(0.004)
        return i

    print("ready", flush=True)
    r = 0
    while True:
        with agentreel.run("job", tags={"r": r}) as run:
            with agentreel.span("worker", kind="agent") as agent:
                for i in range(25):
                    with agentreel.span("step", kind="chain") as step:
                        lookup(i)
                    print(f"ended {step.span_id} {time.time()}", flush=True)
            print(f"ended {agent.span_id} {time.time()}", flush=True)
        print(f"ended {run.span_id} {time.time()}", flush=True)
        r += 1


if __name__ == "__main__":
    main(sys.argv[1])
