"""The store's tables and their forward-only migrations.

The tables are a public contract (docs/data-model.md). A change to them is a new
migration appended to `MIGRATIONS`, never an edit of an old one; a store made by
a newer agentreel is refused, never altered.
"""

from __future__ import annotations

import duckdb

from agentreel._errors import StoreVersionError
from agentreel.store._dedupe import STORE_KEYS, losers_sql
from agentreel.store._runs import rebuild_all, rebuild_touched

__all__ = ["SCHEMA_VERSION", "migrate"]

_V1 = """
CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR);

CREATE TABLE segments (
    name VARCHAR NOT NULL,
    ingested_at TIMESTAMP NOT NULL,
    records BIGINT,
    status VARCHAR NOT NULL,          -- ingested | rejected
    error VARCHAR
);

CREATE TABLE processes (
    process_id VARCHAR NOT NULL,
    pid BIGINT,
    host VARCHAR,
    started_at TIMESTAMP_NS,
    argv JSON,
    resource JSON,
    service_name VARCHAR,
    code_version VARCHAR
);

CREATE TABLE spans (
    run_id VARCHAR NOT NULL,
    trace_id VARCHAR NOT NULL,
    span_id VARCHAR NOT NULL,
    parent_span_id VARCHAR,
    name VARCHAR,
    kind VARCHAR NOT NULL,            -- agent | llm | tool | retriever | embedding | chain | other
    span_kind VARCHAR,                -- OpenTelemetry SpanKind: internal, client, server, ...
    start_time TIMESTAMP_NS NOT NULL,
    end_time TIMESTAMP_NS,            -- NULL while the span is open (a start record)
    duration_ms DOUBLE,
    status VARCHAR NOT NULL,          -- ok | error | unset
    status_message VARCHAR,
    error_type VARCHAR,
    error_message VARCHAR,
    agent_name VARCHAR,
    tool_name VARCHAR,
    tool_call_id VARCHAR,
    operation VARCHAR,
    provider VARCHAR,
    request_model VARCHAR,
    response_model VARCHAR,
    input_tokens BIGINT,
    output_tokens BIGINT,
    cost_usd DOUBLE,
    finish_reason VARCHAR,
    session_id VARCHAR,
    input VARCHAR,                    -- JSON text, capped; see attributes."agentreel.input.truncated"
    output VARCHAR,
    attributes JSON,
    events JSON,                      -- [{name, time_ns, attributes}], NULL when none
    scope VARCHAR,
    process_id VARCHAR,
    ingest_id BIGINT NOT NULL         -- the drain transaction that brought the row
);

CREATE SEQUENCE ingest_seq START 1;

-- Span events (exceptions with their tracebacks, messages), one row each.
CREATE VIEW events AS
SELECT run_id, span_id, make_timestamp_ns(e.time_ns) AS time, e.name AS name, e.attributes AS attributes
FROM (
    SELECT run_id, span_id,
           unnest(from_json(events, '[{"name": "VARCHAR", "time_ns": "BIGINT", "attributes": "JSON"}]')) AS e
    FROM spans WHERE events IS NOT NULL
);

CREATE TABLE runs (
    run_id VARCHAR NOT NULL,
    name VARCHAR,
    root_span_id VARCHAR,
    start_time TIMESTAMP_NS,
    end_time TIMESTAMP_NS,
    duration_ms DOUBLE,
    status VARCHAR NOT NULL,          -- ok | error | running | interrupted
    span_count BIGINT,
    agent_count BIGINT,
    llm_count BIGINT,
    tool_count BIGINT,
    retriever_count BIGINT,
    error_count BIGINT,
    input_tokens BIGINT,
    output_tokens BIGINT,
    cost_usd DOUBLE,
    unpriced_llm_count BIGINT,
    tags JSON,
    service_name VARCHAR,
    code_version VARCHAR,
    session_id VARCHAR,
    process_id VARCHAR,
    error_type VARCHAR,
    error_message VARCHAR,
    output VARCHAR
);

CREATE TABLE prices (
    provider VARCHAR,
    model VARCHAR NOT NULL,
    input_usd_per_token DOUBLE,       -- NULL: the model is not in the price table
    output_usd_per_token DOUBLE,
    source VARCHAR
);
"""

# v2: results of `agentreel check`, one row per check, scope and statistic of a check run.
_V2 = """
CREATE TABLE check_results (
    check_run_id VARCHAR NOT NULL,    -- one `agentreel check` (one run_checks call)
    checked_at TIMESTAMP_NS NOT NULL, -- UTC
    check_name VARCHAR NOT NULL,
    scope VARCHAR NOT NULL,           -- all, or dimension=value
    statistic VARCHAR NOT NULL,
    status VARCHAR NOT NULL,          -- pass | warn | error | skip
    severity VARCHAR NOT NULL,        -- warn | error
    value DOUBLE,
    baseline DOUBLE,
    op VARCHAR,                       -- <= | >=
    warn_threshold DOUBLE,
    error_threshold DOUBLE,
    n BIGINT,
    baseline_n BIGINT,
    p_value DOUBLE,
    unit VARCHAR,                     -- share | ms | usd | count | number
    message VARCHAR,
    failures JSON,                    -- up to 20 failing rows or runs, as a list of objects
    current_window JSON,              -- the runs checked
    baseline_window JSON              -- what they were compared with
);
"""

# v3: content-addressed payload parts (long LLM inputs are stored once per message);
# an LLM span's input may hold {"$list":"<hash>"} and {"$blob":"<hash>"} references.
_V3 = """
CREATE TABLE blobs (
    hash VARCHAR NOT NULL,            -- blake2b-128 of (prev, body), hex
    prev VARCHAR,                     -- in a list: the node of the element before; else NULL
    body VARCHAR NOT NULL,            -- the element's or value's JSON text
    bytes BIGINT NOT NULL
);
"""

# v4: a model call is counted once however many spans describe it (`usage_counted`);
# runs are derived by new rules (status from the last path, name, final output),
# so every run is rebuilt after this step.
_V4 = """
ALTER TABLE spans ADD COLUMN usage_counted BOOLEAN;  -- NULL: the span reports no usage
"""

# v5: one row per span (trace_id, span_id): stores written before the rule may hold a
# span twice (a request resent, a file imported again); the copies are deleted by
# the rule of store/_dedupe.py, and the runs they were counted in are rebuilt
# (`migrate` rebuilds the runs in `touched` after this step).
_V5 = f"""
{losers_sql(STORE_KEYS)};
CREATE OR REPLACE TEMP TABLE touched AS SELECT DISTINCT run_id FROM span_losers;
DELETE FROM spans WHERE rowid IN (SELECT row_id FROM span_losers);
DROP TABLE span_losers;
"""

# v6: evaluations (scores, labels, comments on a run or a span): the rows agentreel
# writes, and a view that adds the GenAI convention's `gen_ai.evaluation.result` span
# events (store/_evaluations.py).
_V6 = """
CREATE TABLE evaluation_records (
    evaluation_id VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    span_id VARCHAR,                  -- NULL: the evaluation judges the whole run
    name VARCHAR NOT NULL,
    score DOUBLE,
    label VARCHAR,
    explanation VARCHAR,
    source VARCHAR NOT NULL,          -- who or what made it: user:NAME, module:function, ...
    created_at TIMESTAMP_NS NOT NULL  -- UTC
);
CREATE VIEW evaluations AS
SELECT evaluation_id, run_id, span_id, name, score, label, explanation, source, created_at,
       'record' AS origin
FROM evaluation_records
UNION ALL
SELECT coalesce(a."agentreel.evaluation.id",
                md5(run_id || span_id || CAST(time AS VARCHAR) || coalesce(a.name, '')))
           AS evaluation_id,
       run_id, span_id,
       coalesce(a.name, '(unnamed)') AS name,
       TRY_CAST(a.score AS DOUBLE) AS score,
       a.label, a.explanation,
       coalesce(a.source, 'span event') AS source,
       time AS created_at,
       'event' AS origin
FROM (
    SELECT run_id, span_id, time,
           json_extract_string(attributes, '$."agentreel.evaluation.id"')
               AS "agentreel.evaluation.id",
           json_extract_string(attributes, '$."gen_ai.evaluation.name"') AS name,
           json_extract_string(attributes, '$."gen_ai.evaluation.score.value"') AS score,
           json_extract_string(attributes, '$."gen_ai.evaluation.score.label"') AS label,
           json_extract_string(attributes, '$."gen_ai.evaluation.explanation"') AS explanation,
           json_extract_string(attributes, '$."agentreel.evaluation.source"') AS source
    FROM events WHERE name = 'gen_ai.evaluation.result'
) a
-- an exported record imported back into its own store is the record, not a second row
WHERE a."agentreel.evaluation.id" IS NULL
   OR a."agentreel.evaluation.id" NOT IN (SELECT evaluation_id FROM evaluation_records)
"""

# v7: the parts of a model call's tokens that are billed differently: input read from
# or written to the provider's prompt cache (inside input_tokens, as the GenAI
# conventions count them) and reasoning output (inside output_tokens); and their prices.
_V7 = """
ALTER TABLE spans ADD COLUMN cache_read_tokens BIGINT;
ALTER TABLE spans ADD COLUMN cache_creation_tokens BIGINT;
ALTER TABLE spans ADD COLUMN reasoning_tokens BIGINT;
ALTER TABLE runs ADD COLUMN cache_read_tokens BIGINT;
ALTER TABLE runs ADD COLUMN cache_creation_tokens BIGINT;
ALTER TABLE runs ADD COLUMN reasoning_tokens BIGINT;
ALTER TABLE prices ADD COLUMN cache_read_usd_per_token DOUBLE;   -- NULL: as input
ALTER TABLE prices ADD COLUMN cache_write_usd_per_token DOUBLE;  -- NULL: as input
"""

# v8: a span's messages carried in OTLP log records (GenAI events) wait here for their
# span; the drain lands them in its payload columns (store/_content.py).
_V8 = """
CREATE TABLE span_content (
    trace_id VARCHAR NOT NULL,
    span_id VARCHAR NOT NULL,
    time_ns BIGINT,                   -- the earliest log record's time
    event VARCHAR,                    -- the event names it came from, comma-separated
    input VARCHAR,                    -- JSON text, as spans.input
    output VARCHAR,
    attributes JSON,                  -- the events' other attributes
    events JSON,                      -- span events to add: [{name, time_ns, attributes}]
    process_id VARCHAR,
    ingest_id BIGINT NOT NULL
);
"""

# v9: OpenTelemetry span links (a handoff from one agent to another, a call between
# agents in two traces), and a view with one row per link.
_V9 = """
ALTER TABLE spans ADD COLUMN links JSON;  -- [{trace_id, span_id, attributes}], NULL when none
CREATE VIEW span_links AS
SELECT run_id, span_id, l.trace_id AS linked_trace_id, l.span_id AS linked_span_id,
       l.attributes AS attributes
FROM (
    SELECT run_id, span_id,
           unnest(from_json(links, '[{"trace_id": "VARCHAR", "span_id": "VARCHAR", "attributes": "JSON"}]')) AS l
    FROM spans WHERE links IS NOT NULL
);
"""

#: Forward-only migrations; entry i takes a store from version i to i + 1.
MIGRATIONS: list[str] = [_V1, _V2, _V3, _V4, _V5, _V6, _V7, _V8, _V9]
#: Migrating from a version below this rebuilds every run with the current rules.
RUNS_REBUILT_AT = 5
#: The step to this version leaves in ``touched`` the runs whose spans it changed.
SPANS_DEDUPED_AT = 5
SCHEMA_VERSION = len(MIGRATIONS)


def _version(con: duckdb.DuckDBPyConnection) -> int:
    has_meta = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'meta' AND schema_name = 'main' "
        "AND database_name = current_database()"
    ).fetchone()
    if not has_meta or not has_meta[0]:
        return 0
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(con: duckdb.DuckDBPyConnection, where: str, *, read_only: bool = False) -> int:
    """Bring the store on `con` to `SCHEMA_VERSION`; returns the version found."""
    found = _version(con)
    if found > SCHEMA_VERSION:
        raise StoreVersionError(
            f"the store at {where} has schema version {found}, newer than this agentreel "
            f"understands ({SCHEMA_VERSION}); upgrade agentreel to read it"
        )
    if found == SCHEMA_VERSION or read_only:
        return found
    con.execute("BEGIN TRANSACTION")
    try:
        for v in range(found, SCHEMA_VERSION):
            con.execute(MIGRATIONS[v])
            if v + 1 == SPANS_DEDUPED_AT and found >= RUNS_REBUILT_AT:
                rebuild_touched(con)
            con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(v + 1)])
        if 0 < found < RUNS_REBUILT_AT:
            rebuild_all(con)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return found
