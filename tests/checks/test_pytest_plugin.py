"""The pytest plugin: checks as test items, and the agentreel_spans fixture."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

import agentreel
from agentreel.checks import CheckConfig, Window, save_baseline
from agentreel.checks._recorded import RecordedSpans
from agentreel.store import Store
from tests.checks._simulate import record_runs

ROOT = Path(__file__).resolve().parents[2]  # the code under test, for subprocesses


def pytest_run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--rootdir",
            str(cwd),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), "COLUMNS": "160", "PYTHONPATH": str(ROOT)},
    )


@pytest.fixture(scope="module")
def looped(tmp_path_factory: pytest.TempPathFactory, baseline_file: Path) -> Path:
    d = tmp_path_factory.mktemp("plugin")
    record_runs(d / "store", 1000, seed=2, regression="loop")
    return d


def test_each_check_is_a_test_item(looped: Path, baseline_file: Path) -> None:
    r = pytest_run(
        "--agentreel-checks",
        "--agentreel-dir",
        "store",
        "--agentreel-baseline",
        str(baseline_file),
        "--junitxml",
        "out.xml",
        "-rA",
        cwd=looped,
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAILED agentreel::loops" in r.stdout
    assert "agentreel check loops failed" in r.stdout
    assert "web_search" in r.stdout
    assert "PASSED agentreel::latency_p95" in r.stdout
    assert "SKIPPED" in r.stdout
    assert "group_disparity" in r.stdout
    # a warning passes unless --agentreel-fail-on warn
    assert "PASSED agentreel::numeric_drift" in r.stdout
    suite = ET.parse(looped / "out.xml").getroot().find("testsuite")
    assert suite is not None
    names = {c.get("name"): c for c in suite.iter("testcase")}
    assert {"loops", "span_schema", "tool_args"} <= set(names)
    assert {c.get("classname") for c in names.values()} == {"agentreel"}
    assert names["loops"].find("failure") is not None
    props = {p.get("name"): p.get("value") for p in names["loops"].iter("property")}
    assert props["all · looping runs"].startswith("error 0.2")
    assert int(suite.get("failures", "0")) == 1


def test_k_selects_checks_and_fail_on_warn(looped: Path, baseline_file: Path) -> None:
    common = (
        "--agentreel-checks",
        "--agentreel-dir",
        "store",
        "--agentreel-baseline",
        str(baseline_file),
    )
    r = pytest_run(*common, "-k", "drift", cwd=looped)
    assert r.returncode == 0, r.stdout
    assert "2 passed" in r.stdout
    assert "deselected" in r.stdout
    r = pytest_run(*common, "-k", "numeric_drift", "--agentreel-fail-on", "warn", cwd=looped)
    assert r.returncode == 1
    assert "1 failed" in r.stdout


def test_a_missing_store_fails_the_items_with_one_reason(tmp_path: Path) -> None:
    r = pytest_run(
        "--agentreel-checks", "--agentreel-dir", "nowhere", "-k", "loops or volume", cwd=tmp_path
    )
    assert r.returncode == 1
    assert r.stdout.count("the checks could not run: no agentreel store at nowhere") == 2


# -- the agentreel_spans fixture ---------------------------------------------------


@agentreel.tool
def search(query: str) -> list[str]:
    return [f"https://example.org/{query}"]


@agentreel.tool
def flaky(url: str) -> str:
    raise TimeoutError(f"timed out fetching {url}")


@agentreel.llm(provider="openai", model="gpt-4.1-mini")
def chat(prompt: str) -> dict[str, Any]:
    return {
        "model": "gpt-4.1-mini",
        "choices": [{"message": {"content": f"Paris. ({prompt})"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3},
    }


@agentreel.agent(name="geographer")
def answer(question: str, fetch: bool = False) -> str:
    search(question)
    search(question + " capital")
    if fetch:
        with contextlib.suppress(TimeoutError):
            flaky("https://example.org")
    return str(chat(question)["choices"][0]["message"]["content"])


def test_the_fixture_gives_the_spans_the_agent_recorded(agentreel_spans: RecordedSpans) -> None:
    answer("What is the capital of France?")
    calls = agentreel_spans.assert_called("search", times=2)
    assert calls["args"][0] == {"query": "What is the capital of France?"}
    agentreel_spans.assert_called(
        "search", with_args={"query": "What is the capital of France? capital"}
    )
    agentreel_spans.assert_not_called("flaky")
    agentreel_spans.assert_no_errors()
    agentreel_spans.assert_llm_calls(at_most=1, at_least=1)
    agentreel_spans.assert_final_output(r"^Paris")
    agentreel_spans.assert_final_output(lambda out: out.startswith("Paris"))
    assert agentreel_spans.runs.height == 1


def test_the_fixture_assertions_say_what_they_found(agentreel_spans: RecordedSpans) -> None:
    answer("Where is Lyon?", fetch=True)
    with pytest.raises(
        AssertionError, match=r"expected exactly 3 call\(s\) of tool 'search', found 2"
    ):
        agentreel_spans.assert_called("search", times=3)
    with pytest.raises(
        AssertionError, match=r"1 span\(s\) failed:(.|\n)*builtins.TimeoutError|TimeoutError"
    ):
        agentreel_spans.assert_no_errors()
    with pytest.raises(AssertionError, match="expected at most 0 LLM calls, found 1"):
        agentreel_spans.assert_llm_calls(at_most=0)
    with pytest.raises(AssertionError, match="does not match 'Berlin'"):
        agentreel_spans.assert_final_output("Berlin")


def test_the_fixture_in_a_users_test_suite(tmp_path: Path) -> None:
    (tmp_path / "test_agent.py").write_text(
        "import agentreel\n"
        "@agentreel.tool\n"
        "def lookup(key: str) -> str:\n"
        "    return key.upper()\n"
        "def test_lookup(agentreel_spans):\n"
        "    lookup('a'); lookup('b')\n"
        "    agentreel_spans.assert_called('lookup', times=2)\n"
        "    agentreel_spans.assert_no_errors()\n"
        "def test_lookup_is_isolated(agentreel_spans):\n"
        "    agentreel_spans.assert_not_called('lookup')\n"
    )
    r = pytest_run(cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 passed" in r.stdout


def test_checks_saved_from_python_can_be_read_back(tmp_path: Path) -> None:
    record_runs(tmp_path / "s", 30, seed=4)
    with Store.open(tmp_path / "s", create=True) as store:
        store.ingest()
        path = save_baseline(store, "x", Window(), config=CheckConfig(), path=tmp_path / "x.json")
    assert json.loads(path.read_text())["name"] == "x"
