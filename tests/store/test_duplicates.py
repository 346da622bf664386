"""Each span is stored once, whatever arrives twice (docs/reliability.md, "Each span once").

A span is identified by (trace id, span id). Records are delivered again, in any
order and across drains: the same OTLP request posted twice to the receiver, files
imported twice or overlapping, a start record after its complete record. The store
keeps one row per span, the complete record over a start record, and the run's
totals count each span once.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
from google.protobuf.json_format import MessageToDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from agentreel._spool import RECORD_FIELDS, SpoolPaths, new_segment_name, write_atomic
from agentreel.store import DB_NAME, Receiver, Store, import_otlp_json
from agentreel.store._ingest import IngestReport
from agentreel.store._schema import MIGRATIONS

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000_000_000_000
PROCESS = "p-dup"


# -- a run as spool records ------------------------------------------------------


def _run(trace: str, llm_calls: int, tools: int) -> list[dict[str, Any]]:
    """Complete records of a run: a root agent span, its LLM calls (with tokens), its tools."""
    root = {
        "trace_id": trace,
        "span_id": f"{trace[:8]}00000000",
        "name": "agent",
        "kind": "agent",
        "agent_name": "planner",
        "start_ns": T0,
        "end_ns": T0 + 10_000_000,
        "status": "ok",
        "process_id": PROCESS,
    }
    out = [root]
    for i in range(llm_calls + tools):
        llm = i < llm_calls
        out.append(
            {
                "trace_id": trace,
                "span_id": f"{trace[:8]}{i + 1:08x}",
                "parent_span_id": root["span_id"],
                "name": "chat" if llm else "lookup",
                "kind": "llm" if llm else "tool",
                "start_ns": T0 + (i + 1) * 1000,
                "end_ns": T0 + (i + 1) * 1000 + 500,
                "status": "ok",
                "input_tokens": 100 + i if llm else None,
                "output_tokens": 10 + i if llm else None,
                "process_id": PROCESS,
            }
        )
    return out


def _start(record: dict[str, Any]) -> dict[str, Any]:
    """The start record the tracer writes for `record` while its span is open."""
    return {k: v for k, v in record.items() if k not in ("end_ns", "output_tokens", "status")}


def _segment(paths: SpoolPaths, records: list[dict[str, Any]], *, start: bool) -> None:
    lines = "".join(
        json.dumps({k: v for k, v in r.items() if v is not None}) + "\n" for r in records
    )
    write_atomic(paths.dir / new_segment_name(PROCESS, open_=start), lines.encode())


def _check_store(store: Store, runs: list[list[dict[str, Any]]]) -> None:
    """Each span of `runs` once, complete, and each run's totals counted once."""
    rows = store.sql(
        "SELECT trace_id, span_id, count(*) AS n, count(end_time) AS ended FROM spans GROUP BY ALL"
    )
    want = {(r["trace_id"], r["span_id"]) for run in runs for r in run}
    assert {(t, s) for t, s in zip(rows["trace_id"], rows["span_id"], strict=True)} == want
    assert set(rows["n"]) == {1}
    assert set(rows["ended"]) == {1}
    got = {r["run_id"]: r for r in store.runs().to_dicts()}
    assert set(got) == {run[0]["trace_id"] for run in runs}
    for run in runs:
        r = got[run[0]["trace_id"]]
        llm = [s for s in run if s["kind"] == "llm"]
        assert r["span_count"] == len(run)
        assert r["llm_count"] == len(llm)
        assert r["tool_count"] == sum(s["kind"] == "tool" for s in run)
        assert r["input_tokens"] == (sum(s["input_tokens"] for s in llm) if llm else None)
        assert r["output_tokens"] == (sum(s["output_tokens"] for s in llm) if llm else None)
        assert r["status"] == "ok"
        assert r["end_time"] is not None


# -- every order of deliveries ---------------------------------------------------


@st.composite
def _deliveries(draw: st.DrawFn) -> tuple[list[list[dict[str, Any]]], list[list[Any]]]:
    """Runs, and their records delivered as drains of segments: every complete record
    one to three times, start records of agent and LLM spans up to twice, shuffled."""
    runs = [
        _run(f"{t + 1:02x}" * 16, draw(st.integers(0, 3)), draw(st.integers(0, 2)))
        for t in range(draw(st.integers(1, 2)))
    ]
    records: list[tuple[bool, dict[str, Any]]] = []
    for run in runs:
        for r in run:
            records += [(False, r)] * draw(st.integers(1, 3))
            if r["kind"] in ("agent", "llm"):
                records += [(True, _start(r))] * draw(st.integers(0, 2))
    records = draw(st.permutations(records))
    # consecutive records of one type form a segment, cut at random points
    segments: list[tuple[bool, list[dict[str, Any]]]] = []
    for start, r in records:
        if segments and segments[-1][0] == start and not draw(st.booleans()):
            segments[-1][1].append(r)
        else:
            segments.append((start, [r]))
    drains: list[list[Any]] = [[]]
    for seg in segments:
        if drains[-1] and draw(st.booleans()):
            drains.append([])
        drains[-1].append(seg)
    return runs, drains


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=_deliveries())
def test_every_span_delivered_again_in_any_order_across_drains_is_stored_once(
    tmp_path_factory: Any, case: tuple[list[list[dict[str, Any]]], list[list[Any]]]
) -> None:
    runs, drains = case
    store_dir = tmp_path_factory.mktemp("dup")
    paths = SpoolPaths(store_dir)
    paths.create()
    total = IngestReport()
    with Store.open(store_dir, create=True) as store:
        for drain in drains:
            for start, records in drain:
                _segment(paths, records, start=start)
            total.add(store.ingest())
        _check_store(store, runs)
    records = sum(len(records) for drain in drains for _, records in drain)
    n_spans = sum(len(run) for run in runs)
    assert total.spans == n_spans  # each span counted once, in the drain that first had it
    # every record was a new span, the end of a span stored open, or a copy dropped
    assert total.spans + total.completed + total.duplicates == records
    assert not total.rejected
    assert not total.invalid_records


# -- the same request twice to `serve`; files imported twice, overlapping, grown ------


def _otlp_span(trace: bytes, i: int, llm: bool) -> Span:
    s = Span(
        trace_id=trace,
        span_id=bytes([0, 0, 0, 0, 0, 0, 0, i + 1]),
        parent_span_id=b"" if i == 0 else bytes([0, 0, 0, 0, 0, 0, 0, 1]),
        name="chat" if llm else f"step {i}",
        start_time_unix_nano=T0 + i,
        end_time_unix_nano=T0 + 1000 + i,
    )
    if llm:
        for k, v in (
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.usage.input_tokens", 40 + i),
            ("gen_ai.usage.output_tokens", 4 + i),
        ):
            value = AnyValue(int_value=v) if isinstance(v, int) else AnyValue(string_value=v)
            s.attributes.append(KeyValue(key=k, value=value))
    return s


def _request(spans: list[Span]) -> bytes:
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]
    ).SerializeToString()


def _post(r: Receiver, body: bytes) -> None:
    c = http.client.HTTPConnection("127.0.0.1", r.port, timeout=10)
    try:
        c.request(
            "POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"}
        )
        resp = c.getresponse()
        resp.read()
        assert resp.status == 200
    finally:
        c.close()


def _totals(store: Store, run_id: str) -> tuple[int, int, int, int]:
    r = store.run(run_id)
    return r["span_count"], r["llm_count"], r["input_tokens"], r["output_tokens"]


def test_the_same_request_posted_twice_to_the_receiver_is_stored_once(tmp_path: Path) -> None:
    trace = bytes.fromhex("5b8efff798038103d269b633813fc60c")
    spans = [_otlp_span(trace, i, llm=i in (1, 2)) for i in range(4)]
    first, second = _request(spans[:3]), _request(spans[2:])  # span 2 in both
    store_dir = tmp_path / "store"
    r = Receiver(store_dir, port=0).start()
    try:
        with Store.open(store_dir, create=True) as store:
            _post(r, first)
            _post(r, first)  # the answer was lost: the exporter sends it again
            one = store.ingest()
            _post(r, second)
            _post(r, first)  # and once more, after a drain
            two = store.ingest()
            assert (one.spans, one.duplicates) == (3, 3)
            assert (two.spans, two.duplicates) == (1, 4)
            n = store.sql("SELECT count(*) AS n, count(DISTINCT span_id) AS d FROM spans")
            assert (n["n"][0], n["d"][0]) == (4, 4)
            # the run's totals: 4 spans, 2 model calls, tokens of spans 1 and 2 once each
            assert _totals(store, trace.hex()) == (4, 2, 41 + 42, 5 + 6)
    finally:
        r.stop()


def _file(path: Path, requests: list[bytes]) -> Path:
    """An OTLP/JSON file as the Collector writes it: one request per line."""
    lines = []
    for body in requests:
        req = ExportTraceServiceRequest.FromString(body)
        lines.append(json.dumps(MessageToDict(req)))
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_files_imported_again_overlapping_or_grown_are_stored_once(tmp_path: Path) -> None:
    trace = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
    spans = [_otlp_span(trace, i, llm=i % 2 == 1) for i in range(6)]
    store_dir = tmp_path / "store"
    grown = _file(tmp_path / "collector.jsonl", [_request(spans[:2])])
    overlap = _file(tmp_path / "overlap.jsonl", [_request(spans[1:4])])
    with Store.open(store_dir, create=True) as store:
        import_otlp_json(store, [grown])
        assert store.ingest().spans == 2
        # the Collector's file grew by a line: imported again, whole
        _file(grown, [_request(spans[:2]), _request(spans[2:])])
        import_otlp_json(store, [grown, overlap])  # one drain holds both copies
        report = store.ingest()
        assert (report.spans, report.duplicates) == (4, 2 + 3)
        import_otlp_json(store, [overlap, grown])
        assert store.ingest().spans == 0
        n = store.sql("SELECT count(*) AS n, count(DISTINCT span_id) AS d FROM spans")
        assert (n["n"][0], n["d"][0]) == (6, 6)
        assert _totals(store, trace.hex()) == (6, 3, 41 + 43 + 45, 5 + 7 + 9)


# -- `agentreel ingest --json` across drains --------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentreel", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "120", "HOME": str(cwd)},
    )


def test_ingest_json_counts_a_root_span_once_when_its_records_come_in_two_drains(
    tmp_path: Path,
) -> None:
    store_dir = tmp_path / "store"
    paths = SpoolPaths(store_dir)
    paths.create()
    root = _run("ab" * 16, 0, 0)[0]
    _segment(paths, [_start(root)], start=True)
    first = _cli("ingest", "--json", "--dir", str(store_dir), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    _segment(paths, [root], start=False)
    second = _cli("ingest", "--json", "--dir", str(store_dir), cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    counts = [
        {k: json.loads(r.stdout)[k] for k in ("spans", "completed", "duplicates")}
        for r in (first, second)
    ]
    assert counts == [
        {"spans": 1, "completed": 0, "duplicates": 0},
        {"spans": 0, "completed": 1, "duplicates": 0},
    ]


# -- stores written before the rule ----------------------------------------------


def test_a_store_holding_spans_twice_is_deduplicated_by_its_migration(tmp_path: Path) -> None:
    store_dir = tmp_path / "v4"
    paths = SpoolPaths(store_dir)
    paths.create()
    run = _run("cd" * 16, 2, 1)
    # a store at version 4, made by its migrations as that agentreel did
    con = duckdb.connect(str(store_dir / DB_NAME))
    for m in MIGRATIONS[:4]:
        con.execute(m)
    con.execute("INSERT INTO meta VALUES ('schema_version', '4')")
    con.close()
    # what its drain did: a resent batch went in twice, and a start record that came
    # after its complete record stayed beside it
    _segment(paths, run, start=False)
    _segment(paths, run, start=False)
    _segment(paths, [_start(run[1])], start=True)
    columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in RECORD_FIELDS.items()) + "}"
    con = duckdb.connect(str(store_dir / DB_NAME))
    for i, seg in enumerate(paths.pending(), start=1):
        con.execute(
            f"INSERT INTO spans BY NAME SELECT trace_id AS run_id, trace_id, span_id, "
            "parent_span_id, name, kind, make_timestamp_ns(start_ns) AS start_time, "
            "make_timestamp_ns(end_ns) AS end_time, coalesce(status, 'unset') AS status, "
            "input_tokens, output_tokens, agent_name, true AS usage_counted, "
            f"{i} AS ingest_id FROM read_json('{seg}', columns = {columns})"
        )
        seg.unlink()
    con.execute(
        "INSERT INTO runs (run_id, status, span_count) VALUES (?, 'ok', 9)", [run[0]["trace_id"]]
    )
    con.close()
    with Store.open(store_dir) as store:
        _check_store(store, [run])
