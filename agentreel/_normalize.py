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

__all__ = ["KINDS", "SOURCES", "normalize_into"]

#: The span kinds of the data model.
KINDS = ("agent", "llm", "tool", "retriever", "embedding", "chain", "other")
_KIND_SET = frozenset(KINDS)

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
    "invoke_workflow": "chain",
}


# OpenLLMetry's own span kinds (``traceloop.span.kind``); its LLM spans carry GenAI attributes.
_TRACELOOP_KINDS = {"tool": "tool", "agent": "agent", "workflow": "chain", "task": "chain"}
# MCP spans are named ``{mcp.method.name} {target}`` (the SDK's client spans ``MCP send ...``).
_MCP_TOOLS_CALL = "tools/call"
_MCP_SEND = "MCP send "

_INT64 = 2**63


def _int(v: Any) -> int | None:
    """A count as an int the store's BIGINT holds, else None (a bad value is not a count)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        n = int(v)
    except (TypeError, ValueError, OverflowError):
        return None
    return n if -_INT64 <= n < _INT64 else None


def _text(v: Any) -> str | None:
    """A payload attribute as JSON text (OTel attributes are str, scalars or sequences)."""
    if v is None or isinstance(v, str):
        return v
    return json.dumps(list(v) if isinstance(v, tuple) else v)


def _first_reason(v: Any) -> Any:
    if isinstance(v, str):
        return v
    try:
        return v[0] if len(v) else None
    except (TypeError, KeyError, IndexError):  # a mapping or another odd value: no reason
        return None


#: For each typed field, the attributes it is read from, first found wins.
#: docs/data-model.md lists the same table.
SOURCES: dict[str, tuple[str, ...]] = {
    "operation": ("gen_ai.operation.name",),
    "agent_name": ("gen_ai.agent.name", "agent.name"),
    "tool_name": ("gen_ai.tool.name", "tool.name"),
    "tool_call_id": ("gen_ai.tool.call.id", "tool_call.id"),
    "provider": ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"),
    "request_model": ("gen_ai.request.model", "llm.model_name"),
    "response_model": ("gen_ai.response.model",),
    "input_tokens": (
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "llm.token_count.prompt",
    ),
    "output_tokens": (
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
    ),
    # parts of input_tokens (cached) and of output_tokens (reasoning), as the GenAI
    # conventions count them; OpenInference's prompt/completion details likewise
    "cache_read_tokens": (
        "gen_ai.usage.cache_read.input_tokens",
        "llm.token_count.prompt_details.cache_read",
    ),
    "cache_creation_tokens": (
        "gen_ai.usage.cache_creation.input_tokens",
        "llm.token_count.prompt_details.cache_write",
    ),
    "reasoning_tokens": (
        "gen_ai.usage.reasoning.output_tokens",
        "llm.token_count.completion_details.reasoning",
    ),
    "finish_reason": ("gen_ai.response.finish_reasons",),
    "session_id": ("gen_ai.conversation.id", "session.id"),
    "error_type": ("error.type",),
    "input": (
        INPUT,
        "input.value",
        "gen_ai.input.messages",
        "gen_ai.tool.call.arguments",
        "tool_arguments",
        "traceloop.entity.input",
    ),
    "output": (
        OUTPUT,
        "output.value",
        "gen_ai.output.messages",
        "gen_ai.tool.call.result",
        "tool_response",
        "final_result",
        "traceloop.entity.output",
    ),
}
_SOURCE_OF: dict[str, tuple[str, int]] = {
    key: (field, rank) for field, keys in SOURCES.items() for rank, key in enumerate(keys)
}
_CONVERT: dict[str, Any] = {
    "input_tokens": _int,
    "output_tokens": _int,
    "cache_read_tokens": _int,
    "cache_creation_tokens": _int,
    "reasoning_tokens": _int,
    "input": _text,
    "output": _text,
    "finish_reason": _first_reason,
}


# Messages flattened into one attribute per field: the older GenAI form
# (``gen_ai.prompt.0.role`` / ``gen_ai.prompt.0.content``, ``gen_ai.completion.0.*``) and
# OpenInference's (``llm.input_messages.0.message.role``, ``llm.output_messages.0.*``).
# Each call carries the whole conversation so far this way: kept in `attributes` as well
# as in `input`, a long conversation would grow the store with the square of its length.
_FLAT_FORMS = (
    ("gen_ai.prompt.", "", "input"),
    ("gen_ai.completion.", "", "output"),
    ("llm.input_messages.", "message.", "input"),
    ("llm.output_messages.", "message.", "output"),
)
_FLAT_PREFIXES = tuple(prefix for prefix, _, _ in _FLAT_FORMS)
_FLAT_RANK = 99  # below every attribute that holds a whole payload


def _flat_key(k: str) -> bool:
    """A flattened message attribute: a known prefix, then a message index.

    ``gen_ai.prompt.name`` (the MCP conventions' prompt name) shares a prefix with
    the older GenAI messages but is no message.
    """
    for prefix in _FLAT_PREFIXES:
        if k.startswith(prefix):
            return k[len(prefix) : len(prefix) + 1].isdigit()
    return False


def _flat_messages(a: Mapping[str, Any], best: dict[str, tuple[int, Any, str]]) -> None:
    """Rebuild message lists from flattened message attributes, for a field with no payload."""
    for prefix, inner, field in _FLAT_FORMS:
        if field in best:
            continue
        messages: dict[int, dict[str, Any]] = {}
        for k, v in a.items():
            if not k.startswith(prefix):
                continue
            index, _, key = k[len(prefix) :].partition(".")
            if inner and key.startswith(inner):
                key = key[len(inner) :]
            if index.isdigit() and key:
                messages.setdefault(int(index), {})[key] = v
        if messages:
            ordered = [messages[i] for i in sorted(messages)]
            best[field] = (_FLAT_RANK, json.dumps(ordered, ensure_ascii=False), prefix)


def _kind(a: Mapping[str, Any]) -> str:
    g = a.get
    kind = g(KIND)
    if isinstance(kind, str) and kind in _KIND_SET:
        return kind
    oi = g("openinference.span.kind")
    if oi is not None:
        return _OPENINFERENCE_KINDS.get(str(oi).upper(), "other")
    op = g("gen_ai.operation.name")
    if op is not None:
        return _OPERATION_KINDS.get(op, "other") if isinstance(op, str) else "other"
    tl = g("traceloop.span.kind")
    if tl is not None:
        return _TRACELOOP_KINDS.get(tl, "other") if isinstance(tl, str) else "other"
    if g("mcp.method.name") == _MCP_TOOLS_CALL:
        return "tool"
    if g("gen_ai.system") is not None or g("gen_ai.request.model") is not None:
        return "llm"
    return "other"


def _tool_name(rec: dict[str, Any], a: Mapping[str, Any]) -> Any:
    """A tool span's name where no GenAI or OpenInference attribute gives it.

    OpenLLMetry names the tool in ``traceloop.entity.name``; an MCP ``tools/call``
    span names it in the span name (``tools/call get_weather``), as the conventions
    have it, and the SDK's own client span carries no attribute for it.
    """
    name = a.get("traceloop.entity.name")
    if name is not None:
        return name
    if a.get("mcp.method.name") == _MCP_TOOLS_CALL:
        span_name = rec.get("name")
        if isinstance(span_name, str):
            if span_name.startswith(_MCP_SEND):
                span_name = span_name[len(_MCP_SEND) :]
            method, _, target = span_name.partition(" ")
            if method == _MCP_TOOLS_CALL and target:
                return target
    return None


def normalize_into(rec: dict[str, Any], a: Mapping[str, Any]) -> None:
    """Fill the typed fields of span record `rec` from attributes `a`.

    Fields with no source attribute are left out of `rec` (readers treat a missing
    field as null). ``rec["attributes"]`` receives the attributes minus the
    payload keys. One pass over the span's own attributes, so the cost follows the
    number of attributes a span has, not the number of conventions read.
    """
    best: dict[str, tuple[int, Any, str]] = {}
    source_of = _SOURCE_OF.get
    flat = False
    for k, v in a.items():
        src = source_of(k)
        if src is not None and v is not None:
            field, rank = src
            cur = best.get(field)
            if cur is None or rank < cur[0]:
                best[field] = (rank, v, k)
        elif k.startswith(_FLAT_PREFIXES) and _flat_key(k):
            flat = True
    if flat:
        _flat_messages(a, best)
    for field, (_, v, _k) in best.items():
        conv = _CONVERT.get(field)
        if conv is not None:
            v = conv(v)
        if v is not None:
            rec[field] = v
    kind = rec["kind"] = _kind(a)
    if kind == "tool" and "tool_name" not in rec:
        tool_name = _tool_name(rec, a)
        if tool_name is not None:
            rec["tool_name"] = tool_name
    # The payload attributes that became input/output are not repeated in attributes;
    # any others (a second form of the same messages, say) stay.
    used = [best[f][2] for f in ("input", "output") if f in best]
    if used:
        rec["attributes"] = {
            k: v for k, v in a.items() if k not in used and not (flat and _flat_key(k))
        }
    else:
        rec["attributes"] = a
