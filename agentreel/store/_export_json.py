"""Export runs as OTLP/JSON (`export_otlp_json`), one export request per line.

What it writes any OpenTelemetry backend (or the Collector's file receiver) reads
back, and `import_otlp_json` (store/_import_json.py) gives back the same runs and
spans. Parquet datasets are written by store/_parquet_write.py, which shares
`ExportReport` and `_run_ids`.

Example::

    from agentreel.store import Store, export_otlp_json

    with Store.open() as store:
        export_otlp_json(store, "runs.jsonl")
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from agentreel._errors import AgentreelError
from agentreel._normalize import INPUT, OUTPUT
from agentreel.store._evaluations import evaluation_event
from agentreel.store._store import Store

__all__ = ["ExportReport", "export_otlp_json"]

#: Spans per exported ExportTraceServiceRequest line.
_LINE_SPANS = 1000
#: Runs read from the store at a time when exporting.
_RUN_CHUNK = 500

#: Modes of what an export writes: readable by its owner only, like the store.
_FILE_MODE = 0o600

_SPAN_KIND_CODES = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}
_STATUS_CODES = {"unset": 0, "ok": 1, "error": 2}


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
