"""A realistic agentreel store written straight into DuckDB, in seconds, for benchmarks.

`make_store` opens a fresh store with ``Store.open(create=True)`` (so the tables are
exactly the current schema), then fills ``spans`` with generated rows using DuckDB's
``range()`` and ``random()`` and builds ``runs`` from them with the drain's own code
(`agentreel.store._runs.rebuild_all`), so the benchmarks read the runs the product
writes. Nothing goes through the tracer or the spool: recording a million spans that
way would take minutes, and the benchmarks that use this (checks, TUI) measure
reading, not recording.

Each run is a root ``chain`` span (the run, with tags), one ``agent`` span, and
``spans_per_run - 2`` steps under the agent: about a third LLM calls (three models
with different prices, tokens, finish reasons), the rest tool calls (six tools with
their own latencies, JSON arguments drawn from a small pool so some calls repeat,
about 3 % failing) and a few retriever calls. About 4 % of runs fail at the root.
Runs start uniformly over the ``days`` days before ``end``.

Example::

    from bench._synthetic import make_store
    info = make_store("/tmp/big", runs=20_000, spans_per_run=50)
    info["spans"]  # 1_000_000
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from agentreel.store import DB_NAME, Store
from agentreel.store._runs import rebuild_all

__all__ = ["MODELS", "TOOLS", "make_store"]

#: (tool, share of tool calls, median ms)
TOOLS = [
    ("web_search", 0.30, 350.0),
    ("fetch_page", 0.25, 600.0),
    ("calculator", 0.10, 3.0),
    ("sql_query", 0.15, 120.0),
    ("read_file", 0.15, 8.0),
    ("send_email", 0.05, 250.0),
]
#: (provider, model, share of LLM calls, USD per input token, USD per output token, median ms)
MODELS = [
    ("openai", "gpt-4.1-mini", 0.70, 4.0e-07, 1.6e-06, 900.0),
    ("openai", "gpt-4.1", 0.20, 2.0e-06, 8.0e-06, 1600.0),
    ("anthropic", "claude-sonnet-4", 0.10, 3.0e-06, 1.5e-05, 1900.0),
]


def _pick(options: list[tuple[Any, ...]], u: str, value: int) -> str:
    """A SQL CASE that maps the uniform draw `u` to `options[i][value]` by their shares."""
    parts, acc = [], 0.0
    for opt in options[:-1]:
        acc += float(opt[1] if len(opt) == 3 else opt[2])
        parts.append(f"WHEN {u} < {acc!r} THEN {opt[value]!r}")
    return f"CASE {' '.join(parts)} ELSE {options[-1][value]!r} END"


def make_store(
    path: str | os.PathLike[str],
    runs: int = 20_000,
    spans_per_run: int = 50,
    seed: int = 0,
    *,
    days: float = 7.0,
    end: datetime | None = None,
) -> dict[str, Any]:
    """Write a store of `runs` runs of `spans_per_run` spans each at `path` (must not exist).

    Returns ``{"path", "runs", "spans", "seconds"}``. The same arguments give the same
    rows (ids, values and times relative to `end`, which defaults to now, UTC).
    """
    if spans_per_run < 3:
        raise ValueError("spans_per_run must be at least 3 (root, agent, one step)")
    t0 = time.perf_counter()
    p = Path(path)
    if (p / DB_NAME).exists():
        raise FileExistsError(f"{p / DB_NAME} already exists")
    Store.open(p, create=True).close()
    end_ts = (end or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    con = duckdb.connect(str(p / DB_NAME))
    try:
        _fill(con, runs, spans_per_run, seed, days, end_ts)
    finally:
        con.close()
    return {
        "path": str(p),
        "runs": runs,
        "spans": runs * spans_per_run,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def _fill(
    con: duckdb.DuckDBPyConnection,
    runs: int,
    spans_per_run: int,
    seed: int,
    days: float,
    end: datetime,
) -> None:
    # DuckDB's setseed() makes random() repeatable within one connection and thread.
    con.execute("SET threads = 1")
    con.execute("SET enable_progress_bar = false")
    con.execute("SELECT setseed(?)", [((seed * 7919) % 1000) / 1000.0])
    steps = spans_per_run - 2
    # Columns a newer schema requires that this generator does not know of get a constant.
    cols = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'spans'"
        ).fetchall()
    }
    extra = ", 1 AS ingest_id" if "ingest_id" in cols else ""
    con.execute(
        f"""
        CREATE TEMP TABLE r AS
        SELECT i,
            md5('run' || {seed} || '-' || i) AS run_id,
            ?::TIMESTAMP - to_microseconds(CAST(random() * {days} * 86400e6 AS BIGINT)) AS start_time,
            random() AS u_err, random() AS u_seg, random() AS u_lang, random() AS u_env,
            random() AS u_empty
        FROM range({runs}) t(i)
        """,
        [end],
    )
    tool = _pick(TOOLS, "u_pick", 0)
    tool_ms = _pick(TOOLS, "u_pick", 2)
    model = _pick(MODELS, "u_pick", 1)
    provider = _pick(MODELS, "u_pick", 0)
    in_rate = _pick(MODELS, "u_pick", 3)
    out_rate = _pick(MODELS, "u_pick", 4)
    llm_ms = _pick(MODELS, "u_pick", 5)
    # Steps under the agent: kind by position (every third an LLM call, every 16th a
    # retriever), durations log-normal around each tool's and model's median.
    con.execute(
        f"""
        CREATE TEMP TABLE st AS
        SELECT r.i, r.run_id, r.start_time AS run_start, s.j,
            CASE WHEN s.j % 3 = 0 OR s.j = {steps - 1} THEN 'llm'
                 WHEN s.j % 16 = 5 THEN 'retriever' ELSE 'tool' END AS kind,
            random() AS u_pick, random() AS u_dur, random() AS u_dur2, random() AS u_fail,
            random() AS u_tok, random() AS u_arg
        FROM r, range({steps}) s(j)
        """
    )
    con.execute(
        f"""
        CREATE TEMP TABLE st2 AS
        SELECT *,
            CASE kind WHEN 'llm' THEN {llm_ms} WHEN 'tool' THEN {tool_ms} ELSE 40.0 END
              * exp(0.5 * sqrt(-2 * ln(greatest(u_dur, 1e-12))) * cos(2 * pi() * u_dur2))
              AS dur_ms,
            CASE WHEN kind = 'tool' THEN {tool} END AS tool_name,
            CASE WHEN kind = 'llm' THEN {model} END AS model,
            CASE WHEN kind = 'llm' THEN {provider} END AS provider,
            CASE WHEN kind = 'llm' THEN {in_rate} END AS in_rate,
            CASE WHEN kind = 'llm' THEN {out_rate} END AS out_rate
        FROM st
        """
    )
    con.execute(
        """
        CREATE TEMP TABLE st3 AS
        SELECT *,
            run_start + to_microseconds(CAST(1000 * (5 + sum(dur_ms + 2) OVER (
                PARTITION BY run_id ORDER BY j ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
              ) AS BIGINT)) AS s_start
        FROM st2
        """
    )
    con.execute(
        f"""
        INSERT INTO spans BY NAME
        SELECT
            x.run_id AS run_id, x.run_id AS trace_id,
            substr(md5(x.run_id || '-' || x.j), 1, 16) AS span_id,
            substr(md5(x.run_id || '-agent'), 1, 16) AS parent_span_id,
            CASE x.kind WHEN 'llm' THEN 'chat ' || x.model WHEN 'tool' THEN 'execute_tool ' || x.tool_name
                 ELSE 'retrieve docs' END AS name,
            x.kind AS kind,
            CASE WHEN x.kind = 'llm' THEN 'client' ELSE 'internal' END AS span_kind,
            coalesce(x.s_start, x.run_start + INTERVAL 5 MILLISECOND) AS start_time,
            coalesce(x.s_start, x.run_start + INTERVAL 5 MILLISECOND)
                + to_microseconds(CAST(x.dur_ms * 1000 AS BIGINT)) AS end_time,
            round(x.dur_ms, 3) AS duration_ms,
            CASE WHEN x.kind = 'tool' AND x.u_fail < 0.03 THEN 'error' ELSE 'unset' END AS status,
            CASE WHEN x.kind = 'tool' AND x.u_fail < 0.03 THEN 'TimeoutError: timed out' END
                AS status_message,
            CASE WHEN x.kind = 'tool' AND x.u_fail < 0.03 THEN 'TimeoutError' END AS error_type,
            CASE WHEN x.kind = 'tool' AND x.u_fail < 0.03 THEN 'timed out' END AS error_message,
            x.tool_name AS tool_name,
            CASE WHEN x.kind = 'tool' THEN 'call_' || substr(md5(x.run_id || x.j), 1, 8) END
                AS tool_call_id,
            CASE x.kind WHEN 'llm' THEN 'chat' WHEN 'tool' THEN 'execute_tool' END AS operation,
            x.provider AS provider, x.model AS request_model, x.model AS response_model,
            CASE WHEN x.kind = 'llm' THEN CAST(400 + x.u_tok * 2600 AS BIGINT) END AS input_tokens,
            CASE WHEN x.kind = 'llm' THEN CAST(30 + x.u_fail * 470 AS BIGINT) END AS output_tokens,
            CASE WHEN x.kind = 'llm' THEN
                CAST(400 + x.u_tok * 2600 AS BIGINT) * x.in_rate
              + CAST(30 + x.u_fail * 470 AS BIGINT) * x.out_rate END AS cost_usd,
            CASE WHEN x.kind <> 'llm' THEN NULL
                 WHEN x.j < {steps - 1} THEN 'tool_calls'
                 WHEN x.u_arg < 0.02 THEN 'length' ELSE 'stop' END AS finish_reason,
            CASE WHEN x.kind = 'tool' THEN
                     '{{"query": "q' || CAST(floor(x.u_arg * 400) AS INTEGER) || '"}}'
                 WHEN x.kind = 'llm' THEN '{{"messages": [{{"role": "user", "content": "step ' || x.j || '"}}]}}'
                 ELSE '{{"query": "docs"}}' END AS input,
            CASE WHEN x.kind = 'tool' AND x.u_fail >= 0.03 THEN '["result ' || x.j || '"]'
                 WHEN x.kind = 'llm' THEN '"reply ' || x.j || '"' END AS output,
            CASE WHEN x.kind = 'llm' THEN
                    json_object('gen_ai.operation.name', 'chat', 'gen_ai.request.model', x.model,
                                'gen_ai.provider.name', x.provider, 'agentreel.span.kind', 'llm')
                 WHEN x.kind = 'tool' THEN
                    json_object('gen_ai.operation.name', 'execute_tool', 'gen_ai.tool.name', x.tool_name,
                                'agentreel.span.kind', 'tool')
                 ELSE json_object('agentreel.span.kind', x.kind) END AS attributes,
            'agentreel' AS scope, 'synthetic' AS process_id{extra}
        FROM st3 x
        """
    )
    # The run's root and agent spans enclose its steps.
    con.execute(
        "CREATE TEMP TABLE ends AS SELECT run_id, max(end_time) AS last_end FROM spans GROUP BY run_id"
    )
    failed = "r.u_err < 0.04"
    con.execute(
        f"""
        INSERT INTO spans BY NAME
        SELECT r.run_id AS run_id, r.run_id AS trace_id,
            substr(md5(r.run_id || '-agent'), 1, 16) AS span_id,
            substr(md5(r.run_id || '-root'), 1, 16) AS parent_span_id,
            'invoke_agent researcher' AS name, 'agent' AS kind, 'internal' AS span_kind,
            r.start_time + INTERVAL 2 MILLISECOND AS start_time,
            e.last_end + INTERVAL 1 MILLISECOND AS end_time,
            date_diff('microsecond', r.start_time + INTERVAL 2 MILLISECOND,
                      e.last_end + INTERVAL 1 MILLISECOND) / 1000.0 AS duration_ms,
            CASE WHEN {failed} THEN 'error' ELSE 'unset' END AS status,
            CASE WHEN {failed} THEN 'AgentError: gave up' END AS status_message,
            CASE WHEN {failed} THEN 'AgentError' END AS error_type,
            CASE WHEN {failed} THEN 'gave up' END AS error_message,
            'researcher' AS agent_name, 'invoke_agent' AS operation,
            '{{"question": "q"}}' AS input,
            json_object('gen_ai.operation.name', 'invoke_agent', 'gen_ai.agent.name', 'researcher',
                        'agentreel.span.kind', 'agent') AS attributes,
            'agentreel' AS scope, 'synthetic' AS process_id{extra}
        FROM r JOIN ends e USING (run_id)
        """
    )
    con.execute(
        f"""
        INSERT INTO spans BY NAME
        SELECT r.run_id AS run_id, r.run_id AS trace_id,
            substr(md5(r.run_id || '-root'), 1, 16) AS span_id, NULL AS parent_span_id,
            'research' AS name, 'chain' AS kind, 'internal' AS span_kind,
            r.start_time AS start_time, e.last_end + INTERVAL 3 MILLISECOND AS end_time,
            date_diff('microsecond', r.start_time, e.last_end + INTERVAL 3 MILLISECOND) / 1000.0
                AS duration_ms,
            CASE WHEN {failed} THEN 'error' ELSE 'unset' END AS status,
            CASE WHEN {failed} THEN 'AgentError: gave up' END AS status_message,
            CASE WHEN {failed} THEN 'AgentError' END AS error_type,
            CASE WHEN {failed} THEN 'gave up' END AS error_message,
            '{{"question": "q"}}' AS input,
            CASE WHEN {failed} THEN NULL WHEN r.u_empty < 0.005 THEN '""'
                 ELSE '"The answer is ' || r.i || '."' END AS output,
            json_object('agentreel.span.kind', 'chain', 'agentreel.run.name', 'research',
                        'agentreel.run.tags', to_json({{
                            'env': CASE WHEN r.u_env < 0.8 THEN 'prod' ELSE 'staging' END,
                            'segment': CASE WHEN r.u_seg < 0.6 THEN 'free'
                                            WHEN r.u_seg < 0.9 THEN 'pro' ELSE 'enterprise' END,
                            'lang': CASE WHEN r.u_lang < 0.7 THEN 'en'
                                         WHEN r.u_lang < 0.85 THEN 'es' ELSE 'de' END
                        }})::VARCHAR) AS attributes,
            'agentreel' AS scope, 'synthetic' AS process_id{extra}
        FROM r JOIN ends e USING (run_id)
        """
    )
    con.execute(
        """
        INSERT INTO processes BY NAME
        SELECT 'synthetic' AS process_id, 0 AS pid, 'bench' AS host, ?::TIMESTAMP_NS AS started_at,
            '[]' AS argv, '{"service.name": "synthetic-agent"}' AS resource,
            'synthetic-agent' AS service_name
        """,
        [end],
    )
    rebuild_all(con)  # the runs, as the product's drain builds them
    con.execute("SET threads = 2")
    con.execute("CHECKPOINT")
