"""Drain: spool segments -> DuckDB, in one transaction per batch of segments.

The names of the segments taken are committed in the same transaction as their
rows, so a drain killed at any point neither loses nor duplicates a span: a
segment is archived only after its commit, and one found again in the spool but
already recorded is archived without being read. Segments that cannot be read
are moved to ``spool/rejected/``, recorded, and reported; the rest go in.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from agentreel._spool import CONTENT_SUFFIX, OPEN_SUFFIX, RECORD_FIELDS, SpoolPaths
from agentreel.store._archive import note_archived
from agentreel.store._blobs import address_batch
from agentreel.store._content import CONTENT_COLUMNS, INSERT_CONTENT, merge_content
from agentreel.store._cost import resolve_price
from agentreel.store._dedupe import dedupe_batch
from agentreel.store._markers import live_processes
from agentreel.store._runs import rebuild_touched

__all__ = ["IngestReport", "drain"]

#: Segments per transaction at most: one-span segments are drained 20,000 to a commit.
BATCH_FILES = 20_000
#: Bytes of segments per transaction at most (the first segment always goes): bounds the
#: memory a transaction holds before its commit and the work a crash repeats. A drain of
#: 5x10^6 spans in one transaction held 6 GB of JSON's rows uncommitted.
BATCH_BYTES = 256 * 1024 * 1024
#: The longest spool record (one span's line) a drain reads; a longer one sets its segment aside.
MAX_RECORD_BYTES = 64 * 1024 * 1024
_COLUMNS = "{" + ", ".join(f"'{k}': '{v}'" for k, v in RECORD_FIELDS.items()) + "}"
_BAD_FILE = re.compile(r'file "([^"]+)"|"([^"]+\.jsonl)"')


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


def _object_limit(files: list[str]) -> int:
    """The largest record `files` may hold: no record is longer than its file.

    DuckDB's JSON reader allocates buffers of twice this size for each file it reads
    at once, so a fixed 64 MiB cost a reading process some 250 MiB of memory its
    allocator then kept; segments are usually a few MiB.
    """
    try:
        largest = max(os.stat(f).st_size for f in files)
    except (OSError, ValueError):
        largest = MAX_RECORD_BYTES
    return min(MAX_RECORD_BYTES, max(largest + 1, 1 << 20))


def _source(files: list[str], columns: str = _COLUMNS, *, limit: int | None = None) -> str:
    return (
        f"read_json({files!r}, format = 'newline_delimited', columns = {columns}, "
        f"maximum_object_size = {limit if limit is not None else _object_limit(files)})"
    )


#: Segments smaller than this are read through one joined file per batch (see `_joined`).
JOIN_BELOW_BYTES = 1024 * 1024
#: A joined file holds at most this many bytes; a batch of more small segments makes several.
JOINED_BYTES = 64 * 1024 * 1024
#: Joined files are named so: `SpoolPaths.pending` never lists them (a dot first).
_JOINED_PREFIX = ".drain-"
#: A joined file older than this was left by a drain that was killed: the next one removes it.
_JOINED_STALE_S = 3600.0


@contextlib.contextmanager
def _joined(
    dir_: Path, files: list[Path], known: dict[Path, int] | None = None
) -> Iterator[tuple[list[str], int]]:
    """The files to read for `files`, with the record-size limit that fits them.

    DuckDB's JSON reader pays about a millisecond for each file it opens, more than
    the parse of a small segment (a one-span OTLP request, a tracer flushing each
    span): 2,000 one-span segments took 1.4-3.1 s to read one by one and 25 ms
    copied into one file first. So segments under `JOIN_BELOW_BYTES` are copied, in
    order, into joined files in the spool directory (removed when the block ends),
    and larger ones are read where they are. Order is kept, so the first record read
    is still the first one written (store/_dedupe.py). The limit is that of the
    largest segment, not of the joined file: no record is longer than its segment.
    """
    known = known or {}
    sizes = [known[p] if p in known else _size(p) for p in files]  # sizes the batcher read
    limit = min(MAX_RECORD_BYTES, max(max(sizes, default=0) + 1, 1 << 20))
    small = [p for p, n in zip(files, sizes, strict=True) if n < JOIN_BELOW_BYTES]
    if len(small) < 2:
        yield [str(p) for p in files], limit
        return
    made: list[Path] = []
    read: list[str] = []
    out = None
    try:
        written = 0
        for p, n in zip(files, sizes, strict=True):
            if n >= JOIN_BELOW_BYTES:
                read.append(str(p))
                out = None  # a later small one starts a new file: order is kept
                continue
            try:
                with open(p, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                continue  # taken meanwhile: as if read alone and found gone
            if out is None or written + len(data) > JOINED_BYTES:
                if out is not None:
                    out.close()
                target = dir_ / f"{_JOINED_PREFIX}{os.getpid()}-{secrets.token_hex(4)}.jsonl"
                out = open(target, "xb")  # noqa: SIM115 - closed below or in finally
                made.append(target)
                read.append(str(target))
                written = 0
            out.write(data)
            if data and not data.endswith(b"\n"):
                out.write(b"\n")
            written += len(data) + 1
        if out is not None:
            out.close()
        yield read, limit
    finally:
        if out is not None:
            out.close()
        for m in made:
            with contextlib.suppress(OSError):
                m.unlink()


def _gone(pid: str) -> bool:
    """Whether the process `pid` (from a joined file's name) is no longer running."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (ValueError, OSError):  # not a number, or another user's live process
        return False
    return False


def _remove_stale_joined(dir_: Path) -> None:
    """Joined files a killed drain left: its process is gone, or the file is old."""
    now = time.time()
    try:
        for e in os.scandir(dir_):
            if not e.name.startswith(_JOINED_PREFIX):
                continue
            pid = e.name[len(_JOINED_PREFIX) :].split("-", 1)[0]
            if _gone(pid) or now - e.stat().st_mtime > _JOINED_STALE_S:
                with contextlib.suppress(OSError):
                    os.unlink(e.path)
    except OSError:
        pass


#: Errors that come from what a segment holds (not from the store): the segment is set aside.
_DATA_ERRORS = (
    duckdb.InvalidInputException,
    duckdb.ConversionException,
    duckdb.OutOfRangeException,
    duckdb.TypeMismatchException,
    duckdb.IOException,
)

_VALID = "b.trace_id IS NOT NULL AND b.span_id IS NOT NULL AND b.start_ns IS NOT NULL"


# Records go straight from the segment files into `spans` (no staging copy: the
# payload text is the bulk of the bytes, and moving it twice cost a third of the
# drain). Cost comes from the cached per-token prices.
def _cost_sql(t: str) -> str:
    """The cost of an LLM span `t` at the prices `p`: cached input at the cache's rates
    (input's when the table has none), the rest of the input and the output at theirs."""
    read, written = f"coalesce({t}.cache_read_tokens, 0)", f"coalesce({t}.cache_creation_tokens, 0)"
    return (
        f"greatest(coalesce({t}.input_tokens, 0) - {read} - {written}, 0) * p.input_usd_per_token"
        f" + {read} * coalesce(p.cache_read_usd_per_token, p.input_usd_per_token)"
        f" + {written} * coalesce(p.cache_write_usd_per_token, p.input_usd_per_token)"
        f" + coalesce({t}.output_tokens, 0) * p.output_usd_per_token"
    )


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
    b.process_id, b.links, $ingest_id AS ingest_id
FROM {source} b
LEFT JOIN prices p
  ON b.kind = 'llm' AND p.model = coalesce(b.response_model, b.request_model)
 AND p.provider IS NOT DISTINCT FROM b.provider
WHERE {where}
""".replace("{cost}", _cost_sql("b"))


def _find_unreadable(
    con: duckdb.DuckDBPyConnection, files: list[Path], error: str
) -> list[tuple[Path, str]]:
    """The files behind a failed bulk read: the one the error names, else each one tried alone."""
    m = _BAD_FILE.search(error)
    named = [p for p in files if m and str(p) in (m.group(1), m.group(2))]
    if named:
        return [(named[0], error)]
    bad = []
    for p in files:
        try:
            con.execute(f"SELECT count(*) FROM {_source([str(p)])}").fetchall()
        except duckdb.Error as e:
            bad.append((p, str(e)))
    return bad


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


def _load_processes(con: duckdb.DuckDBPyConnection, paths: SpoolPaths, ingest_id: int) -> None:
    missing = con.execute(
        "SELECT DISTINCT s.process_id FROM spans s ANTI JOIN processes p USING (process_id) "
        "WHERE s.ingest_id = $i AND s.process_id IS NOT NULL",
        {"i": ingest_id},
    ).fetchall()
    for (pid,) in missing:
        try:
            info = json.loads((paths.processes / f"{pid}.json").read_text())
        except (OSError, ValueError):
            info = {}
        if not isinstance(info, dict):
            info = {}
        res = info.get("resource")
        res = res if isinstance(res, dict) else {}
        con.execute(
            "INSERT INTO processes VALUES (?, ?, ?, make_timestamp_ns(?), ?, ?, ?, ?)",
            [
                pid,
                _fitting_int(info.get("pid")),
                _text(info.get("host")),
                _fitting_int(info.get("started_ns")),
                _json_text(info.get("argv")),
                _json_text(res),
                _text(res.get("service.name")),
                _text(res.get("vcs.ref.head.revision")),
            ],
        )


# A process file holds whatever its sender's resource held: values that do not fit a
# column are left out, and text that is not valid UTF-8 (lone surrogates from JSON
# escapes) is mended, so a resource can never fail the drain of the spans it sent.
def _text(v: object) -> str | None:
    return v.encode("utf-8", "replace").decode("utf-8") if isinstance(v, str) else None


def _json_text(v: object) -> str:
    return _text(json.dumps(v, ensure_ascii=False, default=str)) or "null"


def _fitting_int(v: object) -> int | None:
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 7_258_118_400_000_000_000:
        return v
    return None


def _price_new_models(con: duckdb.DuckDBPyConnection, ingest_id: int) -> None:
    """Look up models seen for the first time, then price their spans of this batch."""
    missing = con.execute(
        """
        SELECT DISTINCT s.provider, coalesce(s.response_model, s.request_model) AS model
        FROM spans s
        WHERE s.ingest_id = $i AND s.kind = 'llm' AND s.cost_usd IS NULL
          AND (s.input_tokens IS NOT NULL OR s.output_tokens IS NOT NULL)
          AND coalesce(s.response_model, s.request_model) IS NOT NULL
          AND NOT EXISTS (
            SELECT 1 FROM prices p
            WHERE p.model = coalesce(s.response_model, s.request_model)
              AND p.provider IS NOT DISTINCT FROM s.provider)
        """,
        {"i": ingest_id},
    ).fetchall()
    if not missing:
        return
    for provider, model in missing:
        price = resolve_price(provider, model)
        con.execute(
            "INSERT INTO prices (provider, model, input_usd_per_token, output_usd_per_token, "
            "source, cache_read_usd_per_token, cache_write_usd_per_token) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                provider,
                model,
                price.input,
                price.output,
                price.source,
                price.cache_read,
                price.cache_write,
            ],
        )
    con.execute(
        f"""
        UPDATE spans s SET cost_usd = {_cost_sql("s")}
        FROM prices p
        WHERE s.ingest_id = $i AND s.kind = 'llm' AND s.cost_usd IS NULL
          AND (s.input_tokens IS NOT NULL OR s.output_tokens IS NOT NULL)
          AND p.model = coalesce(s.response_model, s.request_model)
          AND p.provider IS NOT DISTINCT FROM s.provider
          AND p.input_usd_per_token IS NOT NULL
        """,
        {"i": ingest_id},
    )


def _apply(
    con: duckdb.DuckDBPyConnection,
    paths: SpoolPaths,
    files: list[Path],
    ingest_id: int,
    *,
    strict: bool,
    sizes: dict[Path, int] | None = None,
) -> tuple[int, int, int]:
    """Insert `files` into the tables. Runs inside the caller's transaction.

    Returns (spans new to the store, spans whose start record a complete one
    replaced, records dropped as repeats of a span already kept).

    Optimistically the records go in unfiltered, and the table's NOT NULL
    constraints catch one without identity; `strict` (the retry after such a
    failure) filters them out instead.
    """
    contents = [p for p in files if p.name.endswith(CONTENT_SUFFIX)]
    opened = [p for p in files if p.name.endswith(OPEN_SUFFIX)]
    closed = [p for p in files if not p.name.endswith((OPEN_SUFFIX, CONTENT_SUFFIX))]
    params = {"ingest_id": ingest_id}
    if closed:
        with _joined(paths.dir, closed, sizes) as (read, limit):
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


class _Batcher:
    """Hands out the pending segments a transaction at a time, sized to the drain's pace.

    Without a budget a transaction takes `BATCH_FILES` segments or `BATCH_BYTES` of
    them, whichever comes first (few commits, bounded memory). With one, it takes about `TXN_SECONDS` (or a quarter of the
    budget, if less) worth of bytes at the pace the previous transaction went,
    measured in wall time: a drain on a machine the recording processes keep busy
    takes smaller bites, still stops near its budget, and lets a waiting reader in
    within about one transaction. A transaction holds at least one segment. When
    nothing is recording (`busy` false: a backlog left to catch up on), bites are
    sized to `IDLE_TXN_SECONDS` with no cap: fewer, bigger commits.
    """

    TXN_SECONDS = 0.25
    IDLE_TXN_SECONDS = 1.0
    FIRST_BYTES = 1024 * 1024
    MIN_BYTES = 256 * 1024
    #: A bite grows at most this much from one transaction to the next, and is never
    #: bigger than `MAX_BYTES`: the pace of one quick transaction on a machine whose
    #: load comes and goes says little about the next.
    GROWTH = 2.0
    MAX_BYTES = 4 * 1024 * 1024

    def __init__(self, pending: list[Path], budget: float | None, *, busy: bool = True) -> None:
        self.queue = deque(pending)
        #: sizes of the segments handed out, read once (the joined read uses them too)
        self.sizes: dict[Path, int] = {}
        self.budget = budget
        self.busy = busy
        self.target = self.FIRST_BYTES
        self._singles = 0  # segments to hand out one per transaction

    def __bool__(self) -> bool:
        return bool(self.queue)

    def one_by_one(self, segments: list[Path]) -> None:
        """Hand `segments` out again first, a transaction each (to find a bad one)."""
        self.queue.extendleft(reversed(segments))
        self._singles = len(segments)

    def take(self) -> list[Path]:
        if self._singles:
            self._singles -= 1
            return [self.queue.popleft()]
        batch: list[Path] = []
        size = 0
        cap = BATCH_BYTES if self.budget is None else min(self.target, BATCH_BYTES)
        while self.queue and len(batch) < BATCH_FILES:
            n = self.sizes[self.queue[0]] = _size(self.queue[0])
            if batch and size + n > cap:
                break
            size += n
            batch.append(self.queue.popleft())
        return batch

    def paced(self, nbytes: int, seconds: float) -> None:
        """The last transaction took `seconds` for `nbytes`: size the next one to suit."""
        if self.budget is not None and nbytes and seconds > 0:
            bite = self.TXN_SECONDS if self.busy else self.IDLE_TXN_SECONDS
            want = nbytes / seconds * min(max(self.budget, 0.05) / 4, bite)
            if self.busy:
                want = min(want, max(nbytes, self.target) * self.GROWTH, self.MAX_BYTES)
            self.target = int(max(want, self.MIN_BYTES))


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0


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
            try:
                spans, completed, duplicates = _apply(
                    con, paths, good, ingest_id, strict=strict, sizes=batches.sizes
                )
                con.execute("COMMIT")
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
            _archive(good, paths)
            batches.paced(nbytes, time.perf_counter() - t_batch)
            break
    con.execute("BEGIN TRANSACTION")
    mark_interrupted(con, paths)
    con.execute("COMMIT")
    report.seconds = time.perf_counter() - t0
    return report


def _archive(segments: list[Path], paths: SpoolPaths) -> None:
    """Move drained segments into the archive and note them for compression."""
    moved = []
    archive = os.fspath(paths.archive)
    for p in segments:
        name = p.name
        with contextlib.suppress(FileNotFoundError):
            os.replace(p, f"{archive}/{name}")  # no Path built: 20,000 a drain cost 0.3 s
            moved.append(name)
    note_archived(paths, moved)
