"""The replaying process: ``python -m agentreel.replay._child PLAN RESULT [FD]``.

Started by `agentreel.replay.replay` in a fresh interpreter. It never opens the
store's database: it records the replay, like any agent, into the spool. It
blocks the network unless the plan allows it, serves the recorded steps through
`agentreel.tracer._replay.Player`, runs the entry point, and writes what
happened to the RESULT file as JSON. Given a pipe's FD, it writes one byte to it
for each step the entry point reaches, so the caller can show progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any

import agentreel
from agentreel.replay._script import load_script
from agentreel.tracer import _replay
from agentreel.tracer.seams import (
    Player,
    RecordedStep,
    ReplayDiverged,
    ReplayFailed,
    ReplayStopped,
    dump_payload,
    ensure_instrumented,
    environment,
    import_attr,
    module_name,
)

__all__ = ["main"]


def _entry(plan: dict[str, Any], notes: list[str]) -> Any:
    module, _, qualname = str(plan["entry"]).partition(":")
    if module == "__main__":
        script, skipped = load_script(str(plan["entry_file"]), qualname)
        _replay.script = script
        fn = getattr(script, qualname, None)
        if skipped:
            lines = ("line " if len(skipped) == 1 else "lines ") + ", ".join(map(str, skipped))
            notes.append(
                f"left out the top-level statements of {Path(plan['entry_file']).name} that "
                f"run things ({lines}); the replay calls {qualname} itself"
            )
    else:
        fn = import_attr(f"{module}:{qualname}")
        recorded_cwd = (plan.get("env") or {}).get("cwd")
        if fn is None and recorded_cwd and recorded_cwd not in sys.path:
            sys.path.append(recorded_cwd)  # where the run was recorded
            fn = import_attr(f"{module}:{qualname}")
    if not callable(fn):
        where = (plan.get("env") or {}).get("cwd")
        hint = f"; run the replay from {where}, where it was recorded" if where else ""
        raise ReplayFailed(f"cannot import the entry point {plan['entry']}{hint}")
    return fn


class _ReportingPlayer(Player):
    """A player that writes a byte to `progress_fd` for each step it is asked for."""

    progress_fd = -1

    def take(self, kind: str, name: str, canonical: bytes) -> RecordedStep | None:
        try:
            return super().take(kind, name, canonical)
        finally:
            if self.progress_fd >= 0:
                with contextlib.suppress(OSError):  # the caller stopped reading
                    os.write(self.progress_fd, b".")


def _bind(fn: Any, arguments: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    rest = dict(arguments)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name in rest:
            args.append(rest.pop(p.name))
        elif p.kind is p.VAR_POSITIONAL and p.name in rest:
            args.extend(rest.pop(p.name))
    if "args" in rest and isinstance(rest["args"], list):
        args.extend(rest.pop("args"))
    kwargs.update(rest)
    return args, kwargs


def _type_name(e: BaseException) -> str:
    t = type(e)
    return t.__qualname__ if t.__module__ == "builtins" else f"{module_name(t)}.{t.__qualname__}"


def run(plan: dict[str, Any], progress_fd: int = -1) -> dict[str, Any]:
    """Replay `plan` in this process; returns the result document."""
    if not plan.get("network"):
        _replay.block_network()
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    agentreel.init(service_name="agentreel-replay")
    player = _ReportingPlayer.from_plan(plan)
    if isinstance(player, _ReportingPlayer):  # from_plan builds the class it is called on
        player.progress_fd = progress_fd
    _replay.player = player
    for name in plan.get("instrument", ()):
        ensure_instrumented(name)  # a seam that is an integration (MCP's client)
    out: dict[str, Any] = {"outcome": None, "output": None, "error_type": None, "notes": []}
    try:
        fn = _entry(plan, out["notes"])
        args, kwargs = _bind(fn, plan["arguments"])
    except ReplayFailed as e:
        return {"outcome": "failed", "reason": str(e)}
    except Exception as e:  # the script's own top level failed
        return {
            "outcome": "failed",
            "reason": f"loading the entry point failed: {_type_name(e)}: {e}",
        }
    with agentreel.run(plan.get("name") or "replay", tags=plan.get("tags") or {}) as r:
        out["replay_run_id"] = r.run_id
        try:
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                result = asyncio.run(_await(result))
            out["outcome"] = "returned"
            out["output"] = dump_payload(result, 1 << 62)[0]
            r.set_output(result)
        except ReplayDiverged as e:
            out["outcome"] = "diverged"
            r.record_error(e)  # the replay did not get through: an error run, not an ok one
        except ReplayStopped as e:
            out["outcome"] = "stopped"
            out["reason"] = str(e)
        except ReplayFailed as e:
            out["outcome"] = "failed"
            out["reason"] = str(e)
        except Exception as e:
            out["outcome"] = "raised"
            out["error_type"] = _type_name(e)
            out["error_message"] = str(e)
            r.record_error(e)
    _replay.player = None
    if out["outcome"] in ("returned", "raised") and player.divergence is None:
        if player.forked and player.fork is not None and player.fork.then == "live":
            pass  # what the fork did after its edit is new by design
        else:
            player.divergence = player.missing()
    out.update(
        divergence=player.divergence,
        served=player.served,
        live=player.live,
        steps=len(plan["steps"]),
        forked=player.forked,
        env=environment(),
    )
    agentreel.flush()
    return out


async def _await(aw: Any) -> Any:
    return await aw


def main(argv: list[str]) -> int:
    plan_path, result_path, *fd = argv
    plan = json.loads(Path(plan_path).read_text())
    result = run(plan, int(fd[0]) if fd else -1)
    Path(result_path).write_text(json.dumps(result))
    agentreel.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
