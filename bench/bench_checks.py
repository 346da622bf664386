"""`agentreel check` over 1,000,000 spans in 20,000 runs, as CI runs it: a process.

Run by hand (not in CI)::

    .venv/bin/python bench/bench_checks.py           # about a minute
    .venv/bin/python bench/bench_checks.py --quick   # 100,000 spans, a few seconds

A store of 20,000 runs x 50 spans is written straight into DuckDB with
`bench/_synthetic.py` (not timed), and a baseline store of 5,000 other runs whose
statistics are saved with `save_baseline` (not timed). Each repeat then starts a
fresh ``agentreel check --baseline main.json --format json`` process with ``CI=true``
(every built-in check; the current window is every run, all one million spans,
against the saved baseline; the results are saved in the store, as in CI) and
measures it whole, Python start-up and imports included: wall time, CPU time (user
+ system) and peak RSS.

Each process is started by a small launcher process (``python -S``), which reads
``getrusage(RUSAGE_CHILDREN)`` once its one child has exited: so the peak RSS is
that child's own, not the larger one of this script, which a child started
straight from here would carry over from before its ``exec``.

Limits (issue 19): under 3 s wall and under 600 MB peak RSS. The figures are
printed as ratios to these limits (median and worst of the repeats), with the
per-check split the command itself reports (the ``timings`` object of its JSON
report: loading the windows, inside Pandera's ``validate``, and each check), the
median over the repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
RESULTS_DIR = BENCH_DIR / "results"
WALL_LIMIT_S = 3.0
RSS_LIMIT_MB = 600.0

from _env import environment as bench_environment  # noqa: E402
from _synthetic import make_store  # noqa: E402

import agentreel  # noqa: E402
from agentreel.checks import CheckConfig, Window, save_baseline  # noqa: E402
from agentreel.store import Store  # noqa: E402

#: Runs one command and prints its wall, CPU and peak RSS as JSON (its output to a file).
_LAUNCHER = """
import json, resource, subprocess, sys, time
out = open(sys.argv[1], "wb")
t0 = time.perf_counter()
code = subprocess.call(sys.argv[2:], stdout=out)
wall = time.perf_counter() - t0
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"code": code, "wall_s": wall, "cpu_s": r.ru_utime + r.ru_stime,
                  "rss_mb": r.ru_maxrss / 1024}))
"""


def check_once(
    store_dir: Path, baseline: Path, report: Path, source: Path | None = None
) -> dict[str, Any]:
    """One `agentreel check` process, measured by a fresh launcher; with `source`, the
    agentreel of that source tree runs."""
    cmd = [sys.executable, "-m", "agentreel", "check", "--dir", str(store_dir)]
    cmd += ["--baseline", str(baseline), "--format", "json"]
    env = {**os.environ, "CI": "true"}
    env.pop("GITHUB_ACTIONS", None)
    # this checkout's agentreel, or `source`'s: first on the path, and the command runs
    # in the work directory, where no other agentreel shadows it (`-m` puts the current
    # directory first)
    paths = [str(source or BENCH_DIR.parent), *env.get("PYTHONPATH", "").split(os.pathsep)]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    r = subprocess.run(
        [sys.executable, "-S", "-c", _LAUNCHER, str(report), *cmd],
        capture_output=True,
        text=True,
        env=env,
        cwd=store_dir.parent,
        check=True,
    )
    figures: dict[str, Any] = json.loads(r.stdout)
    if figures["code"] not in (0, 1):
        raise SystemExit(f"agentreel check failed ({figures['code']}): {r.stderr}")
    figures["report"] = json.loads(report.read_text())
    return figures


def environment() -> dict[str, Any]:
    import duckdb
    import pandera
    import polars as pl

    return bench_environment(
        agentreel=agentreel.__version__,
        duckdb=duckdb.__version__,
        polars=pl.__version__,
        pandera=pandera.__version__,
    )


@contextmanager
def step(what: str) -> Iterator[None]:
    print(f"{what} ...", end="", flush=True)
    t0 = time.perf_counter()
    yield
    print(f" {time.perf_counter() - t0:.1f} s", flush=True)


def _spread(values: list[float]) -> str:
    return f"median {statistics.median(values):7.2f}  worst {max(values):7.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20_000, help="runs in the checked store")
    ap.add_argument("--spans-per-run", type=int, default=50)
    ap.add_argument("-r", "--repeats", type=int, default=5, help="measured processes")
    ap.add_argument("--quick", action="store_true", help="2,000 runs and 3 repeats")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument(
        "--against",
        type=Path,
        metavar="DIR",
        help="also run the agentreel of this source tree (e.g. a checkout of main), "
        "alternating with this one, and print the paired ratios",
    )
    args = ap.parse_args(argv)
    if args.quick:
        args.runs, args.repeats = 2_000, 3
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"note: load average {load:.2f} before starting; expect noise")

    work = Path(tempfile.mkdtemp(prefix="agentreel-bench-checks-"))
    rounds: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    try:
        with step(f"writing {args.runs:,} runs x {args.spans_per_run} spans (not measured)"):
            info = make_store(
                work / "big", runs=args.runs, spans_per_run=args.spans_per_run, seed=0
            )
        base_runs = max(args.runs // 4, 100)
        with step(f"writing a {base_runs:,}-run baseline store and saving it (not measured)"):
            make_store(work / "base", runs=base_runs, spans_per_run=args.spans_per_run, seed=1)
            with Store.open(work / "base") as store:
                baseline = save_baseline(
                    store, "main", Window(), config=CheckConfig(), path=work / "main.json"
                )
        with step("warm-up: one agentreel check (file cache, bytecode)"):
            check_once(work / "big", baseline, work / "report.json")
        if args.against:
            check_once(work / "big", baseline, work / "report.json", args.against)
        for i in range(args.repeats):
            with step(f"repeat {i + 1}/{args.repeats}: agentreel check, a fresh process"):
                # with --against, the two sides alternate which goes first
                if args.against and i % 2:
                    others.append(check_once(work / "big", baseline, work / "o.json", args.against))
                rounds.append(check_once(work / "big", baseline, work / "report.json"))
                if args.against and not i % 2:
                    others.append(check_once(work / "big", baseline, work / "o.json", args.against))
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    walls = [r["wall_s"] for r in rounds]
    cpus = [r["cpu_s"] for r in rounds]
    rsss = [r["rss_mb"] for r in rounds]
    last = rounds[-1]["report"]
    timings = [r["report"]["timings"] for r in rounds]
    split = {
        "load": statistics.median(t["load"] for t in timings),
        "pandera": statistics.median(t["pandera"] for t in timings),
        "total": statistics.median(t["total"] for t in timings),
        "checks": {
            name: statistics.median(t["checks"].get(name, 0.0) for t in timings)
            for name in timings[0]["checks"]
        },
    }
    print()
    print(
        f"agentreel check (CI, all checks, a fresh process) over {last['current']['spans']:,} "
        f"spans in {last['current']['runs']:,} runs, {args.repeats} repeats"
    )
    print(f"  wall s        {_spread(walls)}   limit {WALL_LIMIT_S:.0f} s")
    print(f"  CPU s         {_spread(cpus)}")
    print(f"  peak RSS MB   {_spread(rsss)}   limit {RSS_LIMIT_MB:.0f} MB")
    print(
        f"  ratio to the limits: wall {statistics.median(walls) / WALL_LIMIT_S:.2f} "
        f"(worst {max(walls) / WALL_LIMIT_S:.2f}), peak RSS "
        f"{statistics.median(rsss) / RSS_LIMIT_MB:.2f} (worst {max(rsss) / RSS_LIMIT_MB:.2f})"
    )
    print("  inside the command (its own timings, median of the repeats):")
    print(f"    {'run_checks, in all':28} {split['total']:6.3f} s")
    print(f"    {'loading the windows':28} {split['load']:6.3f} s")
    print(f"    {'in Pandera validate calls':28} {split['pandera']:6.3f} s")
    for name, s in sorted(split["checks"].items(), key=lambda kv: -kv[1]):
        print(f"    {name:28} {s:6.3f} s")
    print(f"  status: {last['status']}, rows: {last['counts']}")
    if others:
        print(f"  against {args.against} (paired rounds; ratio = this / that):")
        for key, what in (("wall_s", "wall"), ("cpu_s", "CPU"), ("rss_mb", "peak RSS")):
            theirs = [o[key] for o in others]
            ratios = [r[key] / o[key] for r, o in zip(rounds, others, strict=True)]
            print(
                f"    {what:9} that: median {statistics.median(theirs):7.2f}   ratio median "
                f"{statistics.median(ratios):.2f} (spread {min(ratios):.2f}-{max(ratios):.2f})"
            )
    meets = statistics.median(walls) < WALL_LIMIT_S and statistics.median(rsss) < RSS_LIMIT_MB
    print(f"{'meets' if meets else 'MISSES'} the limits (medians)")

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"checks-{time.strftime('%Y%m%d-%H%M%S')}.json"
    result = {
        "bench": "checks",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "runs": last["current"]["runs"],
        "spans": last["current"]["spans"],
        "limits": {"wall_s": WALL_LIMIT_S, "rss_mb": RSS_LIMIT_MB},
        "rounds": [{k: v for k, v in r.items() if k != "report"} for r in rounds],
        "against": str(args.against) if args.against else None,
        "against_rounds": [{k: v for k, v in r.items() if k != "report"} for r in others],
        "timings": timings,
        "split_median": split,
        "status": last["status"],
        "counts": last["counts"],
        "synthetic_store": info,
        "load_average_before": load,
        "environment": environment(),
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(BENCH_DIR.parent)}")
    return 0 if meets else 1


if __name__ == "__main__":
    raise SystemExit(main())
