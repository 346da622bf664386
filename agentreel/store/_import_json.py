"""Import OTLP/JSON files into a store's spool (`import_otlp_json`).

Import goes through the receiver's decoder and the spool, so an imported span is
normalised exactly like one received or recorded; the caller ingests afterwards.
Files are checked before they are opened and again once open (a regular file), may
be gzip-compressed, and are read a request at a time within `MAX_IMPORT_DOCUMENT`.
Runs are written back out by store/_export_json.py.

Example::

    from agentreel.store import Store, import_otlp_json

    with Store.open("/tmp/copy", create=True) as copy:
        import_otlp_json(copy, ["runs.jsonl"])
        copy.ingest()
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agentreel._errors import AgentreelError
from agentreel._redact import redactor_from
from agentreel._spool import SpoolPaths
from agentreel.store._otlp import Decoded, OTLPDecodeError
from agentreel.store._otlp_json import _get, decode_json_object
from agentreel.store._otlp_logs import decode_logs_json_object
from agentreel.store._spooler import Spooler
from agentreel.store._store import Store

__all__ = ["ImportReport", "import_otlp_json"]

#: Records per spool segment when importing.
_SEGMENT_RECORDS = 5000


@dataclass
class ImportReport:
    """What `import_otlp_json` wrote to the spool."""

    files: int = 0
    requests: int = 0
    spans: int = 0
    rejected: int = 0
    segments: int = 0
    reasons: list[str] = field(default_factory=list)
    #: content records from OTLP/JSON logs requests (GenAI events, one per span), and
    #: log records refused (no span, or not a GenAI content event)
    contents: int = 0
    rejected_log_records: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_files(files: Iterable[str | os.PathLike[str]]) -> list[Path]:
    out = []
    for f in files:
        p = Path(f)
        try:
            st = p.stat()
        except FileNotFoundError:
            raise AgentreelError(f"cannot import {p}: no such file") from None
        except OSError as e:
            raise AgentreelError(f"cannot import {p}: {e.strerror or e}") from None
        if not stat.S_ISREG(st.st_mode):
            raise AgentreelError(f"cannot import {p}: it is not a regular file")
        out.append(p)
    if not out:
        raise AgentreelError("no files to import; name at least one OTLP/JSON file")
    return out


_ZSTD = b"\x28\xb5\x2f\xfd"  # a zstd frame's magic number


def _open(p: Path) -> io.BufferedIOBase:
    """`p` opened for reading, checked again once open: the path may have changed since
    `_check_files` (a FIFO put in its place would block the import forever)."""
    fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise AgentreelError(f"cannot import {p}: it is not a regular file")
    os.set_blocking(fd, True)
    f = os.fdopen(fd, "rb")
    magic = f.read(8)
    # the file exporter's `compression: zstd` writes each request as its 4-byte length,
    # then a zstd frame; `zstd` itself writes the frame alone
    if magic[:2] != b"\x1f\x8b" and _ZSTD in (magic[:4], magic[4:]):
        f.close()
        raise OTLPDecodeError(
            f"{p} is zstd-compressed (the Collector's file exporter with `compression: "
            "zstd`); export without compression (`format: json`) and gzip the files if needed"
        )
    if magic[:2] == b"\x1f\x8b":  # a gzip-compressed copy of the exporter's output
        f.seek(0)
        g = gzip.GzipFile(fileobj=f, mode="rb")
        g.myfileobj = f  # type: ignore[assignment]  # closed with g, as a file it opened
        return g
    f.seek(0)
    return f


#: The largest request (one line, or the whole file when it is one document) an import
#: reads, decompressed: a bound on memory, so a small gzip file cannot inflate without end.
MAX_IMPORT_DOCUMENT = 256 * 1024 * 1024


def _too_long(p: Path, where: str) -> OTLPDecodeError:
    return OTLPDecodeError(
        f"{p}{where} is longer than {MAX_IMPORT_DOCUMENT // (1024 * 1024)} MiB; "
        "split it into requests of one line each"
    )


def _requests(p: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed request) of a file holding one JSON object, or one per line."""
    limit = MAX_IMPORT_DOCUMENT
    try:
        with _open(p) as f:

            def lines() -> Iterator[tuple[int, bytes]]:
                n = 0
                while line := f.readline(limit + 1):
                    n += 1
                    if len(line) > limit:
                        raise _too_long(p, f", line {n},")
                    yield n, line

            numbered = lines()
            first_no, first = next(((n, ln) for n, ln in numbered if ln.strip()), (0, b""))
            if not first:
                raise OTLPDecodeError(
                    f"{p} is not OTLP/JSON: it holds no request (it is empty or blank)"
                )
            try:
                doc = json.loads(first)
            except (ValueError, RecursionError):  # not one object per line: one document
                rest = f.read(limit + 1 - len(first))
                if len(first) + len(rest) > limit:
                    raise _too_long(p, "") from None
                try:
                    doc = json.loads(first + rest)
                except (ValueError, RecursionError) as e:
                    raise OTLPDecodeError(f"{p} is not OTLP/JSON ({e})") from None
                yield first_no, doc
                return
            yield first_no, doc
            for n, line in numbered:
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                except (ValueError, RecursionError) as e:
                    raise OTLPDecodeError(f"{p}, line {n}: not valid JSON ({e})") from None
                yield n, doc
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise AgentreelError(f"cannot read {p}: {getattr(e, 'strerror', None) or e}") from None


def import_otlp_json(
    target: Store | SpoolPaths | str | os.PathLike[str],
    files: Iterable[str | os.PathLike[str]],
    *,
    redact: bool | Callable[[str], str] = True,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Write the spans of OTLP/JSON files into the spool of `target`; ingest afterwards.

    A file holds one ``ExportTraceServiceRequest`` JSON object, or one per line as
    the OpenTelemetry Collector's file exporter writes; ``ExportLogsServiceRequest``
    objects (GenAI events carrying spans' messages) are read too (gzip-compressed files are
    read too). Every path is checked before anything is written; a file that is not
    OTLP/JSON raises `OTLPDecodeError` naming it, and nothing of that call stays in
    the spool. Spans that cannot be placed are counted in ``rejected``. `redact`
    masks secrets before anything is spooled, as an agent's tracer does (True: the
    default patterns; False: none; or a `Redactor` or any function of a string).
    `progress`, when given, is called with the spans of each segment written.

    Example::

        report = import_otlp_json(store, ["traces.jsonl"])
        store.ingest()
    """
    paths = (
        target.paths
        if isinstance(target, Store)
        else target
        if isinstance(target, SpoolPaths)
        else SpoolPaths(target)
    )
    redactor = redactor_from(redact)
    checked = _check_files(files)
    try:
        spooler = Spooler(paths, redact=redactor)
    except OSError as e:
        raise AgentreelError(
            f"cannot write to the spool in {paths.dir}: {e.strerror or e}"
        ) from None
    report = ImportReport()
    written: list[Path] = []
    batch = Decoded()

    def flush() -> None:
        nonlocal batch
        written.extend(spooler.write(batch))
        if progress is not None and batch.records:
            progress(len(batch.records))
        batch = Decoded()

    try:
        for p in checked:
            for n, doc in _requests(p):
                logs = isinstance(doc, dict) and _get(doc, "resourceLogs") is not None
                if not logs and (not isinstance(doc, dict) or _get(doc, "resourceSpans") is None):
                    # a request with no resourceSpans key is not what a trace exporter
                    # writes: another JSON file named by mistake must not import as empty
                    raise OTLPDecodeError(
                        f"{p}, line {n}: not an OTLP/JSON trace or logs request "
                        "(a JSON object with a resourceSpans or resourceLogs array)"
                    )
                try:
                    dec = (
                        decode_logs_json_object(doc, redactor)
                        if logs
                        else decode_json_object(doc, redactor)
                    )
                except OTLPDecodeError as e:
                    raise OTLPDecodeError(f"{p}, line {n}: {e}") from None
                report.requests += 1
                report.spans += len(dec.records)
                report.contents += len(dec.contents)
                if logs:
                    report.rejected_log_records += dec.rejected
                else:
                    report.rejected += dec.rejected
                for r in dec.reasons:
                    if len(report.reasons) < 5 and r not in report.reasons:
                        report.reasons.append(r)
                batch.extend(dec)
                if len(batch.records) + len(batch.contents) >= _SEGMENT_RECORDS:
                    flush()
            report.files += 1
        flush()
    except BaseException as e:
        for seg in written:  # all of this call or none of it
            with contextlib.suppress(OSError):
                seg.unlink()
        if isinstance(e, OSError):
            raise AgentreelError(
                f"cannot write to the spool in {paths.dir}: {e.strerror or e}"
            ) from None
        raise
    report.segments = len(written)
    return report
