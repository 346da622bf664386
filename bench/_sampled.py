"""Run a module under a CPU-weighted sampling profiler of every thread; for bench_receiver.py.

    python bench/_sampled.py OUT.json -m agentreel serve --port 0 --dir ...

cProfile sees only the thread it starts in, and `agentreel serve` decodes and spools
in request threads. This samples every thread's Python stack every 10 ms and charges
each stack with the CPU time its thread used since the last sample (read from
``/proc/self/task/<tid>/stat``), so a thread blocked in a socket read or waiting for
the GIL counts nothing. At exit it writes the functions by own CPU time and by CPU
time including callees (a function counted once per stack) to OUT.json. Linux only.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import threading
import time
from collections import Counter
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _cpu(tid: int) -> float:
    try:
        fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _label(code: object) -> str:
    f = code.co_filename  # type: ignore[attr-defined]
    short = f.split("site-packages/")[-1].split("/agentreel/")[-1]
    return f"{short}:{code.co_firstlineno}({code.co_name})"  # type: ignore[attr-defined]


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True, name="sampler")
        self.own: Counter[str] = Counter()
        self.total: Counter[str] = Counter()
        self.by_thread: Counter[str] = Counter()
        self.cpu = 0.0
        self._last: dict[int, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        me = threading.get_ident()
        while not self.stop.wait(0.01):
            frames = sys._current_frames()
            for t in threading.enumerate():
                if t.ident == me or t.ident not in frames or t.native_id is None:
                    continue
                now = _cpu(t.native_id)
                spent = now - self._last.get(t.native_id, now)
                self._last[t.native_id] = now
                if spent <= 0:
                    continue
                self.cpu += spent
                self.by_thread[t.name.split("-")[0].rstrip("0123456789 (")] += spent
                f = frames[t.ident]
                self.own[_label(f.f_code)] += spent
                seen = set()
                while f is not None:
                    label = _label(f.f_code)
                    if label not in seen:
                        seen.add(label)
                        self.total[label] += spent
                    f = f.f_back

    def dump(self, out: Path) -> None:
        self.stop.set()
        self.join(1)
        out.write_text(
            json.dumps(
                {
                    "cpu_s_sampled": round(self.cpu, 2),
                    "by_thread": {k: round(v, 2) for k, v in self.by_thread.most_common()},
                    "own": [(k, round(v, 3)) for k, v in self.own.most_common(40)],
                    "total": [(k, round(v, 3)) for k, v in self.total.most_common(60)],
                },
                indent=1,
            )
        )


def main() -> None:
    out = Path(sys.argv[1])
    if sys.argv[2] != "-m":
        raise SystemExit("usage: _sampled.py OUT.json -m MODULE [ARGS...]")
    module = sys.argv[3]
    sys.argv = [module, *sys.argv[4:]]
    sampler = Sampler()
    sampler.start()
    t0 = time.monotonic()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        sampler.dump(out)
        print(f"sampled {time.monotonic() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
