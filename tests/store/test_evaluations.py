"""Evaluations: scores, labels and comments on runs and spans, from Python, the CLI and OTLP."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import agentreel
from agentreel._errors import AgentreelError, RunNotFound
from agentreel.store import Store, export_otlp_json, import_otlp_json, rebuild
from tests._cli import agentreel_cli
from tests.conftest import Recorded


@agentreel.tool
def lookup(q: str) -> str:
    return "found " + q


@agentreel.agent
def answer(q: str) -> str:
    return lookup(q)


def _one_run(recorded: Recorded) -> tuple[str, str]:
    with agentreel.run("qa") as r:
        answer("tides")
    agentreel.flush()
    with recorded.store() as store:
        tool = store.sql("SELECT span_id FROM spans WHERE kind = 'tool'")["span_id"][0]
    return r.run_id, str(tool)


def helpfulness_judge(run_id: str) -> dict[str, Any]:
    """An evaluator function as a user writes one: it judges, agentreel stores."""
    return agentreel.evaluate(run_id, "helpfulness", score=0.75, explanation="names a source")


def test_an_evaluator_function_attaches_scores_that_show_and_export(
    recorded: Recorded, tmp_path: Path
) -> None:
    run_id, tool = _one_run(recorded)
    row = helpfulness_judge(run_id[:10])
    assert row["source"] == f"{__name__}:helpfulness_judge"  # who judged, by default
    agentreel.evaluate(run_id, "relevance", label="bad", span_id=tool[:6], source="user:ana")
    with Store.open(recorded.path) as store:
        got = store.evaluations(run_id)
        assert got.select("name", "score", "label", "span_id", "source", "origin").rows() == [
            ("helpfulness", 0.75, None, None, f"{__name__}:helpfulness_judge", "record"),
            ("relevance", None, "bad", tool, "user:ana", "record"),
        ]
        export_otlp_json(store, tmp_path / "out.jsonl")

    # an export carries them as gen_ai.evaluation.result events on the judged spans
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    events = [
        (s["spanId"], {a["key"]: a["value"] for a in e["attributes"]})
        for line in lines
        for rs in line["resourceSpans"]
        for ss in rs["scopeSpans"]
        for s in ss["spans"]
        for e in s.get("events", [])
        if e["name"] == "gen_ai.evaluation.result"
    ]
    by_name = {a["gen_ai.evaluation.name"]["stringValue"]: (sid, a) for sid, a in events}
    assert by_name["relevance"][0] == tool
    assert by_name["relevance"][1]["gen_ai.evaluation.score.label"] == {"stringValue": "bad"}
    assert by_name["helpfulness"][1]["gen_ai.evaluation.score.value"] == {"doubleValue": 0.75}

    # ... which another store imports as evaluations, with who made them
    other = tmp_path / "other"
    with Store.open(other, create=True) as store:
        import_otlp_json(store, [tmp_path / "out.jsonl"])
        store.ingest()
        got = store.evaluations(run_id)
        assert sorted(got.select("name", "score", "label", "source", "origin").rows()) == [
            ("helpfulness", 0.75, None, f"{__name__}:helpfulness_judge", "event"),
            ("relevance", None, "bad", "user:ana", "event"),
        ]
    # and importing it back into its own store adds nothing twice
    with Store.open(recorded.path) as store:
        import_otlp_json(store, [tmp_path / "out.jsonl"])
        store.ingest()
        assert store.evaluations(run_id).height == 2


def test_an_instrumentations_evaluation_event_is_read(recorded: Recorded) -> None:
    from opentelemetry import trace

    with agentreel.run("judged") as r:
        trace.get_current_span().add_event(
            "gen_ai.evaluation.result",
            {
                "gen_ai.evaluation.name": "toxicity",
                "gen_ai.evaluation.score.value": 0.02,
                "gen_ai.evaluation.score.label": "ok",
                "gen_ai.evaluation.explanation": "polite",
            },
        )
    with recorded.store() as store:
        (e,) = store.evaluations(r.run_id).iter_rows(named=True)
    assert (e["name"], e["score"], e["label"], e["explanation"], e["source"]) == (
        "toxicity",
        0.02,
        "ok",
        "polite",
        "span event",
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "x"}, "needs a score, a label, or both"),
        ({"name": "", "score": 1}, "needs a name"),
        ({"name": "x", "score": float("nan")}, "not a finite number"),
        ({"name": "x", "score": "high"}, "is not a number"),
        ({"name": "x", "score": True}, "is not a number"),
        ({"name": "x", "label": 3}, "label 3 is not a string"),
        ({"name": "x", "score": 1, "span_id": "ffffff"}, "has no span whose id starts"),
    ],
)
def test_a_bad_evaluation_is_refused_and_nothing_stored(
    recorded: Recorded, kwargs: dict[str, Any], message: str
) -> None:
    run_id, _ = _one_run(recorded)
    with pytest.raises(AgentreelError, match=message):
        agentreel.evaluate(run_id, **kwargs)
    with pytest.raises(RunNotFound):
        agentreel.evaluate("abcdef12", "x", score=1)
    with Store.open(recorded.path) as store:
        assert store.evaluations().height == 0


def test_evaluations_survive_a_rebuild_and_go_with_their_runs_in_gc(recorded: Recorded) -> None:
    run_id, _ = _one_run(recorded)
    agentreel.evaluate(run_id, "helpfulness", score=1.0, label="good")
    agentreel.shutdown()
    report = rebuild(recorded.path, force=True)
    assert report.runs == 1
    with Store.open(recorded.path) as store:
        assert store.evaluations(run_id)["label"].to_list() == ["good"]
        store.gc(older_than="0s")
        assert store.evaluations().height == 0
    rebuild(recorded.path, force=True)  # the journal does not bring back what gc removed
    with Store.open(recorded.path) as store:
        assert store.evaluations().height == 0
    agentreel.init(recorded.path, tracer_provider=recorded.provider)  # for the fixture's end


@settings(max_examples=15, deadline=None)  # two stores per example: about 0.25 s each
@given(
    explanation=st.text(max_size=200),
    label=st.text(min_size=1, max_size=40),
    score=st.floats(allow_nan=False, allow_infinity=False, width=64),
)
def test_any_text_and_number_round_trip_through_the_store_and_otlp(
    tmp_path_factory: pytest.TempPathFactory, explanation: str, label: str, score: float
) -> None:
    d = tmp_path_factory.mktemp("rt")
    with Store.open(d / "a", create=True) as store:
        import_otlp_json(store, [_RUN_FILE])
        store.ingest()
        store.evaluate(RUN, "n", score=score, label=label, explanation=explanation, source="t")
        export_otlp_json(store, d / "x.jsonl")
    with Store.open(d / "b", create=True) as store:
        import_otlp_json(store, [d / "x.jsonl"], redact=False)
        store.ingest()
        (e,) = store.evaluations(RUN).iter_rows(named=True)
    assert (e["score"], e["label"], e["explanation"], e["source"]) == (
        score,
        label,
        explanation,
        "t",
    )


RUN = "5b8aa5a2d7f4c1e3a9b0c2d4e6f80123"
_RUN_FILE = Path(__file__).with_name("_one_run.otlp.json")


@pytest.fixture(autouse=True, scope="module")
def _run_file() -> Any:
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": []},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": RUN,
                                "spanId": "1111111111111111",
                                "name": "root",
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": "1700000001000000000",
                            }
                        ]
                    }
                ],
            }
        ]
    }
    _RUN_FILE.write_text(json.dumps(doc))
    yield
    _RUN_FILE.unlink()


def test_the_cli_evaluates_lists_and_shows(tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return agentreel_cli(tmp_path / ".agentreel", *args, cwd=tmp_path)

    with Store.open(tmp_path / ".agentreel", create=True) as store:
        import_otlp_json(store, [_RUN_FILE])
        store.ingest()
    out = cli("evaluate", RUN[:8], "helpfulness", "--score", "0.5", "--label", "bad", "-m", "vague")
    assert out.returncode == 0, out.stderr
    assert "evaluated run 5b8aa5a2d7f4: helpfulness 0.5 bad: vague" in out.stdout
    listed = cli("evaluations")
    assert "helpfulness" in listed.stdout
    assert "user:" in listed.stdout
    shown = cli("show", RUN[:8])
    assert "evaluations" in shown.stdout
    assert "helpfulness 0.5 bad: vague" in shown.stdout
    as_json = json.loads(cli("show", RUN[:8], "--json").stdout)
    assert [e["name"] for e in as_json["evaluations"]] == ["helpfulness"]
    bad = cli("evaluate", RUN[:8], "helpfulness")
    assert bad.returncode == 2
    assert "needs a score, a label, or both" in bad.stderr


def test_an_open_store_given_as_store_is_a_clear_error(recorded: Recorded) -> None:
    """`store=` is the store's directory; an open `Store` there is named, not a TypeError."""
    run_id, _ = _one_run(recorded)
    with Store.open(recorded.path) as store:
        with pytest.raises(agentreel.ConfigError, match=r"takes the store's directory, not Store"):
            agentreel.evaluate(run_id, "x", score=1, store=store)  # type: ignore[arg-type]
        assert store.evaluate(run_id, "x", score=1)["score"] == 1.0
