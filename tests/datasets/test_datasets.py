"""Regression datasets: a bad run becomes a test that fails until the fix lands.

Each test works as a user would, in a project directory of its own: record runs of a
small agent (`python agent.py`), save them with `agentreel dataset add`, change the
agent, and run `pytest --agentreel-dataset` there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from agentreel import datasets
from tests._secrets import Secret, surrounded

AGENT = """
import sys
import agentreel

SYSTEM = "Answer in one line."


@agentreel.tool
def forecast(city):
    return {"Oslo": {"temp": 3}, "Lima": {"temp": None}}.get(city, {"temp": 20})


@agentreel.llm(reads=lambda: {"system": SYSTEM})
def chat(prompt):
    return {"text": "It is mild in " + prompt.split()[-1], "usage": {"input_tokens": 7}}


@agentreel.agent
def weather(city):
    data = forecast(city)
    reply = chat("Describe the weather in " + city)
    return FORMAT.format(city=city, temp=data["temp"] + 0, text=reply["text"])


FORMAT = "{city}: {temp} C. {text}"

if __name__ == "__main__":
    agentreel.init()
    for city in sys.argv[1:]:
        try:
            weather(city)
        except Exception:
            pass
    agentreel.flush()
"""


def _env(project: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTREEL_")}
    return {**env, "AGENTREEL_DIR": str(project / ".agentreel"), "AGENTREEL_FLUSH": "each"}


def _run(project: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        [sys.executable, *args],
        cwd=project,
        env=_env(project),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


def _cli(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run(project, "-m", "agentreel", *args, check=check)


def _runs(project: Path) -> dict[str, dict[str, Any]]:
    rows = json.loads(_cli(project, "runs", "--json").stdout)
    return {r["tags"].get("city", "") or r["run_id"]: r for r in rows}


def _record(d: Path) -> Path:
    d.mkdir()
    (d / "agent.py").write_text(AGENT)
    _run(d, "agent.py", "Oslo", "Lima", check=True)
    return d


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with one ok run (Oslo) and one failed run (Lima: no temperature)."""
    return _record(tmp_path / "project")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same, recorded once, for tests that leave it as they found it."""
    return _record(tmp_path_factory.mktemp("shared") / "project")


def _ids(project: Path) -> tuple[str, str]:
    rows = json.loads(_cli(project, "runs", "--json").stdout)
    ok = next(r["run_id"] for r in rows if r["status"] == "ok")
    bad = next(r["run_id"] for r in rows if r["status"] == "error")
    return ok, bad


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (project / "conftest.py").touch()
    return _run(project, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args)


def test_a_failed_run_becomes_a_test_that_fails_until_the_fix_lands(project: Path) -> None:
    p = project
    ok, bad = _ids(p)
    out = _cli(p, "dataset", "add", "weather", ok, bad[:8])
    assert "added" in out.stdout
    assert "2 cases" in out.stdout
    assert (p / "agentreel-datasets" / "weather.json").is_file()

    failing = _pytest(p, "--agentreel-dataset", "weather")
    assert failing.returncode == 1, failing.stdout
    assert "1 failed, 1 passed" in failing.stdout
    assert f"case {bad[:12]} (error)" in failing.stdout
    assert "still fails as recorded: TypeError" in failing.stdout

    # the fix: a missing temperature is said so, not added to
    agent = (p / "agent.py").read_text()
    (p / "agent.py").write_text(
        agent.replace('temp=data["temp"] + 0', 'temp="?" if data["temp"] is None else data["temp"]')
    )
    fixed = _pytest(p, "--agentreel-dataset", "weather", "-rA")
    assert fixed.returncode == 0, fixed.stdout
    assert "2 passed" in fixed.stdout
    said = _cli(p, "dataset", "run", "weather").stdout
    assert f"pass  {bad[:12]}  returns where the recording failed" in said

    # nothing of the test runs landed in the project's store
    assert len(json.loads(_cli(p, "runs", "--json", "-q", "origin:any").stdout)) == 2


def test_a_changed_prompt_fails_the_ok_case_with_the_diff(project: Path) -> None:
    p = project
    ok, _ = _ids(p)
    _cli(p, "dataset", "add", "weather", ok)
    assert _pytest(p, "--agentreel-dataset", "weather").returncode == 0

    agent = (p / "agent.py").read_text()
    (p / "agent.py").write_text(agent.replace("Answer in one line.", "Answer in two lines."))
    out = _pytest(p, "--agentreel-dataset", "weather")
    assert out.returncode == 1
    assert "diverged" in out.stdout
    assert '-      "system": "Answer in one line."' in out.stdout
    assert '+      "system": "Answer in two lines."' in out.stdout

    # the same through the CLI, with its exit code and JSON
    run = _cli(p, "dataset", "run", "weather", "--json", check=False)
    assert run.returncode == 1
    (result,) = json.loads(run.stdout)
    assert result["passed"] is False
    assert result["run_id"] == ok


EVALUATOR = '''
def mentions_temperature(output, arguments):
    """1 when the answer gives a temperature in C, else 0."""
    return output is not None and " C." in output
'''


def test_an_evaluator_decides_when_only_the_output_changed(project: Path) -> None:
    p = project
    (p / "evals.py").write_text(EVALUATOR)
    ok, _ = _ids(p)
    _cli(p, "dataset", "add", "weather", ok, "--evaluator", "evals:mentions_temperature")
    doc = json.loads((p / "agentreel-datasets" / "weather.json").read_text())
    assert doc["cases"][0]["evaluators"] == [
        {"evaluator": "evals:mentions_temperature", "score": 1.0}
    ]
    agent = (p / "agent.py").read_text()
    # a new wording that keeps the temperature: the output differs, the score holds
    (p / "agent.py").write_text(agent.replace('"{city}: {temp} C. {text}"', '"{text} ({temp} C.)"'))
    assert _pytest(p, "--agentreel-dataset", "weather").returncode == 0
    # a wording that drops it: the score falls, the case fails and says by how much
    (p / "agent.py").write_text(agent.replace('"{city}: {temp} C. {text}"', '"{text}"'))
    out = _pytest(p, "--agentreel-dataset", "weather")
    assert out.returncode == 1
    assert "scores the new output 0, below the recorded 1" in out.stdout
    # and without an evaluator, any change of output fails, with the output diff
    _cli(p, "dataset", "add", "plain", ok)
    out = _pytest(p, "--agentreel-dataset", "plain")
    assert out.returncode == 1
    assert "returns a different output" in out.stdout
    assert "+++ replayed" in out.stdout


def test_add_by_filter_is_idempotent_and_list_show_remove_agree(project: Path) -> None:
    p = project
    ok, bad = _ids(p)
    _cli(p, "dataset", "add", "all", "-q", "name:weather")
    _cli(p, "dataset", "add", "all", "-q", "name:weather")  # again: the same two cases
    shown = json.loads(_cli(p, "dataset", "show", "all", "--json").stdout)
    assert sorted(c["run_id"] for c in shown) == sorted([ok, bad])
    listed = json.loads(_cli(p, "dataset", "list", "--json").stdout)
    assert [(d["name"], d["cases"], d["guarding_fixes"]) for d in listed] == [("all", 2, 1)]
    _cli(p, "dataset", "remove", "all", bad[:10])
    shown = json.loads(_cli(p, "dataset", "show", "all", "--json").stdout)
    assert [c["run_id"] for c in shown] == [ok]
    # the file holds no path of this machine
    text = (p / "agentreel-datasets" / "all.json").read_text()
    assert str(p) not in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "x"], "name at least one run"),
        (["add", "../up", "abc"], "dataset name '../up' must be"),
        (["add", "x", "ffffffff"], "ffffffff"),
        (["add", "x", "-q", "name:nothing"], "selects no run"),
        (["show", "missing"], "no dataset 'missing'"),
        (["run", "missing"], "no dataset 'missing'"),
        (["add", "x", "-q", "status:error", "--evaluator", "nocolon"], "module:function"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(shared: Path, args: list[str], message: str) -> None:
    out = _cli(shared, "dataset", *args, check=False)
    assert out.returncode == 2, out.stdout + out.stderr
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert not (shared / "agentreel-datasets" / "x.json").exists()


def test_a_damaged_dataset_file_is_named_not_a_traceback(shared: Path, tmp_path: Path) -> None:
    p = shared
    d = tmp_path / "datasets"
    d.mkdir()
    for text, message in [
        ("{not json", "is not a readable dataset file"),
        ('{"cases": []}', "is not an agentreel dataset of format 1"),
        ('{"agentreel_dataset": 1, "cases": [{"run_id": "ab"}]}', "malformed field"),
    ]:
        (d / "bad.json").write_text(text)
        out = _cli(p, "dataset", "run", "bad", "--datasets", str(d), check=False)
        assert out.returncode == 2, out.stderr
        assert message in out.stderr
        out = _pytest(p, "--agentreel-dataset", "bad", "--agentreel-datasets", str(d))
        assert out.returncode == 4, out.stdout + out.stderr
        assert message in out.stderr


SECRET_AGENT = """
import agentreel

@agentreel.tool
def fetch(token):
    return {"echo": "Bearer " + token, "note": "key:\\n" + token}

@agentreel.agent
def leak(token):
    return fetch(token)["note"]

if __name__ == "__main__":
    import sys
    agentreel.init(redact=False)
    leak(sys.argv[1])
    agentreel.flush()
"""


def test_a_dataset_file_never_holds_a_secret_even_from_an_unredacted_store(
    tmp_path: Path,
) -> None:
    secret = "sk-proj-" + "Q7x9" * 10
    p = tmp_path / "p"
    p.mkdir()
    (p / "agent.py").write_text(SECRET_AGENT)
    _run(p, "agent.py", secret, check=True)
    store = _cli(p, "show", "-q", "name:leak", check=False)
    _cli(p, "dataset", "add", "s", "-q", "name:leak")
    text = (p / "agentreel-datasets" / "s.json").read_text()
    assert secret not in text, store.stdout
    assert "Q7x9Q7x9" not in text


@settings(max_examples=60, deadline=None)
@given(found=surrounded())
def test_redaction_of_a_case_leaves_no_secret_in_any_field(found: tuple[Secret, str]) -> None:
    secret, text = found
    request = json.dumps({"kind": "tool", "name": "t", "arguments": {"q": text}}, indent=2)
    plan = {
        "run_id": "ab" * 16,
        "entry": "agent:leak",
        "arguments": {"token": text, "nested": [{"k": text}]},
        "output": json.dumps(text),
        "error_type": "ValueError",
        "error_message": text,
        "env": {"cwd": "/somewhere"},
        "steps": [
            {
                "index": 1,
                "request": request,
                "output": json.dumps({"echo": text}),
                "error_message": text,
            },
            {"index": 2, "request": request, "output": text, "error_message": None},
        ],
    }
    from agentreel.datasets import Case, Dataset

    case = Case("ab" * 16, "leak", "error", None, datasets._redacted(plan))
    with tempfile.TemporaryDirectory() as d:
        ds = Dataset("s", Path(d) / "s.json", [case])
        ds.save()
        written = ds.path.read_text()
    assert secret.leaked_in(written) is None, written
    assert "/somewhere" not in written


def _verdict(status: str, **replay: Any) -> tuple[bool, str]:
    from agentreel.datasets import Case, _judge
    from agentreel.replay import ReplayResult

    plan = {"run_id": "ab" * 16, "entry": "m:f", "arguments": {}, "output": '"x"', "steps": []}
    if status == "error":
        plan.update(output=None, error_type="KeyError", error_message="'temp'")
    base: dict[str, Any] = {
        "run_id": "ab" * 16,
        "replay_run_id": "cd" * 16,
        "outcome": "returned",
        "reproduced": False,
        "output_matches": False,
        "divergence": None,
        "served": 3,
        "live": 0,
        "steps": 3,
        "recorded_output": plan["output"],
    }
    base.update(replay)
    r = _judge(Case("ab" * 16, "f", status, None, plan), ReplayResult(**base))
    return r.passed, r.message


def _div(what: str) -> dict[str, Any]:
    return {"what": what, "step": 3, "kind": "llm", "name": "chat", "message": "m", "diff": "d"}


@pytest.mark.parametrize(
    ("status", "replay", "passed", "says"),
    [
        ("ok", {"reproduced": True, "output_matches": True}, True, "reproduces"),
        ("ok", {"outcome": "diverged", "divergence": _div("changed")}, False, "diverged"),
        ("ok", {"divergence": _div("missing"), "output_matches": True}, False, "diverged"),
        ("ok", {"outcome": "raised", "error": "E: x"}, False, "raises E: x"),
        ("ok", {"output": '"y"'}, False, "returns a different output"),
        ("ok", {"outcome": "failed", "reason": "why"}, False, "could not finish: why"),
        ("error", {"outcome": "raised", "output_matches": True}, False, "still fails as recorded"),
        ("error", {"outcome": "raised", "error": "E: y"}, False, "fails differently: E: y"),
        (
            "error",
            {"outcome": "diverged", "divergence": _div("changed"), "served": 1},
            False,
            "asks for something else before the failure",
        ),
        (
            "error",
            {"outcome": "diverged", "divergence": _div("new"), "served": 1},
            False,
            "asks for something new before the failure",
        ),
        (
            "error",
            {"outcome": "diverged", "divergence": _div("new")},
            True,
            "gets past the recorded failure",
        ),
        ("error", {"output": '"fine"'}, True, "returns where the recording failed"),
    ],
)
def test_each_verdict(status: str, replay: dict[str, Any], passed: bool, says: str) -> None:
    got, message = _verdict(status, **replay)
    assert got is passed
    assert says in message
