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

Every query here works on the runs listed in the temporary table ``touched``.
"""

from __future__ import annotations

import duckdb

__all__ = ["rebuild_all", "rebuild_touched"]

# Spans of the touched runs with the flags the walks need. `u`: an LLM span that reports usage.
_TOUCHED_SPANS = """
CREATE OR REPLACE TEMP TABLE touched_spans AS
SELECT run_id, span_id, parent_span_id, kind, status, start_time, end_time, agent_name,
       output IS NOT NULL AS has_output,  -- an empty answer is an answer
       input_tokens IS NOT NULL OR output_tokens IS NOT NULL AS tokens,
       kind = 'llm' AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL) AS u,
       -- a step a replay served from its recording: nothing was spent
       kind = 'llm' AND json_extract(attributes, '$."agentreel.replay.step"') IS NOT NULL AS served
FROM spans WHERE run_id IN (SELECT run_id FROM touched)
"""

# Every ancestor of every LLM and tool span, with what is below it: LLM spans, LLM
# spans that report usage, tool spans. UNION (not UNION ALL) keeps one row per
# (ancestor, flags), which also ends the walk on a parent cycle that hand-made spans
# could hold.
_LLM_INSIDE = """
CREATE OR REPLACE TEMP TABLE llm_inside AS
WITH RECURSIVE up(run_id, anc, llm, u, served) AS (
    SELECT run_id, parent_span_id, kind = 'llm', u, served FROM touched_spans
    WHERE kind IN ('llm', 'tool') AND parent_span_id IS NOT NULL
    UNION
    SELECT p.run_id, p.parent_span_id, up.llm, up.u, up.served
    FROM up JOIN touched_spans p ON p.run_id = up.run_id AND p.span_id = up.anc
    WHERE p.parent_span_id IS NOT NULL
)
SELECT run_id, anc AS span_id, bool_or(u) AS usage_inside, bool_or(llm) AS llm_below,
       bool_or(NOT llm) AS tool_below, bool_or(served) AS served_below
FROM up GROUP BY ALL
"""

# Every span that reports tokens: counted when it is the innermost LLM span of its call
# and the call was not served by a replay (a client's span around a served step reads
# the served answer's usage: nothing was spent either). Spans of other kinds never count (an agent span's
# totals repeat its calls').
_MARK_USAGE = """
UPDATE spans s SET usage_counted = n.counted
FROM (
    SELECT t.run_id, t.span_id,
           t.u AND NOT t.served
             AND NOT coalesce(i.usage_inside, false) AND NOT coalesce(i.served_below, false)
             AS counted
    FROM touched_spans t LEFT JOIN llm_inside i USING (run_id, span_id)
    WHERE t.tokens
) n
WHERE s.run_id = n.run_id AND s.span_id = n.span_id AND s.usage_counted IS DISTINCT FROM n.counted
"""


def _walk_down(table: str, through: str, keep: str) -> str:
    """SQL making temp `table` of the spans reached from each root by going down only
    through spans (``p``) for which `through` holds, with their depth, then kept by
    `keep` (over ``t``, the span, and ``down.depth``). 64 levels at most."""
    return f"""
CREATE OR REPLACE TEMP TABLE {table} AS
WITH RECURSIVE down(run_id, span_id, depth) AS (
    SELECT run_id, span_id, 0 FROM touched_spans WHERE parent_span_id IS NULL
    UNION
    SELECT c.run_id, c.span_id, down.depth + 1
    FROM down
    JOIN touched_spans p ON p.run_id = down.run_id AND p.span_id = down.span_id
    JOIN touched_spans c ON c.run_id = down.run_id AND c.parent_span_id = down.span_id
    WHERE ({through}) AND down.depth < 64
)
SELECT t.*, down.depth FROM down JOIN touched_spans t USING (run_id, span_id)
{keep}
"""


# The outermost agent spans: agent spans reached from a root through spans of other kinds.
_TOP_AGENTS = _walk_down(
    "top_agents", "down.depth = 0 OR p.kind <> 'agent'", "WHERE t.kind = 'agent' AND down.depth > 0"
)

# The run's last path: from the root down, each time to the child that started last.
# An error on it is one the run did not recover from (nothing ran after it), even
# when the spans above it say ok: a framework's trace span records no error of its
# own, and the OpenAI Agents SDK marks the turn, not the agent, that raised.
_LAST_PATH = """
CREATE OR REPLACE TEMP TABLE last_path AS
WITH RECURSIVE last_child AS (
    SELECT run_id, parent_span_id, span_id FROM touched_spans WHERE parent_span_id IS NOT NULL
    QUALIFY row_number() OVER (
        PARTITION BY run_id, parent_span_id ORDER BY start_time DESC, end_time DESC NULLS FIRST
    ) = 1
),
down(run_id, span_id, depth) AS (
    SELECT run_id, span_id, 0 FROM touched_spans WHERE parent_span_id IS NULL
    UNION
    SELECT c.run_id, c.span_id, down.depth + 1
    FROM down JOIN last_child c ON c.run_id = down.run_id AND c.parent_span_id = down.span_id
    WHERE down.depth < 64
)
SELECT run_id, span_id, depth FROM down
"""

# The outermost step with an output: reached from a root through spans without one
# (the shallowest; among equals, the one that ended last).
_TOP_OUTPUTS = _walk_down(
    "top_outputs",
    "NOT p.has_output",
    """WHERE t.has_output
QUALIFY row_number() OVER (
    PARTITION BY run_id ORDER BY down.depth, t.end_time DESC NULLS LAST, t.start_time DESC
) = 1""",
)

# One row per run touched, recomputed from all its spans.
_REBUILD = """
INSERT INTO runs BY NAME
WITH s AS (
    -- the columns used below, not the payloads' (this CTE is read five times)
    SELECT run_id, span_id, parent_span_id, name, kind, status, status_message, error_type,
           error_message, start_time, end_time, agent_name, input_tokens, output_tokens,
           cache_read_tokens, cache_creation_tokens, reasoning_tokens, cost_usd, usage_counted, session_id, process_id, attributes, output
    FROM spans WHERE run_id IN (SELECT run_id FROM touched)
),
root AS (
    SELECT * FROM s WHERE parent_span_id IS NULL
    QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY start_time) = 1
),
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
    SELECT l.run_id, l.span_id, x.error_type,
           coalesce(x.error_message, x.status_message) AS error_message
    FROM last_path l JOIN s x USING (run_id, span_id)
    WHERE x.status = 'error' AND l.depth > 0
      AND NOT EXISTS (
          SELECT 1 FROM last_path a JOIN touched_spans t USING (run_id, span_id)
          WHERE a.run_id = l.run_id AND a.depth < l.depth AND t.status = 'unset')
    QUALIFY row_number() OVER (
        PARTITION BY run_id ORDER BY (x.error_type IS NOT NULL) DESC, l.depth DESC) = 1
),
named_agent AS (
    SELECT run_id, agent_name FROM top_agents WHERE agent_name IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY depth, start_time) = 1
),
final AS (
    SELECT o.run_id, x.output FROM top_outputs o JOIN s x USING (run_id, span_id)
),
agg AS (
    SELECT s.run_id,
        min(start_time) AS start_time,
        count(*) AS span_count,
        count(*) FILTER (WHERE kind = 'agent') AS agent_count,
        count(*) FILTER (WHERE kind = 'llm' AND NOT coalesce(i.llm_below, false)) AS llm_count,
        count(*) FILTER (WHERE kind = 'tool' AND NOT coalesce(i.tool_below, false)) AS tool_count,
        count(*) FILTER (WHERE kind = 'retriever') AS retriever_count,
        count(*) FILTER (WHERE status = 'error') AS error_count,
        sum(input_tokens) FILTER (WHERE usage_counted) AS input_tokens,
        sum(output_tokens) FILTER (WHERE usage_counted) AS output_tokens,
        sum(cache_read_tokens) FILTER (WHERE usage_counted) AS cache_read_tokens,
        sum(cache_creation_tokens) FILTER (WHERE usage_counted) AS cache_creation_tokens,
        sum(reasoning_tokens) FILTER (WHERE usage_counted) AS reasoning_tokens,
        sum(cost_usd) FILTER (WHERE usage_counted) AS cost_usd,
        count(*) FILTER (WHERE usage_counted AND cost_usd IS NULL) AS unpriced_llm_count,
        any_value(session_id) AS session_id,
        any_value(process_id) AS process_id
    FROM s LEFT JOIN llm_inside i USING (run_id, span_id)
    GROUP BY s.run_id
)
SELECT
    agg.run_id,
    coalesce(json_extract_string(root.attributes, '$."agentreel.run.name"'),
             json_extract_string(root.attributes, '$."gen_ai.workflow.name"'), root.agent_name,
             na.agent_name, root.name,
             CASE WHEN root.span_id IS NULL THEN '(no root span)' END) AS name,
    root.span_id AS root_span_id,
    coalesce(root.start_time, agg.start_time) AS start_time,
    root.end_time,
    CASE WHEN root.end_time IS NOT NULL
         THEN date_diff('microsecond', root.start_time, root.end_time) / 1000.0 END AS duration_ms,
    CASE WHEN root.span_id IS NULL OR root.end_time IS NULL THEN 'running'
         WHEN root.status = 'error' OR fa.span_id IS NOT NULL THEN 'error'
         ELSE 'ok' END AS status,
    agg.span_count, agg.agent_count, agg.llm_count, agg.tool_count, agg.retriever_count,
    agg.error_count, agg.input_tokens, agg.output_tokens, agg.cost_usd, agg.unpriced_llm_count,
    agg.cache_read_tokens, agg.cache_creation_tokens, agg.reasoning_tokens,
    -- tags that are not JSON (sent by hand over OTLP, say) are left out, not a failed drain
    CASE WHEN json_valid(json_extract_string(root.attributes, '$."agentreel.run.tags"'))
         THEN CAST(json_extract_string(root.attributes, '$."agentreel.run.tags"') AS JSON) END
         AS tags,
    p.service_name, p.code_version,
    coalesce(root.session_id, agg.session_id) AS session_id,
    coalesce(root.process_id, agg.process_id) AS process_id,
    -- why the run failed (or where it stopped): nothing for a run that ended ok
    CASE WHEN root.end_time IS NULL OR root.status = 'error' OR fa.span_id IS NOT NULL
         THEN coalesce(root.error_type, fa.error_type, fe.error_type) END AS error_type,
    CASE WHEN root.end_time IS NULL OR root.status = 'error' OR fa.span_id IS NOT NULL
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


def rebuild_touched(con: duckdb.DuckDBPyConnection) -> None:
    """Mark which spans count and rebuild the `runs` rows of the runs in ``touched``.

    Runs inside the caller's transaction.
    """
    for sql in (_TOUCHED_SPANS, _LLM_INSIDE, _MARK_USAGE, _TOP_AGENTS, _LAST_PATH, _TOP_OUTPUTS):
        con.execute(sql)
    con.execute("DELETE FROM runs WHERE run_id IN (SELECT run_id FROM touched)")
    con.execute(_REBUILD)
    for t in ("touched_spans", "llm_inside", "top_agents", "last_path", "top_outputs"):
        con.execute(f"DROP TABLE IF EXISTS {t}")


def rebuild_all(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild every run (after a migration changed how runs are derived)."""
    con.execute("CREATE OR REPLACE TEMP TABLE touched AS SELECT DISTINCT run_id FROM spans")
    rebuild_touched(con)
