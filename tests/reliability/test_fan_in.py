"""Many hosts into one store: OpenTelemetry exporters on several processes feed one `serve`.

No OpenTelemetry Collector binary can be installed on this machine, so each host is
a process exporting with OpenTelemetry's own OTLP/HTTP exporter set up as the
Collector's ``otlphttp`` exporter sends (protobuf, gzip, a batching queue, retries
that honour ``Retry-After``; see ``_fan_in_host.py`` and docs/scaling.md). The
receiver is allowed one request in flight, so the hosts contend for it and some
requests are shed with 503 and retried. Between the hosts and `serve` sits a small
proxy that plays the network's part: it turns some requests away with 429 or 503 and
``Retry-After`` (they must be retried), and it forwards others but loses the answer
(503 after `serve` took the spans), so those spans arrive twice. Every span must
land once, with every host's token counts.
"""

from __future__ import annotations

import http.client
import http.server
import itertools
import json
import re
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agentreel.store import Store

HOSTS = 6
RUNS = 40  # per host; 3 spans each


def _wait_for_port(serve: subprocess.Popen[str]) -> int:
    assert serve.stdout is not None
    line = serve.stdout.readline()  # blocks until serve says where it listens, or exits
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    assert m, f"serve did not start: {line!r}"
    return int(m.group(1))


@contextmanager
def _flaky_network(port: int) -> Iterator[tuple[int, Counter[str]]]:
    """A proxy to ``port``: (its port, what it did to the requests)."""
    seen: Counter[str] = Counter()
    count = itertools.count(1)
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                n = next(count)
            if n % 5 == 0:
                seen["turned away"] += 1
                self._answer(429 if n % 2 else 503, b"", retry_after=True)
                return
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            conn.request("POST", self.path, body=body, headers=headers)
            resp = conn.getresponse()
            answer = resp.read()
            conn.close()
            if n % 3 == 0 and resp.status == 200:
                seen["answer lost"] += 1  # taken in, but the host never hears it
                self._answer(503, b"", retry_after=True)
                return
            seen[str(resp.status)] += 1
            self._answer(resp.status, answer, resp.getheader("Retry-After") is not None)

        def _answer(self, status: int, body: bytes, retry_after: bool) -> None:
            self.send_response(status)
            if retry_after:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def test_six_hosts_exporting_at_once_land_every_span_once(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    where = ["--dir", str(store_dir)]
    serve = subprocess.Popen(
        [sys.executable, "-m", "agentreel", "serve", "--port", "0", "--max-inflight", "1", *where],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with _flaky_network(_wait_for_port(serve)) as (proxy, seen):
            endpoint = f"http://127.0.0.1:{proxy}/v1/traces"

            def host(h: int) -> list[str]:
                return [f"host-{h}", str(RUNS)]

            hosts = [
                subprocess.Popen(
                    [sys.executable, "-m", "tests.reliability._fan_in_host", endpoint, *host(h)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for h in range(HOSTS)
            ]
            for p in hosts:
                out, err = p.communicate(timeout=600)
                assert p.returncode == 0, err
                # every batch the exporter sent was taken in the end (after retries)
                assert set(json.loads(out)) - {"sent again"} == {"SUCCESS"}, (out, err)
        assert seen["turned away"] > 0, seen
        assert seen["answer lost"] > 0, seen
    finally:
        serve.terminate()
        out, err = serve.communicate(timeout=120)
    assert serve.returncode == 0, err

    with Store.open(store_dir) as store:
        store.ingest()
        spans = store.sql("SELECT count(*) AS n, count(DISTINCT span_id) AS d FROM spans")
        assert spans.row(0) == (HOSTS * RUNS * 3, HOSTS * RUNS * 3)
        runs = store.sql(
            "SELECT name, count(*) AS runs, sum(input_tokens)::BIGINT, sum(output_tokens)::BIGINT"
            " FROM runs GROUP BY name ORDER BY name"
        )
        expected_in = sum(100 + i for i in range(RUNS))
        assert runs.rows() == [(f"host-{h}", RUNS, expected_in, 10 * RUNS) for h in range(HOSTS)]
