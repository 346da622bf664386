"""Per-call cost of an ``@agentreel.tool`` function against bare OpenTelemetry.

Run by hand (not in CI)::

    .venv/bin/python bench/bench_tracer.py            # about 20 s
    .venv/bin/python bench/bench_tracer.py --profile  # plus where agentreel's time goes
    .venv/bin/python bench/bench_tracer.py --quick    # a few seconds, noisier

*ours*: N calls of a decorated sync function recording into a fresh spool, plus
``agentreel.flush()`` (so turning spans into records and writing segments is
counted), divided by N. *baseline*: N ``start_as_current_span`` blocks carrying
the same attributes, under a ``BatchSpanProcessor`` with the same queue settings
and an exporter that encodes each span as a JSON line and writes each batch to a
file, plus ``force_flush()``. Each round times both sides, in alternating order,
in CPU time of all the process's threads (``time.process_time``) and in wall time;
the median of the per-round ratios ours / baseline is reported with their spread
(goal: at most 1.3 for both).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
from _env import environment as bench_environment  # bench/, beside this script
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import agentreel
from agentreel._normalize import INPUT, OUTPUT
from agentreel._redact import redactor_from
from agentreel._spool import SpoolPaths
from agentreel.tracer._exporter import (
    _CHUNK,
    SpoolExporter,
    _attributes,
    _normalize_planned,
    _plan,
    _settle,
    record_from_span,
)

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
GOAL = 1.3
QUERY = "what is the capital of France?"
# The queue settings agentreel's recorder gives its BatchSpanProcessor.
QUEUE = {"max_queue_size": 100_000, "max_export_batch_size": 4096, "schedule_delay_millis": 1000}


def search(query: str) -> list[str]:
    return [query, "Paris is the capital of France.", "It has about 2.1 million residents."]


traced_search: Callable[[str], list[str]] = agentreel.tool(search)


class JsonLinesExporter(SpanExporter):
    """The baseline's exporter: each span as one JSON line, each batch one new file.

    The work any exporter to a local file does, written the fast way (orjson, one
    write per batch) through OpenTelemetry's public span API: ids as hex, name,
    kind, times, status, scope, parent, attributes and events.
    """

    def __init__(self, directory: Path) -> None:
        self.count = 0
        self.directory = directory
        self._files = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = []
        for s in spans:
            c = s.context
            p = s.parent
            scope = s.instrumentation_scope
            rec: dict[str, Any] = {
                "trace_id": f"{c.trace_id:032x}",
                "span_id": f"{c.span_id:016x}",
                "parent_span_id": f"{p.span_id:016x}" if p is not None else None,
                "name": s.name,
                "kind": s.kind.name,
                "start_ns": s.start_time,
                "end_ns": s.end_time,
                "status": s.status.status_code.name,
                "scope": scope.name if scope is not None else None,
                "attributes": dict(s.attributes or {}),
            }
            if s.events:
                rec["events"] = [
                    {"name": e.name, "time_ns": e.timestamp, "attributes": dict(e.attributes or {})}
                    for e in s.events
                ]
            lines.append(orjson.dumps(rec, default=str))
        self._files += 1
        with open(self.directory / f"{self._files:07d}.jsonl", "wb") as f:
            f.write(b"\n".join(lines) + b"\n")
        self.count += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


@dataclass
class Round:
    """One timed round: wall nanoseconds in the call loop and in the final flush, and
    the CPU nanoseconds of all the process's threads over both.

    ``export_cpu_ns`` is the CPU time spent inside the exporter (span -> record ->
    JSON -> file), in whichever thread ran it: mostly the BatchSpanProcessor's
    worker, during the loop; the rest in the flush.
    """

    loop_ns: int
    flush_ns: int
    n: int
    cpu_ns: int = 0
    export_cpu_ns: int = 0
    start_records: int = 0

    @property
    def us_per_call(self) -> float:
        return (self.loop_ns + self.flush_ns) / self.n / 1000

    @property
    def cpu_us_per_call(self) -> float:
        return self.cpu_ns / self.n / 1000

    @property
    def loop_us(self) -> float:
        return self.loop_ns / self.n / 1000

    @property
    def flush_us(self) -> float:
        return self.flush_ns / self.n / 1000

    @property
    def export_us(self) -> float:
        return self.export_cpu_ns / self.n / 1000


def spool_records(store_dir: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for seg in sorted((store_dir / "spool").glob("*.jsonl")):
        with seg.open(encoding="utf-8") as f:
            records.extend(json.loads(line) for line in f if line.strip())
    return records


class _ExportMeter:
    """Wraps an exporter's `export` to add up its CPU time, and optionally profile it."""

    def __init__(self, exporter: Any, *, profile: bool) -> None:
        self.cpu_ns = 0
        self.profile = cProfile.Profile() if profile else None
        # The calling thread has a profiler of its own; this one covers the worker.
        self._profiled_thread = threading.get_ident()
        self._export = exporter.export
        exporter.export = self.export

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        # Exports are serialised by the BatchSpanProcessor's lock, so no race here.
        prof = self.profile if threading.get_ident() != self._profiled_thread else None
        if prof is not None:
            prof.enable()
        t0 = time.thread_time_ns()
        try:
            result: SpanExportResult = self._export(spans)
            return result
        finally:
            self.cpu_ns += time.thread_time_ns() - t0
            if prof is not None:
                prof.disable()


def ours(n: int, *, profiles: list[cProfile.Profile] | None = None) -> tuple[Round, dict[str, Any]]:
    """One round of the decorated function; returns its timing and one recorded span.

    With `profiles`, the round is profiled: the calling thread's profile and the
    exporter's (in whichever thread it ran) are appended to it.
    """
    profile = cProfile.Profile() if profiles is not None else None
    with tempfile.TemporaryDirectory(prefix="agentreel-bench-") as d:
        rec = agentreel.init(d, tracer_provider=TracerProvider(), propagate_threads=False)
        meter = _ExportMeter(rec.exporter, profile=profile is not None)
        try:
            fn, q = traced_search, QUERY
            gc.collect()
            if profile is not None:
                profile.enable()
            c0 = time.process_time_ns()
            t0 = time.perf_counter_ns()
            for _ in range(n):
                fn(q)
            t1 = time.perf_counter_ns()
            ok = agentreel.flush()
            t2 = time.perf_counter_ns()
            c1 = time.process_time_ns()
            if profile is not None:
                profile.disable()
        finally:
            agentreel.shutdown()
        if not ok:
            raise SystemExit("agentreel.flush() timed out")
        if rec.exporter.dropped:
            raise SystemExit(f"the exporter dropped {rec.exporter.dropped} spans")
        records = spool_records(Path(d))
        complete = [r for r in records if r.get("end_ns") is not None]
        if len(complete) != n:
            raise SystemExit(f"the spool holds {len(complete)} span records, expected {n}")
        if profiles is not None and profile is not None and meter.profile is not None:
            # the exporter's profile is empty when every export ran in the flush, on the
            # calling thread (whose own profile covers it)
            profiles += [p for p in (profile, meter.profile) if p.getstats()]
        rnd = Round(t1 - t0, t2 - t1, n, c1 - c0, meter.cpu_ns, len(records) - len(complete))
        return rnd, complete[0]


def baseline(n: int, name: str, attrs: dict[str, Any]) -> Round:
    """One round of bare OpenTelemetry spans carrying `attrs`, written as JSON lines."""
    with tempfile.TemporaryDirectory(prefix="agentreel-bench-") as d:
        provider = TracerProvider()
        exporter = JsonLinesExporter(Path(d))
        meter = _ExportMeter(exporter, profile=False)
        provider.add_span_processor(BatchSpanProcessor(exporter, **QUEUE))
        tracer = provider.get_tracer("bench")
        try:
            start = tracer.start_as_current_span
            gc.collect()
            c0 = time.process_time_ns()
            t0 = time.perf_counter_ns()
            for _ in range(n):
                with start(name, attributes=attrs):
                    pass
            t1 = time.perf_counter_ns()
            ok = provider.force_flush()
            t2 = time.perf_counter_ns()
            c1 = time.process_time_ns()
        finally:
            provider.shutdown()
        if not ok:
            raise SystemExit("TracerProvider.force_flush() timed out")
        if exporter.count != n:
            raise SystemExit(f"the JSON-lines exporter saw {exporter.count} spans, expected {n}")
        lines = sum(f.read_bytes().count(b"\n") for f in Path(d).glob("*.jsonl"))
        if lines != n:
            raise SystemExit(f"the JSON-lines files hold {lines} lines, expected {n}")
    return Round(t1 - t0, t2 - t1, n, c1 - c0, meter.cpu_ns)


def _recorded_spans(n: int) -> list[ReadableSpan]:
    """`n` ended spans of the decorated function, as agentreel's exporter receives them
    in the timed rounds: its processor alone on the provider, so the payloads arrive as
    captured (redacted and cut by the exporter) and the attributes were written straight
    into the span. They are taken from the exporter instead of being written."""
    spans: list[ReadableSpan] = []

    def keep(batch: Sequence[ReadableSpan]) -> SpanExportResult:
        spans.extend(batch)
        return SpanExportResult.SUCCESS

    with tempfile.TemporaryDirectory(prefix="agentreel-bench-") as d:
        rec = agentreel.init(d, tracer_provider=TracerProvider(), propagate_threads=False)
        try:
            if not (rec.defers_redaction() and rec.writes_attributes()):
                raise SystemExit("agentreel's processor is not alone on the bench's provider")
            rec.exporter.export = keep  # type: ignore[method-assign]
            for _ in range(n):
                traced_search(QUERY)
            agentreel.flush()
        finally:
            agentreel.shutdown()
    return spans


def export_breakdown(n: int, repeats: int = 3) -> dict[str, float]:
    """CPU µs per span of the exporter's steps, timed one after another on `n` spans
    recorded as in the timed rounds (see `_recorded_spans`), single-threaded.

    `settle` (the payloads redacted, a chunk's at once, and cut), `record_from_span`
    given them (the record, `normalize` within it: attributes -> typed fields), and the
    whole `SpoolExporter.export` (both, plus JSON encoding and one segment file); the
    rest of the export is `json_and_write`.
    """
    spans = _recorded_spans(n)
    redact = redactor_from(True)
    chunks = [spans[i : i + _CHUNK] for i in range(0, len(spans), _CHUNK)]
    settled = [_settle(c, redact) or {} for c in chunks]
    attrs = [dict(_attributes(s)) for s in spans]
    times: dict[str, list[int]] = {
        "settle": [],
        "normalize": [],
        "record_from_span": [],
        "export": [],
    }
    clock = time.thread_time_ns
    with tempfile.TemporaryDirectory(prefix="agentreel-bench-") as d:
        for i in range(repeats):
            gc.collect()
            t0 = clock()
            for c in chunks:
                _settle(c, redact)
            t1 = clock()
            for a in attrs:
                _normalize_planned({}, a, _plan(a), {})
            t2 = clock()
            for c, got in zip(chunks, settled, strict=True):
                for j, sp in enumerate(c):
                    record_from_span(sp, "bench", redact=redact, settled=got.get(j))
            t3 = clock()
            paths = SpoolPaths(Path(d) / f"again-{i}")
            paths.create()
            SpoolExporter(paths, "bench", redact).export(spans)
            t4 = clock()
            times["settle"].append(t1 - t0)
            times["normalize"].append(t2 - t1)
            times["record_from_span"].append(t3 - t2)
            times["export"].append(t4 - t3)
    us = {k: statistics.median(v) / len(spans) / 1000 for k, v in times.items()}
    us["json_and_write"] = us["export"] - us["record_from_span"] - us["settle"]
    return us


def span_attributes(record: dict[str, Any]) -> dict[str, Any]:
    """The attributes agentreel's span carried, rebuilt from its spool record."""
    attrs = dict(record["attributes"])
    if record["input"] is not None:
        attrs[INPUT] = record["input"]
    if record["output"] is not None:
        attrs[OUTPUT] = record["output"]
    return attrs


def environment() -> dict[str, Any]:
    from importlib.metadata import version

    return bench_environment(
        agentreel=agentreel.__version__, **{"opentelemetry-sdk": version("opentelemetry-sdk")}
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


def print_profile(profiles: list[cProfile.Profile], n: int, top: int) -> None:
    """The top functions by own time: all of them, then agentreel's alone."""
    for title, restrict in (("all code", ()), ("agentreel's code", ("agentreel/",))):
        out = io.StringIO()
        stats = pstats.Stats(*profiles, stream=out)
        stats.sort_stats("tottime").print_stats(*restrict, top)
        lines = out.getvalue().splitlines()
        start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
        print(f"\nprofile of one round of ours ({n:,} calls, loop + flush + exports), {title}:")
        print("\n".join(line for line in lines[start:] if line.strip()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--calls", type=int, default=20_000, help="calls per round")
    ap.add_argument("-r", "--rounds", type=int, default=7, help="timed rounds of each")
    ap.add_argument("--profile", action="store_true", help="also profile one round of ours")
    ap.add_argument("--top", type=int, default=25, help="profile rows to print")
    ap.add_argument("--quick", action="store_true", help="2,000 calls x 7 rounds, for a first look")
    args = ap.parse_args(argv)
    n, rounds = (2000, 7) if args.quick else (args.calls, args.rounds)
    # The measured configuration is the default one: a flush tick every second.
    os.environ.pop("AGENTREEL_FLUSH", None)
    load_before = warn_if_busy()

    # Warm-up; it also yields the span whose attributes the baseline carries.
    _, record = ours(n)
    name, attrs = record["name"], span_attributes(record)
    baseline(n, name, attrs)

    ours_rounds: list[Round] = []
    base_rounds: list[Round] = []
    for i in range(rounds):  # alternate which goes first, so neither always runs warm
        if i % 2 == 0:
            ours_rounds.append(ours(n)[0])
            base_rounds.append(baseline(n, name, attrs))
        else:
            base_rounds.append(baseline(n, name, attrs))
            ours_rounds.append(ours(n)[0])
        gc.collect()

    def med(rs: list[Round], f: Callable[[Round], float]) -> float:
        return statistics.median(f(r) for r in rs)

    summary = {
        side: {
            "cpu_us_per_call": med(rs, lambda r: r.cpu_us_per_call),
            "us_per_call": med(rs, lambda r: r.us_per_call),
            "loop_us_per_call": med(rs, lambda r: r.loop_us),
            "flush_us_per_call": med(rs, lambda r: r.flush_us),
            "export_cpu_us_per_call": med(rs, lambda r: r.export_us),
        }
        for side, rs in (("ours", ours_rounds), ("baseline", base_rounds))
    }
    # Each round's two sides ran back to back, so their ratio shares the machine's
    # state of the moment; the median of those ratios is the figure.
    pairs = list(zip(ours_rounds, base_rounds, strict=True))
    ratios = {
        "cpu": [o.cpu_ns / b.cpu_ns for o, b in pairs],
        "wall": [o.us_per_call / b.us_per_call for o, b in pairs],
    }
    ratio = {k: statistics.median(v) for k, v in ratios.items()}

    print(f"tracer: {n:,} calls x {rounds} rounds (after a warm-up), medians in µs per call")
    print(f"{'':10} {'cpu':>8} {'wall':>8} {'loop':>8} {'flush':>8} {'export':>8}")
    for side in ("ours", "baseline"):
        sm = summary[side]
        print(
            f"{side:10} {sm['cpu_us_per_call']:8.2f} {sm['us_per_call']:8.2f} "
            f"{sm['loop_us_per_call']:8.2f} {sm['flush_us_per_call']:8.2f} "
            f"{sm['export_cpu_us_per_call']:8.2f}"
        )
    print(
        "  cpu = CPU time of all threads over loop + flush; wall = loop + flush;"
        " export = CPU time inside the exporter, mostly on the worker thread"
    )
    for what in ("cpu", "wall"):
        rs = ratios[what]
        verdict = "meets" if ratio[what] <= GOAL else "MISSES"
        print(
            f"ratio ours/baseline, {what + ':':5} median {ratio[what]:.2f} of {len(rs)} paired "
            f"rounds (spread {min(rs):.2f}-{max(rs):.2f}; {verdict} the goal of <= {GOAL})"
        )
    print(f"span attributes ({len(attrs)}): {', '.join(sorted(attrs))}")
    gc.collect()
    steps = export_breakdown(n)
    print(
        "exporter steps, single-threaded, CPU µs per span: "
        f"payloads redacted and cut {steps['settle']:.2f}, "
        f"record_from_span {steps['record_from_span']:.2f} "
        f"(of which normalize {steps['normalize']:.2f}), "
        f"JSON encode + segment write {steps['json_and_write']:.2f}, "
        f"whole export {steps['export']:.2f}"
    )

    if args.profile:
        profiles: list[cProfile.Profile] = []
        gc.collect()
        ours(n, profiles=profiles)
        print_profile(profiles, n, args.top)

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = RESULTS_DIR / f"tracer-{stamp}.json"
    result = {
        "bench": "tracer",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "calls_per_round": n,
        "rounds": rounds,
        "goal_ratio_max": GOAL,
        "ratio_cpu": ratio["cpu"],
        "ratio_wall": ratio["wall"],
        "ratios_per_round": ratios,
        "meets_goal": max(ratio.values()) <= GOAL,
        "summary": summary,
        "exporter_steps_us_per_span": steps,
        "span_name": name,
        "span_attributes": attrs,
        "queue": QUEUE,
        "rounds_raw": {
            "ours": [asdict(r) for r in ours_rounds],
            "baseline": [asdict(r) for r in base_rounds],
        },
        "environment": environment() | {"load_average_before": load_before},
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(BENCH_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
