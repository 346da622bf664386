"""Payload capture: arguments and results as bounded JSON text.

Values that JSON cannot hold (objects, bytes, sets) are written through a
fallback: pydantic models and dataclasses by their fields, everything else as a
bounded ``repr``. A payload longer than the cap is cut and stored as a JSON
string of its head, and the caller marks the span as truncated.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from agentreel.tracer._canonical import module_name

__all__ = [
    "DEFAULT_MAX_PAYLOAD",
    "cut",
    "dump_exact",
    "dump_payload",
    "encode",
    "encode_exact",
    "extract_llm_response",
]

DEFAULT_MAX_PAYLOAD = 64 * 1024
_REPR_LIMIT = 1000


def _fallback(o: Any) -> Any:
    dump = getattr(o, "model_dump", None)  # pydantic v2
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
        return {"bytes": len(o)}
    try:
        r = repr(o)
    except Exception:
        r = f"<{type(o).__qualname__}>"
    return r if len(r) <= _REPR_LIMIT else r[:_REPR_LIMIT] + "…"


_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def encode(value: Any, default: Callable[[Any], Any] = _fallback) -> str:
    """`value` as JSON text, whole and unredacted (see `dump_payload`)."""
    try:  # orjson is ~6x faster than json; without `default` when nothing needs it
        return orjson.dumps(value, option=_ORJSON_OPTIONS).decode()
    except TypeError:
        return _dump_odd(value, default)


def cut(text: str, cap: int) -> tuple[str, int | None]:
    """`text` cut to `cap` characters, and its length when it had to be cut: a text
    too long is kept as a JSON string of its head."""
    if len(text) <= cap:
        return text, None
    return json.dumps(text[:cap], ensure_ascii=False), len(text)


def dump_payload(
    value: Any,
    cap: int,
    redact: Callable[[str], str] | None = None,
    default: Callable[[Any], Any] = _fallback,
) -> tuple[str, int | None]:
    """`value` as JSON text of at most about `cap` characters, redacted first.

    Returns the text and, when it had to be cut, the original length.

    >>> dump_payload({"q": "hi"}, 100)
    ('{"q":"hi"}', None)
    """
    text = encode(value, default)
    if redact is not None:
        text = redact(text)
    return cut(text, cap)


def _dump_odd(value: Any, default: Callable[[Any], Any]) -> str:
    """JSON text of a value orjson cannot write as it is: through `default`, else the
    standard library (circular, > 64-bit ints, odd keys), else `default` of the whole."""
    try:
        return orjson.dumps(value, default=default, option=_ORJSON_OPTIONS).decode()
    except TypeError:
        try:
            return json.JSONEncoder(default=default, ensure_ascii=False).encode(value)
        except (ValueError, TypeError, RecursionError):
            return json.dumps(default(value))


_PLAIN = frozenset({dict, list, tuple, str, int, float, bool, type(None)})


def _type_name(t: type) -> str:
    return f"{module_name(t)}:{t.__qualname__}"


def dump_exact(
    value: Any, cap: int, redact: Callable[[str], str] | None = None
) -> tuple[str, int | None, str | None, str | None]:
    """`dump_payload`, plus whether replay can give `value` back from the text.

    Returns ``(text, truncated, rebuild, lossy)``: `rebuild` names the pydantic
    model or dataclass ``module:qualname`` that `value` is (replay rebuilds it
    from its fields); `lossy` names the first type JSON could only hold as a
    ``repr`` or as fields (replay cannot give such a value back).

    >>> dump_exact({"q": "hi"}, 100)
    ('{"q":"hi"}', None, None, None)
    """
    text, rebuild, lossy = encode_exact(value)
    if redact is not None:
        text = redact(text)
    text, truncated = cut(text, cap)
    return text, truncated, rebuild, lossy


def encode_exact(value: Any) -> tuple[str, str | None, str | None]:
    """`encode`, plus `dump_exact`'s `rebuild` and `lossy`: ``(text, rebuild, lossy)``."""
    seen: list[type] = []
    try:  # the common case: nothing JSON cannot hold, so nothing to note
        text: str | None = orjson.dumps(value, option=_ORJSON_OPTIONS).decode()
    except TypeError:
        text = None
    if text is None:

        def default(o: Any) -> Any:
            seen.append(type(o))
            return _fallback(o)

        text = _dump_odd(value, default)
    if not seen and type(value) in _PLAIN:
        return text, None, None
    rebuild: str | None = None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        rebuild = _type_name(type(value))
    elif seen and seen[0] is type(value) and callable(getattr(value, "model_validate", None)):
        rebuild = _type_name(seen.pop(0))
    lossy = _type_name(seen[0]) if seen else None
    return text, rebuild, lossy


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _count(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def extract_llm_response(result: Any) -> dict[str, Any]:
    """GenAI attributes read from an LLM call's return value, where it has them.

    Understands OpenAI-style (``usage.prompt_tokens``, ``choices[0].finish_reason``),
    Anthropic-style (``usage.input_tokens``, ``stop_reason``) and plain dicts of
    the same shapes, whether objects or mappings.
    """
    attrs: dict[str, Any] = {}
    if result is None or isinstance(result, str | bytes | int | float | bool):
        return attrs
    usage = _get(result, "usage")
    if usage is not None:
        inp = _get(usage, "input_tokens")
        if inp is None:
            inp = _get(usage, "prompt_tokens")
        out = _get(usage, "output_tokens")
        if out is None:
            out = _get(usage, "completion_tokens")
        # the GenAI conventions count cached input inside input_tokens; Anthropic reports
        # it beside input_tokens (cache_read_input_tokens, cache_creation_input_tokens)
        read = _count(_get(usage, "cache_read_input_tokens"))
        written = _count(_get(usage, "cache_creation_input_tokens"))
        if read is not None or written is not None:  # Anthropic's form
            if isinstance(inp, int) and not isinstance(inp, bool):
                inp += (read or 0) + (written or 0)
        else:  # OpenAI's: prompt_tokens already holds the cached ones
            read = _count(_get(_get(usage, "prompt_tokens_details"), "cached_tokens"))
        reasoning = _count(_get(_get(usage, "completion_tokens_details"), "reasoning_tokens"))
        if isinstance(inp, int) and not isinstance(inp, bool):
            attrs["gen_ai.usage.input_tokens"] = inp
        if isinstance(out, int) and not isinstance(out, bool):
            attrs["gen_ai.usage.output_tokens"] = out
        if read:
            attrs["gen_ai.usage.cache_read.input_tokens"] = read
        if written:
            attrs["gen_ai.usage.cache_creation.input_tokens"] = written
        if reasoning:
            attrs["gen_ai.usage.reasoning.output_tokens"] = reasoning
    model = _get(result, "model")
    if isinstance(model, str):
        attrs["gen_ai.response.model"] = model
    rid = _get(result, "id")
    if isinstance(rid, str):
        attrs["gen_ai.response.id"] = rid
    finish = _get(result, "stop_reason") or _get(result, "finish_reason")
    if finish is None:
        choices = _get(result, "choices")
        if isinstance(choices, list | tuple) and choices:
            finish = _get(choices[0], "finish_reason")
    if isinstance(finish, str):
        attrs["gen_ai.response.finish_reasons"] = (finish,)
    return attrs
