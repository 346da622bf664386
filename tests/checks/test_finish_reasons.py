"""An LLM call's finish reason where OpenInference keeps it: in the response it recorded."""

from __future__ import annotations

import json
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel.checks import CheckConfig, Window, run_checks
from agentreel.checks._disparity import DEFAULT_REFUSAL
from agentreel.checks._load import load_window
from agentreel.store import Store
from tests.checks._simulate import _span

OI = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4.1-mini"}
#: run name -> the LLM spans of its one call: (attributes, child attributes or None)
RUNS: dict[str, tuple[dict[str, object], dict[str, object] | None]] = {
    # OpenInference's OpenAI span: the reason is in the response only
    "openai-cut": (
        {**OI, "output.value": json.dumps({"choices": [{"finish_reason": "length"}]})},
        None,
    ),
    # OpenInference's Anthropic span, likewise
    "anthropic-done": ({**OI, "output.value": json.dumps({"stop_reason": "end_turn"})}, None),
    # a decorator's span with the reason, around an instrumented span without one
    "wrapped": (
        {
            "agentreel.span.kind": "llm",
            "gen_ai.request.model": "gpt-4.1-mini",
            "gen_ai.response.finish_reasons": ("stop",),
        },
        {**OI, "output.value": json.dumps([{"role": "assistant", "content": "hi"}])},
    ),
    # an answer recorded as plain text: no reason, and no error reading it
    "plain": ({**OI, "output.value": "It is sunny."}, None),
}


def test_finish_reasons_are_read_from_recorded_responses(tmp_path: Path) -> None:
    rec = agentreel.init(tmp_path / "store", tracer_provider=TracerProvider())
    try:
        for name, (attrs, child) in RUNS.items():
            root = _span(rec.tracer, name, None, 1, {"agentreel.run.name": name})
            llm = _span(rec.tracer, "chat", root, 2, attrs)
            if child is not None:
                _span(rec.tracer, "ChatCompletion", llm, 3, child).end(4)
            llm.end(5)
            root.end(6)
        agentreel.flush()
    finally:
        agentreel.shutdown()
    config = CheckConfig()
    config.settings["truncated_output"]["min_n"] = 1
    with Store.open(tmp_path / "store") as store:
        store.ingest()
        runs = load_window(store, Window().resolve(), refusal_pattern=DEFAULT_REFUSAL).runs
        report = run_checks(
            store, current=Window(), baseline=False, config=config, only=["truncated_output"]
        )
    reasons = dict(runs.select("name", "final_finish_reason").iter_rows())
    assert reasons == {
        "openai-cut": "length",
        "anthropic-done": "end_turn",
        "wrapped": "stop",
        "plain": None,
    }
    row = report.results.with_row_index("i").row(0, named=True)
    assert (row["status"], row["message"]) == ("error", "1 of 3")
    cut = report.failures(row["i"])
    assert cut is not None
    assert cut["name"].to_list() == ["openai-cut"]
