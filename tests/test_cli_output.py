"""What `runs`, `show` and `check` print, in a pipe or CI log and on a narrow terminal.

Without a terminal nothing is cut: whole run ids, names, start times to the second and
tags, however long the lines; no line is only spaces, and none ends in spaces.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC
from pathlib import Path

import polars as pl
import pytest
from rich.console import Console

from agentreel.cli._render import runs_table
from agentreel.store import Store
from tests.test_cli import cli

LONG_RUN = "nightly-evaluation-of-the-billing-support-agent"
LONG_SPAN = "a-tool-step-with-a-name-far-longer-than-any-terminal-column-allows-for"
TRACE = "5b8efff798038103d269b633813fc60c"


def _long_run_file(tmp_path: Path) -> Path:
    t0 = 1_790_000_000_000_000_000
    spans = [
        {
            "traceId": TRACE,
            "spanId": "00000000000000a1",
            "name": LONG_RUN,
            "startTimeUnixNano": str(t0),
            "endTimeUnixNano": str(t0 + 3_000_000_000),
        },
        {
            "traceId": TRACE,
            "spanId": "00000000000000a2",
            "parentSpanId": "00000000000000a1",
            "name": LONG_SPAN,
            "startTimeUnixNano": str(t0 + 1_000_000),
            "endTimeUnixNano": str(t0 + 2_000_000),
            "status": {"code": 2, "message": "the upstream service said no " * 6},
        },
    ]
    f = tmp_path / "long.json"
    f.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}))
    return f


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("output")
    d = tmp / "store"
    assert cli("demo", "--dir", str(d)).returncode == 0
    assert cli("import", str(_long_run_file(tmp)), "--dir", str(d)).returncode == 0
    return d


def _clean_lines(out: str) -> list[str]:
    lines = out.split("\n")
    assert lines[-1] == "", "output ends with a newline"
    lines = lines[:-1]
    assert lines
    assert lines[0].strip(), "the first line has text"
    assert lines[-1].strip(), "the last line has text"
    assert [ln for ln in lines if ln != ln.rstrip()] == [], "no line ends in spaces"
    return lines


def test_runs_in_a_pipe_prints_every_value_whole(store_dir: Path) -> None:
    r = cli("runs", "--dir", str(store_dir))  # a pipe (and COLUMNS=120 in cli())
    assert r.returncode == 0, r.stderr
    lines = _clean_lines(r.stdout)
    assert lines[0].split() == [
        "run",
        "name",
        "status",
        "started",
        "took",
        "spans",
        "llm",
        "tools",
        "tokens",
        "cost",
        "err",
        "tags",
    ]
    with Store.open(store_dir, read_only=True) as store:
        runs = store.runs()
    assert len(lines) == 1 + runs.height
    for line, run in zip(lines[1:], runs.iter_rows(named=True), strict=True):
        assert line.startswith(run["run_id"] + "  ")  # the whole id
        assert f"  {run['name']}  " in line
        local = run["start_time"].replace(tzinfo=UTC).astimezone()
        assert local.strftime("%Y-%m-%d %H:%M:%S") in line  # to the second
    assert LONG_RUN in r.stdout
    assert "demo=true seed=5" in r.stdout  # the tags are kept
    narrow = subprocess.run(
        [sys.executable, "-m", "agentreel", "runs", "--dir", str(store_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "80", "HOME": str(store_dir)},
    )
    assert narrow.stdout == r.stdout  # the width of a pipe changes nothing


def test_show_in_a_pipe_cuts_no_name_and_breaks_no_line(store_dir: Path) -> None:
    r = cli("show", TRACE[:8], "--dir", str(store_dir))
    assert r.returncode == 0, r.stderr
    lines = _clean_lines(r.stdout)
    assert lines[0].startswith(f"{LONG_RUN}  ")
    assert lines[1].startswith("started ")
    assert lines[1].endswith("cost —")
    (row,) = [ln for ln in lines if LONG_SPAN in ln]
    assert row.endswith("error")
    assert ("the upstream service said no " * 6).strip() in r.stdout


def test_check_in_a_pipe_keeps_its_header_on_one_line(store_dir: Path) -> None:
    r = cli("check", "--dir", str(store_dir))
    lines = _clean_lines(r.stdout)
    assert lines[0].startswith("agentreel check: ")
    assert "current: " in lines[0]
    assert "baseline: " in lines[0]
    assert lines[1].split()[:3] == ["status", "check", "scope"]


@pytest.mark.parametrize("width", [80, 100, 130])
def test_runs_on_a_terminal_fit_its_width_and_keep_names_and_seconds(
    store_dir: Path, width: int
) -> None:
    with Store.open(store_dir, read_only=True) as store:
        runs = store.runs().filter(pl.col("name") == "research")
    console = Console(width=width, force_terminal=True, record=True, color_system=None)
    console.print(runs_table(runs), crop=False)
    lines = console.export_text().split("\n")[:-1]
    assert lines[0].strip()
    assert lines[-1].strip()
    assert max(len(ln) for ln in lines) <= width
    body = lines[2:]
    assert len(body) == runs.height
    for line, run in zip(body, runs.iter_rows(named=True), strict=True):
        assert line.startswith(run["run_id"][:8] + " research ")
        local = run["start_time"].replace(tzinfo=UTC).astimezone()
        assert local.strftime("%m-%d %H:%M:%S") in line
    assert ("seed=" in lines[2]) == (width >= 120)  # the tags give way below 120 columns


def test_show_json_gives_a_spans_links_parsed_like_its_events(tmp_path: Path) -> None:
    """`links` is a list of objects in `show --json`, as `attributes` and `events` are."""
    t0 = 1_790_000_000_000_000_000
    linked = {"traceId": TRACE, "spanId": "00000000000000b1"}
    spans = [
        {
            "traceId": TRACE,
            "spanId": "00000000000000b1",
            "name": "triage",
            "startTimeUnixNano": str(t0),
            "endTimeUnixNano": str(t0 + 1_000),
        },
        {
            "traceId": TRACE,
            "spanId": "00000000000000b2",
            "parentSpanId": "00000000000000b1",
            "name": "billing",
            "startTimeUnixNano": str(t0 + 2_000),
            "endTimeUnixNano": str(t0 + 3_000),
            "links": [
                {**linked, "attributes": [{"key": "why", "value": {"stringValue": "handoff"}}]}
            ],
        },
    ]
    f = tmp_path / "links.json"
    f.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}))
    d = tmp_path / "store"
    assert cli("import", str(f), "--dir", str(d)).returncode == 0
    shown = json.loads(cli("show", TRACE, "--dir", str(d), "--json").stdout)
    by_name = {s["name"]: s for s in shown["spans"]}
    assert by_name["billing"]["links"] == [
        {"trace_id": TRACE, "span_id": "00000000000000b1", "attributes": {"why": "handoff"}}
    ]
    assert by_name["triage"]["links"] is None


def test_serve_says_at_the_end_what_its_log_records_brought_and_what_it_refused() -> None:
    from agentreel.cli._transfer import stopped_line
    from agentreel.store import ReceiverStats

    spans_only = ReceiverStats(requests=2, spans=5)
    assert stopped_line(spans_only) == (
        "stopped: 5 spans received in 2 requests, 0 spans and 0 requests refused"
    )
    with_logs = ReceiverStats(requests=4, spans=5, contents=3, rejected_log_records=2)
    assert stopped_line(with_logs) == (
        "stopped: 5 spans received in 4 requests, 0 spans and 0 requests refused; "
        "messages of 3 spans from log records; "
        "2 log records refused (not GenAI events of a span)"
    )
