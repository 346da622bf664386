"""How cost grows with the store: drain time, bytes per span, and `runs`/`show`/`check` latency.

Run by hand (not in CI)::

    .venv/bin/python bench/bench_growth.py            # 10^4 .. 5x10^6 spans: about half an hour
    .venv/bin/python bench/bench_growth.py --quick    # 10^4 .. 2x10^5 spans: a few minutes

For each size, a spool of that many spans is written by `_spool_maker.make_spool`
(records of the real tracer, copied with fresh ids) and drained into a fresh store
through the product's own path (``Store.open(create=True)``, ``ingest()``,
``close()``), timed, wall and CPU. Then the store file's bytes per span, and the
median wall time of 3 runs each of the CLI commands ``agentreel runs --json``,
``agentreel show RUN --json`` (a run from the middle of the store) and ``agentreel
check --json``, each a fresh process as a user runs it (the interpreter's start-up
is printed apart: `agentreel --version`). The last column but one, the growth
exponent, is log(drain time ratio) / log(size ratio) against the size before: 1 is
linear, less is better than linear.
"""

from __future__ import annotations

import argparse
import json
import math
import os
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


def _cli(*args: str) -> float:
    """Wall seconds of one `agentreel` command in a fresh process (its exit code 0 or 1)."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "agentreel", *args],
        capture_output=True,
        check=False,
    )
    seconds = time.perf_counter() - t0
    if done.returncode not in (0, 1):  # check exits 1 when a check fails: still an answer
        raise SystemExit(f"agentreel {' '.join(args)} failed: {done.stderr.decode()[-500:]}")
    return seconds


def _median(*args: str) -> float:
    return statistics.median(_cli(*args) for _ in range(REPEATS))


def measure(work: Path, spans: int) -> dict[str, Any]:
    root = make_spool(work, f"growth-{spans}", spans)
    c0, t0 = time.process_time(), time.perf_counter()
    store = Store.open(root, create=True)
    try:
        report = store.ingest()
        runs = int(store.sql("SELECT count(*) AS n FROM runs")["n"][0])
        middle = store.sql(
            "SELECT run_id FROM runs ORDER BY start_time LIMIT 1 OFFSET $k", {"k": runs // 2}
        )["run_id"][0]
    finally:
        store.close()
    drain_s, drain_cpu = time.perf_counter() - t0, time.process_time() - c0
    if report.spans != spans:
        raise SystemExit(f"the drain stored {report.spans} spans, expected {spans}")
    store_bytes = (root / DB_NAME).stat().st_size
    d = str(root)
    result = {
        "spans": spans,
        "runs": runs,
        "drain_s": drain_s,
        "drain_cpu_s": drain_cpu,
        "store_bytes": store_bytes,
        "store_bytes_per_span": store_bytes / spans,
        "runs_s": _median("runs", "--dir", d, "--json"),
        "show_s": _median("show", str(middle), "--dir", d, "--json"),
        "check_s": _median("check", "--dir", d, "--json"),
    }
    shutil.rmtree(root)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=None, help="spans of each store")
    ap.add_argument("--quick", action="store_true", help=f"sizes {QUICK}")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args(argv)
    sizes = args.sizes or (QUICK if args.quick else SIZES)
    for n in sizes:
        if n % TEMPLATE_SPANS:
            ap.error(f"sizes must be multiples of {TEMPLATE_SPANS}")
    os.environ.pop("AGENTREEL_FLUSH", None)
    load_before = warn_if_busy()
    startup = statistics.median(_cli("--version") for _ in range(REPEATS))
    work = Path(tempfile.mkdtemp(prefix="agentreel-bench-growth-"))
    rows: list[dict[str, Any]] = []
    try:
        for n in sizes:
            print(f"{n:,} spans ...", flush=True)
            rows.append(measure(work, n))
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\nCLI start-up alone (agentreel --version): {startup:.2f} s; medians of {REPEATS}")
    print(
        f"{'spans':>10} {'drain s':>8} {'cpu s':>7} {'spans/s':>9} {'exp':>5} {'B/span':>7}"
        f" {'runs s':>7} {'show s':>7} {'check s':>8}"
    )
    prev: dict[str, Any] | None = None
    for r in rows:
        exp = ""
        if prev is not None:
            exp = f"{math.log(r['drain_s'] / prev['drain_s']) / math.log(r['spans'] / prev['spans']):.2f}"
        print(
            f"{r['spans']:>10,} {r['drain_s']:>8.2f} {r['drain_cpu_s']:>7.2f}"
            f" {r['spans'] / r['drain_s']:>9,.0f} {exp:>5} {r['store_bytes_per_span']:>7.0f}"
            f" {r['runs_s']:>7.2f} {r['show_s']:>7.2f} {r['check_s']:>8.2f}"
        )
        prev = r
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"growth-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "bench": "growth",
                "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "cli_startup_s": startup,
                "sizes": rows,
                "environment": environment() | {"load_average_before": load_before},
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out.relative_to(BENCH_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
