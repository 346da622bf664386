"""A small instrumented program the process tests run as a subprocess.

usage: python -m tests._agent_program STORE RUNS TOOLS_PER_RUN [--hang] [--flush-each] [--tag K=V]

With --hang it prints "flushed N" after each flushed tool call of its last run and
then keeps the run open forever, waiting to be killed. With --flush-each it flushes
after every tool call: a spool segment for each.
"""

from __future__ import annotations

import sys
import time

import agentreel


@agentreel.llm(provider="openai", model="gpt-4.1-mini")
def plan(question: str) -> dict[str, object]:
    return {
        "usage": {"prompt_tokens": 50, "completion_tokens": 5},
        "choices": [{"finish_reason": "stop"}],
    }


@agentreel.tool
def lookup(i: int) -> str:
    return f"result {i}"


@agentreel.agent(name="worker")
def work(n_tools: int, hang: bool, flush_each: bool = False) -> str:
    plan("q")
    for i in range(n_tools):
        lookup(i)
        if flush_each and not hang:
            agentreel.flush()
        if hang:
            agentreel.flush()
            print(f"flushed {i + 1}", flush=True)
    if hang:
        while True:
            time.sleep(1)
    return "done"


def main(argv: list[str]) -> None:
    store, runs, tools = argv[0], int(argv[1]), int(argv[2])
    hang = "--hang" in argv
    tag = {}
    if "--tag" in argv:
        k, v = argv[argv.index("--tag") + 1].split("=", 1)
        tag[k] = v
    agentreel.init(store)
    for r in range(runs):
        with agentreel.run("job", tags={"run": r, **tag}):
            work(tools, hang and r == runs - 1, "--flush-each" in argv)
    print("finished", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
