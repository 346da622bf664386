"""Import OTLP/JSON files; export runs as OTLP/JSON or as Parquet partitioned by day.

Import goes through the receiver's decoder and the spool, so an imported span is
normalised exactly like one received or recorded; the caller ingests afterwards.
Export writes what any OpenTelemetry backend (or the Collector's file receiver)
reads back; Parquet datasets are written by store/_parquet_write.py.

Example::

    from agentreel.store import Store, export_otlp_json, import_otlp_json

    with Store.open() as store:
        export_otlp_json(store, "runs.jsonl")
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
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from agentreel._errors import AgentreelError
from agentreel._normalize import INPUT, OUTPUT
from agentreel._redact import redactor_from
from agentreel._spool import SpoolPaths
from agentreel.store._evaluations import evaluation_event
from agentreel.store._otlp import Decoded, OTLPDecodeError
from agentreel.store._otlp_json import _get, decode_json_object
from agentreel.store._otlp_logs import decode_logs_json_object
from agentreel.store._spooler import Spooler
from agentreel.store._store import Store

__all__ = ["ExportReport", "ImportReport", "export_otlp_json", "import_otlp_json"]

#: Records per spool segment when importing.
_SEGMENT_RECORDS = 5000
#: Spans per exported ExportTraceServiceRequest line.
_LINE_SPANS = 1000
#: Runs read from the store at a time when exporting.
_RUN_CHUNK = 500

#: Modes of what an export writes: readable by its owner only, like the store.
_FILE_MODE = 0o600

_SPAN_KIND_CODES = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
_STATUS_CODES = {"unset": 0, "ok": 1, "error": 2}


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


@dataclass
class ExportReport:
    """What an export wrote."""

    format: str
    out: str
    runs: int = 0
    spans: int = 0
    events: int = 0
    open_spans_skipped: int = 0
    #: Parquet: runs the dataset held already and that changed since, so were replaced,
    #: and runs it held unchanged, so were not written again.
    replaced: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- import -------------------------------------------------------------------


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


def _open(p: Path) -> io.BufferedIOBase:
    """`p` opened for reading, checked again once open: the path may have changed since
    `_check_files` (a FIFO put in its place would block the import forever)."""
    fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise AgentreelError(f"cannot import {p}: it is not a regular file")
    os.set_blocking(fd, True)
    f = os.fdopen(fd, "rb")
    if f.read(2) == b"\x1f\x8b":  # the Collector's file exporter may gzip its output
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


# -- export -------------------------------------------------------------------


def _any_value(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, str):
        return {"stringValue": v}
    if isinstance(v, list | tuple):
        return {"arrayValue": {"values": [_any_value(x) for x in v]}}
    if isinstance(v, dict):
        return {"kvlistValue": {"values": _key_values(v)}}
    if v is None:
        return {}
    return {"stringValue": str(v)}


def _key_values(attrs: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _any_value(v)} for k, v in attrs.items()]


def _loads(v: Any) -> dict[str, Any]:
    if v is None:
        return {}
    d = json.loads(v) if isinstance(v, str) else v
    return d if isinstance(d, dict) else {}


def _payload_keys(attrs: Mapping[str, Any]) -> tuple[str, str]:
    """Where a span's payloads go back: OpenInference spans had them in input/output.value."""
    if "openinference.span.kind" in attrs and "agentreel.span.kind" not in attrs:
        return "input.value", "output.value"
    return INPUT, OUTPUT


def _otlp_span(row: Mapping[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    attrs = _loads(row["attributes"])
    in_key, out_key = _payload_keys(attrs)
    if row["input"] is not None:
        attrs[in_key] = row["input"]
    if row["output"] is not None:
        attrs[out_key] = row["output"]
    span: dict[str, Any] = {
        "traceId": row["trace_id"],
        "spanId": row["span_id"],
        "name": row["name"] or "",
        "kind": _SPAN_KIND_CODES.get(row["span_kind"] or "", 0),
        "startTimeUnixNano": str(row["start_ns"]),
        "endTimeUnixNano": str(row["end_ns"]),
        "attributes": _key_values(attrs),
        "status": {"code": _STATUS_CODES.get(row["status"], 0)},
    }
    if row["parent_span_id"]:
        span["parentSpanId"] = row["parent_span_id"]
    if row["status_message"]:
        span["status"]["message"] = row["status_message"]
    if events:
        span["events"] = events
    links = json.loads(row["links"]) if row.get("links") else None
    if links:
        span["links"] = [
            {
                "traceId": link["trace_id"],
                "spanId": link["span_id"],
                "attributes": _key_values(link.get("attributes") or {}),
            }
            for link in links
        ]
    return span


def _request_line(resource: Mapping[str, Any], spans: list[tuple[str | None, Any]]) -> str:
    scopes: dict[str | None, list[Any]] = {}
    for scope, s in spans:
        scopes.setdefault(scope, []).append(s)
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": _key_values(resource)},
                "scopeSpans": [
                    {"scope": {"name": scope} if scope else {}, "spans": ss}
                    for scope, ss in scopes.items()
                ],
            }
        ]
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str)


def _run_ids(store: Store, run_ids: Iterable[str] | None) -> list[str]:
    if run_ids is None:
        df = store.sql("SELECT run_id FROM runs ORDER BY start_time, run_id")
        return [str(r) for r in df["run_id"].to_list()]
    return list(dict.fromkeys(store.resolve_run(r) for r in run_ids))


def _out_file(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if p.is_dir():
        raise AgentreelError(f"cannot export to {p}: it is a directory; name a file")
    if not p.parent.is_dir():
        raise AgentreelError(f"cannot export to {p}: the directory {p.parent} does not exist")
    return p


def export_otlp_json(
    store: Store,
    path: str | os.PathLike[str],
    run_ids: Iterable[str] | None = None,
    *,
    progress: Callable[[int], None] | None = None,
) -> ExportReport:
    """Write runs (all, or `run_ids`: ids or unique prefixes) to `path` as OTLP/JSON.

    One ``ExportTraceServiceRequest`` per line, each holding the spans of one
    resource (process), as the Collector's file exporter writes; any OTLP backend,
    or `import_otlp_json`, reads it back. Attributes are restored from the store,
    with the input and output payloads back under ``agentreel.input`` /
    ``agentreel.output`` (``input.value`` / ``output.value`` for OpenInference
    spans). Spans still open (of running or interrupted runs) are skipped: OTLP
    has no open spans. With no span to write, the file holds one empty request (so
    it imports back as nothing). The file is readable by its owner only, like the store.
    `progress`, when given, is called with the spans written of each chunk of runs.

    Example::

        export_otlp_json(store, "nightly.jsonl", run_ids=["4623a6bd"])
    """
    out = _out_file(path)
    ids = _run_ids(store, run_ids)
    report = ExportReport(format="otlp-json", out=str(out), runs=len(ids))
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        # owner-only like the store: an export holds the same payloads
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _FILE_MODE)
        os.fchmod(fd, _FILE_MODE)  # a file left by an earlier try keeps its mode otherwise
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for i in range(0, len(ids), _RUN_CHUNK):
                before = report.spans
                _export_chunk(store, ids[i : i + _RUN_CHUNK], f, report)
                if progress is not None:
                    progress(report.spans - before)
            if not report.spans:  # an empty request, so the file imports back as no spans
                f.write('{"resourceSpans": []}\n')
        os.replace(tmp, out)
    except OSError as e:
        raise AgentreelError(f"cannot write {out}: {e.strerror or e}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return report


def _export_chunk(store: Store, ids: list[str], f: IO[str], report: ExportReport) -> None:
    spans = store.expand(
        store.sql(
            "SELECT trace_id, span_id, parent_span_id, name, span_kind, "
            "epoch_ns(start_time) AS start_ns, epoch_ns(end_time) AS end_ns, status, "
            "status_message, input, output, attributes, scope, process_id, links "
            "FROM spans WHERE list_contains($ids, run_id) "
            "ORDER BY process_id, start_time, span_id",
            {"ids": ids},
        )
    )
    events: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in store.sql(
        "SELECT run_id, span_id, epoch_ns(time) AS time_ns, name, attributes FROM events "
        "WHERE list_contains($ids, run_id) ORDER BY time",
        {"ids": ids},
    ).iter_rows(named=True):
        ev: dict[str, Any] = {
            "name": e["name"] or "",
            "attributes": _key_values(_loads(e["attributes"])),
        }
        if e["time_ns"] is not None:
            ev["timeUnixNano"] = str(e["time_ns"])
        events.setdefault((e["run_id"], e["span_id"]), []).append(ev)
        report.events += 1
    # evaluations agentreel wrote travel as the GenAI convention's span events, on the
    # span they judge (the root span for a whole run)
    for e in store.sql(
        "SELECT e.*, coalesce(e.span_id, r.root_span_id) AS on_span, "
        "epoch_ns(e.created_at) AS time_ns FROM evaluation_records e "
        "JOIN runs r USING (run_id) WHERE list_contains($ids, e.run_id) "
        "ORDER BY e.created_at, e.evaluation_id",
        {"ids": ids},
    ).iter_rows(named=True):
        if e["on_span"] is None:
            continue
        ev = evaluation_event(e)
        events.setdefault((e["run_id"], e["on_span"]), []).append(
            {
                "name": ev["name"],
                "attributes": _key_values(ev["attributes"]),
                "timeUnixNano": str(ev["time_ns"]),
            }
        )
        report.events += 1
    pids = [p for p in spans["process_id"].unique().to_list() if p is not None]
    resources = {
        r["process_id"]: _loads(r["resource"])
        for r in store.sql(
            "SELECT process_id, any_value(resource) AS resource FROM processes "
            "WHERE list_contains($p, process_id) GROUP BY process_id",
            {"p": pids},
        ).iter_rows(named=True)
    }
    current: str | None = None
    pending: list[tuple[str | None, Any]] = []

    def emit() -> None:
        if pending:
            f.write(_request_line(resources.get(current or "", {}), pending) + "\n")
            pending.clear()

    for row in spans.iter_rows(named=True):
        if row["end_ns"] is None:
            report.open_spans_skipped += 1
            continue
        if row["process_id"] != current or len(pending) >= _LINE_SPANS:
            emit()
            current = row["process_id"]
        pending.append(
            (row["scope"], _otlp_span(row, events.get((row["trace_id"], row["span_id"]), [])))
        )
        report.spans += 1
    emit()
