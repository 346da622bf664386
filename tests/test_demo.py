from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import polars as pl
import pytest
from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel.demo import DEFAULT_SEED, run_demo
from agentreel.store import Store

ROOT = Path(__file__).resolve().parents[1]


def _record(path: Path, runs: int, seed: int) -> Store:
    agentreel.init(path, tracer_provider=TracerProvider())
    try:
        run_demo(runs, seed=seed, latency=0.001)
    finally:
        agentreel.shutdown()
    store = Store.open(path, create=True)
    store.ingest()
    return store


def _shape(store: Store) -> list[list[tuple[int, str, str]]]:
    out = []
    for rid in store.runs(limit=100).sort("start_time")["run_id"]:
        t = store.tree(rid)
        out.append(
            list(zip(t["depth"].to_list(), t["kind"].to_list(), t["name"].to_list(), strict=True))
        )
    return out


def test_same_seed_same_runs_different_seeds_differ(tmp_path: Path) -> None:
    with _record(tmp_path / "a", 4, seed=10) as a, _record(tmp_path / "b", 4, seed=10) as b:
        assert _shape(a) == _shape(b)
        tok = "SELECT sum(input_tokens) AS i, sum(output_tokens) AS o FROM runs"
        assert a.sql(tok).row(0) == b.sql(tok).row(0)
    with _record(tmp_path / "c", 4, seed=11) as c, _record(tmp_path / "d", 4, seed=10) as d:
        assert _shape(c) != _shape(d)


def test_demo_runs_show_what_real_agents_do(tmp_path: Path) -> None:
    with _record(tmp_path, 24, seed=0) as store:
        runs = store.runs(limit=100)
        assert runs.height == 24
        statuses = set(runs["status"])
        assert statuses == {"ok", "error"}  # some runs fail
        assert runs["span_count"].n_unique() > 5  # runs differ in steps
        assert runs["input_tokens"].n_unique() > 5  # and tokens
        spans = store.sql("SELECT * FROM spans")
        names = set(spans.filter(pl.col("kind") == "agent")["agent_name"])
        assert names == {"researcher", "summarizer"}  # a sub-agent
        assert {"web_search", "fetch_page", "calculator"} <= set(spans["tool_name"].drop_nulls())
        # a flaky tool that fails and is retried within the same run
        retried = store.sql(
            "SELECT run_id FROM spans WHERE tool_name = 'fetch_page' GROUP BY run_id "
            "HAVING count(*) FILTER (WHERE status = 'error') > 0 AND count(*) FILTER (WHERE status <> 'error') > 0"
        )
        assert retried.height > 0
        # parallel tool calls: sibling searches that overlap in time
        overlap = store.sql(
            "SELECT count(*) AS n FROM spans a JOIN spans b ON a.parent_span_id = b.parent_span_id "
            "AND a.span_id < b.span_id AND a.tool_name = 'web_search' AND b.tool_name = 'web_search' "
            "AND a.start_time < b.end_time AND b.start_time < a.end_time"
        )
        assert overlap["n"][0] > 0
        assert spans.filter(pl.col("kind") == "llm")["cost_usd"].null_count() == 0
        # the final answer is the root's output
        ok = runs.filter(pl.col("status") == "ok").row(0, named=True)
        assert ok["output"]
        assert "Answer:" in ok["output"]


def _demo_cli(cwd: Path, exe: str, *args: str, path: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "HOME": str(cwd), "COLUMNS": "120"}
    if "PYTHONPATH" in os.environ:  # a test run against a source tree
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run(
        [exe, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_default_demo_records_a_failed_run(tmp_path: Path) -> None:
    exe = sys.executable
    r = _demo_cli(tmp_path, exe, "-m", "agentreel", "demo", "--json", path="/usr/bin:/bin")
    assert r.returncode == 0, r.stderr
    assert [run["tags"]["seed"] for run in json.loads(r.stdout)] == [5, 4, 3, 2, 1]
    failed = _demo_cli(
        tmp_path,
        exe,
        "-m",
        "agentreel",
        "runs",
        "-q",
        "status:error",
        "--json",
        path="/usr/bin:/bin",
    )
    assert [run["tags"]["seed"] for run in json.loads(failed.stdout)] == [DEFAULT_SEED + 4]


@pytest.mark.parametrize("on_path", [False, True])
def test_the_demo_hint_is_a_command_that_works_in_the_same_shell(
    tmp_path: Path, on_path: bool
) -> None:
    bin_dir = Path(sys.executable).parent
    script = bin_dir / "agentreel"
    if not script.is_file():
        pytest.skip("the agentreel command is not installed next to this interpreter")
    path = f"{bin_dir}:/usr/bin:/bin" if on_path else "/usr/bin:/bin"
    exe = "agentreel" if on_path else str(script)
    r = _demo_cli(tmp_path, exe, "demo", "--runs", "2", path=path)
    assert r.returncode == 0, r.stderr
    hint = " ".join(r.stdout.split()).split("read one with ", 1)[1]
    words = shlex.split(hint)
    assert words[0] == exe  # the name on the PATH, or the path of the script that ran
    assert words[1] == "show"
    shown = _demo_cli(tmp_path, *words, path=path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("research  ")


_LOADED_FILES = """
import json, sys
from agentreel.cli import main
try:
    main(["demo", "--runs", "2", "--latency", "0", "--dir", sys.argv[1]])
except SystemExit as e:
    if e.code:
        raise
print(json.dumps([getattr(m, "__file__", None) for m in list(sys.modules.values())]))
"""


def _requirement_name(req: str) -> str:
    m = re.match(r"[A-Za-z0-9._-]+", req)
    assert m, req
    return m.group(0).lower().replace("_", "-")


def test_the_demo_needs_no_framework_extra_and_no_dev_tool(tmp_path: Path) -> None:
    """The README's first command installs the core package alone and runs the demo."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_requirement_name(r) for r in project["dependencies"]}
    extras = {
        _requirement_name(r)
        for reqs in project["optional-dependencies"].values()
        for r in reqs
        if _requirement_name(r) != "agentreel"
    } - core
    assert {"openai", "anthropic", "langgraph", "pytest", "mypy"} <= extras
    owned: dict[str, str] = {}
    for name in extras:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed here: the demo cannot have loaded it
        for f in dist.files or []:
            if f.suffix in (".py", ".so"):
                owned[str(Path(str(dist.locate_file(f))).resolve())] = name
    assert owned  # the test environment has the extras, so the check below can fail
    p = subprocess.run(
        [sys.executable, "-c", _LOADED_FILES, str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    loaded = {str(Path(f).resolve()) for f in json.loads(p.stdout.splitlines()[-1]) if f}
    assert sorted({owned[f] for f in loaded if f in owned}) == []
