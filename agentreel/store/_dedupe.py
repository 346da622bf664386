"""One row per span, whatever arrives twice.

A span is identified by its (trace id, span id). The same span reaches the spool
more than once in ordinary use: an exporter resends a request whose answer was
lost, a Collector file is imported again after it grew, and agentreel's tracer
writes a start record when an agent or LLM span begins and the complete record
when it ends. Complete records go into `spans` as they come (the bulk insert stays
at the speed of DuckDB's own load; a start record goes in only if its span is not
in yet). Then the drain looks, in the key columns alone, for spans it brought more
than one row of or that were stored before; only if it finds some does it keep one
row of each and delete the others:

1. a complete record wins over a start record;
2. among complete records (or among start records), the one stored first wins:
   a row already in the store is never replaced by a copy, and within one batch
   the first record read wins.

A key on the table would do the same at a higher price: measured on DuckDB 2.0
(one thread, 1,000,000 spans stored), a PRIMARY KEY (trace_id, span_id) made a
bulk load of 200,000 rows 35 % slower and one of 800,000 more into the table 2.6
times slower, the file 5.7 times larger (the index is stored) and the process's
memory 4 times larger; and `INSERT OR IGNORE` of 2,000 records into it took 47 ms
against 35 ms for this anti-join. What finding repeats costs grows with the store
(it reads the ids of the stored spans): a drain of 2,000 spans into a store of
1,000,000 took 64-66 ms against 57-58 ms without it (docs/reliability.md).
"""

from __future__ import annotations

import duckdb

__all__ = ["STORE_KEYS", "dedupe_batch", "losers_sql"]

# The spans drain $i brought more than one row of, or brought a row of that an earlier
# drain stored: read from the key columns alone, so a drain without repeats (nearly
# every one) pays only this. The second part reads every stored span's keys, so it
# is left out when no trace of the drain has a run in the store yet (a span's trace
# is its run: a span stored before has its run's row in `runs`).
_REPEATS_IN_BATCH = """
CREATE OR REPLACE TEMP TABLE span_repeats AS
SELECT trace_id, span_id FROM spans WHERE ingest_id = $i GROUP BY ALL HAVING count(*) > 1
"""
_REPEATS = (
    _REPEATS_IN_BATCH
    + """
UNION
SELECT o.trace_id, o.span_id FROM spans o
SEMI JOIN (SELECT trace_id, span_id FROM spans WHERE ingest_id = $i) new
  ON o.trace_id = new.trace_id AND o.span_id = new.span_id
WHERE o.ingest_id < $i
"""
)

#: The keys of spans stored more than once (a store written before the rule).
STORE_KEYS = "SELECT trace_id, span_id FROM spans GROUP BY ALL HAVING count(*) > 1"

_LOSERS = """
CREATE OR REPLACE TEMP TABLE span_losers AS
SELECT s.rowid AS row_id, s.run_id, s.ingest_id
FROM spans s SEMI JOIN ({keys}) k ON s.trace_id = k.trace_id AND s.span_id = k.span_id
QUALIFY row_number() OVER (
    PARTITION BY s.trace_id, s.span_id
    ORDER BY s.end_time IS NULL, s.ingest_id, s.rowid
) > 1
"""


def losers_sql(keys: str) -> str:
    """SQL making temp table ``span_losers`` (row_id, run_id, ingest_id): the rows of
    the spans the query `keys` names (columns trace_id, span_id) that lose to another
    row of the same span: start records behind a complete one, then later copies
    behind the first stored (`rowid` orders one batch's rows as they were read)."""
    return _LOSERS.format(keys=keys)


def dedupe_batch(
    con: duckdb.DuckDBPyConnection, ingest_id: int, *, stored_before: bool = True
) -> tuple[int, int]:
    """Keep one row of each span that drain `ingest_id` brought rows of.

    Runs inside the drain's transaction, after its records went in. With
    `stored_before` false (no trace of the drain has a run in the store), only the
    drain's own rows are compared. Returns
    (start records stored before that a complete record of this drain replaced,
    records of this drain dropped as copies of a span already kept).
    """
    params = {"i": ingest_id}
    con.execute(_REPEATS if stored_before else _REPEATS_IN_BATCH, params)
    replaced = copies = 0
    row = con.execute("SELECT count(*) FROM span_repeats").fetchone()
    if row and row[0]:
        con.execute(losers_sql("SELECT trace_id, span_id FROM span_repeats"))
        row = con.execute(
            "SELECT count(*) FILTER (WHERE ingest_id < $i), "
            "count(*) FILTER (WHERE ingest_id = $i) FROM span_losers",
            params,
        ).fetchone()
        replaced, copies = (int(row[0]), int(row[1])) if row else (0, 0)
        # Deleting rows this transaction inserted makes its commit write the batch
        # again (DuckDB then drops the row groups it had already written): a drain
        # with copies costs about twice one without; one without pays nothing of it.
        con.execute("DELETE FROM spans WHERE rowid IN (SELECT row_id FROM span_losers)")
        con.execute("DROP TABLE span_losers")
    con.execute("DROP TABLE span_repeats")
    return replaced, copies
