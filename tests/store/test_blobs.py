"""Long LLM inputs are stored once per message (the `blobs` table) and read back whole."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

import agentreel
from agentreel.store import Store, export_otlp_json, export_parquet, import_otlp_json
from agentreel.store._blobs import MIN_PAYLOAD, REFS_OF_SPANS, address, expand
from tests.conftest import Recorded

SYSTEM = "You answer questions about the solar system, citing your sources. " * 8


def _conversation(name: str, turns: int, *, system: str = SYSTEM) -> tuple[str, list[Any]]:
    """A run whose agent talks for `turns` LLM calls; returns its id and what each call got."""
    sent: list[Any] = []

    @agentreel.llm(provider="openai", model="gpt-4.1-mini")
    def chat(messages: list[dict[str, str]]) -> dict[str, Any]:
        sent.append(json.loads(json.dumps(messages)))
        return {
            "role": "assistant",
            "content": f"Answer {len(messages)}: " + "the orbit is elliptical " * 12,
            "usage": {"input_tokens": 40 * len(messages), "output_tokens": 60},
        }

    @agentreel.agent(name=name)
    def talk() -> str:
        msgs = [{"role": "system", "content": system}]
        for i in range(turns):
            msgs.append({"role": "user", "content": f"Question {i}: " + "why is Mars red? " * 15})
            msgs.append(chat(msgs))
        return "done"

    with agentreel.run(name) as r:
        talk()
    return r.run_id, sent


def _stored_chars(store: Store, run_id: str) -> tuple[int, int]:
    """(characters stored for the run's inputs, the nodes they reach included; expanded)."""
    expanded = int(store.spans(run_id)["input"].str.len_chars().sum())
    row = store.sql(
        f"""
        WITH RECURSIVE c(hash, prev, bytes) AS (
            SELECT b.hash, b.prev, b.bytes FROM ({REFS_OF_SPANS}) r JOIN blobs b USING (hash)
            WHERE r.run_id = $r
            UNION
            SELECT b.hash, b.prev, b.bytes FROM c JOIN blobs b ON b.hash = c.prev
        )
        SELECT (SELECT sum(strlen(input)) FROM spans WHERE run_id = $r)
             + (SELECT coalesce(sum(bytes), 0) FROM c) AS n
        """,
        {"r": run_id},
    )
    return int(row["n"][0]), expanded


def test_a_long_conversation_grows_the_store_linearly_and_reads_back_whole(
    recorded: Recorded,
) -> None:
    short, _ = _conversation("short", 15)
    long, sent = _conversation("long", 30)
    with recorded.store() as store:
        s_stored, s_whole = _stored_chars(store, short)
        l_stored, l_whole = _stored_chars(store, long)
        llm = store.spans(long).filter(pl.col("kind") == "llm")
        raw = store.sql(
            "SELECT input FROM spans WHERE run_id = $r AND kind = 'llm' ORDER BY start_time",
            {"r": long},
        )["input"].to_list()
    # whole inputs grow with the square of the length, what is stored with the length
    assert l_whole / s_whole > 3.4
    assert l_stored / s_stored < 2.4
    assert l_stored < l_whole / 6
    # every call's input comes back as the very messages the function was given
    assert [json.loads(t)["messages"] for t in llm["input"].to_list()] == sent
    # long ones are stored as references, the first short ones whole
    assert len(raw[0]) < MIN_PAYLOAD
    assert json.loads(raw[0])["messages"] == sent[0]
    assert all(t.startswith('{"messages":{"$list":"') for t in raw[5:])
    assert max(len(t) for t in raw) < MIN_PAYLOAD  # each call adds its new messages only


def test_the_same_system_prompt_in_many_runs_is_stored_once(recorded: Recorded) -> None:
    ids = [_conversation(f"run{i}", 6)[0] for i in range(5)]
    with recorded.store() as store:
        n = store.sql("SELECT count(*) AS n FROM blobs WHERE contains(body, 'solar system')")["n"][
            0
        ]
        assert n == 1
        for rid in ids:
            assert SYSTEM in store.spans(rid).filter(pl.col("kind") == "llm")["input"][-1]


def test_free_text_search_finds_words_only_in_stored_parts(recorded: Recorded) -> None:
    rid, _ = _conversation("plain", 8, system="Be brief. " * 200 + "Mention Ganymede. ")
    _conversation("other", 8)
    with recorded.store() as store:
        stored = store.sql("SELECT string_agg(input, '') AS t FROM spans")["t"][0]
        assert "Ganymede" not in stored  # only in `blobs`
        assert store.runs(query="ganymede")["run_id"].to_list() == [rid]
        assert store.runs(query="-ganymede").height == 1


def test_exports_write_inputs_whole_and_reimport_the_same(
    recorded: Recorded, tmp_path: Path
) -> None:
    rid, sent = _conversation("exported", 12)
    with recorded.store() as store:
        whole = store.spans(rid).select("span_id", "input").sort("span_id")
        export_otlp_json(store, tmp_path / "runs.jsonl")
        export_parquet(store, tmp_path / "pq")
    assert '"$list"' not in (tmp_path / "runs.jsonl").read_text()
    pq = (
        duckdb.sql(
            f"SELECT span_id, input FROM read_parquet('{tmp_path}/pq/spans/**/*.parquet', "
            "hive_partitioning = true) ORDER BY span_id"
        )
        .pl()
        .select("span_id", "input")
    )
    assert pq.equals(whole)
    import_otlp_json(tmp_path / "copy", [tmp_path / "runs.jsonl"])
    with Store.open(tmp_path / "copy", create=True) as copy:
        copy.ingest()
        again = copy.spans(rid)
        assert again.select("span_id", "input").sort("span_id").equals(whole)
        assert copy.sql("SELECT count(*) AS n FROM blobs")["n"][0] > 0
    llm = whole.join(again.select("span_id", "kind"), on="span_id").filter(pl.col("kind") == "llm")
    assert sorted(len(json.loads(t)["messages"]) for t in llm["input"]) == sorted(
        len(m) for m in sent
    )


def test_gc_removes_the_parts_only_removed_runs_used(recorded: Recorded) -> None:
    old, _ = _conversation("old", 8, system="Old instructions. " * 30)
    kept, _ = _conversation("kept", 8)
    with recorded.store() as store:
        before = store.sql("SELECT count(*) AS n FROM blobs")["n"][0]
        store.sql(  # make `old` a month old
            "UPDATE runs SET start_time = start_time - INTERVAL 40 DAY, "
            "end_time = end_time - INTERVAL 40 DAY WHERE run_id = $r",
            {"r": old},
        )
        report = store.gc(older_than=timedelta(days=30))
        assert report.runs == [old]
        after = store.sql("SELECT count(*) AS n FROM blobs")["n"][0]
        assert 0 < after < before
        assert (
            store.sql("SELECT count(*) AS n FROM blobs WHERE contains(body, 'Old instr')")["n"][0]
            == 0
        )
        # the run kept still reads whole: no part it needs went
        assert '"$list"' not in "".join(store.spans(kept)["input"].drop_nulls().to_list())
        assert SYSTEM in store.spans(kept)["input"].drop_nulls()[-1]


def test_what_cannot_be_split_is_kept_whole(recorded: Recorded) -> None:
    @agentreel.llm(provider="openai", model="gpt-4.1-mini")
    def chat(messages: list[Any]) -> str:
        return "ok"

    literal = [{"role": "user", "content": 'a user wrote {"$list":"' + "0" * 32 + '"} ' * 20}] * 6
    with agentreel.run("odd") as r:
        chat(literal)
    with recorded.store() as store:
        raw = store.sql("SELECT input FROM spans WHERE kind = 'llm'")["input"][0]
        assert json.loads(raw)["messages"] == literal  # stored as it came
        assert json.loads(store.spans(r.run_id)["input"][-1])["messages"] == literal

    # not JSON, short, or text JSON cannot carry as UTF-8: nothing to split
    assert address("x" * 5000) is None
    assert address(json.dumps(["y" * 300])) is None
    assert address('["' + "\\ud800" * 700 + '"]') is None
    big = [{"n": 123456789012345678901234567890, "pad": "p" * 300}] * 9  # past 64 bits
    assert address(json.dumps(big)) is None
    # a reference whose node is missing stays a reference, never an error
    for kind in ("blob", "list"):
        ref = '[{"$' + kind + '":"' + "a" * 32 + '"}]'
        assert expand(ref, {}) == ref
    # a long string on its own is stored once, a list as a chain that shares its prefix
    doc = {"system": "s" * 2000, "messages": [{"n": i, "pad": "p" * 100} for i in range(3)]}
    ref, nodes = address(json.dumps(doc))  # type: ignore[misc]
    assert json.loads(expand(ref, nodes)) == doc
    doc["messages"].append({"n": 3, "pad": "q"})  # type: ignore[attr-defined]
    _, nodes2 = address(json.dumps(doc))  # type: ignore[misc]
    assert set(nodes) < set(nodes2)
    assert len(set(nodes2) - set(nodes)) == 1


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=400),
    lambda inner: (
        st.lists(inner, max_size=12) | st.dictionaries(st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=60,
)


@settings(max_examples=300, deadline=None)
@given(_json, st.integers(1, 4))
def test_any_json_payload_comes_back_equal_from_its_nodes(value: Any, copies: int) -> None:
    """Whatever a payload holds, splitting it and putting it back gives the same JSON value."""
    doc = [value] * copies + [{"pad": "p" * 1500}, [value, "q" * 600]]  # long enough to split
    text = json.dumps(doc, ensure_ascii=False)
    split = address(text)
    if '"$blob"' in text or '"$list"' in text:  # a payload that looks split is kept whole
        assert split is None
        return
    assert split is not None
    ref, nodes = split
    assert len(ref) < 100  # the whole top-level array is one chain
    assert json.loads(expand(ref, nodes)) == doc
