"""One host of the fan-in test: an agent process exporting with OpenTelemetry's own pipeline.

Usage: python -m tests.reliability._fan_in_host ENDPOINT HOST RUNS

The exporter is set up as an OpenTelemetry Collector's ``otlphttp`` exporter sends:
protobuf over HTTP, gzip, a batching queue in front, retries on 429/502/503/504 that
honour ``Retry-After``, and a batch given up by those retries sent again until
`RETRY_FOR_S` have passed, as the Collector's ``retry_on_failure`` does (OpenTelemetry
Python's exporter alone stops after six attempts, which a lossy network can use up
when it answers ``Retry-After: 0``). Each run is one trace: an agent span, a chat call with token
counts, and a tool call. Prints JSON: the export results by name.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind

RESULTS: Counter[str] = Counter()
#: How long a batch is sent again before it is given up (the Collector's default
#: ``max_elapsed_time``).
RETRY_FOR_S = 300.0


class CountingExporter(OTLPSpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        give_up_at = time.monotonic() + RETRY_FOR_S
        result = super().export(spans)
        while result is not SpanExportResult.SUCCESS and time.monotonic() < give_up_at:
            RESULTS["sent again"] += 1
            time.sleep(0.5)
            result = super().export(spans)
        RESULTS[result.name] += 1
        return result


def main() -> None:
    endpoint, host, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    exporter = CountingExporter(endpoint=endpoint, compression=Compression.Gzip, timeout=60)
    provider = TracerProvider(
        resource=Resource.create({"service.name": "fan-in-agent", "host.name": host})
    )
    # small batches sent often, so that the hosts' requests overlap at the receiver
    provider.add_span_processor(
        BatchSpanProcessor(exporter, max_export_batch_size=30, schedule_delay_millis=20)
    )
    tracer = provider.get_tracer("fan-in", "1.0")
    for i in range(runs):
        with tracer.start_as_current_span(
            f"invoke_agent {host}",
            attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": host},
        ):
            with tracer.start_as_current_span(
                "chat gpt-4.1",
                kind=SpanKind.CLIENT,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4.1",
                    "gen_ai.usage.input_tokens": 100 + i,
                    "gen_ai.usage.output_tokens": 10,
                },
            ):
                pass
            with tracer.start_as_current_span(
                "execute_tool lookup",
                attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"},
            ):
                pass
    provider.force_flush()  # sends what is queued, retrying what was shed, however long
    provider.shutdown()
    print(json.dumps(dict(RESULTS)))


if __name__ == "__main__":
    main()
