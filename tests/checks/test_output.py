"""What `agentreel check` prints in a CI log: no terminal, 80 or 130 columns, nothing cut.

The CLI runs in a subprocess with its output captured (not a TTY) and ``COLUMNS`` set,
as on a CI runner; every column of every result row must be there in full, and the
machine formats must carry every message whole.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from agentreel.checks import CheckConfig, Window, render_text, run_checks
from agentreel.store import Store
from tests.checks._simulate import record_runs

ROOT = Path(__file__).resolve().parents[2]  # the code under test, for subprocesses


def cli(
    *args: str, cwd: Path, columns: int = 200, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentreel", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={
            "PATH": "/usr/bin:/bin",
            "COLUMNS": str(columns),
            "HOME": str(cwd),
            "PYTHONPATH": str(ROOT),
            **(env or {}),
        },
    )


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, baseline_file: Path) -> Path:
    """A store of looping runs, and an empty store (the CI job that recorded elsewhere)."""
    d = tmp_path_factory.mktemp("output")
    record_runs(d / "loop", 300, seed=2, regression="loop")
    with Store.open(d / "loop", create=True) as store:
        store.ingest()
    with Store.open(d / "empty", create=True):
        pass
    return d


CASES = [
    # a regression: many rows, failing runs listed under the failure
    ("loop", {}),
    # CI with no runs: a long error message naming the store directory
    ("empty", {"CI": "true"}),
]


def results(d: Path, store: str, env: dict[str, str], baseline: Path) -> list[dict[str, Any]]:
    r = cli(
        "check",
        "--dir",
        str(d / store),
        "--baseline",
        str(baseline),
        "--json",
        "--no-save",
        cwd=d,
        env=env,
    )
    assert r.returncode in (0, 1), r.stderr
    rows: list[dict[str, Any]] = json.loads(r.stdout)["results"]
    return rows


def row_cells(lines: list[str], row: dict[str, Any]) -> list[str]:
    """The cells of the one line of the text output that shows `row` (columns are set
    apart by two spaces or more)."""
    key = [row["status"], row["check"], row["scope"], row["statistic"]]
    found = [c for c in (re.split(r" {2,}", x.strip()) for x in lines) if c[:4] == key]
    assert len(found) == 1, (row, found)
    return found[0]


@pytest.mark.parametrize("columns", [80, 130])
@pytest.mark.parametrize(("store", "env"), CASES)
def test_text_without_a_terminal_keeps_every_column_in_full(
    stores: Path, baseline_file: Path, store: str, env: dict[str, str], columns: int
) -> None:
    rows = results(stores, store, env, baseline_file)
    r = cli(
        "check",
        "--dir",
        str(stores / store),
        "--baseline",
        str(baseline_file),
        "--no-save",
        cwd=stores,
        columns=columns,
        env=env,
    )
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    header = next(x for x in lines if x.startswith("status"))
    assert header.split() == [
        "status",
        "check",
        "scope",
        "statistic",
        "value",
        "baseline",
        "threshold",
        "n",
        "message",
    ]
    assert "…" not in r.stdout.split("\n\n")[0]  # nothing cut with an ellipsis in the table
    for row in rows:
        cells = row_cells(lines, row)
        assert cells[7] == f"{row['n']:,}"
        assert cells[8:] == ([row["message"]] if row["message"] else [])
    # the rows did not fit the width: they were kept whole rather than cut or dropped
    assert max(len(x) for x in lines) > columns
    if store == "loop":
        # the looping runs under the failure, their ids whole
        loops = r.stdout.split("✗ loops · all — looping runs", 1)[1]
        run_ids = [x.split()[0] for x in loops.splitlines()[3:8]]
        assert all(len(i) == 32 for i in run_ids), run_ids


@pytest.mark.parametrize(("store", "env"), CASES)
def test_machine_formats_carry_full_messages(
    stores: Path, baseline_file: Path, store: str, env: dict[str, str]
) -> None:
    rows = results(stores, store, env, baseline_file)
    messages = [x["message"] for x in rows if x["message"]]
    assert messages

    def run(fmt: str) -> str:
        r = cli(
            "check",
            "--dir",
            str(stores / store),
            "--baseline",
            str(baseline_file),
            "--format",
            fmt,
            "--no-save",
            cwd=stores,
            columns=80,
            env=env,
        )
        assert r.returncode == 1, r.stderr
        return r.stdout

    markdown = run("markdown")
    for m in messages:
        assert f" | {m.replace('|', chr(92) + '|')} |" in markdown

    github = run("github").splitlines()
    for x in rows:
        if x["status"] in ("warn", "error") and x["message"]:
            (line,) = [
                g
                for g in github
                if g.startswith(f"::{'error' if x['status'] == 'error' else 'warning'} ")
                and f"({x['scope']})::{x['statistic']} "
                in g.replace("%2C", ",").replace("%3A", ":")
            ]
            assert line.endswith(": " + x["message"].replace("%", "%25"))

    suite = ET.fromstring(run("junit")).find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == len(rows)
    for case, x in zip(cases, rows, strict=True):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert props.get("message", "") == x["message"]
        skipped = case.find("skipped")
        if skipped is not None:
            assert skipped.get("message") == (x["message"] or "skipped")
        failure = case.find("failure")
        if failure is not None:
            assert (failure.get("message") or "").endswith(": " + x["message"])

    assert [x["message"] for x in json.loads(run("json"))["results"]] == [
        x["message"] for x in rows
    ]


def test_render_text_without_a_terminal_is_plain_lines(store_of: Any, baseline_file: Path) -> None:
    store = store_of(runs=100, regression="loop")
    report = run_checks(
        store, current=Window(), baseline=str(baseline_file), config=CheckConfig(), env={}
    )
    out = io.StringIO()
    Console(file=out, width=60).print(render_text(report), crop=False)
    text = out.getvalue()
    for row in report.rows():
        cells = row_cells(text.splitlines(), row)
        assert cells[8:] == ([row["message"]] if row["message"] else [])
    # on a terminal the table fits the width, as before
    tty = io.StringIO()
    Console(file=tty, width=130, force_terminal=True, color_system=None).print(render_text(report))
    assert max(len(x) for x in tty.getvalue().splitlines()) <= 130
