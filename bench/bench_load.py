"""agentreel under load: many recording processes with readers, and many OTLP senders.

Run by hand from the repository root (it loads both cores for a few minutes)::

    .venv/bin/python bench/bench_load.py                 # 16 x 50,000 spans, 32 senders
    .venv/bin/python bench/bench_load.py --spans 3000 --rate 400  # the test's load

Part 1 (recording): 16 processes record 50,000 spans each through the real tracer,
flat out, while the TUI's live view (headless, refreshing every 0.25 s), a loop of
``agentreel runs --json`` and, every fourth turn, ``agentreel check`` read the same
store (tests/reliability/test_load.py's `run_load`). Printed: spans/s recorded (all
spans over the time until the last process finished recording), spans/s ingested
(over the time until the live view showed everything and the spool was empty), the
slowest decorated call in any process, the slowest TUI refresh and CLI answer, and
the peak RSS of the TUI-and-drain process. The store then must hold every span once.

Part 2 (receiving): 32 sender processes post OTLP/protobuf batches (OpenTelemetry's own
encoder) at once to a `Receiver` with its default limits, retrying a shed batch after
its ``Retry-After``. Printed: spans/s accepted, the answers by status, the slowest
answer; again every span must land once.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentreel.store import DB_NAME, Receiver, Store


def _sender(port: int, sender: int, batches: int, spans: int, go: Any, out: Any) -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench.load")
    bodies = []
    for b in range(batches):
        memory.clear()
        with tracer.start_as_current_span(f"root {sender}/{b}"):
            for i in range(spans - 1):
                with tracer.start_as_current_span(f"tool {i}"):
                    pass
        bodies.append(encode_spans(memory.get_finished_spans()).SerializeToString())
    go.wait()
    statuses: Counter[int] = Counter()
    slowest = 0.0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for body in bodies:
        while True:
            t0 = time.perf_counter()
            conn.request(
                "POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"}
            )
            resp = conn.getresponse()
            resp.read()
            slowest = max(slowest, time.perf_counter() - t0)
            statuses[resp.status] += 1
            if resp.status == 200:
                break
            if resp.status not in (429, 503):
                raise SystemExit(f"unexpected answer {resp.status}")
            time.sleep(float(resp.getheader("Retry-After") or 1))
    conn.close()
    out.put((dict(statuses), slowest))


def bench_receiver(senders: int, batches: int, spans: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="agentreel-bench-recv-"))
    ctx = mp.get_context("spawn")
    go = ctx.Barrier(senders + 1)  # every sender has encoded its batches: all post at once
    out = ctx.Queue()
    with Receiver(work / "store", port=0) as r:
        procs = [
            ctx.Process(target=_sender, args=(r.port, s, batches, spans, go, out))
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
        stats = r.stats
    statuses: Counter[int] = Counter()
    for st, _ in results:
        statuses.update({int(k): v for k, v in st.items()})
    total = senders * batches * spans
    with Store.open(work / "store", create=True) as store:
        store.ingest()
        n, d = store.sql("SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans").row(0)
    return {
        "senders": senders,
        "spans": total,
        "seconds": round(took, 2),
        "spans_per_s_accepted": round(total / took),
        "answers": dict(sorted(statuses.items())),
        "shed_requests": stats.shed_requests,
        "slowest_answer_s": round(max(s for _, s in results), 3),
        "exactly_once": n == d == total,
    }


def bench_recording(processes: int, spans: int, rate: float = 0.0) -> dict[str, Any]:
    from tests.reliability.test_load import run_load

    work = Path(tempfile.mkdtemp(prefix="agentreel-bench-load-"))
    store_dir = work / "store"
    f = run_load(store_dir, processes, spans, rate=rate, cli_every=0.25, check_every=2)
    total = processes * spans
    recorded_s = max(a["recorded_s"] for a in f["agents"])
    with Store.open(store_dir) as store:
        store.ingest()
        n, d = store.sql("SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans").row(0)
    store_mib = (store_dir / DB_NAME).stat().st_size // 2**20
    import resource

    rss = f["rss"]  # sampled at each TUI refresh, so evenly over the run
    quarters = [max(rss[i * len(rss) // 4 : (i + 1) * len(rss) // 4] or rss[-1:]) for i in range(4)]
    return {
        "processes": processes,
        "spans": total,
        "spans_per_s_recorded": round(total / recorded_s),
        "spans_per_s_ingested": round(total / f["caught_up_s"]),
        "recorded_s": round(recorded_s, 2),
        "caught_up_s": round(f["caught_up_s"], 2),
        "max_call_stall_s": round(max(a["max_call_s"] for a in f["agents"]), 4),
        "max_flush_s": round(max(a["flush_s"] for a in f["agents"]), 3),
        "dropped": sum(a["dropped"] for a in f["agents"]),
        "tui_refreshes": len(f["refreshes"]),
        "max_tui_refresh_s": round(max(f["refreshes"]), 3),
        "median_tui_refresh_s": round(sorted(f["refreshes"])[len(f["refreshes"]) // 2], 3),
        "cli_runs_json": len(f["cli"]),
        "max_cli_runs_json_s": round(max(a.took for a in f["cli"]), 3),
        "max_cli_runs_json_cpu_s": round(max(a.cpu for a in f["cli"]), 3),
        "checks": len(f["checks"]),
        "max_check_s": round(max((a.took for a in f["checks"]), default=0.0), 3),
        "check_exit_codes": sorted({a.code for a in f["checks"]}),
        "max_cli_wait_s": round(max(a.longest_wait for a in f["cli"] + f["checks"]), 3),
        # a check opens the store again after each handover: all its waits together
        "max_cli_waits_summed_s": round(max(a.waited for a in f["cli"] + f["checks"]), 3),
        # how much slower than on an idle machine the commands ran: wall time (less the
        # wait for the store) over the CPU time they used
        "median_cli_stretch": round(
            sorted((a.took - a.waited) / max(a.cpu, 1e-3) for a in f["cli"] + f["checks"])[
                len(f["cli"] + f["checks"]) // 2
            ],
            1,
        ),
        "max_tui_wait_s": round(max(f["tui_waits"], default=0.0), 3),
        # how many of the TUI's opens and of the commands waited more than a second
        "tui_waits_over_1s": f"{sum(w > 1.0 for w in f['tui_waits'])} of {len(f['tui_waits'])}",
        "cli_waits_over_1s": (
            f"{sum(a.longest_wait > 1.0 for a in f['cli'] + f['checks'])} of "
            f"{len(f['cli'] + f['checks'])}"
        ),
        "rss_mib_start": f["rss"][0] // 2**20,
        "rss_mib_peak": max(f["rss"]) // 2**20,
        "peak_rss_mib_ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        # the peak in each quarter of the run: a plateau, or growth with the store
        "rss_mib_by_quarter": [q // 2**20 for q in quarters],
        "store_mib": store_mib,
        "exactly_once": n == d == total,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--processes", type=int, default=16)
    ap.add_argument("--spans", type=int, default=50_000, help="spans per recording process")
    ap.add_argument("--senders", type=int, default=32)
    ap.add_argument("--batches", type=int, default=10, help="batches per sender")
    ap.add_argument("--batch-spans", type=int, default=500)
    ap.add_argument(
        "--rate", type=float, default=0.0, help="spans/s per recording process (0: flat out)"
    )
    ap.add_argument("--skip-recording", action="store_true")
    ap.add_argument("--skip-receiver", action="store_true")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"note: load average {load:.2f} at the start; figures are noisier")
    result: dict[str, Any] = {"load_average_at_start": load}
    if not args.skip_recording:
        rec = bench_recording(args.processes, args.spans, args.rate)
        result["recording"] = rec
        print(
            f"recording: {rec['processes']} processes x {args.spans:,} spans = {rec['spans']:,}; "
            f"{rec['spans_per_s_recorded']:,} spans/s recorded, "
            f"{rec['spans_per_s_ingested']:,} spans/s ingested (all in the store after "
            f"{rec['caught_up_s']} s); exactly once: {rec['exactly_once']}"
        )
        print(
            f"  slowest decorated call {rec['max_call_stall_s'] * 1000:.1f} ms; "
            f"TUI refresh max {rec['max_tui_refresh_s']} s (median {rec['median_tui_refresh_s']} s, "
            f"{rec['tui_refreshes']} refreshes); runs --json max {rec['max_cli_runs_json_s']} s "
            f"({rec['cli_runs_json']} calls, CPU max {rec['max_cli_runs_json_cpu_s']} s); "
            f"check max {rec['max_check_s']} s ({rec['checks']}); "
            f"TUI+drain RSS {rec['rss_mib_start']} -> peak {rec['rss_mib_peak']} MiB "
            f"(by quarter of the run: {rec['rss_mib_by_quarter']}; store file {rec['store_mib']} MiB)"
        )
        print(
            f"  waiting for the store's lock: CLI max {rec['max_cli_wait_s']} s "
            f"(summed over a command {rec['max_cli_waits_summed_s']} s), "
            f"TUI max {rec['max_tui_wait_s']} s; over 1 s: TUI {rec['tui_waits_over_1s']}, "
            f"commands {rec['cli_waits_over_1s']}; commands' wall time / CPU time: median "
            f"{rec['median_cli_stretch']}"
        )
    if not args.skip_receiver:
        recv = bench_receiver(args.senders, args.batches, args.batch_spans)
        result["receiver"] = recv
        print(
            f"receiver: {recv['senders']} senders, {recv['spans']:,} spans in {recv['seconds']} s = "
            f"{recv['spans_per_s_accepted']:,} spans/s accepted; answers {recv['answers']}; "
            f"slowest answer {recv['slowest_answer_s']} s; exactly once: {recv['exactly_once']}"
        )
    out = Path(__file__).parent / "results" / f"load-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
