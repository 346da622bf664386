"""The environment a run was recorded in: Python, key package versions, git commit.

Replay compares the fingerprint of the replaying process with the recorded one
and reports what changed. It is computed once per process, in a background
thread started by `init()` (``git status`` takes milliseconds), and attached to
the outermost agent span of each run as ``agentreel.env``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import threading
from typing import Any

__all__ = ["PACKAGES", "environment", "environment_json", "start"]

#: Distributions whose versions are recorded when installed.
PACKAGES = (
    "agentreel",
    "opentelemetry-sdk",
    "openai",
    "anthropic",
    "pydantic",
    "pydantic-ai-slim",
    "langchain-core",
    "langgraph",
    "openai-agents",
    "httpx",
)

_lock = threading.Lock()
_cached: str | None = None
_thread: threading.Thread | None = None


def _git(cwd: str) -> dict[str, Any]:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
        if sha.returncode != 0:
            return {}
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"git_sha": sha.stdout.strip(), "git_dirty": bool(dirty.stdout.strip())}


def environment() -> dict[str, Any]:
    """This process's fingerprint (computed now, not cached).

    >>> sorted(environment())[:3]
    ['cwd', 'packages', 'platform']
    """
    from importlib import metadata  # 10 ms: not for `import agentreel`, only when computed

    packages: dict[str, str] = {}
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            packages[name] = metadata.version(name)
    cwd = os.getcwd()
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": sys.platform,
        "packages": packages,
        "cwd": cwd,
        **_git(cwd),
    }


def _compute() -> None:
    global _cached
    text = json.dumps(environment(), sort_keys=True)
    with _lock:
        _cached = text


def start() -> None:
    """Compute the fingerprint in the background (idempotent)."""
    global _thread
    with _lock:
        if _thread is not None or _cached is not None:
            return
        _thread = threading.Thread(target=_compute, name="agentreel-fingerprint", daemon=True)
        _thread.start()


def environment_json() -> str:
    """The cached fingerprint as JSON, computing it now if the background thread has not."""
    if _cached is None:
        start()
        t = _thread
        if t is not None:
            t.join(10)
        if _cached is None:
            _compute()
    assert _cached is not None
    return _cached
