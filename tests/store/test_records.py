"""The typed rows (`Run`, `Span`, ...) name exactly the columns the store returns, typed as
the store gives them, and the docs list those columns."""

from __future__ import annotations

import contextlib
import re
import types
import typing
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import agentreel
from agentreel.store import Evaluation, Event, Run, Session, Span, Store, records
from tests.conftest import Recorded

DOCS = Path(__file__).parents[2] / "docs"


@agentreel.llm(provider="openai", model="gpt-4o-mini")
def ask(q: str) -> dict[str, Any]:
    return {
        "choices": [{"message": {"content": "to " + q}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3},
    }


@agentreel.tool
def broken(q: str) -> str:
    raise ValueError("no such city: " + q)


@agentreel.agent
def helper(q: str) -> str:
    with contextlib.suppress(ValueError):
        broken(q)
    return str(ask(q)["choices"][0]["message"]["content"])


def _fits(value: Any, hint: Any) -> bool:
    """Whether `value` is of the type `hint` (the few forms the records use)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_fits(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _check(rows: list[Any], record: Any, frame: pl.DataFrame) -> None:
    hints = typing.get_type_hints(record)
    required = set(record.__required_keys__)
    assert required <= set(frame.columns), f"{record.__name__}: not in the frame"
    assert set(frame.columns) <= set(hints), f"{record.__name__}: columns it does not name"
    assert rows, f"no {record.__name__} rows to check"
    for row in rows:
        for key, value in row.items():
            assert _fits(value, hints[key]), f"{record.__name__}[{key!r}] = {value!r}"


@pytest.fixture
def store(recorded: Recorded) -> Store:
    with agentreel.run("trip", session="s-1", tags={"team": "maps"}):
        helper("Lyon")
    with agentreel.run("trip", session="s-1"):
        helper("Oslo")
    return recorded.store()


def test_the_records_name_every_column_of_what_the_store_returns(store: Store) -> None:
    with store:
        runs = store.runs()
        rid = runs["run_id"][0]
        store.evaluate(rid, "helpfulness", score=0.5, label="ok")
        spans, tree = store.spans(rid), store.tree(rid)
        assert spans.filter(pl.col("status") == "error").height == 1  # a null-free column or two
        _check(list(records(runs, Run)), Run, runs)
        _check([store.run(rid)], Run, runs.drop("input", strict=False))
        turns = store.session_turns("s-1")
        _check(list(records(turns, Run)), Run, turns)
        _check(list(records(spans, Span)), Span, spans)
        _check(list(records(tree, Span)), Span, tree)
        sessions = store.sessions()
        _check(list(records(sessions, Session)), Session, sessions)
        evaluations = store.evaluations(rid)
        _check(list(records(evaluations, Evaluation)), Evaluation, evaluations)
        row = store.evaluate(rid, "tone", label="curt", explanation="short")
        _check([row], Evaluation, evaluations.drop("origin"))
        events = store.events(rid)
        _check(list(records(events, Event)), Event, events)
        assert {"depth"} == set(tree.columns) - set(spans.columns) == Span.__optional_keys__
        assert isinstance(store.run(rid)["start_time"], datetime)


def _table_columns(page: str, heading: str) -> set[str]:
    """The backquoted names in the first column of the table under `heading`."""
    text = (DOCS / page).read_text()
    section = text.split(heading, 1)[1].split("\n#", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`(\w+)`", line.split("|")[1]))
    return names


@pytest.mark.parametrize(
    ("record", "heading", "extra"),
    [
        (Run, "### `runs`", {"input"}),
        (Span, "### `spans`", {"depth"}),
        (Session, "### Sessions", set()),
        (Evaluation, "### `evaluation_records` and `evaluations`", {"origin"}),
        (Event, "### `events`", set()),
    ],
)
def test_the_records_match_the_data_model_and_are_documented(
    record: Any, heading: str, extra: set[str]
) -> None:
    assert set(typing.get_type_hints(record)) - extra == _table_columns("data-model.md", heading)
    api = _table_columns("python-api.md", f"### `agentreel.store.{record.__name__}`")
    assert api == set(typing.get_type_hints(record))
