"""OTLP/JSON request bodies for the store's tests of serve and its drain."""

from __future__ import annotations

import json


def otlp_json_request(trace: int, spans: int) -> bytes:
    """An OTLP/JSON export request: trace `trace` with `spans` root spans, ids unique per trace."""
    body = [
        {
            "traceId": f"{trace:032x}",
            "spanId": f"{trace * 1000 + i + 1:016x}",
            "name": f"s{i}",
            "startTimeUnixNano": str(10**18 + i),
            "endTimeUnixNano": str(10**18 + i + 5),
        }
        for i in range(spans)
    ]
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": body}]}]}).encode()
