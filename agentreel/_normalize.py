"""One model from many conventions: span attributes -> the store's typed fields.

agentreel reads the OpenTelemetry GenAI semantic conventions (current and older
forms), OpenInference, and its own ``agentreel.*`` attributes, and fills the
same typed fields whichever produced the span. docs/data-model.md lists every
source attribute and the field it lands in.

`normalize_into` runs in the agent's process for every exported span, so it is
written for speed: plain ``dict.get`` lookups, no regexes, no allocation but the
record itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["KINDS", "PAYLOAD_KEYS", "normalize_into"]

#: The span kinds of the data model.
KINDS = ("agent", "llm", "tool", "retriever", "embedding", "chain", "other")

# agentreel's own attributes
KIND = "agentreel.span.kind"
INPUT = "agentreel.input"
OUTPUT = "agentreel.output"

_OPENINFERENCE_KINDS = {
    "AGENT": "agent",
    "LLM": "llm",
    "TOOL": "tool",
    "RETRIEVER": "retriever",
    "RERANKER": "retriever",
    "EMBEDDING": "embedding",
    "CHAIN": "chain",
}

_OPERATION_KINDS = {
    "invoke_agent": "agent",
    "create_agent": "agent",
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "execute_tool": "tool",
    "embeddings": "embedding",
    "retrieval": "retriever",
}

#: Attributes that carry payloads; they go to the ``input``/``output`` fields and
#: are not repeated in ``attributes``.
PAYLOAD_KEYS = frozenset(
    {
        INPUT,
        OUTPUT,
        "input.value",
        "output.value",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "tool_arguments",
        "tool_response",
        "final_result",
    }
)


def _first(a: Mapping[str, Any], *keys: str) -> Any:
    for k in keys:
        v = a.get(k)
        if v is not None:
            return v
    return None


def _int(v: Any) -> int | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _text(v: Any) -> str | None:
    """A payload attribute as JSON text (OTel attributes are str, scalars or sequences)."""
    if v is None or isinstance(v, str):
        return v
    return json.dumps(list(v) if isinstance(v, tuple) else v)


def normalize_into(rec: dict[str, Any], a: Mapping[str, Any]) -> None:
    """Fill the typed fields of span record `rec` from attributes `a`.

    ``rec["attributes"]`` receives the attributes minus the payload keys.
    """
    g = a.get
    kind = g(KIND)
    if kind is None:
        oi = g("openinference.span.kind")
        if oi is not None:
            kind = _OPENINFERENCE_KINDS.get(str(oi).upper(), "other")
        else:
            op = g("gen_ai.operation.name")
            if op is not None:
                kind = _OPERATION_KINDS.get(op, "other")
            elif g("gen_ai.system") is not None or g("gen_ai.request.model") is not None:
                kind = "llm"
            else:
                kind = "other"
    rec["kind"] = kind
    rec["operation"] = g("gen_ai.operation.name")
    rec["agent_name"] = _first(a, "gen_ai.agent.name", "agent.name")
    rec["tool_name"] = _first(a, "gen_ai.tool.name", "tool.name")
    rec["tool_call_id"] = _first(a, "gen_ai.tool.call.id", "tool_call.id")
    rec["provider"] = _first(
        a, "gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"
    )
    rec["request_model"] = _first(a, "gen_ai.request.model", "llm.model_name")
    rec["response_model"] = _first(a, "gen_ai.response.model")
    rec["input_tokens"] = _int(
        _first(
            a, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"
        )
    )
    rec["output_tokens"] = _int(
        _first(
            a,
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
            "llm.token_count.completion",
        )
    )
    fr = g("gen_ai.response.finish_reasons")
    if fr is not None and not isinstance(fr, str):
        fr = fr[0] if len(fr) else None
    rec["finish_reason"] = fr
    rec["session_id"] = _first(a, "gen_ai.conversation.id", "session.id")
    et = g("error.type")
    if et is not None:
        rec["error_type"] = et
    inp = _first(
        a,
        INPUT,
        "input.value",
        "gen_ai.input.messages",
        "gen_ai.tool.call.arguments",
        "tool_arguments",
    )
    out = _first(
        a,
        OUTPUT,
        "output.value",
        "gen_ai.output.messages",
        "gen_ai.tool.call.result",
        "tool_response",
        "final_result",
    )
    rec["input"] = _text(inp)
    rec["output"] = _text(out)
    if inp is None and out is None:
        rec["attributes"] = a
    else:
        rec["attributes"] = {k: v for k, v in a.items() if k not in PAYLOAD_KEYS}
