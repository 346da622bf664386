"""Drain: spool segments -> DuckDB, in one transaction per batch of segments.

The names of the segments taken are committed in the same transaction as their
rows, so a drain killed at any point neither loses nor duplicates a span: a
segment is archived only after its commit, and one found again in the spool but
already recorded is archived without being read. Segments that cannot be read
are moved to ``spool/rejected/``, recorded, and reported; the rest go in.

Which segments a transaction takes, and reading them, is `_segments.py`'s; the
processes and prices a batch adds, `_enrich.py`'s; building its runs, `_runs.py`'s.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from agentreel._journal import seal_abandoned
from agentreel._spool import CONTENT_SUFFIX, OPEN_SUFFIX, SpoolPaths
from agentreel.store._blobs import address_batch
from agentreel.store._content import CONTENT_COLUMNS, INSERT_CONTENT, merge_content
from agentreel.store._dedupe import dedupe_batch
from agentreel.store._enrich import _cost_sql, _load_processes, _price_new_models
from agentreel.store._markers import live_processes
from agentreel.store._runs import rebuild_touched
from agentreel.store._segments import (
    _DATA_ERRORS,
    Bundle,
    _archive,
    _Batcher,
    _drop,
    _find_unreadable,
    _joined,
    _remove_stale_joined,
    _size,
    _source,
)

__all__ = ["IngestReport", "drain"]


@dataclass
class IngestReport:
    """What one drain did.

    `spans` counts spans new to the store: a span whose start record came in one
    drain and its complete record in a later one is counted once, in the first,
    and in `completed` in the second. `duplicates` counts records dropped because
    their span was already kept (the rule: docs/reliability.md, "Each span once").
    """

    segments: int = 0
    spans: int = 0
    completed: int = 0
    duplicates: int = 0
    invalid_records: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, other: IngestReport) -> None:
        """Count `other` (a later drain) in this report too."""
        self.segments += other.segments
        self.spans += other.spans
        self.completed += other.completed
        self.duplicates += other.duplicates
        self.invalid_records += other.invalid_records
        self.rejected += other.rejected
        self.seconds += other.seconds

    def as_dict(self) -> dict[str, object]:
        return {
            "segments": self.segments,
            "spans": self.spans,
            "completed": self.completed,
            "duplicates": self.duplicates,
            "invalid_records": self.invalid_records,
            "rejected": [{"segment": n, "error": e} for n, e in self.rejected],
            "seconds": round(self.seconds, 3),
        }


_VALID = "b.trace_id IS NOT NULL AND b.span_id IS NOT NULL AND b.start_ns IS NOT NULL"


# Records go straight from the segment files into `spans` (no staging copy: the
# payload text is the bulk of the bytes, and moving it twice cost a third of the
# drain). Cost comes from the cached per-token prices.
_INSERT_SPANS = """
INSERT INTO spans BY NAME
SELECT
    b.trace_id AS run_id, b.trace_id, b.span_id, b.parent_span_id, b.name,
    coalesce(b.kind, 'other') AS kind, b.span_kind,
    make_timestamp_ns(b.start_ns) AS start_time, make_timestamp_ns(b.end_ns) AS end_time,
    (b.end_ns - b.start_ns) / 1e6 AS duration_ms,
    coalesce(b.status, 'unset') AS status, b.status_message, b.error_type, b.error_message,
    b.agent_name, b.tool_name, b.tool_call_id, b.operation, b.provider, b.request_model,
    b.response_model, b.input_tokens, b.output_tokens,
    b.cache_read_tokens, b.cache_creation_tokens, b.reasoning_tokens,
    CASE WHEN b.kind = 'llm' AND (b.input_tokens IS NOT NULL OR b.output_tokens IS NOT NULL)
         THEN {cost} END AS cost_usd,
    b.finish_reason, b.session_id, b.input, b.output, b.attributes, b.events, b.scope,
    b.process_id, b.links, $ingest_id AS ingest_id,
    CASE WHEN b.input_tokens IS NOT NULL OR b.output_tokens IS NOT NULL
         THEN b.kind = 'llm' END AS usage_counted
FROM {source} b
LEFT JOIN prices p
  ON b.kind = 'llm' AND p.model = coalesce(b.response_model, b.request_model)
 AND p.provider IS NOT DISTINCT FROM b.provider
WHERE {where}
""".replace("{cost}", _cost_sql("b"))


def _reject(
    con: duckdb.DuckDBPyConnection, p: Path, error: str, report: IngestReport, paths: SpoolPaths
) -> None:
    first_line = error.strip().splitlines()[0] if error.strip() else "unreadable"
    report.rejected.append((p.name, first_line))
    con.execute(
        "INSERT INTO segments VALUES (?, (now() AT TIME ZONE 'UTC'), NULL, 'rejected', ?)",
        [p.name, first_line],
    )
    with contextlib.suppress(OSError):
        os.replace(p, paths.rejected / p.name)


def _apply(
    con: duckdb.DuckDBPyConnection,
    paths: SpoolPaths,
    files: list[Path],
    ingest_id: int,
    *,
    strict: bool,
    sizes: dict[Path, int] | None = None,
    bundles: list[Bundle] | None = None,
) -> tuple[int, int, int]:
    """Insert `files` into the tables. Runs inside the caller's transaction.

    Returns (spans new to the store, spans whose start record a complete one
    replaced, records dropped as repeats of a span already kept).

    Optimistically the records go in unfiltered, and the table's NOT NULL
    constraints catch one without identity; `strict` (the retry after such a
    failure) filters them out instead. The joined files that read the small complete
    segments are added to `bundles`, to be archived in their place after the commit.
    """
    contents = [p for p in files if p.name.endswith(CONTENT_SUFFIX)]
    opened = [p for p in files if p.name.endswith(OPEN_SUFFIX)]
    closed = [p for p in files if not p.name.endswith((OPEN_SUFFIX, CONTENT_SUFFIX))]
    params = {"ingest_id": ingest_id}
    if closed:
        with _joined(paths.dir, closed, sizes, bundles) as (read, limit):
            con.execute(
                _INSERT_SPANS.format(
                    source=_source(read, limit=limit), where=_VALID if strict else "true"
                ),
                params,
            )
    start_records_dropped = 0
    if opened:
        with _joined(paths.dir, opened, sizes) as (read, limit):
            con.execute(
                "CREATE OR REPLACE TEMP TABLE start_records AS "
                f"SELECT * FROM {_source(read, limit=limit)} b WHERE {_VALID} AND b.end_ns IS NULL"
            )
    stored_before = _stored_before(con, ingest_id, start_records=bool(opened))
    if opened:
        # A start record goes in only if its span is not in yet (its complete record
        # may have come first, even in this batch): what is never inserted need not
        # be deleted, and deleting rows of this transaction costs (store/_dedupe.py).
        # A span not stored before can only be among this drain's rows.
        mine = "" if stored_before else " AND x.ingest_id = $ingest_id"
        row = con.execute(
            _INSERT_SPANS.format(
                source="start_records",
                where="NOT EXISTS (SELECT 1 FROM spans x "
                f"WHERE x.span_id = b.span_id AND x.trace_id = b.trace_id{mine})",
            ),
            params,
        ).fetchone()
        got = con.execute("SELECT count(*) FROM start_records").fetchone()
        start_records_dropped = (int(got[0]) if got else 0) - (int(row[0]) if row else 0)
        con.execute("DROP TABLE start_records")
    if contents:
        with _joined(paths.dir, contents, sizes) as (read, limit):
            con.execute(
                INSERT_CONTENT.format(source=_source(read, CONTENT_COLUMNS, limit=limit)), params
            )
    # The records went in; now each span keeps one row (the rule: store/_dedupe.py).
    completed, duplicates = dedupe_batch(con, ingest_id, stored_before=stored_before)
    duplicates += start_records_dropped
    content_runs = merge_content(con, ingest_id)  # messages sent as log records
    address_batch(con, ingest_id)
    _load_processes(con, paths, ingest_id)
    _price_new_models(con, ingest_id)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE touched AS SELECT DISTINCT run_id FROM spans WHERE ingest_id = $i",
        {"i": ingest_id},
    )
    if content_runs:
        con.execute(
            "INSERT INTO touched SELECT unnest($r) EXCEPT SELECT run_id FROM touched",
            {"r": content_runs},
        )
    # a batch of new traces builds its runs from its own rows; messages that came for
    # spans stored before (content_runs) need the whole store's
    batch_only = not stored_before and not content_runs
    rebuild_touched(con, only_drain=ingest_id if batch_only else None)
    con.execute(
        "INSERT INTO segments SELECT unnest($names), (now() AT TIME ZONE 'UTC'), NULL, 'ingested', NULL",
        {"names": [p.name for p in files]},
    )
    row = con.execute(
        "SELECT count(*) FROM spans WHERE ingest_id = $i", {"i": ingest_id}
    ).fetchone()
    kept = int(row[0]) if row else 0
    return kept - completed, completed, duplicates


def _stored_before(con: duckdb.DuckDBPyConnection, ingest_id: int, *, start_records: bool) -> bool:
    """Whether a trace of drain `ingest_id` (its rows, and its start records when there
    are some) has a run in the store: whether the store may hold spans of it already.

    Every transaction that stores spans builds their runs, and a span's trace is its
    run, so when none has, repeats and runs are looked for among the drain's own rows
    alone; reading the whole table instead made each transaction of a large drain
    scan every span stored before it (a drain's cost grew with the square of its size).
    """
    traces = "SELECT run_id FROM spans WHERE ingest_id = $i"
    if start_records:
        traces += " UNION ALL SELECT trace_id FROM start_records"
    row = con.execute(
        f"SELECT count(*) FROM runs WHERE run_id IN ({traces})", {"i": ingest_id}
    ).fetchone()
    return bool(row and row[0])


def _invalid_records(con: duckdb.DuckDBPyConnection, paths: SpoolPaths, files: list[Path]) -> int:
    """Records that cannot be placed (no trace id, span id or start time): counted, dropped."""
    cols = "{'trace_id': 'VARCHAR', 'span_id': 'VARCHAR', 'start_ns': 'BIGINT'}"
    files = [p for p in files if not p.name.endswith(CONTENT_SUFFIX)]  # no spans there
    if not files:
        return 0
    with _joined(paths.dir, files) as (read, limit):
        row = con.execute(
            f"SELECT count(*) FROM {_source(read, cols, limit=limit)} b WHERE NOT ({_VALID})"
        ).fetchone()
    return int(row[0]) if row else 0


def mark_interrupted(con: duckdb.DuckDBPyConnection, paths: SpoolPaths) -> None:
    """Runs still open whose process is gone become 'interrupted'."""
    con.execute(
        "UPDATE runs SET status = 'interrupted' WHERE status = 'running' "
        "AND (process_id IS NULL OR NOT list_contains($live, process_id))",
        {"live": live_processes(paths)},
    )


def drain(
    con: duckdb.DuckDBPyConnection,
    paths: SpoolPaths,
    *,
    limit: int | None = None,
    budget: float | None = None,
    give_way: Callable[[], bool] | None = None,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Ingest every pending segment (at most `limit`) into the store on `con`.

    With a `budget` in seconds, no new transaction starts once it is spent, and each
    is sized to a fraction of it (see `_Batcher`): a drain that shares the store with
    readers then holds it about that long at most, and the rest waits for the next
    drain. `give_way`, asked between transactions, stops the drain early when it
    says another process is waiting for the store. `progress`, when given, is told
    the spans of each committed transaction.
    """
    t0 = time.perf_counter()
    report = IngestReport()
    _remove_stale_joined(paths.dir)
    seal_abandoned(paths)  # journals whose writers are gone: their records are whole
    pending = paths.pending()
    if limit is not None:
        pending = pending[:limit]
    batches = _Batcher(pending, budget, busy=bool(live_processes(paths)))
    while batches:
        if report.segments or report.rejected:
            if budget is not None and time.perf_counter() - t0 > budget:
                break
            if give_way is not None and give_way():
                break
        good = batches.take()
        done = {
            r[0]
            for r in con.execute(
                "SELECT name FROM segments WHERE name IN (SELECT unnest($n))",
                {"n": [p.name for p in good]},
            ).fetchall()
        }
        # committed before a crash, not yet archived
        _archive([p for p in good if p.name in done], paths)
        good = [p for p in good if p.name not in done]
        nbytes = sum(_size(p) for p in good) if budget is not None else 0
        t_batch = time.perf_counter()
        strict = False
        while good:
            row = con.execute("SELECT nextval('ingest_seq')").fetchone()
            ingest_id = int(row[0]) if row else 0
            con.execute("BEGIN TRANSACTION")
            bundles: list[Bundle] = []
            try:
                try:
                    spans, completed, duplicates = _apply(
                        con,
                        paths,
                        good,
                        ingest_id,
                        strict=strict,
                        sizes=batches.sizes,
                        bundles=bundles,
                    )
                    con.execute("COMMIT")
                except BaseException:
                    _drop(bundles)  # not committed: the segments stay, their joined files go
                    raise
            except duckdb.ConstraintException:
                con.execute("ROLLBACK")
                if strict:
                    raise
                strict = True  # some record has no identity: filter and count them
                continue
            except _DATA_ERRORS as e:
                con.execute("ROLLBACK")
                bad = _find_unreadable(con, good, str(e))
                if not bad and isinstance(e, duckdb.IOException):
                    raise  # the store's own file, not a segment
                if not bad and len(good) > 1:
                    # readable files whose values the tables refuse (a time past the
                    # year 2262, say): take the segments one by one to find which
                    batches.one_by_one(good)
                    break
                if not bad:
                    bad = [(good[0], str(e))]
                for p, err in bad:
                    _reject(con, p, err, report, paths)
                    good.remove(p)
                continue
            except BaseException:
                con.execute("ROLLBACK")
                raise
            report.spans += spans
            report.completed += completed
            report.duplicates += duplicates
            report.segments += len(good)
            if progress is not None:
                progress(spans)
            if strict:
                report.invalid_records += _invalid_records(con, paths, good)
            _archive(good, paths, bundles)
            batches.paced(nbytes, time.perf_counter() - t_batch)
            break
    con.execute("BEGIN TRANSACTION")
    mark_interrupted(con, paths)
    con.execute("COMMIT")
    report.seconds = time.perf_counter() - t0
    return report
