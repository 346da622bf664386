"""The replay plan: what a recorded run needs to run again, read from the store.

Runs in the CLI's process (it reads DuckDB); the replaying process only reads the
plan, a JSON file. A plan names the run's entry point and its arguments, and
lists every LLM and tool call the entry made (calls nested inside another
served call are left out: serving the outer one skips them) in the order they
started, with the canonical request hash, the recorded result or exception.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from agentreel._errors import AgentreelError
from agentreel.tracer.seams import NOT_REPLAYABLE, canonical_request, pretty_request

if TYPE_CHECKING:
    from agentreel.store import Store

__all__ = ["NotReplayable", "build_plan", "plan_steps"]


class NotReplayable(AgentreelError):
    """A run cannot be replayed; the message says why and what to change."""


def _attrs(row: dict[str, Any]) -> dict[str, Any]:
    raw = row.get("attributes")
    if not raw:
        return {}
    try:
        out = json.loads(raw)
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}


def _request_text(kind: str, name: str, payload: str | None, truncated: bool) -> str:
    if payload is None:
        return pretty_request({"kind": kind, "name": name, "arguments": None})
    try:
        args = json.loads(payload)
    except ValueError:
        args = payload
    if truncated:
        args = {"(truncated)": args}
    return pretty_request(canonical_request(kind, name, args))


def plan_steps(spans: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The replayable steps of a run's spans, and the reasons some step is not replayable."""
    by_id = {s["span_id"]: s for s in spans}
    attrs = {s["span_id"]: _attrs(s) for s in spans}
    is_step = {sid for sid, a in attrs.items() if "agentreel.step" in a}
    unsupported = {sid for sid, a in attrs.items() if NOT_REPLAYABLE in a}
    # A span a framework's own instrumentation wrote around a served step (pydantic-ai's
    # `chat` span around `ReplayableModel`'s step, the Agents SDK's tool span around an
    # `@agentreel.tool`) runs again in the replay, around the served step: it is not a
    # step of its own. So are spans inside a served step: serving it skips them.
    covers_step: set[str] = set()
    for sid in is_step | unsupported:
        parent = by_id.get(by_id[sid].get("parent_span_id") or "")
        while parent is not None and parent["span_id"] not in covers_step:
            covers_step.add(parent["span_id"])
            parent = by_id.get(parent.get("parent_span_id") or "")
    steps: list[tuple[int, dict[str, Any]]] = []
    problems: list[str] = []
    for s in spans:
        if s["kind"] not in ("llm", "tool"):
            continue
        parent, nested = by_id.get(s.get("parent_span_id") or ""), False
        while parent is not None:
            if parent["span_id"] in is_step:
                nested = True
                break
            parent = by_id.get(parent.get("parent_span_id") or "")
        if nested or (s["span_id"] not in is_step and s["span_id"] in covers_step):
            continue
        a = attrs[s["span_id"]]
        if s["span_id"] in unsupported:
            if str(a[NOT_REPLAYABLE]) not in problems:
                problems.append(str(a[NOT_REPLAYABLE]))
            continue
        if s["span_id"] not in is_step:
            if s["kind"] == "tool":
                continue  # a tool no decorator recorded runs again, live, as it would unrecorded
            problems.append(
                f"the llm call {s['name']!r} was not recorded by agentreel's @llm "
                "decorator or a replay seam (with capture on), so it cannot be served back"
            )
            continue
        steps.append((int(a["agentreel.step"]), s))
    steps.sort(key=lambda t: t[0])
    out: list[dict[str, Any]] = []
    for index, (_, s) in enumerate(steps, start=1):
        a = attrs[s["span_id"]]
        kind = str(s["kind"])
        name = str(s["tool_name"] if kind == "tool" else a.get("agentreel.llm.name", s["name"]))
        label = f"step {index} ({kind} {name})"
        if s.get("end_time") is None:
            problems.append(f"{label} never finished (the run was interrupted)")
        if "agentreel.output.truncated" in a:
            problems.append(
                f"{label}: its result was cut at the payload cap; raise "
                "init(max_payload_bytes=...) and record again"
            )
        if "agentreel.output.lossy" in a:
            problems.append(
                f"{label}: its result holds a {a['agentreel.output.lossy']} that JSON "
                "cannot give back; return plain data (dict, list, str, numbers) or a "
                "pydantic model or dataclass"
            )
        # A tool that returned an error result (MCP's isError, error.type tool_error)
        # returned: its result is served back, not raised.
        error = s["status"] == "error" and not (
            s.get("error_type") == "tool_error" and s.get("output") is not None
        )
        if not error and s.get("output") is None:
            problems.append(f"{label}: its result was not captured (capture is off)")
        out.append(
            {
                "index": index,
                "kind": kind,
                "name": name,
                "hash": str(a.get("agentreel.request.hash", "")),
                "request": _request_text(
                    kind, name, s.get("input"), "agentreel.input.truncated" in a
                ),
                "output": None if error else s.get("output"),
                "output_type": a.get("agentreel.output.type"),
                "error_type": (s.get("error_type") or "Exception") if error else None,
                "error_message": (s.get("error_message") or "") if error else None,
                "span_id": str(s["span_id"]),
                "cancelled": error and str(s.get("error_type") or "").endswith("CancelledError"),
            }
        )
    return out, problems


def build_plan(store: Store, run_id: str) -> dict[str, Any]:
    """The replay plan of one run (`run_id` may be a unique prefix).

    Raises `NotReplayable` naming every reason the run cannot be replayed.

    Example::

        with Store.open() as store:
            plan = build_plan(store, "4623a6bd")
            len(plan["steps"])
    """
    rid = store.resolve_run(run_id)
    cols = [
        "span_id",
        "parent_span_id",
        "kind",
        "name",
        "tool_name",
        "start_time",
        "end_time",
        "status",
        "error_type",
        "error_message",
        "input",
        "output",
        "attributes",
        "process_id",
    ]
    spans = store.spans(rid).select(cols).to_dicts()
    by_id = {s["span_id"]: s for s in spans}

    def depth(s: dict[str, Any]) -> int:
        d, p = 0, by_id.get(s.get("parent_span_id") or "")
        while p is not None:
            d, p = d + 1, by_id.get(p.get("parent_span_id") or "")
        return d

    agents = [s for s in spans if s["kind"] == "agent" and "agentreel.entry" in _attrs(s)]
    problems: list[str] = []
    entry: dict[str, Any] | None = None
    if not agents:
        raise NotReplayable(
            f"run {rid[:12]} has no entry point: no @agentreel.agent function was recorded; "
            "decorate the function that runs your agent with @agentreel.agent"
        )
    top = min(depth(s) for s in agents)
    tops = [s for s in agents if depth(s) == top]
    if len(tops) > 1:
        problems.append(
            f"the run called {len(tops)} agent entry points one after another; replay re-runs "
            "one: wrap them in one @agentreel.agent function"
        )
    entry = tops[0]
    ea = _attrs(entry)
    target = str(ea["agentreel.entry"])
    module, _, qualname = target.partition(":")
    if "<locals>" in qualname or "." in qualname:
        problems.append(
            f"the entry point {target} is a method or a nested function; replay imports "
            "module-level functions only"
        )
    if module == "__main__" and "agentreel.entry.file" not in ea:
        problems.append(f"the entry point {target} lives in a script agentreel cannot find")
    if entry["input"] is None:
        problems.append("the entry point's arguments were not captured (capture is off)")
    if "agentreel.input.truncated" in ea:
        problems.append("the entry point's arguments were cut at the payload cap")
    if "agentreel.input.lossy" in ea:
        problems.append(
            f"the entry point's arguments hold a {ea['agentreel.input.lossy']} that JSON "
            "cannot give back; pass plain data"
        )
    steps, step_problems = plan_steps(spans)
    problems += step_problems
    # Another process's spans are fine when the re-run makes them again (an MCP server
    # the agent starts and calls) or never reaches them (they sit inside a served step);
    # a step recorded in another process is one the re-run could not serve.
    elsewhere = [
        s["index"]
        for s in steps
        if by_id[s["span_id"]]["process_id"] not in (None, entry["process_id"])
    ]
    if elsewhere:
        problems.append(
            f"step {elsewhere[0]} was recorded in another process than the entry point's; "
            "replay re-runs one"
        )
    if problems:
        raise NotReplayable(f"run {rid[:12]} cannot be replayed: " + "; ".join(problems))
    try:
        arguments = json.loads(entry["input"])
    except ValueError:
        raise NotReplayable(f"run {rid[:12]}: the entry point's arguments are not JSON") from None
    env = ea.get("agentreel.env")
    return {
        "run_id": rid,
        "entry": target,
        "entry_file": ea.get("agentreel.entry.file"),
        "arguments": arguments if isinstance(arguments, dict) else {"args": [arguments]},
        "output": None if entry["status"] == "error" else entry["output"],
        "error_type": entry["error_type"] if entry["status"] == "error" else None,
        "error_message": entry["error_message"] if entry["status"] == "error" else None,
        "env": json.loads(env) if isinstance(env, str) else None,
        "steps": steps,
        # the integrations whose seams serve steps of this run: the replay switches them on
        "instrument": ["mcp"]
        if any("mcp.method.name" in _attrs(by_id[s["span_id"]]) for s in steps)
        else [],
    }
