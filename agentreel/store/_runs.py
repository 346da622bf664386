"""Runs from spans: which spans count, and one `runs` row per trace.

The rules (docs/data-model.md, "How runs are derived") hold whichever
instrumentation wrote the spans, so that two of them describing one model call,
or a framework's wrapper span above the agent that failed, give the same run
totals and status as the decorators alone:

- **usage**: a model call is counted once, from the innermost LLM span that
  reports its tokens. An LLM span with such a span inside it (the `@llm`
  function around an instrumented client call, pydantic-ai's ``chat`` span
  around the OpenAI instrumentation's, the Anthropic SDK's own span inside
  either) keeps its numbers but is marked ``usage_counted = false``;
- **calls**: ``llm_count`` counts LLM spans with no LLM span inside them, and
  ``tool_count`` tool spans with no tool span inside them (a framework's tool
  span around an ``@agentreel.tool`` is one call);
- **replays**: an LLM step a replay served from its recording spent nothing:
  its usage is not counted either, nor that of LLM spans around it (a client's
  span reads the served answer's usage);
- **status**: a run failed when its root span failed, or when a step on its
  last path failed (from the root down, each time the child that started last):
  an error nothing ran after, which the spans above it may not record (a
  framework's trace span records no error of its own). A failed step that was
  followed by more work (a retried tool), or below a span that ended with no
  status (no exception passed through it: the program caught it), leaves the
  run ok;
- **name**: from the root, else from the outermost agent span with a name;
- **output**: the output of the outermost step that has one.

Every query here works on the runs listed in the temporary table ``touched``, and
reads the narrow columns of their spans once (``touched_spans``): the payloads'
columns are read only for the few spans whose text a run keeps (its root's
attributes, its output). A drain tells `rebuild_touched` which rows it brought, so
that runs new to the store are built from those rows alone: reading them from the
whole table made every transaction of a large drain scan every span stored before
it, and the drain's cost grow with the square of the store.
"""

from __future__ import annotations

import duckdb

__all__ = ["rebuild_all", "rebuild_touched"]

# The tree of the touched runs (the rows of `spans` that `scope` selects), narrow: each
# span is known by its row id (`rid`) from here on, so the walks below join on one
# integer, not on a pair of text ids (3-4 times dearer), and the text columns are read
# from `spans` only where a run keeps them, not copied (a wide copy cost as much as
# all the rest). `parent_rid` is NULL for a root or a span whose parent is not stored;
# `last_child`: the child of its parent that started last (among equals, the one still
# open, else the one that ended last), the step the run's last path takes. `u`: an LLM span that
# reports usage; `served`: a step a replay served from its recording (nothing was
# spent). CASE evaluates a branch only for the rows it selects: only LLM spans'
# attributes are read.
_TOUCHED_SPANS = """
CREATE OR REPLACE TEMP TABLE touched_spans AS
WITH r AS NOT MATERIALIZED (
    SELECT x.rowid AS rid, run_id, span_id, parent_span_id, kind, status, start_time, end_time,
           output IS NOT NULL AS has_output,  -- an empty answer is an answer
           input_tokens IS NOT NULL OR output_tokens IS NOT NULL AS tokens,
           CASE WHEN kind = 'llm'
                THEN json_extract(attributes, '$."agentreel.replay.step"') IS NOT NULL
                ELSE false END AS served
    FROM spans x WHERE {scope}
),
linked AS MATERIALIZED (
    SELECT t.rid, t.run_id, t.parent_span_id IS NULL AS is_root, t.kind, t.status,
           t.start_time, t.end_time, t.has_output, t.tokens, t.kind = 'llm' AND t.tokens AS u,
           t.served, p.rid AS parent_rid
    FROM r t LEFT JOIN r p ON p.run_id = t.run_id AND p.span_id = t.parent_span_id
),
last_child AS (
    SELECT arg_max(rid, (start_time, coalesce(end_time, 'infinity'::TIMESTAMP_NS))) AS rid
    FROM linked WHERE parent_rid IS NOT NULL GROUP BY parent_rid
)
SELECT linked.*, l.rid IS NOT NULL AS last_child FROM linked LEFT JOIN last_child l USING (rid)
"""

# Every ancestor of every LLM and tool span, with what is below it: LLM spans, LLM
# spans that report usage, tool spans. UNION (not UNION ALL) keeps one row per
# (ancestor, flags), which also ends the walk on a parent cycle that hand-made spans
# could hold.
_LLM_INSIDE = """
CREATE OR REPLACE TEMP TABLE llm_inside AS
WITH RECURSIVE up(anc, llm, u, served) AS (
    SELECT parent_rid, kind = 'llm', u, served FROM touched_spans
    WHERE kind IN ('llm', 'tool') AND parent_rid IS NOT NULL
    UNION
    SELECT p.parent_rid, up.llm, up.u, up.served
    FROM up JOIN touched_spans p ON p.rid = up.anc
    WHERE p.parent_rid IS NOT NULL
)
SELECT anc AS rid, bool_or(u) AS usage_inside, bool_or(llm) AS llm_below,
       bool_or(NOT llm) AS tool_below, bool_or(served) AS served_below
FROM up GROUP BY ALL
"""

# Whether a span that reports tokens counts: when it is the innermost LLM span of its
# call and the call was not served by a replay (a client's span around a served step
# reads the served answer's usage: nothing was spent either). Spans of other kinds
# never count (an agent span's totals repeat its calls'). NULL: no tokens.
_SPAN_FLAGS = """
CREATE OR REPLACE TEMP TABLE span_flags AS
SELECT t.rid,
       CASE WHEN t.tokens THEN t.u AND NOT t.served AND NOT coalesce(i.usage_inside, false)
            AND NOT coalesce(i.served_below, false) END AS counted,
       coalesce(i.llm_below, false) AS llm_below, coalesce(i.tool_below, false) AS tool_below
FROM touched_spans t LEFT JOIN llm_inside i USING (rid)
"""

_MARK_USAGE = """
UPDATE spans SET usage_counted = n.counted
FROM (SELECT rid, counted FROM span_flags WHERE counted IS NOT NULL) n
WHERE {scope} AND spans.rowid = n.rid AND spans.usage_counted IS DISTINCT FROM n.counted
"""

# One walk down from each root, 64 levels at most, carrying three questions at once
# (a span is visited while one of them is still open):
# - `agents`: reached through spans other than agents (the root aside): the outermost
#   agent spans are the agent spans reached so;
# - `outputs`: reached through spans without an output: the outermost step with one
#   is among the spans reached so;
# - `last`: on the run's last path: from the root down, each time to the child that
#   started last. An error on it is one the run did not recover from (nothing ran
#   after it), even when the spans above it say ok: a framework's trace span records
#   no error of its own, and the OpenAI Agents SDK marks the turn, not the agent,
#   that raised.
# Each span has one parent, so a span is reached once, at one depth, with one set of
# answers; UNION still ends the walk on a cycle within the depth cap.
_WALK = """
CREATE OR REPLACE TEMP TABLE walked AS
WITH RECURSIVE down(rid, depth, agents, outputs, last, kind, has_output) AS (
    SELECT rid, 0, true, true, true, kind, has_output FROM touched_spans WHERE is_root
    UNION
    SELECT c.rid, down.depth + 1,
           down.agents AND (down.depth = 0 OR down.kind <> 'agent'),
           down.outputs AND NOT down.has_output,
           down.last AND c.last_child,
           c.kind, c.has_output
    FROM down JOIN touched_spans c ON c.parent_rid = down.rid
    WHERE down.depth < 64
      AND ((down.agents AND (down.depth = 0 OR down.kind <> 'agent'))
           OR (down.outputs AND NOT down.has_output)
           OR (down.last AND c.last_child))
)
SELECT down.rid, down.depth, down.agents, down.outputs, down.last,
       t.run_id, t.kind, t.start_time, t.end_time, t.has_output, t.status
FROM down JOIN touched_spans t USING (rid)
"""

# One row per run touched, recomputed from all its spans: the text a run keeps is read
# from `spans` for the rows that hold it (roots, failed steps, outermost agents, outputs).
_REBUILD = """
INSERT INTO runs BY NAME
WITH s AS NOT MATERIALIZED (SELECT x.rowid AS rid, * FROM spans x WHERE {scope}),
root AS (
    SELECT rid, run_id, span_id, name, status, error_type, error_message, start_time, end_time,
           agent_name, session_id, process_id,
           coalesce(json_extract_string(attributes, '$."agentreel.run.name"'),
                    json_extract_string(attributes, '$."gen_ai.workflow.name"')) AS run_name,
           json_extract_string(attributes, '$."agentreel.run.tags"') AS run_tags
    FROM s WHERE parent_span_id IS NULL
    QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY start_time) = 1
),
last_path AS (SELECT run_id, rid, depth, status FROM walked WHERE last),
first_error AS (
    SELECT run_id, error_type, coalesce(error_message, status_message) AS error_message FROM s
    WHERE status = 'error'
    QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY end_time NULLS LAST, start_time) = 1
),
failed_last AS (
    -- the deepest failed step on the last path (closest to the cause), unless a span
    -- above it ended with no status: agentreel's spans and OpenTelemetry's context
    -- managers set an error on every exception that passes through them, so one left
    -- unset means the program handled it. (A span that claims ok may not know: the
    -- OpenAI Agents SDK's spans end ok when Runner.run raises.)
    SELECT l.run_id, l.rid, x.error_type,
           coalesce(x.error_message, x.status_message) AS error_message
    FROM last_path l JOIN s x USING (rid)
    WHERE x.status = 'error' AND l.depth > 0
      AND NOT EXISTS (
          SELECT 1 FROM last_path a
          WHERE a.run_id = l.run_id AND a.depth < l.depth AND a.status = 'unset')
    QUALIFY row_number() OVER (
        PARTITION BY l.run_id ORDER BY (x.error_type IS NOT NULL) DESC, l.depth DESC) = 1
),
named_agent AS (
    -- the outermost agent span with a name
    SELECT w.run_id, x.agent_name FROM walked w JOIN s x USING (rid)
    WHERE w.agents AND w.kind = 'agent' AND w.depth > 0 AND x.agent_name IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY w.run_id ORDER BY w.depth, w.start_time) = 1
),
top_output AS (
    -- the outermost step with an output (the shallowest; among equals, the one that ended last)
    SELECT run_id, rid FROM walked WHERE outputs AND has_output
    QUALIFY row_number() OVER (
        PARTITION BY run_id ORDER BY depth, end_time DESC NULLS LAST, start_time DESC
    ) = 1
),
final AS (SELECT o.run_id, x.output FROM top_output o JOIN s x USING (rid)),
agg AS (
    SELECT s.run_id,
        min(start_time) AS start_time,
        count(*) AS span_count,
        count(*) FILTER (WHERE kind = 'agent') AS agent_count,
        count(*) FILTER (WHERE kind = 'llm' AND NOT f.llm_below) AS llm_count,
        count(*) FILTER (WHERE kind = 'tool' AND NOT f.tool_below) AS tool_count,
        count(*) FILTER (WHERE kind = 'retriever') AS retriever_count,
        count(*) FILTER (WHERE status = 'error') AS error_count,
        sum(input_tokens) FILTER (WHERE f.counted) AS input_tokens,
        sum(output_tokens) FILTER (WHERE f.counted) AS output_tokens,
        sum(cache_read_tokens) FILTER (WHERE f.counted) AS cache_read_tokens,
        sum(cache_creation_tokens) FILTER (WHERE f.counted) AS cache_creation_tokens,
        sum(reasoning_tokens) FILTER (WHERE f.counted) AS reasoning_tokens,
        sum(cost_usd) FILTER (WHERE f.counted) AS cost_usd,
        count(*) FILTER (WHERE f.counted AND cost_usd IS NULL) AS unpriced_llm_count,
        any_value(session_id) AS session_id,
        any_value(process_id) AS process_id
    FROM s JOIN span_flags f USING (rid)
    GROUP BY s.run_id
)
SELECT
    agg.run_id,
    coalesce(root.run_name, root.agent_name, na.agent_name, root.name,
             CASE WHEN root.span_id IS NULL THEN '(no root span)' END) AS name,
    root.span_id AS root_span_id,
    coalesce(root.start_time, agg.start_time) AS start_time,
    root.end_time,
    CASE WHEN root.end_time IS NOT NULL
         THEN date_diff('microsecond', root.start_time, root.end_time) / 1000.0 END AS duration_ms,
    CASE WHEN root.span_id IS NULL OR root.end_time IS NULL THEN 'running'
         WHEN root.status = 'error' OR fa.rid IS NOT NULL THEN 'error'
         ELSE 'ok' END AS status,
    agg.span_count, agg.agent_count, agg.llm_count, agg.tool_count, agg.retriever_count,
    agg.error_count, agg.input_tokens, agg.output_tokens, agg.cost_usd, agg.unpriced_llm_count,
    agg.cache_read_tokens, agg.cache_creation_tokens, agg.reasoning_tokens,
    -- tags that are not JSON (sent by hand over OTLP, say) are left out, not a failed drain
    CASE WHEN json_valid(root.run_tags) THEN CAST(root.run_tags AS JSON) END AS tags,
    p.service_name, p.code_version,
    coalesce(root.session_id, agg.session_id) AS session_id,
    coalesce(root.process_id, agg.process_id) AS process_id,
    -- why the run failed (or where it stopped): nothing for a run that ended ok
    CASE WHEN root.end_time IS NULL OR root.status = 'error' OR fa.rid IS NOT NULL
         THEN coalesce(root.error_type, fa.error_type, fe.error_type) END AS error_type,
    CASE WHEN root.end_time IS NULL OR root.status = 'error' OR fa.rid IS NOT NULL
         THEN coalesce(root.error_message, fa.error_message, fe.error_message) END AS error_message,
    final.output
FROM agg
LEFT JOIN root USING (run_id)
LEFT JOIN first_error fe USING (run_id)
LEFT JOIN failed_last fa USING (run_id)
LEFT JOIN named_agent na USING (run_id)
LEFT JOIN final USING (run_id)
LEFT JOIN processes p ON p.process_id = coalesce(root.process_id, agg.process_id)
"""

_TEMP_TABLES = ("touched_spans", "llm_inside", "span_flags", "walked")


def rebuild_touched(con: duckdb.DuckDBPyConnection, *, only_drain: int | None = None) -> None:
    """Mark which spans count and rebuild the `runs` rows of the runs in ``touched``.

    Runs inside the caller's transaction. A drain whose runs are all new to the store
    passes its `ingest_id` as `only_drain`: their spans are then read from its own
    rows, not looked for in the whole table.
    """
    by_ingest = only_drain is not None
    params = {"i": only_drain} if by_ingest else {}
    scope = _scope("x", by_ingest)
    con.execute(_TOUCHED_SPANS.format(scope=scope), params)
    con.execute(_LLM_INSIDE)
    con.execute(_SPAN_FLAGS)
    con.execute(_MARK_USAGE.format(scope=_scope("spans", by_ingest)), params)
    con.execute(_WALK)
    con.execute("DELETE FROM runs WHERE run_id IN (SELECT run_id FROM touched)")
    con.execute(_REBUILD.format(scope=scope), params)
    for t in _TEMP_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {t}")


def _scope(alias: str, by_ingest: bool) -> str:
    """The rows of `spans` (as `alias`) a rebuild reads: the drain's, or the touched runs'."""
    if by_ingest:
        return f"{alias}.ingest_id = $i"
    return f"{alias}.run_id IN (SELECT run_id FROM touched)"


def rebuild_all(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild every run (after a migration changed how runs are derived)."""
    con.execute("CREATE OR REPLACE TEMP TABLE touched AS SELECT DISTINCT run_id FROM spans")
    rebuild_touched(con)
