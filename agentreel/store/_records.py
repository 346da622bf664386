"""Typed rows: `Run`, `Span`, `Session`, `Evaluation` and `Event`, one per store table or view.

They are `TypedDict`s, so a row stays the plain dict polars gives (no copy, no
conversion, the same speed), while mypy and the reader know its keys and their types.
The keys and types follow the tables in docs/data-model.md; a test holds them to the
frames the store returns.

Example::

    from agentreel.store import Run, Store, records

    with Store.open() as store:
        for run in records(store.runs(limit=5), Run):
            print(run["run_id"][:8], run["status"], run["cost_usd"])
"""

# No `from __future__ import annotations` here: TypedDict reads `NotRequired` from
# evaluated annotations only, and `Run.__optional_keys__` must say what it is.
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, NotRequired, TypedDict, TypeVar, cast

if TYPE_CHECKING:
    import polars as pl

__all__ = ["Evaluation", "Event", "Run", "Session", "Span", "records"]

R = TypeVar("R")


class Run(TypedDict):
    """One row of ``runs`` (`Store.run`, the rows of `Store.runs` and `Store.runs_by_id`)."""

    run_id: str
    name: str | None
    root_span_id: str | None
    start_time: datetime | None
    end_time: datetime | None
    duration_ms: float | None
    status: str
    span_count: int | None
    agent_count: int | None
    llm_count: int | None
    tool_count: int | None
    retriever_count: int | None
    error_count: int | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    unpriced_llm_count: int | None
    tags: str | None
    service_name: str | None
    code_version: str | None
    session_id: str | None
    process_id: str | None
    error_type: str | None
    error_message: str | None
    output: str | None
    cache_read_tokens: int | None
    cache_creation_tokens: int | None
    reasoning_tokens: int | None
    #: Only in the rows of `Store.session_turns`: the root span's input.
    input: NotRequired[str | None]


class Span(TypedDict):
    """One row of ``spans`` (the rows of `Store.spans` and `Store.tree`)."""

    run_id: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str | None
    kind: str
    span_kind: str | None
    start_time: datetime
    end_time: datetime | None
    duration_ms: float | None
    status: str
    status_message: str | None
    error_type: str | None
    error_message: str | None
    agent_name: str | None
    tool_name: str | None
    tool_call_id: str | None
    operation: str | None
    provider: str | None
    request_model: str | None
    response_model: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    finish_reason: str | None
    session_id: str | None
    input: str | None
    output: str | None
    attributes: str | None
    events: str | None
    scope: str | None
    process_id: str | None
    ingest_id: int
    usage_counted: bool | None
    cache_read_tokens: int | None
    cache_creation_tokens: int | None
    reasoning_tokens: int | None
    links: str | None
    #: Only in the rows of `Store.tree`: 0 for a top-level span.
    depth: NotRequired[int]


class Session(TypedDict):
    """One row of `Store.sessions`: the runs that share a ``session_id``."""

    session_id: str
    turns: int
    start_time: datetime | None
    end_time: datetime | None
    duration_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    error_count: int | None
    failed_turns: int
    ended: str
    last_run_id: str
    names: list[str]


class Evaluation(TypedDict):
    """One row of ``evaluations`` (`Store.evaluate`, the rows of `Store.evaluations`)."""

    evaluation_id: str
    run_id: str
    span_id: str | None
    name: str
    score: float | None
    label: str | None
    explanation: str | None
    source: str
    created_at: datetime
    #: ``record`` or ``event``; not in the row `Store.evaluate` returns (always a record).
    origin: NotRequired[str]


class Event(TypedDict):
    """One row of ``events`` (`Store.events`)."""

    run_id: str
    span_id: str
    time: datetime
    name: str
    attributes: str | None


def records(frame: "pl.DataFrame", record: type[R]) -> Iterator[R]:
    """The rows of `frame` as `record` dicts (`Run`, `Span`, ...), lazily.

    Rows are the dicts `frame.iter_rows(named=True)` gives; `record` only names
    their type, for mypy and the reader (nothing is checked or copied).

    Example::

        for span in records(store.tree(run_id), Span):
            print("  " * span.get("depth", 0) + (span["name"] or ""))
    """
    return cast("Iterator[R]", frame.iter_rows(named=True))
