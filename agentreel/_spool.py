"""The spool: the only thing an agent's process writes.

A spool is a directory of immutable *segments*. Each segment is one export batch,
written as newline-delimited JSON, one span record per line, to a hidden
temporary name and then renamed into place, so a reader sees a segment whole or
not at all. Any number of processes write their own segments at once; one
process at a time drains them into DuckDB (see `agentreel.store`).

Layout under the store directory::

    spool/<time_ns>-<process_id>-<seq>.jsonl   segments waiting to be drained
    spool/.<segment name>.journal              a writer's open segment (agentreel._journal)
    spool/processes/<process_id>.json          the process's OpenTelemetry resource
    spool/live/<process_id>                    heartbeat, touched every flush tick
    spool/waiting/<pid>-<token>                a process waiting to open the store
    spool/draining                             touched by a viewer or server that keeps draining
    spool/archive/                             drained segments (gzipped once settled), kept until gc
    spool/rejected/                            segments that could not be read

This module is shared by the tracer (which writes) and the store (which reads);
it imports neither of them, nor duckdb, nor polars.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from pathlib import Path

__all__ = [
    "CONTENT_FIELDS",
    "CONTENT_SUFFIX",
    "JOURNAL_SUFFIX",
    "OPEN_SUFFIX",
    "RECORD_FIELDS",
    "SEGMENT_SUFFIX",
    "SpoolPaths",
    "new_segment_name",
    "write_atomic",
]

SEGMENT_SUFFIX = ".jsonl"
OPEN_SUFFIX = ".open.jsonl"
#: Segments of content records: a span's messages carried in OTLP log records.
CONTENT_SUFFIX = ".content.jsonl"
#: A writer's open segment is ``.<segment name>.journal`` until sealed (agentreel/_journal.py).
JOURNAL_SUFFIX = ".journal"

#: The fields of a span record, with the DuckDB type the store reads them as.
#: A record with ``end_ns`` null is a *start record*: a span still open when
#: its process last flushed. Writers may leave out fields that are null.
RECORD_FIELDS: dict[str, str] = {
    "trace_id": "VARCHAR",
    "span_id": "VARCHAR",
    "parent_span_id": "VARCHAR",
    "name": "VARCHAR",
    "kind": "VARCHAR",
    "span_kind": "VARCHAR",
    "start_ns": "BIGINT",
    "end_ns": "BIGINT",
    "status": "VARCHAR",
    "status_message": "VARCHAR",
    "error_type": "VARCHAR",
    "error_message": "VARCHAR",
    "agent_name": "VARCHAR",
    "tool_name": "VARCHAR",
    "tool_call_id": "VARCHAR",
    "operation": "VARCHAR",
    "provider": "VARCHAR",
    "request_model": "VARCHAR",
    "response_model": "VARCHAR",
    "input_tokens": "BIGINT",
    "output_tokens": "BIGINT",
    "cache_read_tokens": "BIGINT",
    "cache_creation_tokens": "BIGINT",
    "reasoning_tokens": "BIGINT",
    "finish_reason": "VARCHAR",
    "session_id": "VARCHAR",
    "input": "VARCHAR",
    "output": "VARCHAR",
    "attributes": "JSON",
    "events": "JSON",
    "scope": "VARCHAR",
    "process_id": "VARCHAR",
    "links": "JSON",
}

#: The fields of a content record (a segment ending in `CONTENT_SUFFIX`): the input
#: and output messages of span (`trace_id`, `span_id`), which the drain lands in
#: that span's payload columns whichever arrives first, the event's other
#: attributes, which fill the span's attributes where it has none of the same name,
#: and span events (evaluation results) to add to the span's.
CONTENT_FIELDS: dict[str, str] = {
    "trace_id": "VARCHAR",
    "span_id": "VARCHAR",
    "time_ns": "BIGINT",
    "event": "VARCHAR",
    "input": "VARCHAR",
    "output": "VARCHAR",
    "attributes": "JSON",
    "events": "JSON",
    "process_id": "VARCHAR",
}

_FILE_MODE = 0o600
_DIR_MODE = 0o700


class SpoolPaths:
    """The directories of one spool, created on first use with owner-only modes."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.dir = self.root / "spool"
        self.processes = self.dir / "processes"
        self.live = self.dir / "live"
        self.archive = self.dir / "archive"
        self.rejected = self.dir / "rejected"
        self.waiting = self.dir / "waiting"
        self.draining = self.dir / "draining"

    def create(self) -> None:
        for d in (self.root, self.dir, self.processes, self.live, self.archive, self.rejected):
            d.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)

    def pending(self) -> list[Path]:
        """Segments waiting to be drained, oldest first."""
        try:
            names = sorted(
                e.name
                for e in os.scandir(self.dir)
                if e.name.endswith(SEGMENT_SUFFIX) and not e.name.startswith(".") and e.is_file()
            )
        except FileNotFoundError:
            return []
        return [self.dir / n for n in names]

    def journals(self) -> list[Path]:
        """Open journals (`agentreel._journal`): records a writer has not sealed yet."""
        try:
            return [
                Path(e.path)
                for e in os.scandir(self.dir)
                if e.name.startswith(".") and e.name.endswith(JOURNAL_SUFFIX)
            ]
        except FileNotFoundError:
            return []


_seq = itertools.count()
_seq_lock = threading.Lock()


def new_segment_name(process_id: str, *, open_: bool = False) -> str:
    """A segment name that sorts by creation time and is unique across processes.

    Segments of start records (`open_`) end in ``.open.jsonl``: the drain gives
    them the extra care they need (a start record must not revive a span whose
    complete record is already in).
    """
    with _seq_lock:
        n = next(_seq)
    return f"{time.time_ns():020d}-{process_id}-{n:07d}{OPEN_SUFFIX if open_ else SEGMENT_SUFFIX}"


def write_atomic(path: Path, data: bytes | bytearray) -> None:
    """Write `data` to `path` so that readers see all of it or nothing.

    The bytes go to a hidden temporary file in the same directory, are flushed,
    and the file is renamed over `path`. Files are readable by the owner only.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
