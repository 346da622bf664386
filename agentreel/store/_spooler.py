"""Records from outside the tracer (OTLP requests, imported files) -> spool segments.

The receiver and the importer write what they decode exactly as an agent's
process does: one immutable segment per batch, written atomically, plus one
``spool/processes/<process_id>.json`` per resource, so the drain treats a span
sent over OTLP like one recorded in-process, masked the same way as a span
another instrumentation made in an agent's process. Neither ever opens DuckDB.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from agentreel._journal import Journal
from agentreel._spool import (
    CONTENT_SUFFIX,
    SEGMENT_SUFFIX,
    SpoolPaths,
    new_segment_name,
    write_atomic,
)
from agentreel.store._otlp import Decoded

__all__ = ["Spooler"]

_json_line = json.JSONEncoder(ensure_ascii=False, default=str, separators=(",", ":")).encode


def _line(record: dict[str, Any]) -> bytes:
    """One record as a JSON line: orjson (several times cheaper than json), else json.

    orjson refuses what JSON from outside may hold and json takes: an integer past 64
    bits, or text with a lone surrogate (which becomes U+FFFD's stand-in, ``?``).
    """
    try:
        return orjson.dumps(record, default=str)
    except TypeError:  # orjson.JSONEncodeError
        return _json_line(record).encode("utf-8", "replace")


def process_info(process_id: str, resource: Mapping[str, Any]) -> dict[str, Any]:
    """A process file for a resource seen over OTLP (the tracer's shape, unknowns null)."""
    pid = resource.get("process.pid")
    host = resource.get("host.name")
    return {
        "process_id": process_id,
        "pid": pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        "host": host if isinstance(host, str) else None,
        "started_ns": None,
        "argv": None,
        "resource": dict(resource),
    }


class Spooler:
    """Writes `Decoded` batches into the spool at `paths`; safe to share between threads.

    With `journal`, the ended spans of every batch are appended to one open segment
    (`agentreel._journal`) that `seal` hands to the drain, instead of a segment each:
    what `agentreel serve` does, sealing before each drain.

    With `heartbeat`, each write also touches ``spool/live/<process_id>`` for the
    processes in the batch, so a trace whose root span has not arrived yet shows as
    running rather than interrupted while its sender keeps sending. `redact` is the
    redactor the batches it writes are decoded with: records are masked while they
    are decoded (``decode_json(body, spooler.redact)``), before any field is read
    from an attribute, and written as they come.

    Example::

        spooler = Spooler(SpoolPaths(".agentreel"), redact=Redactor())
        spooler.write(decode_json(body, spooler.redact))
    """

    def __init__(
        self,
        paths: SpoolPaths,
        *,
        heartbeat: bool = False,
        redact: Callable[[str], str] | None = None,
        journal: bool = False,
    ) -> None:
        paths.create()
        self.paths = paths
        self.heartbeat = heartbeat
        self.redact = redact
        #: names this writer's segments (and only them); processes come from resources
        self.writer_id = secrets.token_hex(8)
        #: with `journal`, ended spans are appended to one open segment `seal` closes
        self._journal = Journal(paths.dir, self.writer_id) if journal else None
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def write(self, decoded: Decoded) -> list[Path]:
        """Spool one batch: its new process files, then its records; returns the segments.

        Records of spans with no end (read as still open) go to a segment of their own,
        named as the tracer names its start-record segments, so the drain treats them
        alike; a batch of ended spans is one segment, and its content records (from
        log records) another, ending in `CONTENT_SUFFIX`.
        """
        self._write_processes(decoded.resources)
        ended = [r for r in decoded.records if r["end_ns"] is not None]
        still_open = [r for r in decoded.records if r["end_ns"] is None]
        written: list[Path] = []
        for records, open_ in ((ended, False), (still_open, True)):
            if records:
                data = b"\n".join(map(_line, records)) + b"\n"
                if not open_ and self._journal is not None:
                    self._journal.append(data, len(records))
                    continue
                path = self.paths.dir / new_segment_name(self.writer_id, open_=open_)
                write_atomic(path, data)
                written.append(path)
        if decoded.contents:
            data = b"\n".join(map(_line, decoded.contents)) + b"\n"
            name = new_segment_name(self.writer_id).removesuffix(SEGMENT_SUFFIX) + CONTENT_SUFFIX
            write_atomic(self.paths.dir / name, data)
            written.append(self.paths.dir / name)
        if self.heartbeat and (written or ended):
            for pid in decoded.resources:
                self._touch(self.paths.live / pid)
        return written

    def seal(self) -> int:
        """Hand the ended spans appended so far to the drain (with `journal`); returns
        how many. The spool directory is made again if it was removed; OSError if the
        disk refuses the segment, whose spans then wait in the journal for the next try.
        """
        if self._journal is None:
            return 0
        try:
            return self._journal.seal()
        except FileNotFoundError:
            self.paths.create()
            return self._journal.seal()

    def _write_processes(self, resources: Mapping[str, Mapping[str, Any]]) -> None:
        for pid, resource in resources.items():
            if pid in self._known:
                continue
            # One writer at a time: write_atomic's temporary name is per process, not per thread.
            with self._lock:
                f = self.paths.processes / f"{pid}.json"
                if not f.exists():
                    data = json.dumps(process_info(pid, resource), default=str).encode()
                    write_atomic(f, data)
                self._known.add(pid)

    @staticmethod
    def _touch(path: Path) -> None:
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            os.utime(path)
