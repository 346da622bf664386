"""`agentreel record -- python prog.py` records a program that never imports agentreel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = textwrap.dedent(
    """
    import sys
    from pydantic_ai import Agent
    from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
    from pydantic_ai.models.function import FunctionModel

    def model(messages, info):
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("lookup", {"term": "reel"})])
        return ModelResponse(parts=[TextPart("A reel holds film.")])

    agent = Agent(FunctionModel(model), name="glossary")

    @agent.tool_plain
    def lookup(term: str) -> str:
        return term + ": a spool"

    print(agent.run_sync("What is a reel?").output)
    sys.exit(3)
    """
)


def test_record_wraps_an_unmodified_program(tmp_path: Path) -> None:
    prog = tmp_path / "prog.py"
    prog.write_text(PROGRAM)
    store = tmp_path / "store"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentreel",
            "record",
            "--dir",
            str(store),
            "--",
            sys.executable,
            str(prog),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert r.returncode == 3, r.stderr  # the program's own exit code
    assert r.stdout.strip() == "A reel holds film."
    assert "glossary" in r.stderr  # the recorded run is listed
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentreel",
            "show",
            "--json",
            "--dir",
            str(store),
            json.loads(
                subprocess.run(
                    [sys.executable, "-m", "agentreel", "runs", "--json", "--dir", str(store)],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    cwd=ROOT,
                ).stdout
            )[0]["run_id"],
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    spans = json.loads(out.stdout)["spans"]
    assert [s["kind"] for s in spans] == ["agent", "llm", "tool", "llm"]
    assert spans[2]["tool_name"] == "lookup"
    assert spans[0]["output"] == "A reel holds film."
    assert json.loads(out.stdout)["run"]["service_name"] == "prog"


def test_record_keeps_an_existing_sitecustomize_and_reports_a_missing_program(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import os\nos.environ['CHAINED'] = 'yes'\n")
    prog = tmp_path / "p.py"
    prog.write_text(
        "import os, sys\nprint(os.environ.get('CHAINED'))\nprint('agentreel' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentreel",
            "record",
            "--dir",
            str(tmp_path / "s"),
            "--",
            sys.executable,
            str(prog),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["yes", "True"]
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentreel",
            "record",
            "--dir",
            str(tmp_path / "s"),
            "--",
            "no-such-program-xyz",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert missing.returncode == 2
    assert "cannot run 'no-such-program-xyz'" in missing.stderr
