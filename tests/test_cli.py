from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `agentreel` command in a subprocess (exit codes and streams as a user sees them)."""
    return subprocess.run(
        [sys.executable, "-m", "agentreel", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd or ROOT,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "120", "HOME": str(cwd or ROOT)},
    )


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("demo") / "store"
    r = cli("demo", "--runs", "8", "--dir", str(d))
    assert r.returncode == 0, r.stderr
    assert "research" in r.stdout
    assert "agentreel show" in r.stdout
    return d


def test_every_command_has_help() -> None:
    for cmd in ("demo", "runs", "show", "ingest"):
        r = cli(cmd, "--help")
        assert r.returncode == 0
        assert "Usage:" in r.stdout
        assert "--dir" in r.stdout


def test_runs_lists_newest_first_as_table_and_json(demo_store: Path) -> None:
    table = cli("runs", "--dir", str(demo_store))
    assert table.returncode == 0, table.stderr
    assert table.stdout.count("research") == 8
    data = json.loads(cli("runs", "--dir", str(demo_store), "--json").stdout)
    assert len(data) == 8
    starts = [r["start_time"] for r in data]
    assert starts == sorted(starts, reverse=True)
    assert {r["status"] for r in data} <= {"ok", "error"}
    assert all(isinstance(r["tags"], dict) and r["tags"]["demo"] is True for r in data)
    errors = json.loads(cli("runs", "--dir", str(demo_store), "--json", "--status", "error").stdout)
    assert all(r["status"] == "error" for r in errors)
    one = json.loads(cli("runs", "--dir", str(demo_store), "--json", "--tag", "seed=3").stdout)
    assert [r["tags"]["seed"] for r in one] == [3]


def test_show_prints_the_tree_and_json(demo_store: Path) -> None:
    runs = json.loads(cli("runs", "--dir", str(demo_store), "--json").stdout)
    rid = runs[0]["run_id"]
    r = cli("show", rid[:6], "--dir", str(demo_store))
    assert r.returncode == 0, r.stderr
    assert "invoke_agent researcher" in r.stdout
    assert "chat gpt-4.1-mini" in r.stdout
    assert "execute_tool web_search" in r.stdout
    data = json.loads(cli("show", rid, "--dir", str(demo_store), "--json").stdout)
    assert data["run"]["run_id"] == rid
    spans = data["spans"]
    assert spans[0]["depth"] == 0
    assert spans[0]["parent_span_id"] is None
    assert len(spans) == data["run"]["span_count"]
    assert all(isinstance(s["attributes"], dict) for s in spans)


def test_errors_are_one_line_exit_2_no_traceback(tmp_path: Path, demo_store: Path) -> None:
    cases = [
        (("runs", "--dir", str(tmp_path / "none")), "no agentreel store"),
        (("show", "abcdef12", "--dir", str(tmp_path / "none")), "no agentreel store"),
        (("show", "not-hex", "--dir", str(demo_store)), "is not a run id"),
        (("show", "0" * 32, "--dir", str(demo_store)), "no run"),
        (("runs", "--since", "soon", "--dir", str(demo_store)), "neither an age"),
    ]
    for args, needle in cases:
        r = cli(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert needle in r.stderr
        assert "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) <= 2  # one sentence (wrapped at most once)


def test_ingest_sets_aside_an_unreadable_segment_and_takes_the_rest(tmp_path: Path) -> None:
    d = tmp_path / "store"
    assert cli("demo", "--runs", "2", "--dir", str(d)).returncode == 0
    # new spans plus one broken segment
    rec = subprocess.run(
        [sys.executable, "-m", "tests._agent_program", str(d), "1", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rec.returncode == 0, rec.stderr
    (d / "spool" / "00000000000000000001-broken-0000001.jsonl").write_text("{not json\n")
    r = cli("ingest", "--dir", str(d), "--json")
    assert r.returncode == 2
    report = json.loads(r.stdout)
    assert report["spans"] == 5
    assert [x["segment"] for x in report["rejected"]] == [
        "00000000000000000001-broken-0000001.jsonl"
    ]
    assert (
        "set aside unreadable spool segment 00000000000000000001-broken-0000001.jsonl" in r.stderr
    )
    assert len(json.loads(cli("runs", "--dir", str(d), "--json").stdout)) == 3


def test_default_store_is_dot_agentreel_in_the_working_directory(tmp_path: Path) -> None:
    r = cli("demo", "--runs", "1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / ".agentreel" / "agentreel.duckdb").exists()
    assert len(json.loads(cli("runs", "--json", cwd=tmp_path).stdout)) == 1


def test_runs_query_filters_and_reports_a_bad_term(demo_store: Path) -> None:
    every = json.loads(cli("runs", "--dir", str(demo_store), "--json").stdout)
    want = sorted(r["run_id"] for r in every if r["error_count"] > 0)
    got = json.loads(
        cli("runs", "--dir", str(demo_store), "--json", "-q", "errors>0 tool:fetch_page").stdout
    )
    assert sorted(r["run_id"] for r in got) == want
    bad = cli("runs", "--dir", str(demo_store), "-q", "colour:red")
    assert bad.returncode == 2
    assert "unknown filter key 'colour'" in bad.stderr


def test_brackets_in_names_and_messages_are_printed_not_read_as_markup(tmp_path: Path) -> None:
    """Run names, tags and error messages are data: `[prod]` must reach the terminal as is."""
    store = tmp_path / "store"
    program = (
        "import agentreel\n"
        f"agentreel.init(path={str(store)!r})\n"
        "with agentreel.run('[prod] nightly', tags={'env': '[x]'}):\n"
        "    pass\n"
        "agentreel.shutdown()\n"
    )
    subprocess.run([sys.executable, "-c", program], check=True, timeout=60)
    r = cli("runs", "--dir", str(store))
    assert r.returncode == 0, r.stderr
    assert "[prod] nightly" in r.stdout
    assert "env=[x]" in r.stdout
    (tmp_path / "pyproject.toml").write_text(
        '[tool.agentreel.checks.latency_p95]\nratio_warn = "fast"\n'
    )
    r = cli("check", "--dir", str(store), cwd=tmp_path)
    assert r.returncode == 2
    assert "[tool.agentreel.checks.latency_p95] ratio_warn" in r.stderr
