"""All built-in checks over 1,000,000 spans in 20,000 runs, end to end.

Run by hand (not in CI)::

    .venv/bin/python bench/bench_checks.py     # about a minute

A store of 20,000 runs x 50 spans is written straight into DuckDB with
`bench/_synthetic.py` (not timed), and a baseline store of 5,000 other runs, whose
statistics are saved with `save_baseline` (timed on its own). Each repeat then
times what ``agentreel check`` does in CI, in-process: ``Store.open`` +
``run_checks`` (every built-in check; the current window is every run, all one
million spans, against the saved baseline) + ``save_results`` + rendering the
text report + ``close``. Goal: under 3 s (median of the repeats). The report
also gives the time inside Pandera's ``validate`` calls, loading, and each check.

Two more figures, not part of the goal: the whole ``agentreel check`` command in
a subprocess (Python start-up and imports included), and the local default
(the last 24 hours against the 7 days before, both windows read live from the
same store).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandera
import polars as pl
from rich.console import Console

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
RESULTS_DIR = BENCH_DIR / "results"
GOAL_S = 3.0

from _synthetic import make_store  # noqa: E402

import agentreel  # noqa: E402
from agentreel.checks import (  # noqa: E402
    CheckConfig,
    CheckReport,
    Window,
    render_text,
    run_checks,
    save_baseline,
    save_results,
)
from agentreel.checks._timing import Timings  # noqa: E402
from agentreel.store import Store  # noqa: E402


def end_to_end(store_dir: Path, baseline: Path | None, current: Window | None) -> CheckReport:
    """What `agentreel check` does after parsing its options, in-process."""
    with Store.open(store_dir) as store:
        report = run_checks(
            store,
            current=current,
            baseline=str(baseline) if baseline else None,
            config=CheckConfig(),
            env={},
        )
        save_results(store, report)
    Console(file=io.StringIO(), width=160).print(render_text(report))
    return report


@dataclass
class Summary:
    """What the bench keeps of one report."""

    timings: Timings
    status: str
    counts: dict[str, int]
    runs: int
    spans: int
    baseline_runs: int

    @classmethod
    def of(cls, report: CheckReport) -> Summary:
        return cls(
            report.timings,
            report.status,
            report.counts(),
            report.current["runs"],
            report.current["spans"],
            (report.baseline or {}).get("runs", 0),
        )


def cli_once(store_dir: Path, baseline: Path) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentreel",
            "check",
            "--dir",
            str(store_dir),
            "--baseline",
            str(baseline),
            "--no-save",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "CI": "true"},
    )
    wall = time.perf_counter() - t0
    if r.returncode not in (0, 1):
        raise SystemExit(f"agentreel check failed ({r.returncode}): {r.stderr}")
    return wall


def environment() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=BENCH_DIR, capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return None
        return out.stdout.strip()

    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "agentreel": agentreel.__version__,
        "duckdb": duckdb.__version__,
        "polars": pl.__version__,
        "pandera": pandera.__version__,
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
    }


@contextmanager
def step(what: str) -> Iterator[None]:
    print(f"{what} ...", end="", flush=True)
    t0 = time.perf_counter()
    yield
    print(f" {time.perf_counter() - t0:.1f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20_000, help="runs in the checked store")
    ap.add_argument("--spans-per-run", type=int, default=50)
    ap.add_argument("-r", "--repeats", type=int, default=5, help="timed repeats")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args(argv)
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"note: load average {load:.2f} before starting; expect noise")

    work = Path(tempfile.mkdtemp(prefix="agentreel-bench-checks-"))
    try:
        with step(f"writing {args.runs:,} runs x {args.spans_per_run} spans (not measured)"):
            info = make_store(
                work / "big", runs=args.runs, spans_per_run=args.spans_per_run, seed=0
            )
        with step("writing a 5,000-run baseline store (not measured)"):
            make_store(work / "base", runs=5_000, spans_per_run=args.spans_per_run, seed=1)
        t0 = time.perf_counter()
        with Store.open(work / "base") as store:
            baseline = save_baseline(
                store, "main", Window(), config=CheckConfig(), path=work / "main.json"
            )
        save_s = time.perf_counter() - t0
        print(f"baseline save: {save_s:.2f} s, {baseline.stat().st_size / 1000:.0f} kB")

        end_to_end(work / "big", baseline, Window())  # warm-up: file cache, imports
        # Keep only the figures: a report holds its windows' frames (a million spans),
        # and holding five of them would make later repeats pay for fresh memory.
        reports: list[tuple[float, Summary]] = []
        for i in range(args.repeats):
            with step(f"repeat {i + 1}/{args.repeats}: all checks, end to end"):
                t0 = time.perf_counter()
                report = end_to_end(work / "big", baseline, Window())
                reports.append((time.perf_counter() - t0, Summary.of(report)))
                del report
        with step("the agentreel check command, 3 times"):
            cli_s = sorted(cli_once(work / "big", baseline) for _ in range(3))
        with step("local defaults: last 24 h against the 7 days before, both live"):
            t0 = time.perf_counter()
            live = Summary.of(end_to_end(work / "big", None, None))
            live_s = time.perf_counter() - t0
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    totals = [t for t, _ in reports]
    median_s = statistics.median(totals)
    _, med = sorted(reports, key=lambda r: r[0])[len(reports) // 2]
    t = med.timings
    print()
    print(f"all built-in checks over {med.spans:,} spans in {med.runs:,} runs")
    print(
        f"end to end (open + run_checks + save + render + close), median of {args.repeats}: "
        f"{median_s:.2f} s (min {min(totals):.2f}, max {max(totals):.2f})"
    )
    print(f"  {'loading the window':28} {t.load:6.3f} s")
    print(f"  {'in Pandera validate calls':28} {t.pandera:6.3f} s")
    for name, s in sorted(t.checks.items(), key=lambda kv: -kv[1]):
        print(f"  {name:28} {s:6.3f} s")
    print(f"  status: {med.status}, rows: {med.counts}")
    verdict = "meets" if median_s < GOAL_S else "MISSES"
    print(f"{verdict} the goal of < {GOAL_S:.0f} s")
    print(f"agentreel check command (subprocess, Python start included): median {cli_s[1]:.2f} s")
    print(
        f"local defaults (both windows live, {live.runs:,} + {live.baseline_runs:,} runs): "
        f"{live_s:.2f} s (load {live.timings.load:.2f}, Pandera {live.timings.pandera:.2f})"
    )

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"checks-{time.strftime('%Y%m%d-%H%M%S')}.json"
    result = {
        "bench": "checks",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "runs": med.runs,
        "spans": med.spans,
        "goal_s": GOAL_S,
        "end_to_end_s": {"median": median_s, "all": totals},
        "median_run": {
            "load_s": t.load,
            "pandera_s": t.pandera,
            "run_checks_s": t.total,
            "checks_s": t.checks,
            "status": med.status,
            "counts": med.counts,
        },
        "baseline_save_s": save_s,
        "cli_s": cli_s,
        "local_defaults_s": live_s,
        "local_defaults_timings": live.timings.as_dict(),
        "synthetic_store": info,
        "load_average_before": load,
        "environment": environment(),
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(BENCH_DIR.parent)}")
    return 0 if median_s < GOAL_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
