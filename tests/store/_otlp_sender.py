"""A program that sends spans with OpenTelemetry's own OTLP/HTTP exporter (not agentreel).

Usage: python -m tests.store._otlp_sender ENDPOINT none|gzip

Records one GenAI-convention trace (an agent, a chat call with tokens, a tool
call) and one OpenInference trace (an LLM span with token counts), exports them
through a BatchSpanProcessor and OTLPSpanExporter, and prints JSON with the ids
and every export result.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import ClassVar

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode


class RecordingExporter(OTLPSpanExporter):
    results: ClassVar[list[str]] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = super().export(spans)
        self.results.append(result.name)
        return result


def main() -> None:
    endpoint, compression = sys.argv[1], sys.argv[2]
    exporter = RecordingExporter(
        endpoint=endpoint,
        compression=Compression.Gzip if compression == "gzip" else Compression.NoCompression,
        timeout=10,
    )
    provider = TracerProvider(
        resource=Resource.create({"service.name": "otlp-sender", "host.name": "sender-host"})
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("sender.genai", "1.0")
    ids: dict[str, str] = {}
    with tracer.start_as_current_span(
        "invoke_agent planner",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"},
    ) as agent:
        ids["agent"] = f"{agent.get_span_context().span_id:016x}"
        ids["trace"] = f"{agent.get_span_context().trace_id:032x}"
        with tracer.start_as_current_span(
            "chat gpt-4.1",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4.1",
                "gen_ai.response.model": "gpt-4.1-2025-04-14",
                "gen_ai.usage.input_tokens": 120,
                "gen_ai.usage.output_tokens": 30,
                "gen_ai.response.finish_reasons": ("tool_calls",),
            },
        ) as chat:
            ids["chat"] = f"{chat.get_span_context().span_id:016x}"
        with tracer.start_as_current_span(
            "execute_tool search",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "search",
                "gen_ai.tool.call.id": "call_1",
            },
        ) as tool:
            ids["tool"] = f"{tool.get_span_context().span_id:016x}"
            tool.record_exception(TimeoutError("search took too long"))
            tool.set_status(Status(StatusCode.ERROR, "search took too long"))
    oi = provider.get_tracer("openinference.instrumentation.openai")
    with oi.start_as_current_span(
        "ChatCompletion",
        attributes={
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o-mini",
            "llm.provider": "openai",
            "llm.token_count.prompt": 12,
            "llm.token_count.completion": 5,
            "input.value": "What is 2 + 2?",
            "output.value": "4",
        },
    ) as llm:
        ids["oi_llm"] = f"{llm.get_span_context().span_id:016x}"
        ids["oi_trace"] = f"{llm.get_span_context().trace_id:032x}"
    provider.shutdown()
    print(json.dumps({"ids": ids, "results": RecordingExporter.results}))


if __name__ == "__main__":
    main()
