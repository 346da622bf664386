"""`agentreel serve`: OTLP/HTTP to queryable rows, and the receiver against uvicorn.

Run by hand from the repository root (it loads both cores)::

    python bench/bench_receiver.py            # 200,000 spans from 16 senders, 3 paired rounds
    python bench/bench_receiver.py --quick    # 20,000 spans, one pair of rounds
    python bench/bench_receiver.py --full     # also 1, 4, 16 senders x 10^4, 10^5, 10^6 spans
    python bench/bench_receiver.py --profile  # also one round with serve sampled (CPU by function)
    python bench/bench_receiver.py --vs-uvicorn   # the receiver's own server against uvicorn
    python bench/bench_receiver.py --stages   # CPU per span of each stage, in one process

Throughput (the default): ``agentreel serve --port 0`` runs as its own process on a
fresh store. `--senders` processes (bench/_otlp_senders.py) each encode their share of
the spans beforehand with OpenTelemetry's own OTLP protobuf encoder, in requests of 500
spans, then all post at once over keep-alive connections, waiting out ``Retry-After``
on a 503 and posting again. A reader process polls the store's span count once a
second the way a CLI command reads (``_open_fresh`` then a count of ``spans``) until
every span is there. Printed: spans/s from the first request until the reader saw every
span, against 110 spans/s, Arize Phoenix 20.26.1's rate quoted in issue 19 (quoted, not
re-measured here), and against the goal of 33,000 spans/s (300x). Each round is paired
with one without the reader (alternating which goes first), timed until serve's drain
reported the last span committed (its ``ingested`` lines); the median of the paired
ratios with/without says whether polling readers slow serve down (goal: above 0.5).
serve's CPU time (its drain process's included) is printed beside the wall time. Every round checks that the store
then holds every span exactly once.

Stages (``--stages``): the path of a span through serve, one stage after another in
this process on one sender's requests (`--spans` spans): protobuf parse, reading the
attributes, masking them, normalising, the whole decode with and without masking, the
spool write, then the drain of those segments into a fresh store, with the runs rebuild
(timed by wrapping it) and the store's close (its checkpoint) apart. CPU time per
span, median of `--stage-rounds` repeats; the drain's share is what the receiver would
hand to the other core.

vs uvicorn (``--vs-uvicorn``), for each server (agentreel's own `Receiver`, and the
same rules as an ASGI app under uvicorn, bench/_uvicorn_receiver.py; the latter once
more with uvicorn's own connection limit, ``limit_concurrency=256``):

1. load: bench_load.py's part 2 (32 sender processes post 10 batches of 500 spans of
   OTLP/protobuf at once, retrying a shed batch after its ``Retry-After``). Printed:
   spans/s accepted, the answers by status, the slowest answer.
2. attack: tests/reliability/test_receiver_attack.py's slow clients (300 connections
   from loopback sending a request head a byte every 0.5 s, each one closed replaced
   by a new one) while OpenTelemetry's OTLP/HTTP exporter sends 20 batches of 50
   spans, one every 0.5 s, for at least `--attack-s` seconds in all. Printed: the
   exports that succeeded, the slowest export, and how many slow connections the
   server closed (0 means they are held as long as the attacker likes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _otlp_senders import BATCH, send
from bench_load import _sender

from agentreel.store import Receiver, Store

Server = Callable[[Path], contextlib.AbstractContextManager[int]]


@contextlib.contextmanager
def _agentreel(store: Path) -> Iterator[int]:
    with Receiver(store, port=0) as r:
        yield r.port


def _uvicorn(limit: int | None) -> Server:
    def serve(store: Path) -> contextlib.AbstractContextManager[int]:
        from _uvicorn_receiver import serving

        return serving(store, limit_concurrency=limit)

    return serve


def _stored(store: Path) -> tuple[int, int]:
    with Store.open(store, create=True) as s:
        s.ingest()
        n, d = s.sql("SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans").row(0)
    return int(n), int(d)


def load(server: Server, senders: int = 32, batches: int = 10, spans: int = 500) -> dict[str, Any]:
    store = Path(tempfile.mkdtemp(prefix="agentreel-bench-recv-")) / "store"
    ctx = mp.get_context("spawn")
    go = ctx.Barrier(senders + 1)
    out = ctx.Queue()
    with server(store) as port:
        procs = [
            ctx.Process(target=_sender, args=(port, s, batches, spans, go, out))
            for s in range(senders)
        ]
        for p in procs:
            p.start()
        go.wait(timeout=600)
        t0 = time.perf_counter()
        results = [out.get(timeout=600) for _ in procs]
        took = time.perf_counter() - t0
        for p in procs:
            p.join(60)
    statuses: Counter[int] = Counter()
    for st, _ in results:
        statuses.update({int(k): v for k, v in st.items()})
    total = senders * batches * spans
    return {
        "spans_per_s_accepted": round(total / took),
        "answers": dict(sorted(statuses.items())),
        "slowest_answer_s": round(max(s for _, s in results), 3),
        "exactly_once": _stored(store) == (total, total),
    }


def attack(server: Server, attack_s: float, connections: int = 300) -> dict[str, Any]:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    from tests.reliability.test_receiver_attack import SlowClients, _batches

    store = Path(tempfile.mkdtemp(prefix="agentreel-bench-attack-")) / "store"
    batches = _batches() * 3  # 24 batches of 50 spans
    ok = 0
    slowest = 0.0
    t_start = time.monotonic()
    with server(store) as port, SlowClients(port, connections, cap_s=900) as slow:
        while slow.opened < connections:
            time.sleep(0.05)
        exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", timeout=10)
        for batch in batches:
            seen = slow.rounds
            while slow.rounds == seen and slow._thread.is_alive():
                time.sleep(0.02)
            t0 = time.monotonic()
            ok += exporter.export(batch) == SpanExportResult.SUCCESS
            slowest = max(slowest, time.monotonic() - t0)
        while time.monotonic() - t_start < attack_s:
            time.sleep(0.1)
        exporter.shutdown()
        closed = slow.closed_by_server
        opened = slow.opened
    return {
        "exports_ok": f"{ok}/{len(batches)}",
        "slowest_export_s": round(slowest, 3),
        "slow_connections_opened": opened,
        "slow_connections_closed_by_server": closed,
        "attack_s": round(time.monotonic() - t_start, 1),
    }


#: Arize Phoenix 20.26.1 on this workload, quoted from issue 19 (not re-measured here)
PHOENIX_SPANS_PER_S = 110
GOAL_SPANS_PER_S = 33_000
#: polling readers must not halve serve's rate
GOAL_READER_RATIO = 0.5
CACHE = Path(tempfile.gettempdir()) / "agentreel-bench-otlp-bodies"
_READY = re.compile(r"receiving OTLP/HTTP traces on http://[^:]+:(\d+)/")
_INGESTED = re.compile(r"^ingested (\d+) spans")


def _reader(store: str, total: int, go: Any, out: Any) -> None:
    """Poll the span count once a second as a CLI command reads, until all are there."""
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the command's notes, all along
    from agentreel.cli._commands import _open_fresh

    go.wait()
    polls: list[float] = []
    while True:
        t0 = time.monotonic()
        try:
            with _open_fresh(Path(store)) as s:
                n = int(s.sql("SELECT count(*) FROM spans").item())
        except Exception:  # before serve made the store, or it is busy past the wait
            n = -1
        t1 = time.monotonic()
        polls.append(t1 - t0)
        if n >= total:
            out.put({"seen_all": t1, "polls": polls})
            return
        time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))


def _stat(pid: int | str) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu_s(pid: int) -> float:
    """CPU seconds of process `pid` and of its living children (serve's drain process)."""
    ticks = 0
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            fields = _stat(p.name)
        except OSError:
            continue
        if int(p.name) == pid or int(fields[1]) == pid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


class _Serve:
    """``agentreel serve`` in its own process on `store`, its ``ingested`` lines followed."""

    def __init__(self, store: Path, total: int, sampled: Path | None = None) -> None:
        prefix = [sys.executable]
        if sampled is not None:
            prefix += [str(Path(__file__).parent / "_sampled.py"), str(sampled)]
        self.proc = subprocess.Popen(
            [*prefix, "-m", "agentreel", "serve", "--port", "0", "--dir", str(store)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "400"},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        m = _READY.search(line)
        if not m:
            self.proc.kill()
            raise SystemExit(f"agentreel serve did not start: {line!r}")
        self.port = int(m.group(1))
        self.total = total
        self.ingested = 0
        self.steps = 0
        #: (monotonic time, spans so far) at each drain serve reported
        self.drains: list[tuple[float, int]] = []
        self.all_in = threading.Event()
        self.all_in_at = 0.0
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            m = _INGESTED.match(line)
            if m:
                self.ingested += int(m.group(1))
                self.steps += 1
                self.drains.append((time.monotonic(), self.ingested))
                if self.ingested >= self.total and not self.all_in.is_set():
                    self.all_in_at = time.monotonic()
                    self.all_in.set()

    def cpu_s(self) -> float:
        return _cpu_s(self.proc.pid)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(120)
        self._thread.join(10)


def throughput(
    senders: int,
    spans: int,
    *,
    reader: bool,
    sampled: Path | None = None,
    batch: int = BATCH,
) -> dict[str, Any]:
    """One round: `spans` spans from `senders` processes to a fresh serve, until queryable."""
    work = Path(tempfile.mkdtemp(prefix="agentreel-bench-serve-"))
    store = work / "store"
    CACHE.mkdir(exist_ok=True)
    share = [spans // senders + (i < spans % senders) for i in range(senders)]
    ctx = mp.get_context("spawn")
    go = ctx.Barrier(senders + 1 + reader)
    out = ctx.Queue()
    seen = ctx.Queue()
    serve = _Serve(store, spans, sampled)
    try:
        procs = [
            ctx.Process(
                target=send,
                args=(
                    serve.port,
                    CACHE / f"{senders}x{spans}-b{batch}-{i}.bin",
                    i,
                    share[i],
                    go,
                    out,
                    batch,
                ),
            )
            for i in range(senders)
        ]
        if reader:
            procs.append(ctx.Process(target=_reader, args=(str(store), spans, go, seen)))
        for p in procs:
            p.start()
        go.wait(timeout=1800)
        cpu0 = serve.cpu_s()
        sent = [out.get(timeout=1800) for _ in range(senders)]
        if any("error" in s for s in sent):
            raise SystemExit("; ".join(s["error"] for s in sent if "error" in s))
        if not serve.all_in.wait(1800):
            raise SystemExit(f"serve ingested {serve.ingested} of {spans} spans")
        cpu = serve.cpu_s() - cpu0
        polls = seen.get(timeout=600) if reader else None
        for p in procs:
            p.join(60)
    finally:
        serve.stop()
    first = min(s["first"] for s in sent)
    statuses: Counter[int] = Counter()
    for s in sent:
        statuses.update(s["statuses"])
    with Store.open(store) as s:
        n, d = s.sql("SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans").row(0)
    shutil.rmtree(work, ignore_errors=True)  # a round of 10^6 spans leaves a GiB or two
    committed_s = serve.all_in_at - first
    sent_s = max(s["last"] for s in sent) - first
    result = {
        "senders": senders,
        "spans": spans,
        "batch": batch,
        "reader": reader,
        "sent_s": round(sent_s, 3),
        "committed_s": round(committed_s, 3),
        # how long the last spans waited for their drain once everything was accepted
        "tail_s": round(committed_s - sent_s, 3),
        # when each drain ended (s after the first request) and the spans stored by then
        "drains": [(round(t - first, 2), n) for t, n in serve.drains],
        "committed_spans_per_s": round(spans / committed_s),
        "serve_cpu_s": round(cpu, 2),
        "spans_per_serve_cpu_s": round(spans / max(cpu, 0.01)),
        "drain_steps": serve.steps,
        "answers": dict(sorted(statuses.items())),
        "slowest_answer_s": round(max(s["slowest"] for s in sent), 3),
        "exactly_once": n == d == spans,
    }
    if polls is not None:
        queryable_s = polls["seen_all"] - first
        result["queryable_s"] = round(queryable_s, 3)
        result["spans_per_s"] = round(spans / queryable_s)
        result["polls"] = len(polls["polls"])
        result["slowest_poll_s"] = round(max(polls["polls"]), 3)
    return result


def _line(r: dict[str, Any]) -> str:
    rate = r.get("spans_per_s", r["committed_spans_per_s"])
    where = "queryable (reader)" if r["reader"] else "committed (no reader)"
    text = (
        f"{r['senders']:>2} senders {r['spans']:>9,} spans ({r['batch']} a request): "
        f"{rate:>7,} spans/s {where} "
        f"= {rate / PHOENIX_SPANS_PER_S:,.0f}x Phoenix; committed after {r['committed_s']} s "
        f"({r['committed_spans_per_s']:,}/s), sent after {r['sent_s']} s (tail {r['tail_s']} s); "
        f"serve CPU "
        f"{r['serve_cpu_s']} s ({r['spans_per_serve_cpu_s']:,} spans per CPU second) in "
        f"{r['drain_steps']} drains; answers {r['answers']}"
    )
    if r["reader"]:
        text += f"; {r['polls']} polls, slowest {r['slowest_poll_s']} s"
    return text + ("" if r["exactly_once"] else "; NOT EXACTLY ONCE")


def paired(senders: int, spans: int, rounds: int, batch: int = BATCH) -> dict[str, Any]:
    """Rounds with and without the polling reader, alternating which goes first."""
    pairs = []
    for i in range(rounds):
        pair: dict[bool, dict[str, Any]] = {}
        for reader in (True, False) if i % 2 == 0 else (False, True):
            pair[reader] = throughput(senders, spans, reader=reader, batch=batch)
            print("  " + _line(pair[reader]), flush=True)
        pairs.append(pair)
    with_reader = [p[True]["spans_per_s"] for p in pairs]
    ratios = [p[True]["committed_spans_per_s"] / p[False]["committed_spans_per_s"] for p in pairs]
    return {
        "senders": senders,
        "spans": spans,
        "median_spans_per_s": round(statistics.median(with_reader)),
        "spread_spans_per_s": [min(with_reader), max(with_reader)],
        "times_phoenix": round(statistics.median(with_reader) / PHOENIX_SPANS_PER_S),
        "median_ratio_with_reader": round(statistics.median(ratios), 3),
        "spread_ratio_with_reader": [round(min(ratios), 3), round(max(ratios), 3)],
        "rounds": [[p[True], p[False]] for p in pairs],
    }


def _cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def stages(spans: int, rounds: int) -> dict[str, float]:
    """CPU microseconds per span of each stage from request body to stored row."""
    from _otlp_senders import bodies
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from agentreel._normalize import normalize_into
    from agentreel._redact import Redactor, redact_attributes
    from agentreel._spool import SpoolPaths
    from agentreel.store import _ingest, _otlp_mask, _otlp_protobuf
    from agentreel.store._spooler import Spooler

    CACHE.mkdir(exist_ok=True)
    todo = bodies(CACHE / f"1x{spans}-0.bin", 0, spans)
    with contextlib.suppress(ImportError):
        import genai_prices  # noqa: F401 - imported once by serve, not per drain

    def parsed() -> list[Any]:
        out = []
        for b in todo:
            req = ExportTraceServiceRequest()
            req.ParseFromString(b)
            out.append(req)
        return out

    reqs = parsed()
    all_spans = [
        s for r in reqs for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans
    ]
    attrs = [_otlp_protobuf._pb_attributes(s.attributes) for s in all_spans]
    redactor = Redactor()
    steps: dict[str, Callable[[], object]] = {
        "protobuf parse": parsed,
        "attributes read": lambda: [_otlp_protobuf._pb_attributes(s.attributes) for s in all_spans],
        "attributes masked one span at a time": lambda: [
            redact_attributes(a, redactor) for a in attrs
        ],
        "attributes masked a request at a time": lambda: [
            _otlp_mask._masked_attributes(attrs[i : i + 500], redactor)
            for i in range(0, len(attrs), 500)
        ],
        "normalised": lambda: [normalize_into({}, a) for a in attrs],
        "decode, no masking": lambda: [_otlp_protobuf.decode_protobuf(b) for b in todo],
        "decode with masking": lambda: [_otlp_protobuf.decode_protobuf(b, redactor) for b in todo],
    }
    per: dict[str, list[float]] = {k: [] for k in steps}
    for k in ("spool write", "drain (all)", "drain: runs rebuild", "drain: close"):
        per[k] = []
    rebuild = _ingest.rebuild_touched
    for _ in range(rounds):
        for name, fn in steps.items():
            c = _cpu()
            fn()
            per[name].append(_cpu() - c)
        decoded = [_otlp_protobuf.decode_protobuf(b, redactor) for b in todo]
        work = Path(tempfile.mkdtemp(prefix="agentreel-bench-stages-"))
        Store.open(work, create=True).close()
        spooler = Spooler(SpoolPaths(work), heartbeat=True, redact=redactor)
        c = _cpu()
        for d in decoded:
            spooler.write(d)
        per["spool write"].append(_cpu() - c)
        rebuilt = [0.0]

        def timed(con: Any, _rebuilt: list[float] = rebuilt, **kw: Any) -> None:
            c0 = _cpu()
            rebuild(con, **kw)
            _rebuilt[0] += _cpu() - c0

        _ingest.rebuild_touched = timed  # type: ignore[assignment]
        try:
            c = _cpu()
            store = Store.open(work)
            store.ingest()
            c_closing = _cpu()
            store.close()
            c_end = _cpu()
        finally:
            _ingest.rebuild_touched = rebuild
        per["drain (all)"].append(c_end - c)
        per["drain: runs rebuild"].append(rebuilt[0])
        per["drain: close"].append(c_end - c_closing)
        shutil.rmtree(work, ignore_errors=True)
    return {k: round(statistics.median(v) / spans * 1e6, 2) for k, v in per.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spans", type=int, default=200_000)
    ap.add_argument("--senders", type=int, default=16)
    ap.add_argument("--batch", type=int, default=BATCH, help=f"spans a request (default {BATCH})")
    ap.add_argument(
        "--rounds", type=int, default=3, help="pairs of rounds (with/without reader); 0: none"
    )
    ap.add_argument("--quick", action="store_true", help="20,000 spans, one pair of rounds")
    ap.add_argument(
        "--full", action="store_true", help="also 1, 4, 16 senders x 10^4, 10^5, 10^6 spans"
    )
    ap.add_argument(
        "--profile", action="store_true", help="also one round with serve's CPU sampled"
    )
    ap.add_argument(
        "--matrix-spans",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[10_000, 100_000, 1_000_000],
        help="the sizes --full runs (comma-separated)",
    )
    ap.add_argument("--vs-uvicorn", action="store_true", help="the old comparison with uvicorn")
    ap.add_argument(
        "--stages", action="store_true", help="CPU per span of each stage, in one process"
    )
    ap.add_argument("--stage-rounds", type=int, default=5)
    ap.add_argument(
        "--server", choices=["agentreel", "uvicorn", "uvicorn-limit", "all"], default="all"
    )
    ap.add_argument("--attack-s", type=float, default=15.0)
    args = ap.parse_args()
    if args.vs_uvicorn:
        vs_uvicorn(args.server, args.attack_s)
        return
    if args.quick:
        args.spans, args.rounds = 20_000, 1
    if args.stages:
        n = min(args.spans, 50_000)
        print(f"CPU per span, {n:,} spans, median of {args.stage_rounds} rounds:")
        for name, us in stages(n, args.stage_rounds).items():
            print(f"  {us:7.2f} us  {name}")
        return
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"note: load average {load:.2f} at the start; figures are noisier")
    result: dict[str, Any] = {"load_average_at_start": load, "git": _git()}
    if args.rounds:
        print(
            f"agentreel serve, OTLP/HTTP to queryable rows ({args.senders} senders, "
            f"{args.spans:,} spans, {args.rounds} pair(s) of rounds):"
        )
        main_ = paired(args.senders, args.spans, args.rounds, args.batch)
        result["paired"] = main_
        print(
            f"median {main_['median_spans_per_s']:,} spans/s (spread "
            f"{main_['spread_spans_per_s'][0]:,}-{main_['spread_spans_per_s'][1]:,}) = "
            f"{main_['times_phoenix']}x Phoenix's quoted {PHOENIX_SPANS_PER_S} spans/s "
            f"(goal {GOAL_SPANS_PER_S:,} = 300x); with a polling reader / without: "
            f"{main_['median_ratio_with_reader']} (spread {main_['spread_ratio_with_reader']}, "
            f"goal above {GOAL_READER_RATIO})"
        )
    if args.full:
        result["matrix"] = []
        print("matrix (with the polling reader, one round each):")
        for spans in args.matrix_spans:
            for senders in (1, 4, 16):
                r = throughput(senders, spans, reader=True, batch=args.batch)
                result["matrix"].append(r)
                print("  " + _line(r), flush=True)
    if args.profile:
        out = (
            Path(__file__).parent
            / "results"
            / f"serve-profile-{time.strftime('%Y%m%d-%H%M%S')}.json"
        )
        out.parent.mkdir(exist_ok=True)
        r = throughput(args.senders, args.spans, reader=True, sampled=out)
        print("profiled round: " + _line(r))
        prof = json.loads(out.read_text())
        print(f"serve CPU sampled {prof['cpu_s_sampled']} s; by thread {prof['by_thread']}")
        print("by own CPU time:")
        for name, s in prof["own"][:20]:
            print(f"  {s:8.2f} s  {name}")
        print("including callees:")
        for name, s in prof["total"][:30]:
            print(f"  {s:8.2f} s  {name}")
        print(f"wrote {out}")
    out = Path(__file__).parent / "results" / f"receiver-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


def _git() -> dict[str, Any]:
    def run(*a: str) -> str:
        return subprocess.run(["git", *a], capture_output=True, text=True).stdout.strip()

    return {"commit": run("rev-parse", "HEAD"), "dirty": bool(run("status", "--porcelain"))}


def vs_uvicorn(which: str, attack_s: float) -> None:
    servers: dict[str, Server] = {}
    if which in ("agentreel", "all"):
        servers["agentreel"] = _agentreel
    if which in ("uvicorn", "all"):
        servers["uvicorn"] = _uvicorn(None)
    if which in ("uvicorn-limit", "all"):
        servers["uvicorn limit_concurrency=256"] = _uvicorn(256)
    result: dict[str, Any] = {"load_average_at_start": os.getloadavg()[0]}
    for name, server in servers.items():
        result[name] = {"load": load(server), "attack": attack(server, attack_s)}
        print(name, json.dumps(result[name]), flush=True)
    out = (
        Path(__file__).parent
        / "results"
        / f"receiver-vs-uvicorn-{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
