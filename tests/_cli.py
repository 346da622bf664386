"""Run the `agentreel` command as a user would, against one store, in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def agentreel_cli(
    store: Path, *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m agentreel ARGS`` with ``AGENTREEL_DIR`` = `store` (and no other
    ``AGENTREEL_*`` setting of the test run's environment), output captured as text."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTREEL_")}
    env["AGENTREEL_DIR"] = str(store)
    return subprocess.run(
        [sys.executable, "-m", "agentreel", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
