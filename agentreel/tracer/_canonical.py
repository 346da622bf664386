"""Canonical requests: what an LLM or tool call asked for, with volatile fields removed.

Replay matches a call to its recording by (kind, name, hash of the canonical
request), so two calls that asked for the same thing hash the same even when a
client made up fresh ids for them. The canonical form is the call's arguments as
JSON with sorted keys, where

- request ids, idempotency keys, extra headers and timeouts are dropped, and
- tool-call ids a client or model made up (OpenAI ``tool_calls[].id`` and
  ``tool_call_id``, Anthropic ``tool_use.id`` and ``tool_use_id``) are renamed
  ``call_0``, ``call_1``, ... in the order they first appear.

Objects JSON cannot hold stand as their type name, never their ``repr`` (which
may carry a memory address). The fast path (no volatile field present, found by
a byte search of the encoded text) costs one ``orjson.dumps`` and one hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import Any

import orjson

__all__ = ["SCRIPT_MODULE", "canonical_request", "module_name", "request_hash"]

#: The name a replay loads a ``python script.py`` entry point's file under; its types
#: are named as they were when recorded, ``__main__``.
SCRIPT_MODULE = "__agentreel_script__"


def module_name(obj: Any) -> str:
    """`obj`'s ``__module__`` as a recording names it (``__main__`` for a replayed script)."""
    module = getattr(obj, "__module__", None) or "?"
    return "__main__" if module == SCRIPT_MODULE else str(module)


_VOLATILE_KEYS = frozenset({"request_id", "idempotency_key", "extra_headers", "timeout"})
_ID_KEYS = frozenset({"tool_call_id", "tool_use_id", "call_id"})
_CALL_TYPES = frozenset({"function", "tool_use", "function_call", "tool_call"})
_MARKERS = re.compile(
    rb'"(?:id|tool_call_id|tool_use_id|call_id|request_id|idempotency_key|extra_headers|timeout)"'
).search
_dumps = orjson.dumps
_blake2b = hashlib.blake2b
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _stable(o: Any) -> Any:
    dump = getattr(o, "model_dump", None)
    if callable(dump):
        try:
            return dump(mode="json")
        except Exception:
            pass
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return {f.name: getattr(o, f.name) for f in dataclasses.fields(o)}
    if isinstance(o, set | frozenset):
        return sorted(o, key=repr)
    if isinstance(o, bytes):
        return {"bytes": hashlib.blake2b(o, digest_size=8).hexdigest()}
    return f"<{module_name(type(o))}.{type(o).__qualname__}>"


def _normalise(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        is_call = "function" in value or value.get("type") in _CALL_TYPES
        for k, v in value.items():
            if k in _VOLATILE_KEYS:
                continue
            if isinstance(v, str) and (k in _ID_KEYS or (k == "id" and is_call)):
                out[k] = ids.setdefault(v, f"call_{len(ids)}")
            else:
                out[k] = _normalise(v, ids)
        return out
    if isinstance(value, list):
        return [_normalise(v, ids) for v in value]
    return value


def canonical_request(kind: str, name: str, arguments: Any) -> bytes:
    """The canonical request of one call as compact JSON bytes with sorted keys.

    >>> canonical_request("tool", "search", {"query": "x"})
    b'{"arguments":{"query":"x"},"kind":"tool","name":"search"}'
    """
    doc = {"arguments": arguments, "kind": kind, "name": name}
    try:
        raw = _dumps(doc, default=_stable, option=_OPTIONS)
    except TypeError:  # circular or odd values: keep the type names only
        doc["arguments"] = orjson.loads(orjson.dumps(_stable(arguments)))
        raw = orjson.dumps(doc, option=_OPTIONS)
    if _MARKERS(raw):
        raw = orjson.dumps(_normalise(orjson.loads(raw), {}), option=_OPTIONS)
    return raw


def request_hash(canonical: bytes) -> str:
    """32 hex digits identifying a canonical request."""
    return _blake2b(canonical, digest_size=16).hexdigest()
