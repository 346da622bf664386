"""Content records -> the payload columns of their spans, whichever arrives first.

A GenAI instrumentation may send a model call's messages as OTLP log records
(store/_otlp_logs.py) rather than as span attributes. The span and its log
records travel separately (two exporters, two requests, in any order), so the
drain keeps each content record in ``span_content`` and, in the same transaction:

1. fills the `input` and `output` of the spans it names where they are NULL (a
   payload the span carried itself wins), adds the record's other attributes
   to the span's attributes where the span has none of that name, and appends its
   span events (evaluation results) to the span's, once each;
2. forgets the content records whose span is now in complete: what remains in
   ``span_content`` waits for a span still to come (or still open: a complete
   record replaces a start record whole, and takes the content from here).

Only the content of this drain and the spans of this drain are looked at, so a
drain without log records pays one look at an empty table.

Example (inside a drain's transaction, after its spans went in)::

    runs = merge_content(con, ingest_id)   # runs of older spans that changed
"""

from __future__ import annotations

import json

import duckdb
import polars as pl

from agentreel._spool import CONTENT_FIELDS
from agentreel.store._genai_events import CHOICE_EVENT, MESSAGE_EVENTS

__all__ = ["CONTENT_COLUMNS", "INSERT_CONTENT", "merge_content"]

#: The content fields as `read_json` columns.
CONTENT_COLUMNS = "{" + ", ".join(f"'{k}': '{t}'" for k, t in CONTENT_FIELDS.items()) + "}"

#: Content records from `{source}` (segments read with `CONTENT_COLUMNS`) into the table.
INSERT_CONTENT = """
INSERT INTO span_content BY NAME
SELECT c.trace_id, c.span_id, c.time_ns, c.event, c.input, c.output, c.attributes,
       c.events, c.process_id, $ingest_id AS ingest_id
FROM {source} c
WHERE c.trace_id IS NOT NULL AND c.span_id IS NOT NULL
"""

# The spans with content to take: content of this drain, or spans of this drain that
# content waits for. A record that carries whole message lists (the current details
# event, or message attributes on any event) gives them, the earliest first; else the
# older per-message events' lists are joined in the order they were recorded.
_PAIRS = """
CREATE OR REPLACE TEMP TABLE content_pairs AS
WITH keys AS (
    SELECT trace_id, span_id FROM span_content WHERE ingest_id = $i
    UNION
    SELECT s.trace_id, s.span_id FROM spans s
    SEMI JOIN span_content c ON c.trace_id = s.trace_id AND s.span_id = c.span_id
    WHERE s.ingest_id = $i
),
rows AS (
    SELECT c.*, c.rowid AS seq,
           split_part(c.event, ',', 1) NOT IN ({older}) AS whole
    FROM span_content c SEMI JOIN keys k ON c.trace_id = k.trace_id AND c.span_id = k.span_id
)
SELECT trace_id, span_id,
       coalesce(
           first(input ORDER BY time_ns NULLS LAST, seq) FILTER (WHERE whole AND input IS NOT NULL),
           CAST(to_json(flatten(list(from_json(input, '["JSON"]') ORDER BY time_ns NULLS LAST, seq)
               FILTER (WHERE NOT whole AND input IS NOT NULL))) AS VARCHAR)
       ) AS input,
       coalesce(
           first(output ORDER BY time_ns NULLS LAST, seq) FILTER (WHERE whole AND output IS NOT NULL),
           CAST(to_json(flatten(list(from_json(output, '["JSON"]') ORDER BY time_ns NULLS LAST, seq)
               FILTER (WHERE NOT whole AND output IS NOT NULL))) AS VARCHAR)
       ) AS output,
       first(attributes ORDER BY time_ns NULLS LAST, seq) FILTER (WHERE attributes IS NOT NULL)
           AS attributes,
       CAST(to_json(flatten(list(from_json(events, '["JSON"]') ORDER BY time_ns NULLS LAST, seq)
           FILTER (WHERE events IS NOT NULL))) AS VARCHAR) AS events
FROM rows
GROUP BY ALL
""".replace("{older}", ", ".join(f"'{e}'" for e in (*MESSAGE_EVENTS, CHOICE_EVENT)))

_FILL = """
UPDATE spans SET
    input = coalesce(spans.input, p.input),
    output = coalesce(spans.output, p.output),
    attributes = CASE
        WHEN p.attributes IS NULL THEN spans.attributes
        WHEN spans.attributes IS NULL THEN p.attributes
        ELSE json_merge_patch(p.attributes, spans.attributes)
    END
FROM content_pairs p
WHERE spans.trace_id = p.trace_id AND spans.span_id = p.span_id
"""

_OLDER_RUNS = """
SELECT DISTINCT s.run_id FROM spans s
SEMI JOIN content_pairs p ON s.trace_id = p.trace_id AND s.span_id = p.span_id
WHERE s.ingest_id < $i
"""

_FORGET = """
DELETE FROM span_content USING (
    SELECT s.trace_id, s.span_id FROM spans s
    SEMI JOIN content_pairs p ON s.trace_id = p.trace_id AND s.span_id = p.span_id
    WHERE s.end_time IS NOT NULL
) done
WHERE span_content.trace_id = done.trace_id AND span_content.span_id = done.span_id
"""


def _add_events(con: duckdb.DuckDBPyConnection) -> None:
    """Append the content's span events (evaluation results) to their spans' events.

    An event the span already holds (same name and time: the same log record sent
    again) is not added twice.
    """
    rows = con.execute(
        "SELECT s.rowid, s.events, p.events FROM spans s JOIN content_pairs p "
        "ON s.trace_id = p.trace_id AND s.span_id = p.span_id WHERE p.events IS NOT NULL"
    ).fetchall()
    ids: list[int] = []
    merged: list[str] = []
    for rowid, had, new in rows:
        events = json.loads(had) if had else []
        seen = {(e.get("name"), e.get("time_ns")) for e in events}
        added = False
        for e in json.loads(new):
            key = (e.get("name"), e.get("time_ns"))
            if key not in seen:
                seen.add(key)
                events.append(e)
                added = True
        if added:
            ids.append(rowid)
            merged.append(json.dumps(events, ensure_ascii=False))
    if not ids:
        return
    with_events = pl.DataFrame(  # noqa: F841 - read by the SQL below
        {"rid": ids, "events": merged}, schema={"rid": pl.Int64, "events": pl.String}
    )
    con.execute("UPDATE spans SET events = w.events FROM with_events w WHERE spans.rowid = w.rid")


def merge_content(con: duckdb.DuckDBPyConnection, ingest_id: int) -> list[str]:
    """Land the content records that meet their span in drain `ingest_id`.

    Runs inside the drain's transaction, after its spans went in and were deduped.
    Returns the runs of spans stored by earlier drains that this one changed (the
    caller rebuilds them with the runs of its own spans).
    """
    if con.execute("SELECT 1 FROM span_content LIMIT 1").fetchone() is None:
        return []
    params = {"i": ingest_id}
    con.execute(_PAIRS, params)
    try:
        row = con.execute("SELECT count(*) FROM content_pairs").fetchone()
        if not row or not row[0]:
            return []
        con.execute(_FILL)
        _add_events(con)
        runs = [r[0] for r in con.execute(_OLDER_RUNS, params).fetchall()]
        con.execute(_FORGET)
        return runs
    finally:
        con.execute("DROP TABLE content_pairs")
