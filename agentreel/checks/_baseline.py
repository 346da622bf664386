"""Saved baselines: a window's statistics in a small JSON file, so CI needs no old runs.

``agentreel baseline save main`` measures the baseline window once (rates,
quantiles, sketches of distributions, category counts, tool argument key sets) and
writes ``agentreel-baselines/main.json``; commit it, and ``agentreel check`` in CI
compares the job's runs with it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentreel.checks._errors import BaselineError, CheckConfigError

__all__ = ["FORMAT", "VERSION", "SavedBaseline", "baseline_path", "read_baseline", "write_baseline"]

FORMAT = "agentreel-baseline"
VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class SavedBaseline:
    """A baseline read from its file: its window and each check's measure of it."""

    name: str
    path: Path
    created_at: str
    window: dict[str, Any]
    runs: int
    spans: int
    measures: dict[str, dict[str, Any]]

    def label(self) -> str:
        return (
            f"saved baseline {self.name} ({self.window.get('description', '')}, {self.runs} runs)"
        )


def baseline_path(name_or_path: str | os.PathLike[str], directory: Path) -> Path:
    """The file of a saved baseline: a path as given (``*.json``), or ``<directory>/<name>.json``."""
    s = os.fspath(name_or_path)
    if s.endswith(".json") or os.sep in s or "/" in s:
        return Path(s)
    if not _NAME.match(s):
        raise CheckConfigError(
            f"{s!r} is not a baseline name; use letters, digits, '.', '-' or '_' (e.g. main)"
        )
    return directory / f"{s}.json"


def write_baseline(
    path: Path,
    name: str,
    window: dict[str, Any],
    runs: int,
    spans: int,
    measures: dict[str, dict[str, Any]],
) -> Path:
    """Write a baseline file (atomically: a temporary file renamed over `path`)."""
    body = {
        "format": FORMAT,
        "version": VERSION,
        "name": name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "window": window,
        "runs": runs,
        "spans": spans,
        "measures": measures,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(body, indent=1, sort_keys=True, default=_jsonable) + "\n")
    os.replace(tmp, path)
    return path


def _jsonable(v: object) -> object:
    if isinstance(v, datetime):
        return v.isoformat()
    raise TypeError(f"{type(v).__name__} is not JSON serialisable")


def read_baseline(path: Path) -> SavedBaseline:
    """Read a baseline file; `BaselineError` when it is missing or not one."""
    try:
        body = json.loads(path.read_text())
    except FileNotFoundError:
        raise BaselineError(
            f"no saved baseline at {path}; save one with `agentreel baseline save {path.stem}`"
        ) from None
    except (OSError, ValueError) as e:
        raise BaselineError(f"cannot read the baseline {path}: {e}") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise BaselineError(f"{path} is not an agentreel baseline file")
    if int(body.get("version", 0)) > VERSION:
        raise BaselineError(
            f"{path} was saved by a newer agentreel (format {body['version']}); upgrade agentreel"
        )
    return SavedBaseline(
        name=str(body.get("name", path.stem)),
        path=path,
        created_at=str(body.get("created_at", "")),
        window=dict(body.get("window") or {}),
        runs=int(body.get("runs", 0)),
        spans=int(body.get("spans", 0)),
        measures=dict(body.get("measures") or {}),
    )
