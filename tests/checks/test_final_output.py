"""A run's final output is its outermost step's: the Quickstart pattern passes `empty_output`.

``with agentreel.run(...)`` around an ``@agentreel.agent`` gives a root span with no
output of its own; the run's output is the agent's answer, so a healthy run is not
empty, and a refused answer is seen by the refusal and fairness checks.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel.checks import CheckConfig, Window, run_checks
from agentreel.store import Store
from tests.checks.conftest import fired

REFUSAL = "I'm sorry, I can't help with that."


def _record(path: Path, answers: list[tuple[str, str]]) -> None:
    agentreel.init(path, tracer_provider=TracerProvider(), flush_interval=60)
    try:

        @agentreel.agent(name="researcher")
        def research(question: str, answer: str) -> str:
            return answer

        for lang, answer in answers:
            with agentreel.run("nightly-eval", tags={"lang": lang}):
                research("How much energy does a data centre use?", answer)
    finally:
        agentreel.shutdown()


def test_the_run_output_is_the_agents_answer(tmp_path: Path) -> None:
    _record(tmp_path / "s", [("en", "About 1% of the world's electricity.")])
    with Store.open(tmp_path / "s") as store:
        store.ingest()
        run = store.runs().row(0, named=True)
    assert run["output"] == '"About 1% of the world\'s electricity."'


def test_healthy_runs_under_agentreel_run_pass_empty_output(tmp_path: Path) -> None:
    _record(tmp_path / "s", [("en", f"answer {i}") for i in range(40)])
    with Store.open(tmp_path / "s") as store:
        store.ingest()
        report = run_checks(store, current=Window(), baseline=False, env={})
    assert "empty_output" not in fired(report)
    row = report.results.filter(report.results["check"] == "empty_output").row(0, named=True)
    assert row["status"] == "pass"
    assert row["value"] == pytest.approx(0.0)


def test_group_disparity_sees_refusals_under_agentreel_run(tmp_path: Path) -> None:
    # French questions were refused half the time: an impact ratio of 0.5
    answers = [("en", "Here is the answer.")] * 40 + [("fr", REFUSAL), ("fr", "Voici.")] * 20
    _record(tmp_path / "s", answers)
    config = CheckConfig()
    config.settings["group_disparity"]["by"] = ["tags.lang"]
    with Store.open(tmp_path / "s") as store:
        store.ingest()
        report = run_checks(store, current=Window(), baseline=False, env={}, config=config)
    results = report.results
    refusal = results.filter(
        (results["check"] == "group_disparity") & results["statistic"].str.contains("refusal")
    )
    assert fired(report).get("group_disparity") in ("warn", "error"), refusal
    assert refusal["value"].min() == pytest.approx(0.5)
