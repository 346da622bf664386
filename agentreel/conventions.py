"""`lint_spans`: recorded spans against the OpenTelemetry GenAI semantic conventions.

For instrumentation authors: which attributes a span lacks that the conventions
require or recommend, which it uses in a deprecated form, and whether its message
attributes have the conventions' shape. docs/conventions.md lists every rule.

Only GenAI spans are linted: a span with a ``gen_ai.*`` attribute, or one that
agentreel classifies as an LLM, tool, agent, embedding or retrieval step from
another convention. agentreel's own spans are linted too: what it writes is held to
the same rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentreel.store import Store

__all__ = ["RULES", "LintFinding", "lint_span", "lint_spans"]

#: Every rule: name -> (level, what it checks).
RULES: dict[str, tuple[str, str]] = {
    "operation-name": ("error", "a GenAI span has gen_ai.operation.name"),
    "operation-known": ("warn", "gen_ai.operation.name is one the conventions define"),
    "provider-name": (
        "error",
        "inference, embeddings, create_agent and remote invoke_agent spans have "
        "gen_ai.provider.name",
    ),
    "agent-provider": (
        "warn",
        "an in-process (INTERNAL) invoke_agent span has gen_ai.provider.name: the conventions "
        "require it, though an agent of your own code may have no provider",
    ),
    "request-model": ("warn", "inference and embeddings spans have gen_ai.request.model"),
    "tool-name": ("error", "execute_tool spans have gen_ai.tool.name"),
    "error-type": ("error", "a span that ended in an error has error.type"),
    "span-kind": ("warn", "the span kind is the one the conventions give the operation"),
    "span-name": ("warn", "the span is named '{operation} {model, tool, agent or workflow}'"),
    "usage": ("warn", "inference spans report gen_ai.usage.input_tokens and output_tokens"),
    "messages": (
        "error",
        "gen_ai.input.messages, gen_ai.output.messages and gen_ai.system_instructions "
        "have the conventions' JSON shape",
    ),
    "deprecated": ("warn", "no attribute in a form the conventions deprecated"),
}

INFERENCE = ("chat", "text_completion", "generate_content")
OPERATIONS = (*INFERENCE, "embeddings", "retrieval", "execute_tool", "create_agent",
              "invoke_agent", "invoke_workflow")  # fmt: skip
#: Deprecated attribute -> what replaces it.
DEPRECATED = {
    "gen_ai.system": "gen_ai.provider.name",
    "gen_ai.usage.prompt_tokens": "gen_ai.usage.input_tokens",
    "gen_ai.usage.completion_tokens": "gen_ai.usage.output_tokens",
    "gen_ai.prompt": "gen_ai.input.messages",
    "gen_ai.completion": "gen_ai.output.messages",
    "gen_ai.openai.request.seed": "gen_ai.request.seed",
    "gen_ai.openai.request.response_format": "gen_ai.output.type",
    "gen_ai.openai.request.service_tier": "openai.request.service_tier",
    "gen_ai.openai.response.service_tier": "openai.response.service_tier",
    "gen_ai.openai.response.system_fingerprint": "openai.response.system_fingerprint",
}
_DEPRECATED_PREFIXES = {"gen_ai.prompt.": "gen_ai.input.messages",
                        "gen_ai.completion.": "gen_ai.output.messages"}  # fmt: skip
_KIND_OF = {
    **dict.fromkeys(INFERENCE, ("client",)),
    "embeddings": ("client",),
    "retrieval": ("client",),
    "create_agent": ("client",),
    "invoke_agent": ("client", "internal"),
    "execute_tool": ("internal",),
    "invoke_workflow": ("internal",),
}
#: Part types and the fields each requires (the conventions' message parts).
_PART_FIELDS = {
    "text": ("content",),
    "reasoning": ("content",),
    "tool_call": ("name",),
    "tool_call_response": ("response",),
    "server_tool_call": ("name", "server_tool_call"),
    "server_tool_call_response": ("server_tool_call_response",),
    "blob": ("modality", "content"),
    "file": ("modality", "file_id"),
    "uri": ("modality", "uri"),
}
FINISH_REASONS = ("stop", "length", "content_filter", "tool_call", "error")


@dataclass(frozen=True)
class LintFinding:
    """One rule one span breaks."""

    run_id: str
    span_id: str
    span_name: str
    level: str  # error | warn
    rule: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _parts(parts: Any, where: str) -> list[str]:
    if not isinstance(parts, list):
        return [f"{where}.parts is not a list"]
    out = []
    for i, p in enumerate(parts):
        if not isinstance(p, Mapping) or not isinstance(p.get("type"), str):
            out.append(f"{where}.parts[{i}] has no string 'type'")
            continue
        missing = [f for f in _PART_FIELDS.get(p["type"], ()) if f not in p]
        if missing:
            out.append(f"{where}.parts[{i}] ({p['type']}) lacks {', '.join(missing)}")
    return out


def _messages(value: Any, attr: str, *, output: bool) -> list[str]:
    """What is wrong with a messages attribute's value, as the conventions shape it."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [f"{attr} is not JSON"]
    if attr == "gen_ai.system_instructions":
        return _parts(value, attr) if isinstance(value, list) else [f"{attr} is not a list"]
    if not isinstance(value, list):
        return [f"{attr} is not a list of messages"]
    out: list[str] = []
    for i, m in enumerate(value):
        where = f"{attr}[{i}]"
        if not isinstance(m, Mapping):
            out.append(f"{where} is not an object")
            continue
        if not isinstance(m.get("role"), str):
            out.append(f"{where} has no string 'role'")
        if "parts" not in m and "content" in m:
            out.append(f"{where} has 'content', the older form; the conventions use 'parts'")
        else:
            out.extend(_parts(m.get("parts"), where))
        if output:
            reason = m.get("finish_reason")
            if not isinstance(reason, str):
                out.append(f"{where} has no 'finish_reason'")
            elif reason not in FINISH_REASONS:
                out.append(
                    f"{where}.finish_reason {reason!r} is not one of {', '.join(FINISH_REASONS)}"
                )
    return out


def _looks_like_messages(text: str | None) -> Any:
    """The payload as conventions-style messages (a list of objects with a role), or None."""
    if not text or not text.lstrip().startswith("["):
        return None
    try:
        v = json.loads(text)
    except ValueError:
        return None
    if isinstance(v, list) and v and all(isinstance(m, Mapping) and "role" in m for m in v):
        return v
    return None


def lint_span(span: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The (level, rule, message) of each rule a span breaks; [] for a span that is not GenAI.

    `span` has the columns of the store's ``spans`` table (``attributes`` as a dict or
    JSON text).
    """
    a = span.get("attributes") or {}
    if isinstance(a, str):
        a = json.loads(a)
    kind = span.get("kind")
    # gen_ai.conversation.id alone (a run's session) does not make a span a GenAI operation
    genai = any(k.startswith("gen_ai.") and k != "gen_ai.conversation.id" for k in a)
    if not genai and kind not in ("llm", "tool", "agent", "embedding", "retriever"):
        return []
    found: list[tuple[str, str, str]] = []

    def add(rule: str, message: str) -> None:
        found.append((RULES[rule][0], rule, message))

    op = a.get("gen_ai.operation.name")
    if not isinstance(op, str):
        add("operation-name", "gen_ai.operation.name is missing")
    elif op not in OPERATIONS:
        add(
            "operation-known", f"gen_ai.operation.name {op!r} is not one of {', '.join(OPERATIONS)}"
        )
    if op in (*INFERENCE, "embeddings", "create_agent", "invoke_agent") and not a.get(
        "gen_ai.provider.name"
    ):
        old = " (gen_ai.system is its deprecated name)" if "gen_ai.system" in a else ""
        local = op == "invoke_agent" and span.get("span_kind") in (None, "internal")
        add("agent-provider" if local else "provider-name", f"gen_ai.provider.name is missing{old}")
    model = a.get("gen_ai.request.model")
    if op in (*INFERENCE, "embeddings") and not model:
        add("request-model", "gen_ai.request.model is missing")
    if op == "execute_tool" and not a.get("gen_ai.tool.name"):
        add("tool-name", "gen_ai.tool.name is missing")
    if span.get("status") == "error" and not a.get("error.type") and not span.get("error_type"):
        add("error-type", "the span ended in an error but has no error.type")
    want_kind = _KIND_OF.get(op or "")
    got_kind = span.get("span_kind")
    if want_kind and got_kind and got_kind not in want_kind:
        add("span-kind", f"a {op} span is {' or '.join(want_kind).upper()}, not {got_kind.upper()}")
    target = {
        **dict.fromkeys(INFERENCE, model),
        "embeddings": model,
        "execute_tool": a.get("gen_ai.tool.name"),
        "invoke_agent": a.get("gen_ai.agent.name"),
        "create_agent": a.get("gen_ai.agent.name"),
        "invoke_workflow": a.get("gen_ai.workflow.name"),
    }.get(op or "")
    name = span.get("name") or ""
    if op and target and name != f"{op} {target}":
        add("span-name", f"named {name!r}, the conventions say {f'{op} {target}'!r}")
    if op in INFERENCE:
        missing = [
            k for k in ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens") if k not in a
        ]
        deprecated_usage = "gen_ai.usage.prompt_tokens" in a
        if missing and not deprecated_usage and span.get("input_tokens") is None:
            add("usage", f"{' and '.join(missing)} missing")
    for attr, output in (
        ("gen_ai.input.messages", False),
        ("gen_ai.output.messages", True),
        ("gen_ai.system_instructions", False),
    ):
        if attr in a:
            for problem in _messages(a[attr], attr, output=output):
                add("messages", problem)
    # the store keeps the payload that became `input`/`output` out of `attributes`: a
    # span of another instrumentation whose payload has the messages' shape is read so
    if not a.get("agentreel.span.kind") and op in INFERENCE:
        for col, attr, output in (
            ("input", "gen_ai.input.messages", False),
            ("output", "gen_ai.output.messages", True),
        ):
            msgs = _looks_like_messages(span.get(col))
            if msgs is not None and attr not in a:
                for problem in _messages(msgs, attr, output=output):
                    add("messages", problem)
    flat_seen: set[str] = set()
    for k in a:
        new, shown = DEPRECATED.get(k), k
        for prefix, replacement in _DEPRECATED_PREFIXES.items():
            if k.startswith(prefix):  # gen_ai.prompt.0.content: once per flattened form
                new = None if prefix in flat_seen else replacement
                flat_seen.add(prefix)
                shown = prefix + "*"
        if new is not None:
            add("deprecated", f"{shown} is deprecated; use {new}")
    return found


def lint_spans(
    store: Store,
    run_ids: Iterable[str] | None = None,
    *,
    query: str | None = None,
    limit: int | None = None,
) -> list[LintFinding]:
    """Lint the spans of `run_ids` (unique prefixes), or of the runs `query` selects
    (newest `limit`), or of every run. Errors first, then warnings, in span order."""
    if run_ids is not None:
        ids = [store.resolve_run(r) for r in run_ids]
    else:
        ids = store.runs(query=query, limit=limit, origin="any" if not query else None)[
            "run_id"
        ].to_list()
    out: list[LintFinding] = []
    rows = store.sql(
        "SELECT run_id, span_id, name, kind, span_kind, status, error_type, input, output, "
        "input_tokens, attributes FROM spans WHERE list_contains($ids, run_id) "
        "AND end_time IS NOT NULL ORDER BY run_id, start_time, span_id",
        {"ids": ids},
    )
    for s in rows.iter_rows(named=True):
        for level, rule, message in lint_span(s):
            out.append(
                LintFinding(s["run_id"], s["span_id"], s["name"] or "", level, rule, message)
            )
    out.sort(key=lambda f: f.level != "error")
    return out
