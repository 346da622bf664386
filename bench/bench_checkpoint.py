"""How long a drain step holds the store as it grows: row groups of 16,384 rows vs DuckDB's default.

Run by hand (not in CI)::

    .venv/bin/python bench/bench_checkpoint.py     # about a minute

A spool of 400,000 spans is recorded once with the real tracer (the program of
bench_drain.py). It is then drained, twice over from fresh copies, the way the TUI
and ``agentreel serve`` drain while agents record: in steps of about 8,000 spans,
each ``Store.open`` + ``ingest(limit=...)`` + ``close()``. Once the store is attached
with agentreel's row groups (`agentreel.store._attach.ROW_GROUP_SIZE`, 16,384 rows),
once with DuckDB's default of 122,880. A step's time is what another process waiting
for the store waits at most; its checkpoint (in the commit, or at the close) rewrites
the table's last, growing row group. Printed for both: the slowest step, the 95th
percentile, the total, the CPU time of the slowest step, and the file size; then the
ratio of the slowest steps (default / agentreel).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentreel._spool import SpoolPaths
from agentreel.store import DB_NAME, Store, _attach
from bench.bench_drain import RESULTS_DIR, environment, generate

DUCKDB_DEFAULT = 122_880


def drain_in_steps(store_dir: Path, per_step: int, row_group: int) -> dict[str, Any]:
    """Drain the spool at `store_dir` in steps of `per_step` segments; the figures."""
    _attach.ROW_GROUP_SIZE = row_group
    steps: list[tuple[float, float]] = []  # (wall, CPU) of each open + ingest + close
    spans = 0
    while True:
        t0, c0 = time.perf_counter(), time.process_time()
        with Store.open(store_dir, create=True) as store:
            report = store.ingest(limit=per_step)
        steps.append((time.perf_counter() - t0, time.process_time() - c0))
        if not report.segments:
            break
        spans += report.spans
    walls = sorted(w for w, _ in steps)
    worst = max(steps)
    return {
        "row_group_size": row_group,
        "spans": spans,
        "steps": len(steps),
        "slowest_step_s": round(worst[0], 4),
        "slowest_step_cpu_s": round(worst[1], 4),
        "p95_step_s": round(walls[int(0.95 * (len(walls) - 1))], 4),
        "median_step_s": round(statistics.median(walls), 4),
        "total_s": round(sum(walls), 3),
        "file_mib": round((store_dir / DB_NAME).stat().st_size / 2**20, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spans", type=int, default=400_000)
    ap.add_argument("--step-spans", type=int, default=8_000, help="spans per drain step")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"note: load average {load:.2f} at the start; figures are noisier")
    work = Path(tempfile.mkdtemp(prefix="agentreel-bench-ckpt-"))
    try:
        src = work / "recorded"
        print(f"recording {args.spans:,} spans ...", flush=True)
        generate(src, args.spans)
        segments = len(SpoolPaths(src).pending())
        per_step = max(1, round(args.step_spans * segments / args.spans))
        results = []
        for name, size in (("agentreel", _attach.ROW_GROUP_SIZE), ("default", DUCKDB_DEFAULT)):
            d = work / name
            shutil.copytree(src, d)
            r = drain_in_steps(d, per_step, size)
            r["name"] = name
            results.append(r)
            shutil.rmtree(d)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\n{args.spans:,} spans drained in steps of {per_step} segments (~{args.step_spans:,} spans)"
    )
    print(
        f"{'row groups':<22}{'slowest':>9}{'(CPU)':>8}{'p95':>8}{'median':>8}{'total':>8}{'file':>9}"
    )
    for r in results:
        print(
            f"{r['name'] + ' ' + format(r['row_group_size'], ','):<22}"
            f"{r['slowest_step_s']:>8.3f}s{r['slowest_step_cpu_s']:>7.3f}s{r['p95_step_s']:>7.3f}s"
            f"{r['median_step_s']:>7.3f}s{r['total_s']:>7.2f}s{r['file_mib']:>6.1f} MiB"
        )
    ours, default = results
    ratio = default["slowest_step_s"] / max(ours["slowest_step_s"], 1e-9)
    print(f"slowest step, default / agentreel = {ratio:.1f}")
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"checkpoint-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "environment": environment(),
                "load_average_at_start": load,
                "spans": args.spans,
                "segments_per_step": per_step,
                "results": results,
                "slowest_step_ratio": round(ratio, 2),
            },
            indent=2,
        )
    )
    print(f"wrote {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")


if __name__ == "__main__":
    main()
