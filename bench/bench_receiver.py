"""The OTLP/HTTP receiver against a uvicorn-served equivalent: load, and slow clients.

Run by hand from the repository root (it loads both cores for about a minute)::

    python bench/bench_receiver.py            # all three
    python bench/bench_receiver.py --server agentreel

For each server (agentreel's own `Receiver`, and the same rules as an ASGI app under
uvicorn, bench/_uvicorn_receiver.py; the latter once more with uvicorn's own
connection limit, ``limit_concurrency=256``):

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
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--server", choices=["agentreel", "uvicorn", "uvicorn-limit", "all"], default="all"
    )
    ap.add_argument("--attack-s", type=float, default=15.0)
    args = ap.parse_args()
    servers: dict[str, Server] = {}
    if args.server in ("agentreel", "all"):
        servers["agentreel"] = _agentreel
    if args.server in ("uvicorn", "all"):
        servers["uvicorn"] = _uvicorn(None)
    if args.server in ("uvicorn-limit", "all"):
        servers["uvicorn limit_concurrency=256"] = _uvicorn(256)
    result: dict[str, Any] = {"load_average_at_start": os.getloadavg()[0]}
    for name, server in servers.items():
        result[name] = {"load": load(server), "attack": attack(server, args.attack_s)}
        print(name, json.dumps(result[name]), flush=True)
    out = Path(__file__).parent / "results" / f"receiver-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
