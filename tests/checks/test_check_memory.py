"""`agentreel check` has polars give freed memory back at once (cli/_pandas_free.py).

polars's own allocator keeps freed pages counted in the process for a while by default, so each frame a check
dropped still counted in the process's peak. These ask a fresh process whether memory
freed by polars leaves it: small buffers are allocated, then dropped, and the resident
set is read before and after (a big allocation would be returned either way).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.checks._simulate import record_runs

ROOT = Path(__file__).resolve().parents[2]

#: allocates many small polars buffers, drops them, prints the resident set (MB) at start,
#: while they are held and after; and what the allocator's variable then was
_PROBE = """
import json, os, sys
import polars as pl

def rss():
    with open("/proc/self/status") as f:
        return int(f.read().split("VmRSS:")[1].split()[0]) / 1024

base = rss()
frames = [pl.Series([f"value {i} {j}" for j in range(2000)]).str.to_uppercase()
          for i in range(400)]
held = rss()
del frames
print(json.dumps({"base": base, "held": held, "after": rss(),
                  "conf": os.environ.get("_RJEM_MALLOC_CONF")}), file=sys.stderr)
"""

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="reads the resident set from /proc"
)


def _run(code: str, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> dict:
    r = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(ROOT),
            **(env or {}),
        },
    )
    assert r.stderr.strip(), r
    figures: dict = json.loads(r.stderr.strip().splitlines()[-1])
    return figures


def _returned(f: dict) -> float:
    """The share of the memory the frames took that left the process when they were dropped."""
    grew = f["held"] - f["base"]
    assert grew > 10, f  # the probe did allocate
    return (f["held"] - f["after"]) / grew


def test_freed_memory_leaves_the_process_and_the_environment_is_restored() -> None:
    on = "from agentreel.cli._pandas_free import polars_returning_memory\n"
    on += "polars_returning_memory()\n"
    f = _run(on + _PROBE)
    assert _returned(f) > 0.5, f
    assert f["conf"] is None  # a program the checks start does not inherit the setting


def test_by_default_polars_keeps_freed_memory() -> None:
    """The control: without the setting the probe's memory stays (so the tests above
    can tell the two apart)."""
    assert _returned(_run(_PROBE)) < 0.5


def test_a_setting_of_the_users_is_left_alone() -> None:
    on = "from agentreel.cli._pandas_free import polars_returning_memory\n"
    on += "polars_returning_memory()\n"
    f = _run(on + _PROBE, env={"_RJEM_MALLOC_CONF": "narenas:2"})
    assert f["conf"].endswith("narenas:2")  # polars puts its own defaults first
    assert "decay_ms:0" not in f["conf"]


def test_the_check_command_runs_with_memory_returned(tmp_path: Path) -> None:
    record_runs(tmp_path / "store", 50, seed=3)
    # the probe runs at the end of the check process, after everything the command did
    runner = (
        "import atexit, sys\n"
        f"atexit.register(lambda: exec({_PROBE!r}, {{}}))\n"
        "from agentreel.cli import main\n"
        "sys.argv = ['agentreel', 'check', *sys.argv[1:]]\n"
        "main()\n"
    )
    f = _run(
        runner, "--dir", "store", "--no-save", "--json", cwd=tmp_path, env={"HOME": str(tmp_path)}
    )
    assert _returned(f) > 0.5, f
