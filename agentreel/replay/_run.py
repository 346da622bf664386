"""`replay()` and `fork()`: build the plan, run it in a fresh process, read the outcome."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentreel._errors import AgentreelError
from agentreel.replay._plan import NotReplayable, build_plan

__all__ = ["DEFAULT_TIMEOUT", "ReplayResult", "fork", "replay", "run_plan", "steps"]

#: Seconds a replay may run before it is stopped.
DEFAULT_TIMEOUT = 600.0


@dataclass
class ReplayResult:
    """What one replay or fork did.

    `reproduced` is True when the replay asked for exactly what the recording
    has and ended as the recording did (same output, or same exception).
    """

    run_id: str
    replay_run_id: str | None
    outcome: str  # returned | raised | diverged | stopped | failed
    reproduced: bool
    output_matches: bool
    divergence: dict[str, Any] | None
    served: int
    live: int
    steps: int
    output: str | None = None
    recorded_output: str | None = None
    error: str | None = None
    reason: str | None = None
    env_changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The result as the ``--json`` output gives it."""
        return dict(self.__dict__)


def _env_changes(recorded: dict[str, Any] | None, now: dict[str, Any] | None) -> list[str]:
    if not recorded or not now:
        return []
    out: list[str] = []
    for key in ("python", "git_sha", "git_dirty"):
        if recorded.get(key) != now.get(key):
            out.append(f"{key}: {recorded.get(key)} -> {now.get(key)}")
    a, b = recorded.get("packages") or {}, now.get("packages") or {}
    for name in sorted(a.keys() | b.keys()):
        if a.get(name) != b.get(name):
            out.append(f"{name}: {a.get(name, '-')} -> {b.get(name, '-')}")
    return out


def _run_child(
    args: list[str], env: dict[str, str], timeout: float, progress: Callable[[int], None] | None
) -> int:
    """Run the replaying process; with `progress`, tell it each step it reports on a pipe."""
    if progress is None:
        done = subprocess.run(args, env=env, stdout=sys.stderr, timeout=timeout, check=False)
        return done.returncode
    r, w = os.pipe()
    try:
        proc = subprocess.Popen([*args, str(w)], env=env, stdout=sys.stderr, pass_fds=(w,))
    except BaseException:
        os.close(r)
        raise
    finally:
        os.close(w)
    deadline = time.monotonic() + timeout
    try:
        with os.fdopen(r, "rb", buffering=0) as pipe:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise subprocess.TimeoutExpired(args, timeout)
                ready, _, _ = select.select([pipe], [], [], min(left, 0.25))
                data = pipe.read(4096) if ready else None
                if data:
                    progress(len(data))
                elif ready or proc.poll() is not None:
                    break  # the pipe's end (or the process, when a child of it holds the pipe)
        return proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _execute(
    store_dir: Path,
    plan: dict[str, Any],
    timeout: float,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="agentreel-replay-") as tmp:
        plan_path, result_path = Path(tmp, "plan.json"), Path(tmp, "result.json")
        plan_path.write_text(json.dumps(plan))
        env = {**os.environ, "AGENTREEL_DIR": str(Path(store_dir).absolute())}
        args = [sys.executable, "-m", "agentreel.replay._child", str(plan_path), str(result_path)]
        try:
            returncode = _run_child(args, env, timeout, progress)
        except subprocess.TimeoutExpired:
            raise AgentreelError(
                f"the replay of run {plan['run_id'][:12]} did not finish in {timeout:g} s; "
                "raise --timeout"
            ) from None
        if not result_path.is_file():
            raise AgentreelError(
                f"the replaying process exited with code {returncode} before it reported; "
                "its error is above"
            )
        return plan, json.loads(result_path.read_text())


def _prepare(store_dir: Path, run_id: str, *, on_divergence: str, network: bool) -> dict[str, Any]:
    from agentreel.store import Store

    with Store.open(store_dir, wait=5.0) as store:
        store.ingest()
        plan = build_plan(store, run_id)
        name = store.run(plan["run_id"])["name"]
    plan.update(on_divergence=on_divergence, network=network, name=f"replay of {name or 'run'}")
    plan["tags"] = {"replay_of": plan["run_id"]}
    return plan


def _finish(store_dir: Path, plan: dict[str, Any], res: dict[str, Any]) -> ReplayResult:
    from agentreel.store import Store

    with Store.open(store_dir, wait=5.0) as store:
        store.ingest()  # the replay's own run
    outcome = str(res.get("outcome"))
    if plan.get("error_type"):
        matches = (
            outcome == "raised"
            and res.get("error_type") == plan["error_type"]
            and (res.get("error_message") or "") == (plan.get("error_message") or "")
        )
    else:
        matches = outcome == "returned" and _same_json(res.get("output"), plan.get("output"))
    error = (
        f"{res['error_type']}: {res.get('error_message') or ''}" if res.get("error_type") else None
    )
    return ReplayResult(
        run_id=plan["run_id"],
        replay_run_id=res.get("replay_run_id"),
        outcome=outcome,
        reproduced=matches and res.get("divergence") is None,
        output_matches=matches,
        divergence=res.get("divergence"),
        served=int(res.get("served") or 0),
        live=int(res.get("live") or 0),
        steps=int(res.get("steps") or 0),
        output=res.get("output"),
        recorded_output=plan.get("output"),
        error=error,
        reason=res.get("reason"),
        env_changes=_env_changes(plan.get("env"), res.get("env")),
        notes=list(res.get("notes") or []),
    )


def _same_json(a: str | None, b: str | None) -> bool:
    if a == b:
        return True
    if a is None or b is None:
        return False
    try:
        return bool(json.loads(a) == json.loads(b))
    except ValueError:
        return False


def replay(
    run_id: str,
    store_dir: str | os.PathLike[str] = ".agentreel",
    *,
    on_divergence: str = "stop",
    network: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Re-run a recorded run with every recorded LLM and tool result served back.

    The entry point runs in a fresh Python process with the network blocked
    (unless `network`); the replay is recorded as a new run tagged
    ``replay_of``. Raises `NotReplayable` when the run cannot be replayed.
    `progress`, when given, is called as the replay reaches steps (with how many).

    Example::

        result = replay("4623a6bd")
        result.reproduced, result.divergence
    """
    if on_divergence not in ("stop", "live"):
        raise AgentreelError(f"on_divergence={on_divergence!r} must be 'stop' or 'live'")
    path = Path(store_dir)
    plan = _prepare(path, run_id, on_divergence=on_divergence, network=network)
    plan, res = _execute(path, plan, timeout, progress)
    if res.get("outcome") == "failed" and res.get("replay_run_id") is None:
        raise NotReplayable(f"run {plan['run_id'][:12]} cannot be replayed: {res.get('reason')}")
    return _finish(path, plan, res)


def fork(
    run_id: str,
    at: int,
    response: Any,
    store_dir: str | os.PathLike[str] = ".agentreel",
    *,
    then: str = "live",
    on_divergence: str = "stop",
    network: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Replay up to step `at`, serve `response` there instead, then go on live or stop.

    `response` is the value the edited step returns (plain JSON data). The fork
    is recorded as a new run tagged ``forked_from`` and ``fork_step``. `progress`
    is called as in `replay`.

    Example::

        result = fork("4623a6bd", at=3, response=[{"title": "edited", "url": "x"}])
        result.replay_run_id
    """
    if then not in ("live", "stop"):
        raise AgentreelError(f"then={then!r} must be 'live' or 'stop'")
    path = Path(store_dir)
    plan = _prepare(path, run_id, on_divergence=on_divergence, network=network)
    n = len(plan["steps"])
    if not 1 <= at <= n:
        raise AgentreelError(
            f"run {plan['run_id'][:12]} has steps 1 to {n}; --at {at} is not one of them "
            "(`agentreel replay RUN_ID --steps` lists them)"
        )
    plan["fork"] = {"step": at, "output": json.dumps(response), "then": then}
    plan["tags"] = {"forked_from": plan["run_id"], "fork_step": at}
    plan["name"] = str(plan["name"]).replace("replay of", "fork of", 1)
    plan, res = _execute(path, plan, timeout, progress)
    if res.get("outcome") == "failed" and res.get("replay_run_id") is None:
        raise NotReplayable(f"run {plan['run_id'][:12]} cannot be forked: {res.get('reason')}")
    return _finish(path, plan, res)


def run_plan(
    plan: dict[str, Any],
    store_dir: str | os.PathLike[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> ReplayResult:
    """Replay a plan as `build_plan` makes it (or as a dataset case holds it), recording
    the replay into `store_dir`. The plan's ``on_divergence``, ``network``, ``name`` and
    ``tags`` say how; `replay` is this with a plan read from the store."""
    path = Path(store_dir)
    plan, res = _execute(path, plan, timeout)
    return _finish(path, plan, res)


def steps(run_id: str, store_dir: str | os.PathLike[str] = ".agentreel") -> list[dict[str, Any]]:
    """The numbered LLM and tool steps a replay serves, as `fork`'s ``at`` counts them."""
    from agentreel.store import Store

    with Store.open(Path(store_dir), wait=5.0) as store:
        store.ingest()
        return list(build_plan(store, run_id)["steps"])
