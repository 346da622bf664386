"""The same agent, recorded every documented way, gives the run totals its provider billed.

Each framework's agent (tests/conformance/_agents.py) talks over real HTTP, with
the real client library, to a provider on 127.0.0.1 that bills every answer
(tests/conformance/_provider.py). Whatever records it (decorators,
`instrument()`, `agentreel record --`, the OpenTelemetry SDK exporting to the
receiver, or decorators and instrumentation mixed, where two or three spans
describe one model call), each invocation must be one run, with its status, and
with exactly the input and output tokens and the cost (genai-prices) the provider
billed for it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price

from agentreel.store import Receiver, Store
from tests.conformance._provider import Provider, Usage

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = Path(__file__).with_name("_agents.py")
HAND_WRITTEN = ["openai", "anthropic"]
FRAMEWORKS = ["pydantic-ai", "openai-agents", "langgraph"]
#: Every documented way to record each agent (hand-written loops have no framework
#: spans for `record --` or an OTLP exporter to find).
WAYS = [(f, h) for f in HAND_WRITTEN for h in ("decorators", "instrument", "mixed")] + [
    (f, h) for f in FRAMEWORKS for h in ("instrument", "record", "otlp", "mixed")
]
PROVIDERS = {"openai": "openai", "anthropic": "anthropic"}


def _record(
    tmp_path: Path, llm: Provider, framework: str, how: str, scenario: str, n: int
) -> tuple[list[dict[str, str]], list[Usage], Store]:
    """Run the agent `n` times, recorded `how`; returns its results, the bill, and the store."""
    store_dir = tmp_path / "store"
    env = {**os.environ, "BASE": llm.url, "AGENTREEL_DIR": str(store_dir), "PYTHONPATH": str(ROOT)}
    agent = [sys.executable, str(PROGRAM), framework, how, scenario, str(n)]
    receiver = None
    if how == "record":
        agent[2:4] = [framework, "plain"]
        cmd = [sys.executable, "-m", "agentreel", "record", "--dir", str(store_dir), "--", *agent]
    elif how == "otlp":
        receiver = Receiver(store_dir, port=0).start()
        env["OTLP_ENDPOINT"] = receiver.url
        cmd = agent
    else:
        cmd = agent
    llm.take()
    try:
        out = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=180, cwd=tmp_path
        )
    finally:
        if receiver is not None:
            receiver.stop()
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(x for x in reversed(out.stdout.splitlines()) if x.startswith("["))
    store = Store.open(store_dir)
    store.ingest()
    return json.loads(line), llm.take(), store


def _cost(bill: list[Usage], provider_id: str) -> float:
    return sum(
        float(
            calc_price(
                PriceUsage(input_tokens=u.input_tokens, output_tokens=u.output_tokens),
                model_ref=u.model,
                provider_id=provider_id,
            ).total_price
        )
        for u in bill
    )


@pytest.mark.parametrize(("framework", "how"), WAYS)
def test_each_invocation_is_one_run_with_the_billed_totals(
    tmp_path: Path, llm: Provider, framework: str, how: str
) -> None:
    results, bill, store = _record(tmp_path, llm, framework, how, "ok", 2)
    with store:
        runs = store.runs().sort("start_time")
        spans = [store.spans(r) for r in runs["run_id"]]
    assert results == [{"ok": "It is sunny in Paris."}] * 2
    assert runs.height == 2, runs.select("name", "span_count")
    # the two invocations hold the same conversation (bar one digit): billed alike
    per_run = len(bill) // 2
    assert len(bill) == 2 * per_run
    assert per_run >= 2
    want_in = sum(u.input_tokens for u in bill[:per_run])
    want_out = sum(u.output_tokens for u in bill[:per_run])
    want_cost = _cost(bill[:per_run], PROVIDERS.get(framework, "openai"))
    for run, tree in zip(runs.iter_rows(named=True), spans, strict=True):
        assert run["status"] == "ok", run["error_message"]
        assert (run["input_tokens"], run["output_tokens"]) == (want_in, want_out)
        assert run["cost_usd"] == pytest.approx(want_cost, rel=1e-9)
        assert run["llm_count"] == per_run  # model calls, however many spans describe each
        assert run["unpriced_llm_count"] == 0
        assert run["name"] not in ("Agent workflow", "ChatCompletion", "(no root span)")
        assert "sunny in Paris" in (run["output"] or "")
        # the tree: one root, an agent or graph, the model calls and the weather tool
        assert tree.filter(tree["parent_span_id"].is_null()).height == 1
        kinds = set(tree["kind"])
        assert {"llm", "tool"} <= kinds or (framework == "langgraph" and how != "mixed")
        counted = tree.filter(tree["usage_counted"].fill_null(False))
        assert counted.height == per_run
        assert counted["input_tokens"].sum() == want_in


@pytest.mark.parametrize(("framework", "how"), [w for w in WAYS if w[1] != "otlp"])
def test_an_invocation_that_cannot_reach_its_model_is_an_error_run(
    tmp_path: Path, llm: Provider, framework: str, how: str
) -> None:
    results, bill, store = _record(tmp_path, llm, framework, how, "down", 1)
    with store:
        runs = store.runs()
        errors = store.runs(query="status:error")
    assert len(results) == 1
    assert "error" in results[0]
    assert bill == []
    assert runs.height == 1
    assert errors.height == 1
    run = errors.row(0, named=True)
    assert run["error_type"] or run["error_message"]


@pytest.mark.parametrize("how", ["instrument", "record", "otlp", "mixed"])
def test_an_openai_agents_run_past_its_turn_limit_is_an_error_run(
    tmp_path: Path, llm: Provider, how: str
) -> None:
    results, bill, store = _record(tmp_path, llm, "openai-agents", how, "turns", 1)
    with store:
        runs = store.runs()
    assert results == [{"error": "MaxTurnsExceeded"}]
    assert runs.height == 1
    run = runs.row(0, named=True)
    assert run["status"] == "error"
    assert run["input_tokens"] == sum(u.input_tokens for u in bill)


@pytest.mark.parametrize("how", ["instrument", "record"])
def test_concurrent_langgraph_invocations_are_one_run_each(
    tmp_path: Path, llm: Provider, how: str
) -> None:
    results, bill, store = _record(tmp_path, llm, "langgraph", how, "parallel", 5)
    with store:
        runs = store.runs()
    assert results == [{"ok": "It is sunny in Paris."}] * 5
    assert runs.height == 5, runs.select("name", "span_count")
    assert runs["input_tokens"].sum() == sum(u.input_tokens for u in bill)
    assert runs["output_tokens"].sum() == sum(u.output_tokens for u in bill)
    assert set(runs["llm_count"]) == {2}


def test_show_marks_the_usage_it_does_not_count(tmp_path: Path, llm: Provider) -> None:
    _, bill, store = _record(tmp_path, llm, "openai", "mixed", "ok", 1)
    with store:
        (rid,) = store.runs()["run_id"].to_list()
    out = subprocess.run(
        [sys.executable, "-m", "agentreel", "show", rid, "--dir", str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert out.returncode == 0, out.stderr
    first = bill[0]
    tokens = f"{first.input_tokens}/{first.output_tokens}"
    # the @llm span around the client call: shown, in parentheses; the client's span counts
    assert f"({tokens})" in out.stdout
    assert f" {tokens} " in out.stdout
