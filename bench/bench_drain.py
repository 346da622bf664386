"""End-to-end drain rate, spool -> queryable DuckDB rows, against DuckDB's Parquet bulk load.

Run by hand (not in CI)::

    .venv/bin/python bench/bench_drain.py     # about a minute

A spool of 200,000 spans is recorded once with the real tracer (runs of an agent
calling an LLM and tools). Each repeat drains a fresh copy of it:
``Store.open(create=True)`` + ``store.ingest()`` + the count queries + ``close()``
(spans/s). The limit is DuckDB loading the same rows from one Parquet file into a
fresh database: ``CREATE TABLE spans AS SELECT * FROM read_parquet(...)`` +
``close()`` (rows/s). The ratio drain / Parquet load (goal: at least 0.5) is
taken from the medians of 3 repeats. A last pass, not part of the ratio, splits
the drain into its SQL statements, and reads the segments with ``read_json``
alone to show what JSON parsing costs.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel._spool import RECORD_FIELDS, SpoolPaths
from agentreel.store import DB_NAME, Store

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
GOAL = 0.5
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


def spool_counts(store_dir: Path) -> tuple[int, int, int, int]:
    """(segments, complete records, start records, bytes) of the pending spool."""
    segs = SpoolPaths(store_dir).pending()
    complete = start = size = 0
    for seg in segs:
        size += seg.stat().st_size
        with seg.open("rb") as f:
            for line in f:
                # writers leave null fields out: no end_ns (or a null one) is a start record
                if b'"end_ns":' not in line or b'"end_ns":null' in line:
                    start += 1
                elif line.strip():
                    complete += 1
    return len(segs), complete, start, size


# -- the measurements -------------------------------------------------------------


@dataclass
class Drain:
    open_s: float
    ingest_s: float
    verify_s: float
    close_s: float

    @property
    def total_s(self) -> float:
        return self.open_s + self.ingest_s + self.verify_s + self.close_s


def drain_once(store_dir: Path, spans: int, runs: int) -> Drain:
    """Open a fresh store on a copied spool, drain it and check the rows are there."""
    gc.collect()
    t0 = time.perf_counter()
    store = Store.open(store_dir, create=True)
    t1 = time.perf_counter()
    try:
        report = store.ingest()
        t2 = time.perf_counter()
        n_spans = store.sql("SELECT count(*) AS n FROM spans")["n"][0]
        n_runs = store.sql("SELECT count(*) AS n FROM runs WHERE status = 'ok'")["n"][0]
        t3 = time.perf_counter()
    finally:
        store.close()
    t4 = time.perf_counter()
    if report.rejected or report.invalid_records:
        raise SystemExit(f"ingest set records aside: {report.as_dict()}")
    if n_spans != spans or n_runs != runs:
        raise SystemExit(f"store holds {n_spans} spans and {n_runs} ok runs, not {spans}/{runs}")
    return Drain(t1 - t0, t2 - t1, t3 - t2, t4 - t3)


def parquet_once(parquet: Path, db: Path, spans: int) -> float:
    """Seconds for a fresh DuckDB file to load `parquet` as a table and close."""
    gc.collect()
    con = duckdb.connect(str(db))
    t0 = time.perf_counter()
    try:  # autocommit: the statement commits; close checkpoints, as Store.close() does
        con.execute(f"CREATE TABLE spans AS SELECT * FROM read_parquet('{parquet}')")
    finally:
        con.close()
    t1 = time.perf_counter()
    check = duckdb.connect(str(db), read_only=True)
    try:
        row = check.execute("SELECT count(*) FROM spans").fetchone()
    finally:
        check.close()
    if row is None or row[0] != spans:
        raise SystemExit(f"the Parquet load gave {row} rows, expected {spans}")
    return t1 - t0


def export_parquet(store_db: Path, parquet: Path) -> int:
    con = duckdb.connect(str(store_db), read_only=True)
    try:
        con.execute(f"COPY spans TO '{parquet}' (FORMAT parquet)")
    finally:
        con.close()
    return parquet.stat().st_size


# -- the breakdown ----------------------------------------------------------------

_PHASES = [  # (statement prefix, phase), first match wins
    ("SELECT DISTINCT s.process_id", "processes"),
    ("INSERT INTO processes", "processes"),
    ("SELECT DISTINCT s.provider", "prices"),
    ("INSERT INTO prices", "prices"),
    ("UPDATE spans", "prices"),
    ("SELECT count(*) FROM read_json", "count invalid records"),
    ("CREATE OR REPLACE TEMP TABLE start_records", "insert start records"),
    ("CREATE OR REPLACE TEMP TABLE span_repeats", "find repeated spans"),
    ("CREATE OR REPLACE TEMP TABLE span_losers", "drop repeated spans"),
    ("DELETE FROM spans", "drop repeated spans"),
    ("INSERT INTO spans", "insert spans from the segments (read_json + write)"),
    ("CREATE OR REPLACE TEMP TABLE touched", "rebuild runs"),
    ("DELETE FROM runs", "rebuild runs"),
    ("INSERT INTO runs", "rebuild runs"),
    ("UPDATE runs", "mark interrupted"),
    ("COMMIT", "commit"),
    ("BEGIN", "begin"),
]


def _phase(sql: str) -> str:
    s = " ".join(sql.split())
    if s.startswith("INSERT INTO spans") and "FROM start_records" in s:
        return "insert start records"
    for prefix, phase in _PHASES:
        if s.startswith(prefix):
            return phase
    return "other SQL (segments, counts)"


class TimedConnection:
    """A DuckDB connection whose `execute` calls are timed by phase."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self.seconds: dict[str, float] = defaultdict(float)

    def execute(self, query: str, parameters: object = None) -> duckdb.DuckDBPyConnection:
        t0 = time.perf_counter()
        try:
            return self._con.execute(query, parameters)
        finally:
            self.seconds[_phase(query)] += time.perf_counter() - t0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def drain_phases(store_dir: Path) -> dict[str, float] | None:
    """Seconds per phase of one drain, timing each SQL statement the drain runs.

    Calls the store's internal `drain()` with a timing proxy for its connection;
    returns None if the package has moved on and the internals are not there.
    """
    try:
        from agentreel.store._ingest import drain
    except ImportError:
        return None
    t0 = time.perf_counter()
    store = Store.open(store_dir, create=True)
    t1 = time.perf_counter()
    con = getattr(store, "_con", None)
    if con is None:
        store.close()
        return None
    timed = TimedConnection(con)
    try:
        t2 = time.perf_counter()
        drain(timed, store.paths)  # type: ignore[arg-type]
        t3 = time.perf_counter()
    finally:
        store.close()
    t4 = time.perf_counter()
    phases = {"open (connect + migrate)": t1 - t0, **timed.seconds}
    phases["python (scan, archive moves)"] = (t3 - t2) - sum(timed.seconds.values())
    phases["close (checkpoint)"] = t4 - t3
    return phases


def read_json_alone(segments: list[Path], spans: int) -> float:
    """Seconds for DuckDB to read the segments into a temp table, as the drain stages them."""
    columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in RECORD_FIELDS.items()) + "}"
    files = [str(p) for p in segments]
    gc.collect()
    con = duckdb.connect()
    try:
        t0 = time.perf_counter()
        con.execute(
            f"CREATE TEMP TABLE batch AS SELECT * FROM read_json({files!r}, "
            f"format = 'newline_delimited', columns = {columns}, filename = true, "
            f"maximum_object_size = 67108864)"
        )
        t1 = time.perf_counter()
        row = con.execute("SELECT count(*) FILTER (WHERE end_ns IS NOT NULL) FROM batch").fetchone()
    finally:
        con.close()
    if row is None or row[0] != spans:
        raise SystemExit(f"read_json gave {row} complete records, expected {spans}")
    return t1 - t0


# -- reporting ----------------------------------------------------------------------


def environment() -> dict[str, Any]:
    from importlib.metadata import version

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
        "opentelemetry-sdk": version("opentelemetry-sdk"),
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
    }


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--spans", type=int, default=200_000, help="spans in the spool")
    ap.add_argument("-r", "--repeats", type=int, default=3, help="timed repeats of each")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args(argv)
    if args.spans % SPANS_PER_RUN:
        ap.error(f"--spans must be a multiple of {SPANS_PER_RUN}")
    spans, repeats = args.spans, args.repeats
    os.environ.pop("AGENTREEL_FLUSH", None)
    load_before = warn_if_busy()

    work = Path(tempfile.mkdtemp(prefix="agentreel-bench-drain-"))
    try:
        src = work / "recorded"
        with step(f"recording {spans:,} spans with the tracer (not measured)"):
            runs, gen_s = generate(src, spans)
        segments, complete, start, spool_bytes = spool_counts(src)
        if complete != spans:
            raise SystemExit(f"the spool holds {complete} complete records, expected {spans}")
        print(
            f"  spool: {segments} segments, {complete:,} span records + {start} start records, "
            f"{spool_bytes / 1e6:.1f} MB"
        )

        drains: list[Drain] = []
        loads: list[float] = []
        parquet = work / "spans.parquet"
        parquet_bytes = 0
        for i in range(repeats):
            copy = work / f"drain-{i}"
            shutil.copytree(src, copy)
            with step(f"repeat {i + 1}/{repeats}: drain"):
                drains.append(drain_once(copy, spans, runs))
            if i == 0:
                parquet_bytes = export_parquet(copy / DB_NAME, parquet)
            with step(f"repeat {i + 1}/{repeats}: Parquet load"):
                loads.append(parquet_once(parquet, work / f"parquet-{i}.duckdb", spans))
            shutil.rmtree(copy)
            (work / f"parquet-{i}.duckdb").unlink()

        with step("breakdown: drain by statement, and read_json alone"):
            copy = work / "drain-phases"
            shutil.copytree(src, copy)
            read_s = read_json_alone(SpoolPaths(copy).pending(), spans)
            phases = drain_phases(copy)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    drain_s = statistics.median(d.total_s for d in drains)
    load_s = statistics.median(loads)
    drain_rate = spans / drain_s
    load_rate = spans / load_s
    ratio = drain_rate / load_rate

    print()
    print(f"drain: {spans:,} spans ({runs:,} runs), median of {repeats}")
    print(f"{'':28} {'seconds':>8} {'rows/s':>10}   (min .. max s)")
    totals = [d.total_s for d in drains]
    print(
        f"{'drain (open+ingest+close)':28} {drain_s:8.2f} {drain_rate:10,.0f}"
        f"   ({min(totals):.2f} .. {max(totals):.2f})"
    )
    print(
        f"{'Parquet load (CTAS+close)':28} {load_s:8.2f} {load_rate:10,.0f}"
        f"   ({min(loads):.2f} .. {max(loads):.2f})"
    )
    verdict = "meets" if ratio >= GOAL else "MISSES"
    print(f"ratio drain/Parquet = {ratio:.2f} ({verdict} the goal of >= {GOAL})")

    med = {
        k: statistics.median(getattr(d, k) for d in drains)
        for k in ("open_s", "ingest_s", "verify_s", "close_s")
    }
    print("\nmeasured drain, median seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in med.items()))
    print(f"read_json of the segments alone: {read_s:.2f} s ({spans / read_s:,.0f} records/s)")
    if phases is not None:
        total = sum(phases.values())
        print(f"drain by phase (one extra drain, {total:.2f} s):")
        for name, s in sorted(phases.items(), key=lambda kv: -kv[1]):
            print(f"  {name:34} {s:6.2f} s {100 * s / total:5.1f} %")

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"drain-{time.strftime('%Y%m%d-%H%M%S')}.json"
    result = {
        "bench": "drain",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "spans": spans,
        "runs": runs,
        "repeats": repeats,
        "goal_ratio_min": GOAL,
        "ratio": ratio,
        "meets_goal": ratio >= GOAL,
        "drain_spans_per_s": drain_rate,
        "parquet_rows_per_s": load_rate,
        "drain_seconds": [asdict(d) | {"total_s": d.total_s} for d in drains],
        "parquet_seconds": loads,
        "spool": {
            "segments": segments,
            "span_records": complete,
            "start_records": start,
            "bytes": spool_bytes,
            "record_seconds": gen_s,
        },
        "parquet_bytes": parquet_bytes,
        "read_json_seconds": read_s,
        "drain_phases_seconds": phases,
        "environment": environment() | {"load_average_before": load_before},
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(BENCH_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
