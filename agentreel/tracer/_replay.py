"""Replay interception: recorded LLM and tool results served back to the decorators.

A replay runs in a process of its own (``agentreel replay`` starts it) with a
`Player` made from the replay plan. While a player is active, every call of an
``@agentreel.llm`` or ``@agentreel.tool`` function is matched to a recorded step by
(kind, name, canonical request hash) among the steps not yet served, so
concurrent calls that finish in another order still match. A matched step's
result is returned (or its exception raised) instead of running the function.
A call the recording does not have is a divergence: the first one is kept with
a diff of recorded against actual request, and the replay stops there
(`ReplayDiverged`) or lets the call really run (``on_divergence="live"``).
"""

from __future__ import annotations

import builtins
import collections
import difflib
import importlib
import json
import socket
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from agentreel.tracer._canonical import request_hash

__all__ = [
    "Player",
    "RecordedStep",
    "ReplayDiverged",
    "ReplayFailed",
    "ReplayStopped",
    "ReplayedError",
    "block_network",
    "pretty_request",
    "rebuild_error",
]

#: Set by a seam on the span of a call it records but cannot serve back; the value says why.
NOT_REPLAYABLE = "agentreel.replay.unsupported"
#: The active player of this process, or None (the decorators check it on every call).
player: Player | None = None
#: The replayed script, when the entry point lives in one run as ``python script.py``:
#: what the recording calls ``__main__`` (an exception class, a result's type) is here.
script: Any = None


class ReplayDiverged(BaseException):
    """The replayed agent asked for something the recording does not have.

    A `BaseException`, so an agent's ``except Exception`` does not swallow it.
    """


class ReplayStopped(BaseException):
    """A fork with ``then="stop"`` reached the step after the edited one."""


class ReplayFailed(BaseException):
    """A recorded step cannot be served back (its result type cannot be rebuilt)."""


class ReplayedError(Exception):
    """A recorded exception whose type cannot be imported in the replaying process.

    Example::

        except agentreel.replay.ReplayedError as e:
            e.type_name, e.message    # "mylib.QuotaExceeded", "quota exceeded"
    """

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message


def _import_attr(dotted: str) -> Any:
    """`pkg.mod.Class` or `pkg.mod:Class.Inner` -> the object, or None."""
    if ":" in dotted:
        mod, _, qual = dotted.partition(":")
        candidates = [(mod, qual)]
    else:
        parts = dotted.split(".")
        candidates = [
            (".".join(parts[:i]), ".".join(parts[i:])) for i in range(len(parts) - 1, 0, -1)
        ]
    for mod, qual in candidates:
        try:
            obj: Any = script if mod == "__main__" and script else importlib.import_module(mod)
        except ImportError:
            continue
        try:
            for part in qual.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            continue
        return obj
    return None


def rebuild_error(type_name: str, message: str) -> BaseException:
    """The recorded exception again: its own type when importable, else `ReplayedError`.

    >>> rebuild_error("TimeoutError", "slow")
    TimeoutError('slow')
    """
    cls = getattr(builtins, type_name, None) if "." not in type_name else _import_attr(type_name)
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            return cls(message)
        except Exception:
            pass
    return ReplayedError(type_name, message)


def _rebuild(data: Any, type_name: str | None) -> Any:
    if type_name is None:
        return data
    cls = _import_attr(type_name)
    validate = getattr(cls, "model_validate", None)
    try:
        if callable(validate):
            return validate(data)
        if isinstance(cls, type) and isinstance(data, dict):
            return cls(**data)
    except Exception as e:
        raise ReplayFailed(f"cannot rebuild the recorded {type_name} result: {e}") from None
    raise ReplayFailed(f"cannot import {type_name} to rebuild a recorded result")


def pretty_request(canonical: Any) -> str:
    """A canonical request (bytes or parsed) as indented JSON for diffs."""
    doc = json.loads(canonical) if isinstance(canonical, bytes | str) else canonical
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False)


@dataclass
class RecordedStep:
    """One recorded LLM or tool call as the replay plan gives it."""

    index: int
    kind: str
    name: str
    hash: str
    request: str  # pretty canonical JSON, for diffs
    output: str | None = None  # JSON text
    output_type: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    span_id: str = ""
    cancelled: bool = False  # cancelled from outside (asyncio) before it finished

    def value(self) -> Any:
        """The recorded result, rebuilt; raises the recorded exception instead if it had one."""
        if self.error_type is not None:
            raise rebuild_error(self.error_type, self.error_message or "")
        data = json.loads(self.output) if self.output is not None else None
        return _rebuild(data, self.output_type)


@dataclass
class _Fork:
    step: int
    output: str  # JSON text of the edited result
    then: str  # "live" or "stop"


@dataclass
class Player:
    """Serves recorded steps to the decorators and keeps the first divergence."""

    steps: list[RecordedStep]
    on_divergence: str = "stop"
    fork: _Fork | None = None
    divergence: dict[str, Any] | None = None
    served: int = 0
    live: int = 0
    forked: bool = False
    _queues: dict[tuple[str, str, str], collections.deque[RecordedStep]] = field(
        default_factory=dict
    )
    _left: dict[int, RecordedStep] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _halt: BaseException | None = None

    def __post_init__(self) -> None:
        for s in sorted(self.steps, key=lambda s: s.index):
            self._queues.setdefault((s.kind, s.name, s.hash), collections.deque()).append(s)
            self._left[s.index] = s

    @classmethod
    def from_plan(cls, plan: dict[str, Any]) -> Player:
        """A player for the plan ``agentreel replay`` writes (see agentreel.replay)."""
        fork = plan.get("fork")
        return cls(
            [RecordedStep(**s) for s in plan["steps"]],
            on_divergence=plan.get("on_divergence", "stop"),
            fork=_Fork(**fork) if fork else None,
        )

    def take(self, kind: str, name: str, canonical: bytes) -> RecordedStep | None:
        """The recorded step to serve for this call, or None to run it live.

        Raises `ReplayDiverged` (on_divergence="stop") or `ReplayStopped`.
        """
        with self._lock:
            if self._halt is not None:
                raise type(self._halt)(*self._halt.args)
            if self.forked and self.fork is not None:
                if self.fork.then == "stop":
                    self._halt = ReplayStopped(f"stopped after the edited step {self.fork.step}")
                    raise self._halt
                self.live += 1
                return None
            queue = self._queues.get((kind, name, request_hash(canonical)))
            if queue:
                step = queue.popleft()
                del self._left[step.index]
                self.served += 1
                if self.fork is not None and step.index == self.fork.step:
                    self.forked = True
                    return RecordedStep(
                        step.index, kind, name, step.hash, step.request, self.fork.output
                    )
                return step
            div = self._describe(kind, name, canonical)
            if self.divergence is None:
                self.divergence = div
            if self.on_divergence == "stop":
                self._halt = ReplayDiverged(div["message"])
                raise self._halt
            self.live += 1
            return None

    def _describe(self, kind: str, name: str, canonical: bytes) -> dict[str, Any]:
        actual = pretty_request(canonical)
        left = sorted(self._left.values(), key=lambda s: s.index)
        same = [s for s in left if s.kind == kind and s.name == name]
        if same:
            best = max(same, key=lambda s: difflib.SequenceMatcher(None, s.request, actual).ratio())
            where = _changed_part(best.request, actual)
            message = f"step {best.index}: the {kind} call {name} asked for something else"
            message += f" ({where})" if where else ""
            return _div("changed", best.index, kind, name, message, best.request, actual)
        nxt = left[0] if left else None
        at = nxt.index if nxt else self.served + 1
        message = f"step {at}: a {kind} call {name} that the recording does not have"
        if nxt is not None:
            message += f" (the recording has the {nxt.kind} call {nxt.name} next)"
        return _div("new", at, kind, name, message, "", actual)

    def missing(self) -> dict[str, Any] | None:
        """The first recorded step never asked for, as a divergence, or None."""
        if not self._left:
            return None
        s = min(self._left.values(), key=lambda s: s.index)
        message = f"step {s.index}: the recorded {s.kind} call {s.name} was never made"
        return _div("missing", s.index, s.kind, s.name, message, s.request, "")


def _div(
    what: str, step: int, kind: str, name: str, message: str, recorded: str, actual: str
) -> dict[str, Any]:
    diff = "".join(
        difflib.unified_diff(
            recorded.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            fromfile=f"recorded step {step}" if recorded else "recorded (no such call)",
            tofile="replay" if actual else "replay (no such call)",
        )
    )
    return {
        "what": what,
        "step": step,
        "kind": kind,
        "name": name,
        "message": message,
        "diff": diff,
    }


def _changed_part(recorded: str, actual: str) -> str:
    """Which message or argument differs, in words: ``messages[0] (system) changed``."""
    try:
        a = json.loads(recorded).get("arguments")
        b = json.loads(actual).get("arguments")
    except (ValueError, AttributeError):
        return ""
    return _where(a, b, "")


def _where(a: Any, b: Any, path: str) -> str:
    if a == b:
        return ""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys()):
            if a.get(key) != b.get(key):
                sub = f"{path}.{key}" if path else str(key)
                if key not in a:
                    return f"argument {sub} added"
                if key not in b:
                    return f"argument {sub} removed"
                return _where(a[key], b[key], sub)
    if isinstance(a, list) and isinstance(b, list):
        for i in range(max(len(a), len(b))):
            ma = a[i] if i < len(a) else None
            mb = b[i] if i < len(b) else None
            if ma != mb:
                m = mb if isinstance(mb, dict) else ma
                role = m.get("role") if isinstance(m, dict) else None
                label = f"{path}[{i}]" + (f" ({role})" if role else "")
                if ma is None:
                    return f"{label} added"
                if mb is None:
                    return f"{label} removed"
                return f"{label} changed"
    return f"{path or 'the arguments'} changed"


class NetworkBlocked(OSError):
    """A replay tried to open a network connection while the network is blocked."""


def block_network() -> None:
    """Refuse every IPv4 and IPv6 socket connect and send in this process, for good.

    Uses an audit hook (PEP 578), so it covers every library that uses
    `socket`, whatever it wraps it in. Unix-domain sockets (local IPC) stay open.
    """
    inet = (socket.AF_INET, socket.AF_INET6)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
            sock = args[0]
            if getattr(sock, "family", None) in inet:
                raise NetworkBlocked(
                    f"agentreel replay blocks the network (connect to {args[1]!r}); "
                    "pass --network to allow it"
                )
        elif event == "socket.getaddrinfo":
            raise NetworkBlocked(
                f"agentreel replay blocks the network (lookup of {args[0]!r}); "
                "pass --network to allow it"
            )

    sys.addaudithook(hook)
