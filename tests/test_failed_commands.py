"""A command that fails says why, exits 2, and leaves nothing behind the user did not have."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from agentreel._fmt import fmt_time
from tests.test_cli import cli


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", " is not OTLP/JSON: it holds no request"),
        ("\n\n  \n", " is not OTLP/JSON: it holds no request"),
        ('{"foo": 1}\n', ", line 1: not an OTLP/JSON trace or logs request"),
        ('{"resourceSpans": []}\n[1, 2]\n', ", line 2: not an OTLP/JSON trace or logs request"),
        ('"just a string"', ", line 1: not an OTLP/JSON trace or logs request"),
    ],
    ids=["empty", "blank-lines", "other-object", "a-later-line", "a-string"],
)
def test_import_of_a_file_that_is_not_otlp_fails_and_creates_no_store(
    tmp_path: Path, content: str, message: str
) -> None:
    f = tmp_path / "traces.json"
    f.write_text(content)
    store = tmp_path / "new-store"
    r = cli("import", str(f), "--dir", str(store))
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"error: {f}{message}" in " ".join(r.stderr.split())
    assert "Traceback" not in r.stderr
    assert not store.exists()


def test_import_of_an_empty_request_and_of_an_export_of_nothing_succeed(tmp_path: Path) -> None:
    empty_request = tmp_path / "empty-request.json"
    empty_request.write_text('{"resourceSpans": []}\n')
    store = tmp_path / "store"
    r = cli("import", str(empty_request), "--dir", str(store), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["requests"] == 1
    nothing = tmp_path / "nothing.jsonl"  # an export that selected no run imports back
    r = cli("export", "--since", "1s", "--out", str(nothing), "--dir", str(store))
    assert r.returncode == 0, r.stderr
    r = cli("import", str(nothing), "--dir", str(tmp_path / "copy"), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["spans"] == 0


def test_a_failed_import_into_an_existing_store_keeps_it(tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert cli("demo", "--runs", "1", "--dir", str(store)).returncode == 0
    before = sorted(p.relative_to(store) for p in store.rglob("*"))
    f = tmp_path / "bad.json"
    f.write_text('{"foo": 1}')
    assert cli("import", str(f), "--dir", str(store)).returncode == 2
    assert sorted(p.relative_to(store) for p in store.rglob("*")) == before


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_serve_on_a_port_in_use_fails_and_creates_no_store(tmp_path: Path, busy_port: int) -> None:
    store = tmp_path / "new-store"
    r = cli("serve", "--port", str(busy_port), "--dir", str(store))
    assert r.returncode == 2
    assert f"cannot listen on 127.0.0.1:{busy_port}" in r.stderr
    assert not store.exists()


def _otlp_runs(ids_and_names: list[tuple[str, str, int]]) -> str:
    spans = [
        {
            "traceId": trace_id,
            "spanId": f"{i + 1:016x}",
            "name": name,
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(start + 1_000_000),
        }
        for i, (trace_id, name, start) in enumerate(ids_and_names)
    ]
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]})


def test_an_ambiguous_run_id_prefix_lists_the_runs_it_matches(tmp_path: Path) -> None:
    t0 = 1_790_000_000_000_000_000  # 2026-09-21 14:13:20 UTC
    runs = [(f"abcd{i:02x}" + "0" * 26, f"agent-{i}", t0 + i * 1_000_000_000) for i in range(7)]
    runs.append(("abce" + "0" * 28, "other", t0))
    f = tmp_path / "runs.json"
    f.write_text(_otlp_runs(runs))
    store = tmp_path / "store"
    assert cli("import", str(f), "--dir", str(store)).returncode == 0
    r = cli("show", "abcd", "--dir", str(store))
    assert r.returncode == 2
    message = " ".join(r.stderr.split())
    assert message.startswith("error: run id prefix 'abcd' matches 7 runs (")
    newest_five = [  # start times in the local zone, as `agentreel runs` shows them
        f"abcd{i:02x}000000 agent-{i} started {fmt_time(datetime(2026, 9, 21, 14, 13, 20 + i))}"
        for i in (6, 5, 4, 3, 2)
    ]
    assert "; ".join(newest_five) + "; and 2 more); give more digits" in message
    assert "other" not in message
    r = cli("show", "abce", "--dir", str(store), "--json")  # a unique prefix still resolves
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["run"]["name"] == "other"
