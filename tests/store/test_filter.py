from __future__ import annotations

from datetime import datetime

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentreel.store import Store
from agentreel.store._filter import FilterError, parse_filter
from agentreel.store._schema import MIGRATIONS
from tests.conftest import Recorded
from tests.store.test_ingest import _record_some

FILTER_TERMS = [
    "status:error",
    "-status:ok",
    "name:a*",
    "tag:k=v",
    "model:m",
    "tool:t",
    "agent:a",
    "service:s",
    "id:ab12",
    "since:1h",
    "until:2026-01-01",
    "duration>2s",
    "cost<=0.5",
    "tokens>1k",
    "spans=3",
    "errors>0",
    "llm<2",
    "tools>=1",
    "text:x",
    "free",
    '"two words"',
    "-neg",
]


def test_filter_language_selects_runs(recorded: Recorded) -> None:
    ids = _record_some()  # 3 "eval" runs (tags i=0..2, run 1 has a failed tool) + "other"
    with recorded.store() as store:

        def q(text: str) -> list[str]:
            found = store.runs(query=text)["run_id"].to_list()
            assert store.count_runs(query=text) == len(found)  # counts what it would list
            return found

        assert sorted(q("name:eval")) == sorted(ids[:3])
        assert sorted(q("name:ev*")) == sorted(ids[:3])
        assert q("-name:eval") == [ids[3]]
        assert q("tag:i=1") == [ids[1]]
        assert q("errors>0") == [ids[1]]
        assert q("errors>=1 tool:search") == [ids[1]]
        assert sorted(q("model:gpt-4.1")) == sorted(ids[:3])
        assert q("model:model-nobody-prices") == [ids[3]]
        assert sorted(q("agent:helper")) == sorted(ids[:3])
        assert q("status:error") == []
        assert len(q("status:ok since:1h")) == 4
        assert q("until:1h") == []
        assert q("duration>1h") == []
        assert len(q("duration<1h spans>=2")) == 4
        assert q("tokens>=1.1k") == ids[:3][::-1]
        assert q(f"id:{ids[2][:6]}") == [ids[2]]
        assert q("slow") == [ids[1]]  # free text: an error message
        assert q("fail") == [ids[1]]  # and a payload (the failed call's input)
        assert sorted(q("helper")) == sorted(ids[:3])  # and span names
        assert (
            store.runs(query="name:eval", order_by="start_time", descending=False)[
                "run_id"
            ].to_list()
            == ids[:3]
        )


def test_filter_errors_name_the_term() -> None:
    for text, needle in [
        ("colour:red", "unknown filter key 'colour'"),
        ("status:meh", "status:meh is not one of"),
        ("duration>fast", "duration 'fast' is not a duration"),
        ("cost>cheap", "cost needs a number"),
        ("tag:novalue", "needs key=value"),
        ("since:tomorrow", "needs an age"),
        ('name:"unclosed', "close the quotes"),
        ("name>3", "name takes name:value"),
        ("origin:mine", "origin:mine is not one of recorded, replay, fork, any"),
    ]:
        with pytest.raises(FilterError, match=needle):
            parse_filter(text)


def test_values_are_parameters_never_sql(recorded: Recorded) -> None:
    _record_some()
    with recorded.store() as store:
        for attack in [
            "name:\"x' OR '1'='1\"",
            '"tag:a\')--=1"',
            'tool:"search\'); DROP TABLE spans; --"',
            '"\'; DROP TABLE runs; --"',
            "name:x' OR '1'='1",  # unbalanced quotes: refused, not run
        ]:
            if attack.count('"') % 2 or (attack.count("'") % 2 and '"' not in attack):
                with pytest.raises(FilterError, match="close the quotes"):
                    store.runs(query=attack)
            else:
                assert store.runs(query=attack).height == 0
        assert store.sql("SELECT count(*) AS n FROM spans")["n"][0] > 0
        assert store.runs().height == 4


_EMPTY = duckdb.connect()
for _m in MIGRATIONS:
    _EMPTY.execute(_m)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60) | st.lists(st.sampled_from(FILTER_TERMS), max_size=5).map(" ".join))
def test_any_text_compiles_to_valid_sql_or_a_clear_error(text: str) -> None:
    try:
        f = parse_filter(text, now=datetime(2026, 1, 1))
    except FilterError as e:
        message = str(e)
        assert message
        return
    for name in f.params:
        assert f"${name}" in f.where  # every value is bound, by name
    _EMPTY.execute(f"SELECT count(*) FROM runs WHERE {f.where}", f.params).fetchall()


def test_filters_run_against_a_store(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with Store.open(tmp_path, create=True) as store:
        assert store.runs(query='status:ok tool:x duration>1s "free text"').height == 0
