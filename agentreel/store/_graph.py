"""A run's agents as a graph: who called whom, how often, with errors, tokens and cost.

Two kinds of edge, read from the spans whichever instrumentation wrote them:

- a **call**: an agent span inside another agent's span (the nearest agent above it is
  the caller; an agent with none above it is called by ``(run)``, the run itself);
- a **handoff**: an agent span that names the agent it took over from in
  ``graph.node.parent_id`` (OpenInference, for the Agents SDK's handoffs), or in
  ``gen_ai.agent.handoff.from`` (agentreel's name for it). The handoff replaces the
  call edge the nesting would give.
- a **link**: an agent span with an OpenTelemetry link to a span of the same run; the
  agent at or above the linked span is the caller, and the link's
  ``agentreel.link.kind`` attribute (``handoff`` when it has none) says how. A link
  comes first, then the handoff attribute, then the nesting: each invocation is one
  edge, so its work is counted once.

An agent's own work is the LLM and tool spans whose nearest agent is it; a node
counts its invocations, errors, LLM and tool calls, tokens and cost, and an edge into
an agent counts the same for the invocations it made. docs/data-model.md#agent-graph.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import polars as pl

from agentreel.store._records import Span

__all__ = ["RUN_NODE", "AgentEdge", "AgentGraph", "AgentNode", "agent_graph"]

#: The caller of an agent that no other agent called: the run itself.
RUN_NODE = "(run)"
_HANDOFF_FROM = ("graph.node.parent_id", "gen_ai.agent.handoff.from")
#: The attribute of a link that says what it stands for (`SpanHandle.link`).
LINK_KIND = "agentreel.link.kind"


@dataclass
class _Work:
    invocations: int = 0
    errors: int = 0
    llm_calls: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    duration_ms: float = 0.0

    def add(self, other: _Work) -> None:
        for k, v in asdict(other).items():
            setattr(self, k, getattr(self, k) + v)


@dataclass
class AgentNode(_Work):
    """One agent (by name) of the run, and all its invocations' own work."""

    name: str = ""


@dataclass
class AgentEdge(_Work):
    """Calls (or handoffs) from `caller` to `callee`, and the work the callee did in them."""

    caller: str = ""
    callee: str = ""
    how: str = "call"  # call | handoff, or a link's own agentreel.link.kind


@dataclass
class AgentGraph:
    """The agents of one run and the edges between them, in the order first seen."""

    nodes: list[AgentNode] = field(default_factory=list)
    edges: list[AgentEdge] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": [asdict(n) for n in self.nodes], "edges": [asdict(e) for e in self.edges]}


def _attrs(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if not raw:
        return {}
    try:
        v = json.loads(raw)
    except ValueError:
        return {}
    return v if isinstance(v, dict) else {}


def _links(raw: Any) -> list[dict[str, Any]]:
    if not raw:
        return []
    try:
        v = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return []
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []


def _agent_name(s: Span) -> str:
    return str(s.get("agent_name") or s.get("name") or "agent")


def agent_graph(tree: pl.DataFrame) -> AgentGraph:
    """The agent graph of one run's spans (as `Store.tree` or `Store.spans` gives them)."""
    spans = cast("list[Span]", tree.to_dicts())
    by_id = {s["span_id"]: s for s in spans}

    def linked_agent(s: Span) -> tuple[Span, str] | None:
        """The agent at or above the first span of this run that `s` links to, and how."""
        for link in _links(s.get("links")):
            target = by_id.get(str(link.get("span_id") or ""))
            if target is None or target is s:
                continue
            agent = target if target["kind"] == "agent" else agent_above(target)
            if agent is not None and agent is not s:
                kind = _attrs(link.get("attributes")).get(LINK_KIND)
                return agent, str(kind) if kind else "handoff"
        return None

    def agent_above(s: Span) -> Span | None:
        p = by_id.get(s.get("parent_span_id") or "")
        seen = 0
        while p is not None and seen < len(by_id):
            if p["kind"] == "agent":
                return p
            p = by_id.get(p.get("parent_span_id") or "")
            seen += 1
        return None

    # one model call or tool call however many spans describe it: a span with another of
    # its kind inside it is a wrapper (as `runs.llm_count` and `tool_count` count)
    wrappers: set[str] = set()
    for s in spans:
        if s["kind"] in ("llm", "tool"):
            p = by_id.get(s.get("parent_span_id") or "")
            seen = 0
            while p is not None and seen < len(by_id):
                if p["kind"] == s["kind"]:
                    wrappers.add(p["span_id"])
                p = by_id.get(p.get("parent_span_id") or "")
                seen += 1

    own: dict[str, _Work] = {}  # agent span id -> its own work
    for s in spans:
        if s["kind"] == "agent":
            w = own.setdefault(s["span_id"], _Work())
            w.invocations += 1
            w.errors += s["status"] == "error"
            w.duration_ms += s["duration_ms"] or 0.0
            continue
        a = agent_above(s)
        if a is None or s["kind"] not in ("llm", "tool"):
            continue
        w = own.setdefault(a["span_id"], _Work())
        if s["span_id"] not in wrappers:
            if s["kind"] == "llm":
                w.llm_calls += 1
            else:
                w.tool_calls += 1
        if s.get("usage_counted"):
            w.input_tokens += s["input_tokens"] or 0
            w.output_tokens += s["output_tokens"] or 0
            w.cost_usd += s["cost_usd"] or 0.0

    graph = AgentGraph()
    nodes: dict[str, AgentNode] = {}
    edges: dict[tuple[str, str, str], AgentEdge] = {}
    for s in spans:
        if s["kind"] != "agent":
            continue
        name = _agent_name(s)
        work = own[s["span_id"]]
        node = nodes.get(name)
        if node is None:
            node = nodes[name] = AgentNode(name=name)
            graph.nodes.append(node)
        node.add(work)
        attrs = _attrs(s.get("attributes"))
        handed = next((str(attrs[k]) for k in _HANDOFF_FROM if attrs.get(k)), None)
        linked = linked_agent(s)
        if linked is not None:
            caller, how = _agent_name(linked[0]), linked[1]
        elif handed is not None and handed != name:
            caller, how = handed, "handoff"
        else:
            above = agent_above(s)
            caller, how = (_agent_name(above) if above is not None else RUN_NODE), "call"
        key = (caller, name, how)
        edge = edges.get(key)
        if edge is None:
            edge = edges[key] = AgentEdge(caller=caller, callee=name, how=how)
            graph.edges.append(edge)
        edge.add(work)
    return graph
