"""Cached input and reasoning output: counted inside input and output, priced at their rates.

Providers bill input read from their prompt cache at a fraction of the input price
(and Anthropic input written to it at more). A run that ignored that would overstate
what cached calls cost, many times over for long cached prompts.
"""

from __future__ import annotations

from typing import Any

import pytest
from genai_prices import Usage, calc_price

import agentreel
from tests.conftest import Recorded


@agentreel.llm(provider="openai", model="gpt-4.1-mini")
def openai_call() -> dict[str, Any]:
    return {  # an OpenAI chat completion: prompt_tokens holds the cached ones
        "model": "gpt-4.1-mini",
        "usage": {
            "prompt_tokens": 10_000,
            "completion_tokens": 500,
            "prompt_tokens_details": {"cached_tokens": 8_000},
            "completion_tokens_details": {"reasoning_tokens": 300},
        },
    }


@agentreel.llm(provider="anthropic", model="claude-sonnet-4-5")
def anthropic_call() -> dict[str, Any]:
    return {  # an Anthropic message: input_tokens leaves the cached ones out
        "model": "claude-sonnet-4-5",
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 1_000,
            "output_tokens": 200,
            "cache_read_input_tokens": 6_000,
            "cache_creation_input_tokens": 2_000,
        },
    }


def test_cached_and_reasoning_tokens_are_counted_and_priced_as_billed(
    recorded: Recorded,
) -> None:
    with agentreel.run("cached"):
        openai_call()
        anthropic_call()
    with recorded.store() as store:
        spans = {s["request_model"]: s for s in store.sql("SELECT * FROM spans").to_dicts()}
        (run,) = store.runs().to_dicts()
    o, a = spans["gpt-4.1-mini"], spans["claude-sonnet-4-5"]
    assert (o["input_tokens"], o["cache_read_tokens"], o["reasoning_tokens"]) == (
        10_000,
        8_000,
        300,
    )
    # the conventions count cached input inside input_tokens: Anthropic's is added in
    assert (a["input_tokens"], a["cache_read_tokens"], a["cache_creation_tokens"]) == (
        9_000,
        6_000,
        2_000,
    )
    want_o = calc_price(
        Usage(input_tokens=10_000, cache_read_tokens=8_000, output_tokens=500),
        model_ref="gpt-4.1-mini",
        provider_id="openai",
    ).total_price
    want_a = calc_price(
        Usage(
            input_tokens=9_000,
            cache_read_tokens=6_000,
            cache_write_tokens=2_000,
            output_tokens=200,
        ),
        model_ref="claude-sonnet-4-5",
        provider_id="anthropic",
    ).total_price
    assert o["cost_usd"] == pytest.approx(float(want_o))
    assert a["cost_usd"] == pytest.approx(float(want_a))
    # at the plain input rate the OpenAI call would have cost twice as much
    assert o["cost_usd"] == pytest.approx(0.5 * (10_000 * 0.4 + 500 * 1.6) / 1e6)
    assert run["cache_read_tokens"] == 14_000
    assert run["cache_creation_tokens"] == 2_000
    assert run["reasoning_tokens"] == 300
    assert run["cost_usd"] == pytest.approx(float(want_o + want_a))


def test_openinference_token_details_land_in_the_same_columns(recorded: Recorded) -> None:
    from opentelemetry import trace

    tracer = recorded.provider.get_tracer("x")
    with agentreel.run("oi"), tracer.start_as_current_span("ChatCompletion") as s:
        s.set_attributes(
            {
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4.1-mini",
                "llm.provider": "openai",
                "llm.token_count.prompt": 1_000,
                "llm.token_count.completion": 10,
                "llm.token_count.prompt_details.cache_read": 900,
                "llm.token_count.completion_details.reasoning": 4,
            }
        )
    assert trace.get_tracer_provider() is not None
    with recorded.store() as store:
        (span,) = store.sql("SELECT * FROM spans WHERE kind = 'llm'").to_dicts()
    assert (span["cache_read_tokens"], span["reasoning_tokens"]) == (900, 4)


def test_the_span_detail_says_what_part_of_the_tokens_was_cached(recorded: Recorded) -> None:
    from rich.console import Console

    from agentreel.tui._detail import render_span

    with agentreel.run("cached"):
        openai_call()
    with recorded.store() as store:
        (span,) = store.sql("SELECT * FROM spans WHERE kind = 'llm'").to_dicts()
    console = Console(width=200, record=True, color_system=None)
    console.print(render_span(span, span["start_time"]))
    text = console.export_text()
    assert "of which" in text
    assert "8000 read from cache, 300 reasoning" in text
