"""`agentreel check` and `agentreel baseline save`, run as a user runs them: in a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from agentreel.store import Store
from tests.checks._simulate import record_runs

ROOT = Path(__file__).resolve().parents[2]


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentreel", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={
            "PATH": "/usr/bin:/bin",
            "COLUMNS": "200",
            "HOME": str(cwd),
            "PYTHONPATH": str(ROOT),
            **(env or {}),
        },
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project directory with stores: a baseline, a clean change, a loop, a model swap."""
    d = tmp_path_factory.mktemp("project")
    for name, seed, regression in [
        ("base", 1, None),
        ("clean", 2, None),
        ("loop", 2, "loop"),
        ("swap", 2, "model_swap"),
    ]:
        record_runs(d / name, 1000, seed=seed, regression=regression)
    r = cli("baseline", "save", "main", "--since", "1d", "--dir", str(d / "base"), cwd=d)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "saved baseline main to agentreel-baselines/main.json"
    return d


def test_baseline_save_writes_a_small_file(project: Path) -> None:
    body = json.loads((project / "agentreel-baselines" / "main.json").read_text())
    assert body["format"] == "agentreel-baseline"
    assert body["runs"] == 1000
    assert "latency_p95" in body["measures"]
    assert "numeric_drift" in body["measures"]
    assert (project / "agentreel-baselines" / "main.json").stat().st_size < 100_000


def test_a_clean_change_exits_0(project: Path) -> None:
    r = cli("check", "--dir", str(project / "clean"), "--baseline", "main", cwd=project)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("agentreel check: pass")
    assert "0 errors, 0 warnings" in r.stdout


def test_an_error_exits_1_and_shows_the_failing_runs(project: Path) -> None:
    r = cli("check", "--dir", str(project / "loop"), "--baseline", "main", cwd=project)
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout
    for header in (
        "status",
        "check",
        "scope",
        "statistic",
        "value",
        "baseline",
        "threshold",
        "n",
        "message",
    ):
        assert header in out
    assert "✗ loops · all — looping runs" in out
    assert "web_search" in out.split("✗ loops", 1)[1]  # the looping runs, under the failure
    assert "1 errors, 2 warnings" in out  # steps drift: psi and ks


def test_warnings_exit_0_unless_fail_on_warn(project: Path) -> None:
    args = (
        "check",
        "--dir",
        str(project / "swap"),
        "--baseline",
        "main",
        "--only",
        "categorical_drift",
    )
    r = cli(*args, cwd=project)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "warn" in r.stdout
    assert "new: gpt-4.1" in r.stdout
    assert cli(*args, "--fail-on", "warn", cwd=project).returncode == 1


def test_checks_that_cannot_run_exit_2_with_one_line(project: Path, tmp_path: Path) -> None:
    r = cli("check", "--dir", str(tmp_path / "nowhere"), cwd=project)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1
    assert "no agentreel store" in r.stderr
    r = cli("check", "--dir", str(project / "clean"), "--baseline", "nope", cwd=project)
    assert r.returncode == 2
    assert "no saved baseline at agentreel-baselines/nope.json" in r.stderr
    (tmp_path / "pyproject.toml").write_text("[tool.agentreel.checks.loop]\nrepeat = 3\n")
    r = cli("check", "--dir", str(project / "clean"), cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ")
    assert "pyproject.toml" in r.stderr
    assert "unknown key 'loop'; did you mean 'loops'?" in r.stderr.replace("\n", "")
    r = cli("check", "--dir", str(project / "clean"), "--only", "latency", cwd=project)
    assert r.returncode == 2
    assert "no check named 'latency'" in r.stderr


def test_json_format(project: Path) -> None:
    r = cli(
        "check",
        "--dir",
        str(project / "loop"),
        "--baseline",
        "main",
        "--format",
        "json",
        "--no-save",
        cwd=project,
    )
    assert r.returncode == 1
    body = json.loads(r.stdout)
    assert body["status"] == "error"
    assert body["current"]["runs"] == 1000
    assert body["baseline"]["saved"] == "main"
    loops = [x for x in body["results"] if x["check"] == "loops"]
    assert loops[0]["status"] == "error"
    assert len(loops[0]["failures"]) == 20
    assert {"run_id", "loop_tool", "max_repeat"} <= set(loops[0]["failures"][0])
    assert all(x["failures"] is None for x in body["results"] if x["status"] == "pass")
    assert body["timings"]["pandera"] > 0


def test_junit_xml(project: Path, tmp_path: Path) -> None:
    path = tmp_path / "checks.xml"
    r = cli(
        "check",
        "--dir",
        str(project / "loop"),
        "--baseline",
        "main",
        "--format",
        "junit",
        "--junit-xml",
        str(path),
        "--no-save",
        cwd=project,
    )
    assert r.returncode == 1
    assert path.read_text() == r.stdout
    suite = ET.fromstring(r.stdout).find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert int(suite.get("tests", "0")) == len(cases) > 40
    failed = [c for c in cases if c.find("failure") is not None]
    assert int(suite.get("failures", "0")) == len(failed) == 1
    failure = failed[0].find("failure")
    assert failed[0].get("classname") == "agentreel.loops"
    assert failed[0].get("name") == "all · looping runs"
    assert failure is not None
    assert failure.get("type") == "error"
    assert "looping runs" in (failure.get("message") or "")
    assert "web_search" in (failure.text or "")
    warned = [c for c in cases if c.find("system-out") is not None]
    assert [c.get("classname") for c in warned] == ["agentreel.numeric_drift"] * len(warned)
    assert warned
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert int(suite.get("skipped", "0")) == len(skipped) >= 1
    props = {p.get("name"): p.get("value") for p in failed[0].iter("property")}
    assert props["status"] == "error"
    assert float(props["value"] or 0) > 0.1


def test_markdown(project: Path) -> None:
    r = cli(
        "check",
        "--dir",
        str(project / "loop"),
        "--baseline",
        "main",
        "--format",
        "markdown",
        "--no-save",
        cwd=project,
    )
    assert r.stdout.startswith("### agentreel checks: ❌ error")
    assert (
        "| status | check | scope | statistic | value | baseline | threshold (warn / error) | n | message |"
        in r.stdout
    )
    assert "| ❌ error | loops | all | looping runs |" in r.stdout
    assert "<details><summary>❌ loops · all" in r.stdout


def test_github_actions_annotations_and_step_summary(project: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    env = {"GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    shutil.copytree(project / "loop", tmp_path / "store")
    r = cli("check", "--dir", str(tmp_path / "store"), cwd=project, env=env)  # CI defaults
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    errors = [x for x in lines if x.startswith("::error ")]
    assert errors == [
        x for x in errors if x.startswith("::error title=agentreel loops (all)::looping runs")
    ]
    assert len(errors) == 1
    assert any(x.startswith("::warning title=agentreel numeric_drift (steps)::") for x in lines)
    text = summary.read_text()
    assert text.startswith("earlier step\n### agentreel checks: ❌ error")
    assert "| ❌ error | loops | all |" in text
    assert "| ✅ pass |" not in text
    gh = cli(
        "check",
        "--dir",
        str(tmp_path / "store"),
        "--format",
        "github",
        "--no-save",
        cwd=project,
        env=env,
    )
    assert gh.stdout.splitlines()[-1] == "agentreel check: error (1 errors, 2 warnings)"


def test_results_are_kept_in_the_store(project: Path, tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    record_runs(store_dir, 200, seed=3, regression="loop")
    args = ("check", "--dir", str(store_dir), "--baseline", "main")
    cli(*args, cwd=project)
    cli(*args, "--no-save", cwd=project)
    cli(*args, "--only", "loops", cwd=project)
    with Store.open(store_dir) as store:
        saved = store.check_results()
        assert saved["check_run_id"].n_unique() == 2
        loops = store.check_results(check="loops")
        assert loops.height == 2
        assert set(loops["status"]) == {"error"}
        failures = json.loads(loops["failures"][0])
        assert len(failures) == 20
        assert failures[0]["loop_tool"] == "web_search"
        assert json.loads(loops["baseline_window"][0])["saved"] == "main"
