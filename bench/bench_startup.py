"""Start-up cost of the CLI and of recording, each run a fresh process, against ``python -c pass``.

Run by hand from the repository root::

    .venv/bin/python bench/bench_startup.py                     # about 1 minute
    .venv/bin/python bench/bench_startup.py --before ../old     # and an older checkout, side by side
    .venv/bin/python bench/bench_startup.py --quick             # 3 rounds, while developing

Each command is started as a fresh process of this interpreter with ``PYTHONPATH``
set to the checkout under test, in a scratch directory (``python -m`` and ``-c`` put
the working directory first on the path), so it runs that checkout's code. Wall time is taken
around the process; CPU time is the change in ``RUSAGE_CHILDREN`` (user + system)
across it, so the program that ``record`` starts is counted. The floor, ``python -c
pass``, is measured in every round beside the commands, and each figure is given as
a ratio to the floor of its own round; with ``--before`` the two checkouts alternate
within each round (which goes first swaps every round), and after/before is the
median of the paired ratios. Spread is the lowest and highest of the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _env import environment as bench_environment  # bench/, beside this script

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
FLOOR = "python -c pass"
COMMANDS = (
    "agentreel --version",
    "agentreel --help",
    "agentreel runs",
    "agentreel show RUN",
    "agentreel record -- python -c pass",
    'python -c "import agentreel; agentreel.instrument()"',
)


class Side:
    """One checkout: its environment and the small stores its commands read and write."""

    def __init__(self, name: str, checkout: Path, work: Path) -> None:
        self.name = name
        self.dir = work / name
        self.dir.mkdir(parents=True)
        self.store = self.dir / "demo"
        self.env = {
            **os.environ,
            "PYTHONPATH": str(checkout),
            "AGENTREEL_DIR": str(self.dir / "recorded"),
            "COLUMNS": "100",
        }
        self.env.pop("AGENTREEL_RECORD", None)
        self.run_id = ""

    def prepare(self) -> None:
        """A small demo store (5 runs), made by this checkout's own code."""
        _check(self, [PY, "-m", "agentreel", "demo", "--runs", "5", "--dir", str(self.store)])
        out = _check(self, [PY, "-m", "agentreel", "runs", "--json", "--dir", str(self.store)])
        self.run_id = json.loads(out)[0]["run_id"]

    def argv(self, command: str) -> list[str]:
        store = ["--dir", str(self.store)]
        return {
            FLOOR: [PY, "-c", "pass"],
            "agentreel --version": [PY, "-m", "agentreel", "--version"],
            "agentreel --help": [PY, "-m", "agentreel", "--help"],
            "agentreel runs": [PY, "-m", "agentreel", "runs", *store],
            "agentreel show RUN": [PY, "-m", "agentreel", "show", self.run_id, *store],
            "agentreel record -- python -c pass": [
                *[PY, "-m", "agentreel", "record", "--dir", str(self.dir / "recorded")],
                *["--", PY, "-c", "pass"],
            ],
            COMMANDS[-1]: [PY, "-c", "import agentreel; agentreel.instrument()"],
        }[command]


def _check(side: Side, argv: Sequence[str]) -> str:
    p = subprocess.run(
        argv, env=side.env, cwd=side.dir, capture_output=True, text=True, timeout=300
    )
    if p.returncode:
        raise SystemExit(f"{side.name}: {' '.join(argv)} failed:\n{p.stderr[-2000:]}")
    return p.stdout


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(side: Side, command: str) -> tuple[float, float]:
    """Wall and CPU seconds of one fresh process running `command`."""
    argv = side.argv(command)
    cpu, t = _cpu(), time.perf_counter()
    p = subprocess.run(
        argv, env=side.env, cwd=side.dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    wall, cpu = time.perf_counter() - t, _cpu() - cpu
    if p.returncode:
        raise SystemExit(f"{side.name}: {command} failed:\n{p.stderr.decode()[-2000:]}")
    return wall, cpu


def run_rounds(sides: list[Side], rounds: int) -> dict[str, dict[str, list[dict[str, float]]]]:
    """Per side and command, each round's wall and CPU and their ratios to that round's floor."""
    out: dict[str, dict[str, list[dict[str, float]]]] = {s.name: {} for s in sides}
    for r in range(rounds + 1):  # round 0 warms the caches and is dropped
        for command in COMMANDS:
            order = sides if r % 2 else sides[::-1]
            for side in order:
                fw, fc = measure(side, FLOOR)
                w, c = measure(side, command)
                if r:
                    out[side.name].setdefault(command, []).append(
                        {"wall": w, "cpu": c, "floor_wall": fw, "floor_cpu": fc}
                    )
    return out


def _ratios(xs: list[dict[str, float]], key: str) -> list[float]:
    return [x[key] / x[f"floor_{key}"] for x in xs]


def _fmt(values: list[float], unit: str = "×", digits: int = 1) -> str:
    m = statistics.median(values)
    return f"{m:6.{digits}f}{unit} [{min(values):.{digits}f}–{max(values):.{digits}f}]"


def report(figures: dict[str, dict[str, list[dict[str, float]]]]) -> None:
    """The tables: each side's ratios to the floor, and after/before when both were run."""
    names = [n for n in ("before", "after") if n in figures]
    after = figures["after"]
    floor = [x["floor_wall"] * 1000 for xs in after.values() for x in xs]
    floor_cpu = [x["floor_cpu"] * 1000 for xs in after.values() for x in xs]
    print(
        f"floor ({FLOOR}): wall {statistics.median(floor):.0f} ms, "
        f"CPU {statistics.median(floor_cpu):.0f} ms (medians of every round)"
    )
    print("each: median ratio to the floor of its round [lowest–highest], then median ms")
    for key, label in (("wall", "wall"), ("cpu", "CPU")):
        print(f"\n{label}:")
        head = f"  {'command':52}"
        for n in names:
            head += f" {n + ' (×floor)':>22} {'ms':>6}"
        if len(names) == 2:
            head += f" {'after/before':>22}"
        print(head)
        for command in COMMANDS:
            line = f"  {command:52}"
            for n in names:
                xs = figures[n][command]
                ms = statistics.median(x[key] for x in xs) * 1000
                line += f" {_fmt(_ratios(xs, key)):>22} {ms:6.0f}"
            if len(names) == 2:
                pairs = zip(figures["after"][command], figures["before"][command], strict=True)
                line += f" {_fmt([a[key] / b[key] for a, b in pairs], '', 2):>22}"
            print(line)


def environment() -> dict[str, Any]:
    return bench_environment(load_average=os.getloadavg()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9, help="timed rounds (default 9)")
    parser.add_argument("--quick", action="store_true", help="3 rounds, for development")
    parser.add_argument(
        "--before", type=Path, metavar="PATH", help="another checkout to compare against"
    )
    parser.add_argument(
        "--report", type=Path, metavar="JSON", help="print the tables of an earlier run's results"
    )
    args = parser.parse_args()
    if args.report is not None:
        figures = json.loads(args.report.read_text())["figures"]
        report(figures)
        return
    rounds = 3 if args.quick else args.rounds
    load = os.getloadavg()[0]
    print(f"load average at start: {load:.2f} (2 cores; results vary above 0.5)")
    work = Path(tempfile.mkdtemp(prefix="agentreel-bench-startup-"))
    try:
        sides = [Side("after", ROOT, work)]
        if args.before is not None:
            sides.insert(0, Side("before", args.before.resolve(), work))
        for s in sides:
            s.prepare()
        figures = run_rounds(sides, rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{rounds} rounds, each command a fresh process:")
    report(figures)
    out = ROOT / "bench" / "results" / f"startup-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    result = {"rounds": rounds, "environment": environment(), "figures": figures}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
