"""How cost grows with the store: drain time, bytes per span, and `runs`/`show`/`check` latency.

Run by hand (not in CI)::

    .venv/bin/python bench/bench_growth.py            # 10^4 .. 5x10^6 spans: about half an hour
    .venv/bin/python bench/bench_growth.py --quick    # 10^4 .. 2x10^5 spans: a few minutes
    .venv/bin/python bench/bench_growth.py --sizes 10000 100000 1000000   # a part of the default

For each size, a spool of that many spans is written by `_spool_maker.make_spool`
(records of the real tracer, copied with fresh ids) and drained into a fresh store
through the product's own path (``Store.open(create=True)``, ``ingest()``,
``close()``), timed, wall and CPU. Then the store file's bytes per span, and the
median wall time of 3 runs each of the CLI commands ``agentreel runs --json``,
``agentreel show RUN --json`` (a run from the middle of the store) and ``agentreel
check --json``, each a fresh process as a user runs it (the interpreter's start-up
is printed apart: `agentreel --version`), with the commands' CPU time (user +
system, from the children's resource usage) beside their wall time. The growth
exponent is log(time ratio) / log(size ratio) against the size before, for the
drain and for `check`: 1 is linear, less is better than linear. Each size's row is
printed, and the results file rewritten, as soon as it is measured, so a long run
shows its progress and a stopped one keeps what it measured. A command that takes
longer than `--timeout` seconds is stopped and shown as such.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from _spool_maker import TEMPLATE_SPANS, make_spool  # noqa: E402
from bench_drain import RESULTS_DIR, environment, warn_if_busy  # noqa: E402

from agentreel.store import DB_NAME, Store  # noqa: E402

SIZES = [10_000, 100_000, 1_000_000, 5_000_000]
QUICK = [10_000, 50_000, 200_000]
REPEATS = 3
#: A command still running after this long is stopped and shown as a timeout.
TIMEOUT_S = 900.0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cli(*args: str, timeout: float) -> tuple[float, float] | None:
    """(wall, CPU) seconds of one `agentreel` command in a fresh process (its exit
    code 0 or 1), or None when it ran past `timeout`."""
    c0, t0 = _children_cpu(), time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "agentreel", *args],
            capture_output=True,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None
    seconds = time.perf_counter() - t0
    if done.returncode not in (0, 1):  # check exits 1 when a check fails: still an answer
        raise SystemExit(f"agentreel {' '.join(args)} failed: {done.stderr.decode()[-500:]}")
    return seconds, _children_cpu() - c0


def _median(*args: str, repeats: int, timeout: float) -> dict[str, float | None]:
    """Median wall and CPU seconds of `repeats` runs (None: one ran past `timeout`)."""
    runs = []
    for _ in range(repeats):
        got = _cli(*args, timeout=timeout)
        if got is None:
            return {"wall_s": None, "cpu_s": None}
        runs.append(got)
    return {
        "wall_s": statistics.median(w for w, _ in runs),
        "cpu_s": statistics.median(c for _, c in runs),
    }


def measure(work: Path, spans: int, repeats: int, timeout: float) -> dict[str, Any]:
    t_make = time.perf_counter()
    root = make_spool(work, f"growth-{spans}", spans)
    print(f"  spool written in {time.perf_counter() - t_make:.0f} s (not measured)", flush=True)
    c0, t0 = time.process_time(), time.perf_counter()
    store = Store.open(root, create=True)
    try:
        report = store.ingest()
    finally:
        store.close()
    drain_s, drain_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"  drained in {drain_s:.1f} s (cpu {drain_cpu:.1f} s)", flush=True)
    store = Store.open(root)
    try:
        runs = int(store.sql("SELECT count(*) AS n FROM runs")["n"][0])
        middle = store.sql(
            "SELECT run_id FROM runs ORDER BY start_time LIMIT 1 OFFSET $k", {"k": runs // 2}
        )["run_id"][0]
    finally:
        store.close()
    if report.spans != spans:
        raise SystemExit(f"the drain stored {report.spans} spans, expected {spans}")
    store_bytes = (root / DB_NAME).stat().st_size
    d = str(root)
    result: dict[str, Any] = {
        "spans": spans,
        "runs": runs,
        "drain_s": drain_s,
        "drain_cpu_s": drain_cpu,
        "store_bytes": store_bytes,
        "store_bytes_per_span": store_bytes / spans,
    }
    for name, args in (
        ("runs", ("runs", "--dir", d, "--json")),
        ("show", ("show", str(middle), "--dir", d, "--json")),
        ("check", ("check", "--dir", d, "--json")),
    ):
        got = _median(*args, repeats=repeats, timeout=timeout)
        result[f"{name}_s"], result[f"{name}_cpu_s"] = got["wall_s"], got["cpu_s"]
        print(f"  {name}: {_fmt(got['wall_s'])} s (cpu {_fmt(got['cpu_s'])} s)", flush=True)
    shutil.rmtree(root)
    return result


def _fmt(v: float | None, width: int = 0) -> str:
    return f"{'timeout':>{width}}" if v is None else f"{v:>{width}.2f}"


def _exponent(r: dict[str, Any], prev: dict[str, Any] | None, key: str) -> str:
    if prev is None or not r.get(key) or not prev.get(key):
        return ""
    return f"{math.log(r[key] / prev[key]) / math.log(r['spans'] / prev['spans']):.2f}"


def _table(rows: list[dict[str, Any]], startup: float, repeats: int) -> None:
    print(f"\nCLI start-up alone (agentreel --version): {startup:.2f} s; medians of {repeats}")
    print(
        f"{'spans':>10} {'drain s':>8} {'cpu s':>7} {'spans/s':>9} {'exp':>5} {'B/span':>7}"
        f" {'runs s':>7} {'cpu':>6} {'show s':>7} {'cpu':>6} {'check s':>8} {'cpu':>6} {'exp':>5}"
    )
    prev: dict[str, Any] | None = None
    for r in rows:
        print(
            f"{r['spans']:>10,} {r['drain_s']:>8.2f} {r['drain_cpu_s']:>7.2f}"
            f" {r['spans'] / r['drain_s']:>9,.0f} {_exponent(r, prev, 'drain_s'):>5}"
            f" {r['store_bytes_per_span']:>7.0f}"
            f" {_fmt(r['runs_s'], 7)} {_fmt(r['runs_cpu_s'], 6)}"
            f" {_fmt(r['show_s'], 7)} {_fmt(r['show_cpu_s'], 6)}"
            f" {_fmt(r['check_s'], 8)} {_fmt(r['check_cpu_s'], 6)} {_exponent(r, prev, 'check_s'):>5}"
        )
        prev = r


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=None, help="spans of each store")
    ap.add_argument("--quick", action="store_true", help=f"sizes {QUICK}")
    ap.add_argument("-r", "--repeats", type=int, default=REPEATS, help="runs of each command")
    ap.add_argument(
        "--timeout", type=float, default=TIMEOUT_S, help="seconds a command may take at most"
    )
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args(argv)
    sizes = args.sizes or (QUICK if args.quick else SIZES)
    for n in sizes:
        if n % TEMPLATE_SPANS:
            ap.error(f"sizes must be multiples of {TEMPLATE_SPANS}")
    os.environ.pop("AGENTREEL_FLUSH", None)
    load_before = warn_if_busy()
    startup = statistics.median(
        got[0]
        for got in (_cli("--version", timeout=args.timeout) for _ in range(args.repeats))
        if got is not None
    )
    work = Path(tempfile.mkdtemp(prefix="agentreel-bench-growth-"))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"growth-{time.strftime('%Y%m%d-%H%M%S')}.json"
    rows: list[dict[str, Any]] = []
    try:
        for n in sizes:
            print(f"{n:,} spans ...", flush=True)
            rows.append(measure(work, n, args.repeats, args.timeout))
            _table(rows, startup, args.repeats)
            out.write_text(
                json.dumps(
                    {
                        "bench": "growth",
                        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                        "cli_startup_s": startup,
                        "repeats": args.repeats,
                        "sizes": rows,
                        "environment": environment()
                        | {
                            "load_average_before": load_before,
                            "load_average_now": os.getloadavg()[0],
                        },
                    },
                    indent=2,
                )
                + "\n"
            )
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {out.relative_to(BENCH_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
