"""Shared helpers of the replay tests: record an agent module in a subprocess, run the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any


def _env(store: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLAY_AGENT_")}
    return {**env, "AGENTREEL_DIR": str(store), "AGENTREEL_FLUSH": "each", **extra}


def _cli(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentreel", *args, "--dir", str(cwd / "store")],
        cwd=cwd,
        env=_env(cwd / "store", **env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _json(p: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert p.stdout.strip(), p.stderr
    out: dict[str, Any] = json.loads(p.stdout)
    return out


def record(module: Path, cwd: Path, script: str, **env: str) -> list[str]:
    """Run ``module`` as ``cwd/script`` into ``cwd/store``: its stdout lines (the last, the run id)."""
    shutil.copy(module, cwd / script)
    out = subprocess.run(
        [sys.executable, script],
        cwd=cwd,
        env=_env(cwd / "store", **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout.strip().splitlines()
