"""Long commands show progress on a terminal and print one summary line elsewhere."""

from __future__ import annotations

import io
import json
import os
import pty
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from agentreel._spool import SpoolPaths
from agentreel.cli import main
from agentreel.cli._progress import Tracker, rate, summary
from agentreel.store import Store
from tests.store.test_gc import _record

ROOT = Path(__file__).resolve().parents[1]
RUNS, SPANS = 6, 5


def _summary(done: str, unit: str) -> re.Pattern[str]:
    return re.compile(rf"^{done} ([\d,]+) {unit} in \d+\.\d s \(([\d,.]+|—) {unit}/s\)$")


def _backlog(d: Path) -> Path:
    """A store directory whose spool holds RUNS runs of SPANS spans, not yet ingested."""
    paths = SpoolPaths(d)
    paths.create()
    rng = random.Random(5)
    for i in range(RUNS):
        _record(paths, rng, days_ago=1 + i, spans=SPANS)
    return d


def _one_summary(stderr: str, done: str, unit: str) -> int:
    lines = [ln for ln in stderr.splitlines() if ln.startswith(f"{done} ")]
    assert len(lines) == 1, stderr
    m = _summary(done, unit).match(lines[0])
    assert m, lines[0]
    return int(m.group(1).replace(",", ""))


def test_in_a_pipe_each_long_command_prints_one_summary_line(tmp_path: Path) -> None:
    d = _backlog(tmp_path / "store")
    runner = CliRunner()

    def run(*args: str) -> str:
        r = runner.invoke(main, [*args, "--dir", str(d)])
        assert r.exit_code == 0, r.output
        return r.stderr

    assert _one_summary(run("ingest"), "ingested", "spans") == RUNS * SPANS
    out = tmp_path / "out.jsonl"
    assert _one_summary(run("export", "--out", str(out)), "exported", "spans") == RUNS * SPANS
    assert (
        _one_summary(
            run("export", "--format", "parquet", "--out", str(tmp_path / "pq")), "exported", "spans"
        )
        == RUNS * SPANS
    )
    with Store.open(d) as store:  # what a compaction copies: every row of every table
        tables = store.sql("SELECT table_name FROM duckdb_tables()")["table_name"].to_list()
        rows = sum(store.sql(f'SELECT count(*) AS n FROM "{t}"')["n"][0] for t in tables)
    assert _one_summary(run("gc", "--dry-run"), "measured", "rows") == rows
    assert _one_summary(run("gc"), "compacted", "rows") == rows
    r = runner.invoke(main, ["import", str(out), "--dir", str(tmp_path / "other")])
    assert r.exit_code == 0, r.output
    # the spans it read and spooled; the ingest that follows is shown live, not summed
    assert _one_summary(r.stderr, "imported", "spans") == RUNS * SPANS
    for args in (["ingest"], ["export", "--out", str(tmp_path / "again.jsonl")], ["gc"]):
        r = runner.invoke(main, [*args, "--dir", str(d), "--json"])
        assert r.exit_code == 0, r.output
        assert r.stderr == ""  # --json: the counts and seconds are in the JSON
        json.loads(r.stdout)


def test_replay_in_a_pipe_prints_one_summary_line_counting_its_steps(tmp_path: Path) -> None:
    d = tmp_path / "store"
    r = CliRunner().invoke(main, ["demo", "--runs", "1", "--latency", "0", "--dir", str(d)])
    assert r.exit_code == 0, r.output
    with Store.open(d) as store:
        run_id = store.runs()["run_id"][0]
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    p = subprocess.run(
        [sys.executable, "-m", "agentreel", "replay", run_id, "--dir", str(d)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    served = re.search(r"(\d+) of \d+ recorded steps served, 0 ran live", p.stdout)
    assert served, p.stdout
    assert _one_summary(p.stderr, "replayed", "steps") == int(served.group(1)) > 0


def test_the_store_calls_progress_per_batch_and_works_without_it(tmp_path: Path) -> None:
    d = _backlog(tmp_path / "store")
    calls: list[int] = []
    with Store.open(d) as store:
        report = store.ingest(limit=2)  # no callback: as before
        assert report.spans == 2 * SPANS
        report = store.ingest(progress=calls.append)
    assert sum(calls) == report.spans == (RUNS - 2) * SPANS
    assert 0 < len(calls) < report.spans  # once per transaction, not once per span


def _in_a_pty(args: list[str], env: dict[str, str]) -> str:
    leader, follower = pty.openpty()
    p = subprocess.Popen(
        [sys.executable, "-m", "agentreel", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**env, "COLUMNS": "120", "TERM": "xterm"},
        close_fds=True,
    )
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: every holder of the terminal's other end closed it
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert p.wait(timeout=60) == 0, out
    return out.decode(errors="replace")


def test_on_a_terminal_ingest_shows_a_live_line_and_under_ci_a_summary(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    d = _backlog(tmp_path / "a")
    shown = _in_a_pty(["ingest", "--dir", str(d)], env)
    assert "ingesting" in shown
    assert "spans/s" in shown
    assert "\x1b[" in shown  # drawn with terminal control sequences
    assert not re.search(r"ingested [\d,]+ spans in \d+\.\d s", shown)  # no summary line
    d = _backlog(tmp_path / "b")
    shown = _in_a_pty(["ingest", "--dir", str(d)], {**env, "CI": "true"})
    assert "ingesting" not in shown
    assert re.search(rf"ingested {RUNS * SPANS} spans in \d+\.\d s \(", shown), shown


def test_the_live_line_shows_count_and_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=100)
    with Tracker("ingesting", "ingested", "spans", console=console) as progress:
        progress.advance(1_234)
        progress.advance(1_000)
    shown = buf.getvalue()  # drawn again as it stops, whatever the timer drew before
    assert "ingesting 2,234 spans" in shown
    assert re.search(r"[\d,]+ spans/s", shown)
    assert "ingested" not in shown  # the live line is all a terminal gets
    buf.seek(0)
    buf.truncate()
    with Tracker("importing", "imported", "spans", console=console) as progress:
        progress.advance(40)
        progress.then("ingesting")
        progress.advance(7)
    assert "ingesting 7 spans" in buf.getvalue()
    assert progress.count == 40  # a later phase is shown, not summed
    buf = io.StringIO()
    with Tracker("ingesting", "ingested", "spans", console=Console(file=buf)) as progress:
        progress.advance(5)
    assert _summary("ingested", "spans").match(buf.getvalue().strip())


def test_summary_and_rate_read_as_the_docs_show() -> None:
    assert summary("ingested", 5_000_000, "spans", 24.1) == (
        "ingested 5,000,000 spans in 24.1 s (207,000 spans/s)"
    )
    assert rate(45, 1.0) == "45"
    assert rate(1, 2.0) == "0.5"
    assert rate(12_345, 0.0) == "—"
