"""tool_args judges argument objects: text that never was one is not "not valid JSON"."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel.checks import CheckConfig, Window, run_checks
from agentreel.store import Store
from tests.checks._simulate import _span

#: (tool name, input as recorded): an object, an object cut off, and an OpenInference
#: handoff span of openai-agents, whose input is the name of the agent handing off.
CALLS = [
    ("get_weather", '{"city": "Paris"}', {}),
    ("get_weather", '  {"city": "Par', {}),
    (None, "triage", {"openinference.span.kind": "TOOL", "input.value": "triage"}),
]


def test_only_argument_objects_that_do_not_parse_are_not_valid_json(tmp_path: Path) -> None:
    rec = agentreel.init(tmp_path / "store", tracer_provider=TracerProvider())
    try:
        for _ in range(3):
            root = _span(rec.tracer, "run", None, 1, {"agentreel.span.kind": "agent"})
            for tool, args, attrs in CALLS:
                kind = {} if attrs else {"agentreel.span.kind": "tool", "agentreel.input": args}
                named = {"gen_ai.tool.name": tool} if tool else {}
                _span(
                    rec.tracer, tool or "handoff to weather", root, 2, {**kind, **named, **attrs}
                ).end(3)
            root.end(4)
        agentreel.flush()
    finally:
        agentreel.shutdown()
    with Store.open(tmp_path / "store") as store:
        store.ingest()
        report = run_checks(
            store, current=Window(), baseline=False, config=CheckConfig(), only=["tool_args"]
        )
    rows = report.results.with_row_index("i").filter(pl.col("scope") == "all")
    # the cut-off objects only, of the calls that name their tool
    assert rows["message"][0].startswith("3 of 6")
    assert report.results["scope"].to_list() == ["all", "tool=get_weather"]
    failing = report.failures(int(rows["i"][0]), limit=None)
    assert failing is not None
    assert set(failing["problem"]) == {"not valid JSON"}
    assert set(failing["tool_name"]) == {"get_weather"}
