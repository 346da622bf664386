"""`agentreel record -- python app.py` records even when `python` on the PATH lacks agentreel,
and says so when nothing could be recorded."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

PROGRAM = """
import agentreel


@agentreel.agent
def answer(question: str) -> str:
    return "42"


print(answer("?"))
"""


def _agentreel(cwd: Path, *args: str, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentreel", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "PATH": path, "COLUMNS": "120"},
    )


@pytest.fixture
def bare_python(tmp_path: Path) -> Path:
    """A directory whose `python` is the base interpreter, isolated: it cannot import agentreel."""
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    if not base.is_file():
        pytest.skip(f"no base interpreter at {base}")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\nexec {base} -I "$@"\n')
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    probe = subprocess.run([python, "-c", "import agentreel"], capture_output=True, timeout=60)
    if probe.returncode == 0:
        pytest.skip("the base interpreter has agentreel installed")
    return bin_dir


def test_a_python_without_agentreel_is_replaced_by_the_one_that_has_it(
    tmp_path: Path, bare_python: Path
) -> None:
    (tmp_path / "app.py").write_text(PROGRAM)
    path = f"{bare_python}:/usr/bin:/bin"
    r = _agentreel(tmp_path, "record", "--", "python", "app.py", path=path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "42"
    said = " ".join(r.stderr.split())
    assert f"python ({bare_python / 'python'}) cannot import agentreel" in said
    assert f"running the program with {sys.executable}" in said
    runs = json.loads(_agentreel(tmp_path, "runs", "--json", path=path).stdout)
    assert [run["name"] for run in runs] == ["answer"]


def test_a_program_that_never_starts_agentreel_is_said_to_have_recorded_nothing(
    tmp_path: Path,
) -> None:
    r = _agentreel(tmp_path, "record", "--", "/bin/sh", "-c", "exit 4", path="/usr/bin:/bin")
    assert r.returncode == 4  # still the program's exit code
    assert "nothing was recorded: the program never started agentreel" in " ".join(r.stderr.split())
    assert not (tmp_path / ".agentreel").exists()


def test_an_unknown_only_name_stops_before_the_program_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    r = _agentreel(
        tmp_path,
        "record",
        "--only",
        "pydantic",
        "--",
        sys.executable,
        "-c",
        f"open({str(marker)!r}, 'w')",
        path="/usr/bin:/bin",
    )
    assert r.returncode == 2
    assert "Invalid value for '--only': 'pydantic' is not one of 'pydantic-ai'," in r.stderr
    assert not marker.exists()


def test_the_only_choices_are_the_integrations() -> None:
    from agentreel.cli._record import INTEGRATION_NAMES
    from agentreel.tracer._integrations import _ALIASES, INTEGRATIONS

    assert set(INTEGRATION_NAMES) == set(INTEGRATIONS) | set(_ALIASES)
