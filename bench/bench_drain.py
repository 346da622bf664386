"""The drain against DuckDB's own bulk load of the same rows, at 10^6 and 5x10^6 spans.

Run by hand (not in CI)::

    .venv/bin/python bench/bench_drain.py            # 10^6 and 5x10^6 spans: about an hour
    .venv/bin/python bench/bench_drain.py --quick    # 100,000 and 200,000 spans: a few minutes

For each size, a spool is written by `_spool_maker.make_spool` (records of the real
tracer, copied with fresh ids, in segments of the tracer's size). Each paired round
times, on one side, the product's drain: ``Store.open(create=True)`` +
``store.ingest()`` + the count queries that check every span and run is there +
``close()``; on the other, the limit: DuckDB loading the same rows (exported once
from a drained store) from one Parquet file into the same `spans` table of a fresh
store file (``INSERT INTO spans BY NAME SELECT * FROM read_parquet(...)`` + close).
The sides alternate which goes first; the ratio is the median of the rounds'
rate ratios (Parquet seconds / drain seconds), with min..max, and CPU time (all the
process's threads) is printed beside wall time.

A last case drains the same spans written one at a time against the same spans in
tracer-sized segments, paired the same way: the ratio is the first's rate as a share of
the second's. Written one at a time means as a tracer writing through
(``AGENTREEL_FLUSH=each``) and ``agentreel serve`` answering one-span OTLP requests
write them: appended to a journal (agentreel/_journal.py) sealed every
``--seal-every`` spans (100: each tick of an agent ending 100 spans a second, or a
drain every 100 requests). The same spans in a file each, what older writers left, are
drained too and reported beside it (``--no-file-per-span`` skips them).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel._spool import SpoolPaths
from agentreel.store import DB_NAME, Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import environment as bench_environment
from _spool_maker import TEMPLATE_SPANS, make_spool, spool_bytes

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
#: The drain's rate as a share of the Parquet load's, by spans (issue 19): larger sizes take the last.
GOALS = {1_000_000: 0.8, 5_000_000: 0.5}
#: Spans written one at a time: their drain rate as a share of tracer-sized segments'.
SMALL_GOAL = 0.5
#: The small case's journal is sealed every this many spans: a tracer writing through
#: seals each tick (1 s), so an agent ending 100 spans a second; `serve` seals before
#: each drain, so a drain every 100 one-span requests.
SEAL_EVERY = 100
SPANS_PER_RUN = 8  # run root, agent, llm, 5 tools
MODEL = "gpt-4.1-mini"

# -- the recorded program ------------------------------------------------------

SNIPPET = (
    "Paris is the capital and most populous city of France, with an estimated "
    "population of 2.1 million residents in an area of more than 105 km²."
)
PAGE = " ".join([SNIPPET] * 6)
SYSTEM = "You are a careful research assistant. Cite the sources you used."
QUESTIONS = [
    "what is the capital of France?",
    "how tall is the Eiffel tower?",
    "when was the Louvre founded?",
    "what river flows through Paris?",
    "how many arrondissements does Paris have?",
]


@agentreel.tool
def web_search(query: str, k: int = 3) -> list[dict[str, str]]:
    return [
        {"title": f"{query} ({i})", "url": f"https://example.com/{i}", "snippet": SNIPPET}
        for i in range(k)
    ]


@agentreel.tool
def fetch_page(url: str) -> str:
    return PAGE


@agentreel.tool
def calculator(expression: str) -> float:
    return 2.1e6 / 105.4


@agentreel.llm(provider="openai", model=MODEL)
def chat(messages: list[dict[str, str]], seed: int) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{seed:08d}",
        "object": "chat.completion",
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": SNIPPET},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 600 + seed % 400,
            "completion_tokens": 60 + seed % 90,
            "total_tokens": 660 + seed % 400 + seed % 90,
        },
    }


@agentreel.agent
def researcher(question: str, seed: int) -> str:
    hits = web_search(question)
    pages = [fetch_page(h["url"]) for h in hits[:2]]
    density = calculator("2.1e6 / 105.4")
    more = web_search(f"{question} history", k=2)
    context = "\n".join([p[:200] for p in pages] + [h["snippet"] for h in more])
    reply = chat(
        [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"{question}\n\n{context}\n\ndensity={density:.0f}"},
        ],
        seed=seed,
    )
    return str(reply["choices"][0]["message"]["content"])


def generate(store_dir: Path, spans: int) -> tuple[int, float]:
    """Record `spans` spans into the spool at `store_dir`; returns (runs, seconds)."""
    runs = spans // SPANS_PER_RUN
    t0 = time.perf_counter()
    agentreel.init(store_dir, tracer_provider=TracerProvider(), propagate_threads=False)
    try:
        for i in range(runs):
            q = QUESTIONS[i % len(QUESTIONS)]
            with agentreel.run("bench-research", tags={"suite": "bench", "shard": i % 8}, input=q):
                researcher(q, seed=i)
    finally:
        agentreel.shutdown()
    return runs, time.perf_counter() - t0


# -- the measurements -------------------------------------------------------------


@dataclass
class Timing:
    wall_s: float
    cpu_s: float


def _cpu() -> float:
    return time.process_time()  # every thread of the process, DuckDB's included


def _pristine(root: Path) -> Path:
    return root.with_name(root.name + ".pristine")


def keep_pristine(root: Path) -> None:
    """Hard-link the spool's segments aside, as written, for `reset_spool` to put back.

    The archive is no copy of the spool as it was: small segments are archived as a
    bundle in their place, so a spool restored from it would be a few large segments.
    """
    pristine = _pristine(root)
    pristine.mkdir()
    for e in os.scandir(SpoolPaths(root).dir):
        if e.is_file():
            os.link(e.path, pristine / e.name)


def reset_spool(root: Path) -> None:
    """Put the segments back into the spool as written and remove the store: a fresh start."""
    paths = SpoolPaths(root)
    for d in (paths.archive, paths.dir):
        for e in os.scandir(d):
            if e.is_file():
                os.unlink(e.path)
    for e in os.scandir(_pristine(root)):
        os.link(e.path, paths.dir / e.name)
    for f in root.iterdir():
        if f.name.startswith(DB_NAME):
            f.unlink()


def drain_once(root: Path, spans: int, runs: int) -> Timing:
    """Open a fresh store on the spool at `root`, drain it, check the rows, close it."""
    gc.collect()
    c0, t0 = _cpu(), time.perf_counter()
    store = Store.open(root, create=True)
    try:
        report = store.ingest()
        n_spans = store.sql("SELECT count(*) AS n FROM spans")["n"][0]
        n_runs = store.sql("SELECT count(*) AS n FROM runs WHERE status = 'ok'")["n"][0]
    finally:
        store.close()
    timing = Timing(time.perf_counter() - t0, _cpu() - c0)
    if report.rejected or report.invalid_records:
        raise SystemExit(f"ingest set records aside: {report.as_dict()}")
    if n_spans != spans or n_runs != runs:
        raise SystemExit(f"store holds {n_spans} spans and {n_runs} ok runs, not {spans}/{runs}")
    return timing


def parquet_once(parquet: Path, db: Path, spans: int) -> Timing:
    """A fresh DuckDB file loads `parquet` into a table of the store's layout and closes."""
    gc.collect()
    db.unlink(missing_ok=True)
    layout = Store.open(db.parent / "layout", create=True)
    layout.close()
    shutil.copy(db.parent / "layout" / DB_NAME, db)  # the store's empty tables
    c0, t0 = _cpu(), time.perf_counter()
    con = duckdb.connect(str(db))
    try:  # autocommit: the statement commits; close checkpoints, as Store.close() does
        con.execute(f"INSERT INTO spans BY NAME SELECT * FROM read_parquet('{parquet}')")
    finally:
        con.close()
    timing = Timing(time.perf_counter() - t0, _cpu() - c0)
    check = duckdb.connect(str(db), read_only=True)
    try:
        row = check.execute("SELECT count(*) FROM spans").fetchone()
    finally:
        check.close()
    db.unlink()
    if row is None or row[0] != spans:
        raise SystemExit(f"the Parquet load gave {row} rows, expected {spans}")
    return timing


def export_parquet(store_db: Path, parquet: Path) -> int:
    con = duckdb.connect(str(store_db), read_only=True)
    try:
        con.execute(f"COPY spans TO '{parquet}' (FORMAT parquet)")
    finally:
        con.close()
    return parquet.stat().st_size


def paired(i: int, a: Callable[[], Timing], b: Callable[[], Timing]) -> tuple[Timing, Timing]:
    """Round `i` of `a` against `b`: `a` goes first in even rounds, `b` in odd ones."""
    if i % 2 == 0:
        ta = a()
        return ta, b()
    tb = b()
    return a(), tb


def summary(rounds: list[tuple[Timing, Timing]]) -> dict[str, Any]:
    """Median of the paired ratios (b's seconds / a's seconds: a's rate as a share of
    b's) with their spread, and the median wall and CPU seconds of each side."""
    ratios = [tb.wall_s / ta.wall_s for ta, tb in rounds]
    return {
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "ratios": ratios,
        "a_wall_s": statistics.median(ta.wall_s for ta, _ in rounds),
        "a_cpu_s": statistics.median(ta.cpu_s for ta, _ in rounds),
        "b_wall_s": statistics.median(tb.wall_s for _, tb in rounds),
        "b_cpu_s": statistics.median(tb.cpu_s for _, tb in rounds),
        "rounds": [{"a": asdict(ta), "b": asdict(tb)} for ta, tb in rounds],
    }


# -- the breakdown ----------------------------------------------------------------

_PHASES = [  # (statement prefix, phase), first match wins
    ("SELECT DISTINCT s.process_id", "processes"),
    ("INSERT INTO processes", "processes"),
    ("SELECT DISTINCT s.provider", "prices"),
    ("INSERT INTO prices", "prices"),
    ("UPDATE spans SET usage_counted", "rebuild runs: mark usage"),
    ("UPDATE spans", "prices"),
    ("SELECT count(*) FROM read_json", "count invalid records"),
    ("CREATE OR REPLACE TEMP TABLE start_records", "insert start records"),
    ("SELECT count(*) FROM runs WHERE run_id IN", "find runs stored before"),
    ("CREATE OR REPLACE TEMP TABLE span_repeats", "find repeated spans"),
    ("CREATE OR REPLACE TEMP TABLE span_losers", "drop repeated spans"),
    ("DELETE FROM spans", "drop repeated spans"),
    ("INSERT INTO spans", "insert spans from the segments (read_json + write)"),
    ("CREATE OR REPLACE TEMP TABLE touched_spans", "rebuild runs: the tree"),
    ("CREATE OR REPLACE TEMP TABLE llm_inside", "rebuild runs: walk up"),
    ("CREATE OR REPLACE TEMP TABLE span_flags", "rebuild runs: walk up"),
    ("CREATE OR REPLACE TEMP TABLE walked", "rebuild runs: walk down"),
    ("CREATE OR REPLACE TEMP TABLE touched", "rebuild runs: the rows"),
    ("DELETE FROM runs", "rebuild runs: the rows"),
    ("INSERT INTO runs", "rebuild runs: the rows"),
    ("UPDATE runs", "mark interrupted"),
    ("COMMIT", "commit"),
    ("BEGIN", "begin"),
]


def _phase(sql: str) -> str:
    s = " ".join(sql.split())
    if s.startswith("INSERT INTO spans") and "FROM start_records" in s:
        return "insert start records"
    if s.startswith("DROP TABLE"):
        return "drop temporary tables"
    for prefix, phase in _PHASES:
        if s.startswith(prefix):
            return phase
    return "other SQL (segments, counts)"


class TimedConnection:
    """A DuckDB connection whose `execute` calls are timed by phase, wall and CPU."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)

    def execute(self, query: str, parameters: object = None) -> duckdb.DuckDBPyConnection:
        t0, c0 = time.perf_counter(), _cpu()
        try:
            return self._con.execute(query, parameters)
        finally:
            phase = _phase(query)
            self.seconds[phase] += time.perf_counter() - t0
            self.cpu[phase] += _cpu() - c0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def drain_phases(store_dir: Path) -> dict[str, tuple[float, float]] | None:
    """(wall, CPU) seconds per phase of one drain, timing each SQL statement it runs.

    Calls the store's internal `drain()` with a timing proxy for its connection;
    returns None if the package has moved on and the internals are not there.
    """
    try:
        from agentreel.store._ingest import drain
    except ImportError:
        return None
    t0, c0 = time.perf_counter(), _cpu()
    store = Store.open(store_dir, create=True)
    t1, c1 = time.perf_counter(), _cpu()
    con = getattr(store, "_con", None)
    if con is None:
        store.close()
        return None
    timed = TimedConnection(con)
    try:
        t2, c2 = time.perf_counter(), _cpu()
        drain(timed, store.paths)  # type: ignore[arg-type]
        t3, c3 = time.perf_counter(), _cpu()
    finally:
        store.close()
    t4, c4 = time.perf_counter(), _cpu()
    phases = {"open (connect + migrate)": (t1 - t0, c1 - c0)}
    phases |= {k: (v, timed.cpu[k]) for k, v in timed.seconds.items()}
    phases["python (scan, archive moves)"] = (
        (t3 - t2) - sum(timed.seconds.values()),
        (c3 - c2) - sum(timed.cpu.values()),
    )
    phases["close (checkpoint)"] = (t4 - t3, c4 - c3)
    return phases


# -- reporting ----------------------------------------------------------------------


def environment() -> dict[str, Any]:
    from importlib.metadata import version

    return bench_environment(
        agentreel=agentreel.__version__,
        duckdb=duckdb.__version__,
        **{"opentelemetry-sdk": version("opentelemetry-sdk")},
    )


def warn_if_busy() -> float:
    """The 1-minute load average, with a note when other processes are using the CPU."""
    load = os.getloadavg()[0]
    if load > 0.5:
        print(
            f"note: load average {load:.2f} before starting; other processes are using the "
            f"CPU, so expect noise (the ratio suffers less than the absolute figures)"
        )
    return load


@contextmanager
def step(what: str) -> Iterator[None]:
    print(f"{what} ...", end="", flush=True)
    t0 = time.perf_counter()
    yield
    print(f" {time.perf_counter() - t0:.1f} s", flush=True)


def bench_size(work: Path, spans: int, repeats: int) -> dict[str, Any]:
    """The drain of `spans` spans against the Parquet load of the same rows."""
    runs = spans // SPANS_PER_RUN
    with step(f"{spans:,} spans: writing the spool (not measured)"):
        root = make_spool(work, f"spool-{spans}", spans)
        keep_pristine(root)
    nbytes = spool_bytes(root)
    segments = len(SpoolPaths(root).pending())
    parquet = work / f"spans-{spans}.parquet"
    with step(f"{spans:,} spans: a first drain and the Parquet file (not measured)"):
        drain_once(root, spans, runs)
        export_parquet(root / DB_NAME, parquet)
        store_bytes = (root / DB_NAME).stat().st_size
        reset_spool(root)

    def drain() -> Timing:
        t = drain_once(root, spans, runs)
        reset_spool(root)
        return t

    def load() -> Timing:
        return parquet_once(parquet, work / "parquet.duckdb", spans)

    rounds = []
    for i in range(repeats):
        with step(f"{spans:,} spans: round {i + 1}/{repeats}"):
            rounds.append(paired(i, drain, load))
    shutil.rmtree(root)
    parquet.unlink()
    return {
        "spans": spans,
        "runs": runs,
        "segments": segments,
        "spool_bytes": nbytes,
        "store_bytes": store_bytes,
        **summary(rounds),
    }


def bench_small(
    work: Path, spans: int, repeats: int, *, seal_every: int | None = None
) -> dict[str, Any]:
    """Spans written one at a time against the same spans in tracer-sized segments.

    Without `seal_every`: a file per span (what older tracers writing through and older
    receivers left). With it: appended one at a time to a journal sealed every
    `seal_every` spans, as a tracer writing through and `serve` write them now.
    """
    runs = spans // SPANS_PER_RUN
    what = f"sealed every {seal_every}" if seal_every else "a file per span"
    name = f"journal-{seal_every}" if seal_every else "small"
    with step(f"small writes: {spans:,} spans, {what} (not measured)"):
        small = make_spool(
            work, name, spans, per_segment=seal_every or 1, journal=seal_every is not None
        )
        keep_pristine(small)
        large = work / "large"
        if not large.exists():
            large = make_spool(work, "large", spans)
            keep_pristine(large)
    segments = len(SpoolPaths(small).pending())

    def run(root: Path) -> Callable[[], Timing]:
        def go() -> Timing:
            t = drain_once(root, spans, runs)
            reset_spool(root)
            return t

        return go

    rounds = []
    for i in range(repeats):
        with step(f"small writes, {what}: round {i + 1}/{repeats}"):
            rounds.append(paired(i, run(small), run(large)))
    shutil.rmtree(small)
    shutil.rmtree(_pristine(small))
    return {"spans": spans, "segments": segments, "seal_every": seal_every, **summary(rounds)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sizes", type=int, nargs="+", default=None, help="spans (default 1,000,000 5,000,000)"
    )
    ap.add_argument("--small", type=int, default=None, help="spans of the small-segment case")
    ap.add_argument(
        "--seal-every",
        type=int,
        default=SEAL_EVERY,
        help=f"spans a journal holds when sealed in the small case (default {SEAL_EVERY})",
    )
    ap.add_argument("--no-file-per-span", action="store_true", help="skip the file-per-span spool")
    ap.add_argument("-r", "--repeats", type=int, default=5, help="paired rounds (at least 5)")
    ap.add_argument("--quick", action="store_true", help="100,000 and 200,000 spans; 20,000 small")
    ap.add_argument("--phases", action="store_true", help="also time the drain by statement")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args(argv)
    sizes = args.sizes or ([100_000, 200_000] if args.quick else [1_000_000, 5_000_000])
    small_n = args.small or (20_000 if args.quick else 100_000)
    for n in [*sizes, small_n]:
        if n % TEMPLATE_SPANS:
            ap.error(f"sizes must be multiples of {TEMPLATE_SPANS}")
    os.environ.pop("AGENTREEL_FLUSH", None)
    load_before = warn_if_busy()

    work = Path(tempfile.mkdtemp(prefix="agentreel-bench-drain-"))
    results: list[dict[str, Any]] = []
    try:
        for n in sizes:
            results.append(bench_size(work, n, args.repeats))
        small = bench_small(work, small_n, args.repeats, seal_every=args.seal_every)
        per_file = None if args.no_file_per_span else bench_small(work, small_n, args.repeats)
        phases = None
        if args.phases:
            root = make_spool(work, "phases", sizes[0])
            phases = drain_phases(root)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print("drain (Store.open + ingest + count checks + close) against DuckDB loading the same")
    print(f"rows from Parquet into the store's spans table (INSERT + close); {args.repeats} paired")
    print("rounds, alternating which goes first; ratio = median of the paired rate ratios")
    print(
        f"{'spans':>10} {'segments':>8} {'drain s':>8} {'cpu s':>7} {'Parquet s':>9} {'cpu s':>7}"
        f" {'ratio':>6} {'(min..max)':>12} {'goal':>5}  store B/span"
    )
    for r in results:
        goal = GOALS.get(r["spans"], GOALS[max(GOALS)] if r["spans"] > max(GOALS) else None)
        verdict = "" if goal is None else ("ok" if r["ratio"] >= goal else "MISS")
        print(
            f"{r['spans']:>10,} {r['segments']:>8,} {r['a_wall_s']:>8.2f} {r['a_cpu_s']:>7.2f}"
            f" {r['b_wall_s']:>9.2f} {r['b_cpu_s']:>7.2f} {r['ratio']:>6.2f}"
            f" {r['ratio_min']:>5.2f}..{r['ratio_max']:<5.2f} {goal or '':>5} {verdict:4}"
            f" {r['store_bytes'] / r['spans']:>6.0f}"
        )
    verdict = "ok" if small["ratio"] >= SMALL_GOAL else "MISS"
    print(
        f"\nspans written one at a time, journal sealed every {small['seal_every']}: "
        f"{small['spans']:,} spans in {small['segments']:,} segments "
        f"{small['a_wall_s']:.2f} s (cpu {small['a_cpu_s']:.2f}) against the same spans in "
        f"tracer-sized segments {small['b_wall_s']:.2f} s (cpu {small['b_cpu_s']:.2f}): rate ratio "
        f"{small['ratio']:.2f} ({small['ratio_min']:.2f}..{small['ratio_max']:.2f}); goal "
        f">= {SMALL_GOAL}: {verdict}"
    )
    if per_file is not None:
        print(
            f"a file per span (older writers): {per_file['segments']:,} segments "
            f"{per_file['a_wall_s']:.2f} s (cpu {per_file['a_cpu_s']:.2f}) against "
            f"{per_file['b_wall_s']:.2f} s (cpu {per_file['b_cpu_s']:.2f}): rate ratio "
            f"{per_file['ratio']:.2f} ({per_file['ratio_min']:.2f}..{per_file['ratio_max']:.2f})"
        )
    if phases is not None:
        wall = sum(w for w, _ in phases.values())
        cpu = sum(c for _, c in phases.values())
        print(
            f"\ndrain of {sizes[0]:,} spans by phase (one extra drain, {wall:.2f} s, cpu {cpu:.2f} s):"
        )
        for name, (w, c) in sorted(phases.items(), key=lambda kv: -kv[1][1]):
            print(
                f"  {name:52} {w:6.2f} s {100 * w / wall:5.1f} %   cpu {c:6.2f} s {100 * c / cpu:5.1f} %"
            )

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"drain-{time.strftime('%Y%m%d-%H%M%S')}.json"
    result = {
        "bench": "drain",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "repeats": args.repeats,
        "goals": {str(k): v for k, v in GOALS.items()} | {"small_segments": SMALL_GOAL},
        "sizes": results,
        "small_segments": small,
        "file_per_span": per_file,
        "drain_phases_wall_cpu_seconds": phases,
        "environment": environment()
        | {"load_average_before": load_before, "load_average_after": os.getloadavg()[0]},
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(BENCH_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
