"""OTLP/HTTP sender processes for bench_receiver.py: encode first, then post at once.

Each sender builds its share of spans with the OpenTelemetry SDK and encodes them with
OpenTelemetry's own OTLP protobuf encoder (``encode_spans``) into request bodies of
`BATCH` spans (or `--batch`), before any is sent; the bodies are kept in a cache file, so later rounds
of the same size load them instead of encoding again. Then it waits on a barrier with
the other senders and posts its bodies one after another over one keep-alive
``http.client`` connection, waiting out ``Retry-After`` on a 503 (or 429) and posting
the same body again. So the time measured is the receiver's: no sender encodes or
builds spans while the clock runs.

The spans are agent runs of 8 spans (an agent, an LLM call with model, provider and
token counts, five tool calls under a run's root span with their arguments and results), with GenAI semantic
convention attributes, as an instrumented agent sends them.
"""

from __future__ import annotations

import contextlib
import http.client
import struct
import time
from pathlib import Path
from typing import Any

BATCH = 500
SPANS_PER_RUN = 8
TOOLS = ("web_search", "fetch_page", "calculator", "web_search", "read_file")
SNIPPET = (
    "Paris is the capital and most populous city of France, with an estimated "
    "population of 2.1 million residents in an area of more than 105 km2."
)


def _encode(sender: int, spans: int, batch: int = BATCH) -> list[bytes]:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    resource = Resource.create({"service.name": f"bench-sender-{sender}"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench.receiver")
    made = 0
    run = 0
    while made < spans:
        n = min(SPANS_PER_RUN, spans - made)
        agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "researcher"}
        with (
            tracer.start_as_current_span(f"run {sender}/{run}"),
            tracer.start_as_current_span("invoke_agent researcher", attributes=agent)
            if n > 1
            else contextlib.nullcontext(),
        ):
            if n > 2:
                llm = {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4.1-mini",
                    "gen_ai.response.model": "gpt-4.1-mini",
                    "gen_ai.usage.input_tokens": 600 + run % 400,
                    "gen_ai.usage.output_tokens": 60 + run % 90,
                    "gen_ai.response.finish_reasons": ("stop",),
                }
                with tracer.start_as_current_span("chat gpt-4.1-mini", attributes=llm):
                    pass
            for i in range(max(0, n - 3)):
                tool = {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": TOOLS[i],
                    "gen_ai.tool.call.id": f"call_{sender}_{run}_{i}",
                    "gen_ai.tool.call.arguments": f'{{"query": "question {run} part {i}"}}',
                    "gen_ai.tool.call.result": SNIPPET,
                }
                with tracer.start_as_current_span(f"execute_tool {TOOLS[i]}", attributes=tool):
                    pass
        made += n
        run += 1
    finished = list(memory.get_finished_spans())
    provider.shutdown()
    return [
        encode_spans(finished[i : i + batch]).SerializeToString()
        for i in range(0, len(finished), batch)
    ]


def bodies(cache: Path, sender: int, spans: int, batch: int = BATCH) -> list[bytes]:
    """This sender's request bodies, encoded now or loaded from `cache` (a file)."""
    if cache.exists():
        data = cache.read_bytes()
        out, at = [], 0
        while at < len(data):
            (n,) = struct.unpack_from("<I", data, at)
            out.append(data[at + 4 : at + 4 + n])
            at += 4 + n
        return out
    made = _encode(sender, spans, batch)
    tmp = cache.with_suffix(".tmp")
    tmp.write_bytes(b"".join(struct.pack("<I", len(b)) + b for b in made))
    tmp.replace(cache)
    return made


def send(
    port: int, cache: Path, sender: int, spans: int, go: Any, out: Any, batch: int = BATCH
) -> None:
    """Encode (or load), wait for `go`, post everything; put the figures on `out`."""
    try:
        todo = bodies(cache, sender, spans, batch)
    except BaseException as e:
        go.abort()  # the others then stop waiting too
        out.put({"error": f"sender {sender}: {e!r}"})
        raise
    statuses: dict[int, int] = {}
    go.wait()
    first = time.monotonic()
    slowest = 0.0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": "application/x-protobuf"}
    for body in todo:
        while True:
            t0 = time.monotonic()
            try:
                conn.request("POST", "/v1/traces", body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
            except (ConnectionError, http.client.HTTPException):
                conn.close()  # the server hung up (refused at its connection limit): again
                statuses[0] = statuses.get(0, 0) + 1
                time.sleep(1.0)
                continue
            slowest = max(slowest, time.monotonic() - t0)
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
            if resp.status == 200:
                break
            if resp.status not in (429, 503):
                raise SystemExit(f"sender {sender}: unexpected answer {resp.status}")
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
            time.sleep(float(resp.getheader("Retry-After") or 1))
    conn.close()
    out.put({"first": first, "last": time.monotonic(), "statuses": statuses, "slowest": slowest})
