"""Import OTLP/JSON files; export OTLP/JSON and Parquet; the round trip between stores."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel import AgentreelError
from agentreel.demo import run_demo
from agentreel.store import (
    OTLPDecodeError,
    Store,
    export_otlp_json,
    export_parquet,
    import_otlp_json,
)
from tests.conftest import Recorded

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding 8 demo runs (some failed), drained."""
    d = tmp_path_factory.mktemp("demo") / "store"
    Recorded(d, TracerProvider())
    try:
        run_demo(8, seed=3, latency=0)
    finally:
        agentreel.shutdown()
    with Store.open(d, create=True) as store:
        store.ingest()
    return d


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentreel", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "HOME": str(ROOT)},
    )


def _table(store: Store, table: str, order: str) -> list[dict[str, Any]]:
    rows = store.sql(f"SELECT * FROM {table} ORDER BY {order}").to_dicts()
    for r in rows:
        r.pop("process_id", None)  # a process id is per sender, not per resource
        r.pop("ingest_id", None)  # which drain brought the row
        for k in ("attributes", "tags", "events"):  # JSON compares as values, not as text
            if isinstance(r.get(k), str):
                r[k] = json.loads(r[k])
    return rows


def test_otlp_json_round_trip_gives_back_the_same_runs_and_spans(
    demo_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "runs.jsonl"
    with Store.open(demo_dir) as store:
        report = export_otlp_json(store, out)
        runs = _table(store, "runs", "run_id")
        spans = _table(store, "spans", "trace_id, span_id")
        events = _table(store, "events", "run_id, span_id, time, name")
    assert (report.runs, report.spans, report.open_spans_skipped) == (8, len(spans), 0)
    assert report.events == len(events) > 0
    assert {r["status"] for r in runs} == {"ok", "error"}
    lines = out.read_text().splitlines()
    assert all(len(json.loads(ln)["resourceSpans"]) == 1 for ln in lines)

    copy = tmp_path / "copy"
    imported = import_otlp_json(copy, [out])
    assert (imported.files, imported.spans, imported.rejected) == (1, len(spans), 0)
    with Store.open(copy, create=True) as store:
        assert store.ingest().spans == len(spans)
        assert _table(store, "runs", "run_id") == runs
        assert _table(store, "spans", "trace_id, span_id") == spans
        assert _table(store, "events", "run_id, span_id, time, name") == events
        services = store.sql("SELECT service_name FROM processes")["service_name"].to_list()
        assert set(services) == {r["service_name"] for r in runs}


def test_export_selected_runs_by_prefix(demo_dir: Path, tmp_path: Path) -> None:
    with Store.open(demo_dir) as store:
        ids = store.runs()["run_id"].to_list()[:2]
        report = export_otlp_json(store, tmp_path / "two.jsonl", [ids[0][:8], ids[1]])
        n_spans = store.sql(
            "SELECT count(*) AS n FROM spans WHERE list_contains($ids, run_id)", {"ids": ids}
        )["n"][0]
    assert (report.runs, report.spans) == (2, n_spans)
    trace_ids = {
        s["traceId"]
        for ln in (tmp_path / "two.jsonl").read_text().splitlines()
        for rs in json.loads(ln)["resourceSpans"]
        for ss in rs["scopeSpans"]
        for s in ss["spans"]
    }
    assert trace_ids == set(ids)


def test_export_refuses_a_directory_or_a_missing_parent(demo_dir: Path, tmp_path: Path) -> None:
    with Store.open(demo_dir) as store:
        with pytest.raises(AgentreelError, match="it is a directory"):
            export_otlp_json(store, tmp_path)
        with pytest.raises(AgentreelError, match="does not exist"):
            export_otlp_json(store, tmp_path / "nope" / "x.jsonl")
        (tmp_path / "full").mkdir()
        (tmp_path / "full" / "x").write_text("x")
        with pytest.raises(AgentreelError, match="neither an empty directory nor a Parquet"):
            export_parquet(store, tmp_path / "full")


def test_parquet_export_is_partitioned_by_day_and_reads_back(
    demo_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pq"
    with Store.open(demo_dir) as store:
        report = export_parquet(store, out)
        n_spans = store.sql("SELECT count(*) AS n FROM spans")["n"][0]
        days = store.sql("SELECT DISTINCT CAST(start_time AS DATE)::VARCHAR AS d FROM spans")["d"]
    assert (report.runs, report.spans) == (8, n_spans)
    assert {p.name for p in (out / "spans").iterdir()} == {f"day={d}" for d in days}
    assert (out / "agentreel-parquet.json").is_file()
    assert any((out / "processes").glob("part-*.parquet"))
    con = duckdb.connect()
    try:
        for table, n in (("spans", n_spans), ("runs", 8)):
            got = con.execute(
                f"SELECT count(*) FROM read_parquet('{out}/{table}/**/*.parquet', hive_partitioning = true)"
            ).fetchone()
            assert got is not None
            assert got[0] == n
        desc = con.execute(
            f"SELECT * FROM read_parquet('{out}/spans/**/*.parquet') LIMIT 1"
        ).description
        assert {"span_id", "input_tokens", "attributes"} <= {d[0] for d in desc or []}
    finally:
        con.close()


def test_import_reads_one_object_per_line_a_pretty_object_and_gzip(tmp_path: Path) -> None:
    def request(span_id: str, service: str) -> dict[str, Any]:
        return {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
                    },
                    "scopeSpans": [
                        {
                            "scope": {"name": "file"},
                            "spans": [
                                {
                                    "traceId": "5b8efff798038103d269b633813fc60c",
                                    "spanId": span_id,
                                    "name": f"span {span_id}",
                                    "startTimeUnixNano": "1700000000000000000",
                                    "endTimeUnixNano": "1700000000100000000",
                                }
                            ],
                        }
                    ],
                }
            ]
        }

    lines = tmp_path / "collector.jsonl"
    lines.write_text("\n".join(json.dumps(request(f"{i:016x}", "a")) for i in range(1, 4)) + "\n\n")
    pretty = tmp_path / "one.json"
    pretty.write_text(json.dumps(request("00000000000000aa", "b"), indent=2))
    gz = tmp_path / "more.jsonl.gz"
    gz.write_bytes(gzip.compress(json.dumps(request("00000000000000bb", "c")).encode()))
    store_dir = tmp_path / "store"
    report = import_otlp_json(store_dir, [lines, pretty, gz])
    assert (report.files, report.requests, report.spans, report.segments) == (3, 5, 5, 1)
    with Store.open(store_dir, create=True) as store:
        store.ingest()
        assert store.sql("SELECT count(*) AS n FROM spans")["n"][0] == 5
        assert sorted(
            store.sql("SELECT service_name FROM processes")["service_name"].to_list()
        ) == [
            "a",
            "b",
            "c",
        ]


def test_import_refuses_missing_and_irregular_paths_before_writing(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text('{"resourceSpans": []}\n')
    store_dir = tmp_path / "store"
    with pytest.raises(
        AgentreelError, match=f"cannot import {tmp_path / 'missing.json'}: no such file"
    ):
        import_otlp_json(store_dir, [good, tmp_path / "missing.json"])
    with pytest.raises(AgentreelError, match="is not a regular file"):
        import_otlp_json(store_dir, [tmp_path])
    assert not (store_dir / "spool").exists()


def test_a_zstd_file_of_the_collectors_file_exporter_is_named_as_such(tmp_path: Path) -> None:
    """The file exporter's only compression is zstd, each request after its 4-byte length;
    such a file (or one `zstd` wrote) is refused saying so, not as text that is not UTF-8."""
    frame = bytes.fromhex("28b52ffd0058a900007b227265736f757263655370616e73223a5b5d7d0a")
    exporter = tmp_path / "traces.jsonl"  # what `compression: zstd` writes
    exporter.write_bytes(len(frame).to_bytes(4, "big") + frame)
    plain = tmp_path / "traces.jsonl.zst"  # what `zstd traces.jsonl` writes
    plain.write_bytes(frame)
    for f in (exporter, plain):
        with pytest.raises(OTLPDecodeError, match=rf"{f.name} is zstd-compressed"):
            import_otlp_json(tmp_path / "store", [f])
    assert list((tmp_path / "store" / "spool").glob("*.jsonl")) == []


def test_a_bad_line_names_the_file_and_line_and_leaves_nothing_behind(
    demo_dir: Path, tmp_path: Path
) -> None:
    exported = tmp_path / "runs.jsonl"
    with Store.open(demo_dir) as store:
        export_otlp_json(store, exported)
    broken = tmp_path / "broken.jsonl"
    broken.write_text(exported.read_text() + '{"resourceSpans": [\n')
    store_dir = tmp_path / "store"
    with pytest.raises(OTLPDecodeError, match=rf"{broken.name}, line \d+: not valid JSON"):
        import_otlp_json(store_dir, [exported, broken])
    assert list((store_dir / "spool").glob("*.jsonl")) == []


def test_open_spans_are_not_exported(tmp_path: Path) -> None:
    f = tmp_path / "open.json"
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "startTimeUnixNano": "1700000000000000000",
        "name": "x",
    }
    f.write_text(
        json.dumps(
            {
                "resourceSpans": [
                    {
                        "scopeSpans": [
                            {
                                "spans": [
                                    {**span, "spanId": "00000000000000a1"},
                                    {
                                        **span,
                                        "spanId": "00000000000000a2",
                                        "parentSpanId": "00000000000000a1",
                                        "endTimeUnixNano": "1700000000000000001",
                                    },
                                ]
                            }
                        ]
                    }
                ]
            }
        )
    )
    store_dir = tmp_path / "store"
    import_otlp_json(store_dir, [f])
    with Store.open(store_dir, create=True) as store:
        store.ingest()
        report = export_otlp_json(store, tmp_path / "out.jsonl")
    assert (report.spans, report.open_spans_skipped) == (1, 1)


def test_cli_export_then_import(demo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    r = _cli("export", "--out", str(out), "--dir", str(demo_dir), "--json")
    assert r.returncode == 0, r.stderr
    exported = json.loads(r.stdout)
    assert exported["format"] == "otlp-json"
    assert exported["runs"] == 8
    with Store.open(demo_dir, read_only=True) as store:
        last = store.sql("SELECT max(start_time) t FROM runs")["t"][0]
    after = (last + timedelta(milliseconds=1)).isoformat()  # no run started since
    r = _cli(
        "export", "--out", str(tmp_path / "none.jsonl"), "--since", after, "--dir", str(demo_dir)
    )
    assert r.returncode == 0, r.stderr
    assert "exported 0 runs" in r.stdout
    r = _cli(
        "export",
        "--out",
        str(tmp_path / "last.jsonl"),
        "--since",
        last.isoformat(),
        "--dir",
        str(demo_dir),
        "--json",
    )
    assert json.loads(r.stdout)["runs"] >= 1
    copy = tmp_path / "copy"
    r = _cli("import", str(out), "--dir", str(copy), "--json")
    assert r.returncode == 0, r.stderr
    imported = json.loads(r.stdout)
    assert (imported["spans"], imported["rejected"]) == (exported["spans"], 0)
    assert imported["ingest"]["spans"] == exported["spans"]
    r = _cli("runs", "--dir", str(copy), "--json")
    assert len(json.loads(r.stdout)) == 8
    r = _cli("import", str(out), "--dir", str(copy))
    assert r.returncode == 0
    assert f"imported {exported['spans']} spans from 1 files" in r.stdout


def test_cli_export_parquet_and_errors(demo_dir: Path, tmp_path: Path) -> None:
    run_id = json.loads(_cli("runs", "--dir", str(demo_dir), "--json").stdout)[0]["run_id"]
    r = _cli(
        "export",
        "--format",
        "parquet",
        "--run",
        run_id[:8],
        "--out",
        str(tmp_path / "pq"),
        "--dir",
        str(demo_dir),
    )
    assert r.returncode == 0, r.stderr
    assert "exported 1 runs" in r.stdout
    spans = pl.read_parquet(tmp_path / "pq" / "spans" / "**" / "*.parquet")
    assert set(spans["run_id"].to_list()) == {run_id}
    r = _cli("import", str(tmp_path / "nope.json"), "--dir", str(tmp_path / "s"))
    assert r.returncode == 2
    assert f"cannot import {tmp_path / 'nope.json'}: no such file" in r.stderr
    assert "Traceback" not in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "resourceSpans": [
                    {"scopeSpans": [{"spans": [{"traceId": "00", "spanId": "00", "name": "x"}]}]}
                ]
            }
        )
    )
    r = _cli("import", str(bad), "--dir", str(tmp_path / "s"))
    assert r.returncode == 2
    assert "rejected 1 spans" in r.stdout
    assert "rejected: span 00: trace id '00' is not 32 hex digits" in r.stderr
