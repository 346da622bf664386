"""The tracer's contract with agentreel's own replay and framework seams.

`agentreel.replay`, `agentreel.httpx`, `agentreel.langchain`, `agentreel.openai_agents`,
`agentreel.pydantic_ai` and `agentreel.tracer._mcp` build on the tracer's internals:
the `llm` decorator, canonical requests, payload capture, the replay player. They import
them from here, never from the tracer's private modules, so that this module is the one
place that says what they rely on (tests/test_layering.py holds every package to it).

Not part of the user API (docs/python-api.md): names here may change with the tracer.
"""

from __future__ import annotations

from agentreel.tracer._canonical import SCRIPT_MODULE, canonical_request, module_name
from agentreel.tracer._capture import dump_payload, extract_llm_response
from agentreel.tracer._decorators import llm
from agentreel.tracer._fingerprint import environment
from agentreel.tracer._handle import current_span
from agentreel.tracer._integrations import bridge_langchain_context, ensure_instrumented
from agentreel.tracer._replay import (
    NOT_REPLAYABLE,
    NetworkBlocked,
    Player,
    RecordedStep,
    ReplayDiverged,
    ReplayedError,
    ReplayFailed,
    ReplayStopped,
    pretty_request,
)
from agentreel.tracer._replay import _import_attr as import_attr
from agentreel.tracer._span import span

__all__ = [
    "NOT_REPLAYABLE",
    "SCRIPT_MODULE",
    "NetworkBlocked",
    "Player",
    "RecordedStep",
    "ReplayDiverged",
    "ReplayFailed",
    "ReplayStopped",
    "ReplayedError",
    "bridge_langchain_context",
    "canonical_request",
    "current_span",
    "dump_payload",
    "ensure_instrumented",
    "environment",
    "extract_llm_response",
    "import_attr",
    "llm",
    "module_name",
    "pretty_request",
    "span",
]
