"""No secret of a default kind reaches the store, its spool or an export, on any path.

Each example builds one store holding many generated cases (a secret of some kind
between arbitrary characters, see tests/_secrets.py), recorded every way a span
carries text: decorated functions' arguments and results (nested in lists and
dicts, as keys and values), exception messages and tracebacks, `span()` and `run()`
names and tags, attributes set through the handle and OpenTelemetry's API, start
records of open spans, the command line, and a framework's span in-process with a
secret in every attribute a column is read from; or received over OTLP/HTTP (JSON
and protobuf) and imported from OTLP/JSON files, with a secret in attributes of
every type, nested maps and lists, span, event and scope names, status messages
and resources. The store is then drained and exported, and every file under the
store directory and the exports is read as raw bytes, and every column of every
table (and of the Parquet export) as text through SQL (DuckDB compresses what it
stores, so raw bytes alone would prove nothing about the database file).
"""

from __future__ import annotations

import base64
import http.client
import json
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode

import agentreel
from agentreel.store import (
    DB_NAME,
    Receiver,
    Store,
    export_otlp_json,
    export_parquet,
    import_otlp_json,
)
from tests._secrets import Secret, surrounded

CASES = st.lists(surrounded(), min_size=10, max_size=20)
SETTINGS = settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- what must never be found ----------------------------------------------------------


def _sql_text(con: duckdb.DuckDBPyConnection, source: str) -> str:
    rows = con.execute(f"SELECT * FROM {source}").fetchall()
    return "\n".join(str(v) for row in rows for v in row if v is not None)


def _leaks(store_dir: Path, out: Path, cases: Iterable[Secret]) -> list[tuple[str, str, str]]:
    """(secret kind, where, core) for every core found anywhere."""
    texts: dict[str, str | bytes] = {}
    for root in (store_dir, out):
        for p in sorted(root.rglob("*")):
            if p.is_file():
                texts[str(p.relative_to(root.parent))] = p.read_bytes()
    con = duckdb.connect(str(store_dir / DB_NAME), read_only=True)
    try:
        tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        for t in tables:
            texts[f"table {t}"] = _sql_text(con, f'"{t}"')
        for table in ("spans", "runs", "processes"):  # the events are in the spans
            glob = str(out / "parquet" / table / "**" / "*.parquet")
            texts[f"parquet {table}"] = _sql_text(
                con, f"read_parquet('{glob}', hive_partitioning = true)"
            )
    finally:
        con.close()
    assert any(b"[REDACTED]" in v for v in texts.values() if isinstance(v, bytes))
    return [
        (secret.kind, where, core)
        for secret in cases
        for where, data in texts.items()
        if (core := secret.leaked_in(data)) is not None
    ]


def _drain_and_export(store_dir: Path, out: Path) -> int:
    with Store.open(store_dir, create=True) as store:
        report = store.ingest()
        assert not report.rejected, report.rejected
        export_otlp_json(store, out / "runs.jsonl")
        export_parquet(store, out / "parquet")
        n = store.sql("SELECT count(*) AS n FROM spans")["n"][0]
    return int(n)


# -- in the agent's process -------------------------------------------------------------


@agentreel.tool
def lookup(query: str, options: dict[str, Any]) -> dict[str, Any]:
    return {"answer": [query], query: options}


class Refused(Exception):
    pass


@agentreel.tool
def fail(message: str) -> None:
    raise Refused(message)


@agentreel.agent
def plan(goal: str) -> str:
    agentreel.flush()  # a start record of this span, still open, with its input
    return goal


def _record(provider: TracerProvider, texts: list[str]) -> int:
    spans = 0
    for text in texts:
        nested = {"k": [text, {text: {"deep": [text, 1]}}], "n": 1}
        with agentreel.run(text, tags={"case": text}, input=nested):
            lookup(text, nested)
            with agentreel.span(text, kind="tool", input=nested) as s:
                s.set_attribute("note", text)
                s.set_attributes({"notes": [text, "plain"], text: "as a key", f"n {text}": 7})
                s.set_model(request=text)
                s.set_output(nested)
            with pytest.raises(Refused):
                fail(text)
            plan(text)
            framework = provider.get_tracer(text or "scope")
            with framework.start_as_current_span(
                text or "span",
                attributes={
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.conversation.id": text,
                    "gen_ai.tool.call.id": text,
                    "gen_ai.agent.name": text,
                    "gen_ai.tool.name": text,
                    "gen_ai.request.model": text,
                    "error.type": text,
                    "input.value": json.dumps(nested),
                    "output.value": text,
                    "tags": (text, "plain"),
                    text: "as a key",
                    f"n {text}": 7,
                },
            ) as fs:
                fs.add_event(text or "event", {"why": text, "list": [text]})
                fs.record_exception(RuntimeError(text))
                fs.set_status(Status(StatusCode.ERROR, text))
        spans += 6
    return spans


@SETTINGS
@given(CASES)
def test_nothing_recorded_in_process_keeps_a_secret(cases: list[tuple[Secret, str]]) -> None:
    secrets = [s for s, _ in cases]
    texts = [t for _, t in cases]
    with tempfile.TemporaryDirectory() as tmp:
        store_dir, out = Path(tmp) / "store", Path(tmp) / "out"
        out.mkdir()
        argv = sys.argv
        sys.argv = ["agent.py", "--api-key", texts[0], *texts[1:10]]
        provider = TracerProvider()
        try:
            agentreel.init(store_dir, tracer_provider=provider)
        finally:
            sys.argv = argv
        try:
            expected = _record(provider, texts)
            agentreel.flush()
        finally:
            agentreel.shutdown()
        assert _drain_and_export(store_dir, out) >= expected
        assert not _leaks(store_dir, out, secrets)


# -- from outside: agentreel serve and agentreel import --------------------------------


def _value(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, list):
        return {"arrayValue": {"values": [_value(x) for x in v]}}
    if isinstance(v, dict):
        return {"kvlistValue": {"values": _kvs(v)}}
    return {"stringValue": v}


def _kvs(d: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _value(v)} for k, v in d.items()]


def _request(cases: list[tuple[Secret, str]], first: int, *, b64_ids: bool) -> dict[str, Any]:
    """One export request: per case, an ended span and an open one, a resource and a
    scope, with the case's text in every place a span carries text."""

    def hexid(n: int, size: int) -> str:
        raw = n.to_bytes(size, "big")
        return base64.b64encode(raw).decode() if b64_ids else raw.hex()

    resource_spans = []
    for i, (secret, text) in enumerate(cases, start=first):
        nested = {"k": [text, {text: {"deep": [text, 1]}}], "n": 1}
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.conversation.id": text,
            "gen_ai.tool.call.id": text,
            "gen_ai.agent.name": text,
            "gen_ai.tool.name": text,
            "gen_ai.request.model": text,
            "gen_ai.response.model": text,
            "gen_ai.provider.name": text,
            "error.type": text,
            "input.value": json.dumps(nested),
            "output.value": text,
            "gen_ai.prompt.0.content": text,
            "list": [text, "plain", 3],
            "map": nested,
            text: "as a key",
        }
        if secret.kind == "card":  # a card number as an int and as a double
            digits = "".join(c for c in secret.text if c.isdigit())
            attrs["card.int"] = int(digits)
            if len(digits) <= 15:
                attrs["card.double"] = float(digits)
        spans = []
        for j, ended in ((0, True), (1, False)):
            span: dict[str, Any] = {
                "traceId": hexid(i + 1, 16),
                "spanId": hexid(2 * i + j + 1, 8),
                "name": text,
                "kind": 1,
                "startTimeUnixNano": "1700000000000000000",
                "attributes": _kvs(attrs),
                "events": [
                    {
                        "name": text,
                        "timeUnixNano": "1700000000100000000",
                        "attributes": _kvs(attrs),
                    },
                    {
                        "name": "exception",
                        "timeUnixNano": "1700000000200000000",
                        "attributes": _kvs(
                            {
                                "exception.type": text,
                                "exception.message": text,
                                "exception.stacktrace": text,
                            }
                        ),
                    },
                ],
                "status": {"code": 2, "message": text},
            }
            if j:
                span["parentSpanId"] = hexid(2 * i + 1, 8)
            if ended:
                span["endTimeUnixNano"] = "1700000000250000000"
            spans.append(span)
        resource_spans.append(
            {
                "resource": {"attributes": _kvs({"service.name": text, "deploy": nested})},
                "scopeSpans": [{"scope": {"name": text}, "spans": spans}],
            }
        )
    return {"resourceSpans": resource_spans}


def _post(port: int, body: bytes, ctype: str) -> None:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("POST", "/v1/traces", body=body, headers={"Content-Type": ctype})
        r = c.getresponse()
        answer = r.read()
        assert r.status == 200, answer
        assert b"rejected" not in answer.lower(), answer
    finally:
        c.close()


def _protobuf(doc: dict[str, Any]) -> bytes:
    from google.protobuf.json_format import ParseDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    return ParseDict(doc, ExportTraceServiceRequest()).SerializeToString()


@SETTINGS
@given(CASES)
def test_nothing_received_or_imported_keeps_a_secret(cases: list[tuple[Secret, str]]) -> None:
    secrets = [s for s, _ in cases]
    third = max(1, len(cases) // 3)
    parts = [cases[:third], cases[third : 2 * third], cases[2 * third :]]
    with tempfile.TemporaryDirectory() as tmp:
        store_dir, out = Path(tmp) / "store", Path(tmp) / "out"
        out.mkdir()
        with Receiver(store_dir, port=0) as r:
            _post(
                r.port,
                json.dumps(_request(parts[0], 0, b64_ids=False)).encode(),
                "application/json",
            )
            _post(
                r.port,
                _protobuf(_request(parts[1], third, b64_ids=True)),
                "application/x-protobuf",
            )
        src = Path(tmp) / "collector.jsonl"
        src.write_text(json.dumps(_request(parts[2], 2 * third, b64_ids=False)) + "\n")
        report = import_otlp_json(store_dir, [src])
        assert report.rejected == 0, report.reasons
        assert _drain_and_export(store_dir, out) == 2 * len(cases)
        assert not _leaks(store_dir, out, secrets)
