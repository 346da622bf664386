"""Evaluations: scores, labels and comments attached to a run or a span.

Two sources, one view (``evaluations``, docs/data-model.md#evaluations):

- ``evaluation_records``: what `agentreel.evaluate`, ``agentreel evaluate`` and the TUI
  write. Each is also appended to ``evaluations.jsonl`` in the store directory, so that
  `agentreel rebuild` brings them back with the spans.
- span events named ``gen_ai.evaluation.result`` (the OpenTelemetry GenAI convention),
  as any instrumentation or an OTLP import delivers them. `export_otlp_json` writes
  the records as such events on the span they judge, so an export carries them.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from agentreel._errors import AgentreelError
from agentreel.store._attach import cursor
from agentreel.store._records import Evaluation

if TYPE_CHECKING:
    from agentreel.store._store import Store

__all__ = [
    "EVALUATION_EVENT",
    "JOURNAL",
    "add_evaluation",
    "evaluation_event",
    "read_evaluations",
    "restore_journal",
]

#: The span event (and log event) name of the GenAI conventions for an evaluation.
EVALUATION_EVENT = "gen_ai.evaluation.result"
#: The file beside the store file that keeps every written evaluation, for a rebuild.
JOURNAL = "evaluations.jsonl"

# the event's attributes, as the conventions name them
_NAME = "gen_ai.evaluation.name"
_SCORE = "gen_ai.evaluation.score.value"
_LABEL = "gen_ai.evaluation.score.label"
_EXPLANATION = "gen_ai.evaluation.explanation"
_SOURCE = "agentreel.evaluation.source"
_ID = "agentreel.evaluation.id"

_COLUMNS = (
    "evaluation_id",
    "run_id",
    "span_id",
    "name",
    "score",
    "label",
    "explanation",
    "source",
    "created_at",
)


def _check(name: str, score: Any, label: Any, explanation: Any, source: Any) -> float | None:
    if not isinstance(name, str) or not name.strip():
        raise AgentreelError("an evaluation needs a name (what was judged: helpfulness, ...)")
    if score is None and label is None:
        raise AgentreelError(f"evaluation {name!r} needs a score, a label, or both")
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise AgentreelError(f"evaluation {name!r}: score {score!r} is not a number")
        if not math.isfinite(score):
            raise AgentreelError(f"evaluation {name!r}: score {score!r} is not a finite number")
    for what, v in (("label", label), ("explanation", explanation), ("source", source)):
        if v is not None and not isinstance(v, str):
            raise AgentreelError(f"evaluation {name!r}: {what} {v!r} is not a string")
    return None if score is None else float(score)


def add_evaluation(
    store: Store,
    run_id: str,
    name: str,
    *,
    score: float | None = None,
    label: str | None = None,
    explanation: str | None = None,
    span_id: str | None = None,
    source: str,
) -> Evaluation:
    """Store one evaluation of run `run_id` (a unique prefix), or of one of its spans.

    Returns the stored row. Raises `RunNotFound` for an unknown run and
    `AgentreelError` for a span not in the run or a bad value.
    """
    value = _check(name, score, label, explanation, source)
    rid = store.resolve_run(run_id)
    if span_id is not None:
        found = store.sql(
            "SELECT span_id FROM spans WHERE run_id = $r AND starts_with(span_id, $s)",
            {"r": rid, "s": span_id.lower()},
        )["span_id"].to_list()
        if len(found) != 1:
            what = "no span" if not found else f"{len(found)} spans"
            raise AgentreelError(f"run {rid[:12]} has {what} whose id starts {span_id!r}")
        span_id = str(found[0])
    row: Evaluation = {
        "evaluation_id": uuid.uuid4().hex,
        "run_id": rid,
        "span_id": span_id,
        "name": name.strip(),
        "score": value,
        "label": label,
        "explanation": explanation,
        "source": source,
        "created_at": datetime.now(UTC).replace(tzinfo=None),
    }
    _journal(store.path, row)
    cur = cursor(store._con)
    try:
        cur.execute(
            f"INSERT INTO evaluation_records ({', '.join(_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in _COLUMNS)})",
            [row.get(c) for c in _COLUMNS],
        )
    finally:
        cur.close()
    return row


def _journal(root: Path, row: Evaluation) -> None:
    path = root / JOURNAL
    line = json.dumps({**row, "created_at": row["created_at"].isoformat()}) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def restore_journal(con: duckdb.DuckDBPyConnection, root: Path) -> int:
    """Put back the journal's evaluations that the table lacks (after a rebuild)."""
    path = root / JOURNAL
    if not path.is_file():
        return 0
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            r = json.loads(line)
            r["created_at"] = datetime.fromisoformat(r["created_at"])
            rows.append({c: r.get(c) for c in _COLUMNS})
        except (ValueError, TypeError, KeyError, AttributeError):
            continue  # a line cut by a crash mid-write
    if not rows:
        return 0
    frame = pl.DataFrame(rows, schema_overrides={"score": pl.Float64})
    cur = cursor(con)
    try:
        cur.register("journal_rows", frame.to_arrow())
        before = cur.execute("SELECT count(*) FROM evaluation_records").fetchall()[0][0]
        cur.execute(
            "INSERT INTO evaluation_records BY NAME SELECT * FROM journal_rows j WHERE NOT EXISTS "
            "(SELECT 1 FROM evaluation_records e WHERE e.evaluation_id = j.evaluation_id) "
            "AND j.run_id IN (SELECT run_id FROM runs)"  # not the runs gc removed
        )
        after = cur.execute("SELECT count(*) FROM evaluation_records").fetchall()[0][0]
    finally:
        cur.close()
    return int(after - before)


def read_evaluations(
    store: Store,
    *,
    run_ids: list[str] | None = None,
    name: str | None = None,
    since: datetime | None = None,
) -> pl.DataFrame:
    """Evaluations (from both sources), oldest first."""
    where: list[str] = []
    params: dict[str, Any] = {}
    if run_ids is not None:
        where.append("list_contains($ids, run_id)")
        params["ids"] = run_ids
    if name is not None:
        where.append("name = $name")
        params["name"] = name
    if since is not None:
        where.append("created_at >= $since")
        params["since"] = since
    q = "SELECT * FROM evaluations"
    if where:
        q += " WHERE " + " AND ".join(where)
    return store.sql(q + " ORDER BY created_at, evaluation_id", params)


def evaluation_event(row: dict[str, Any]) -> dict[str, Any]:
    """A stored evaluation as an OTLP/JSON span event (its attributes as a mapping)."""
    attrs: dict[str, Any] = {_NAME: row["name"], _SOURCE: row["source"], _ID: row["evaluation_id"]}
    if row["score"] is not None:
        attrs[_SCORE] = row["score"]
    if row["label"] is not None:
        attrs[_LABEL] = row["label"]
    if row["explanation"] is not None:
        attrs[_EXPLANATION] = row["explanation"]
    return {"name": EVALUATION_EVENT, "time_ns": row["time_ns"], "attributes": attrs}
