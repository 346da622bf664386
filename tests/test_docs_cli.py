"""docs/cli.md says what the program does, and the project holds no path of one machine."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click

from agentreel import __version__
from agentreel.cli import main
from agentreel.demo import DEFAULT_SEED

ROOT = Path(__file__).resolve().parents[1]
CLI_MD = (ROOT / "docs" / "cli.md").read_text()


def test_the_command_table_lists_every_command() -> None:
    table = CLI_MD.split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| \[`agentreel ([\w-]+)`\]\(#agentreel-\1\)", table, flags=re.M))
    assert listed == set(main.commands)


def test_the_commands_said_to_lack_json_are_those_that_lack_it() -> None:
    sentence = re.search(r"All but (.*?) take `--json`", " ".join(CLI_MD.split()))
    assert sentence is not None
    said = set(re.findall(r"`([\w-]+)`", sentence.group(1)))
    lacking = {
        name
        for name, cmd in main.commands.items()
        if not isinstance(cmd, click.Group)
        and not any("--json" in getattr(p, "opts", []) for p in cmd.params)
    }
    assert said == lacking


def test_version_prints_the_same_line_however_the_command_is_started() -> None:
    expected = f"agentreel, version {__version__}"
    r = subprocess.run(
        [sys.executable, "-m", "agentreel", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert r.stdout.strip() == expected
    assert (
        "`agentreel --version` (and `python -m agentreel --version`) prints `agentreel, version"
        in (" ".join(CLI_MD.split()))
    )


def test_the_documented_demo_seed_is_the_default() -> None:
    (seed,) = [p for p in main.commands["demo"].params if p.name == "seed"]
    assert seed.default == DEFAULT_SEED
    assert f"| `--seed INTEGER` | `{DEFAULT_SEED}` |" in CLI_MD


# Built from parts, so this file does not match itself.
_MACHINE_PATH = re.compile(
    "(?<![\\w.~-])/(?:" + "|".join(["wo" + "rk", "ho" + "me", "Us" + "ers", "ro" + "ot"]) + ")/"
)


def _project_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
        ).stdout
        return [ROOT / p for p in out.decode().split("\0") if p]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: every source file
        skip = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
        return [
            p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.relative_to(ROOT).parts)
        ]


def test_the_project_holds_no_absolute_path_of_one_machine() -> None:
    found = []
    for path in _project_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if _MACHINE_PATH.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:100]}")
    assert found == [], "\n".join(found)
