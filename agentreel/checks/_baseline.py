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
from agentreel.checks._shape import Shape, ShapeError, any_object, count, fields, mapping, text

__all__ = [
    "FORMAT",
    "VERSION",
    "SavedBaseline",
    "baseline_path",
    "check_name",
    "read_baseline",
    "write_baseline",
]

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
    check_name(s)
    return directory / f"{s}.json"


def check_name(name: str) -> None:
    """`CheckConfigError` unless `name` is a baseline's name (what `baseline save` takes)."""
    if not _NAME.match(name):
        raise CheckConfigError(
            f"{name!r} is not a baseline name; use letters, digits, '.', '-' or '_' (e.g. main)"
            + ("; to write the file elsewhere, give --output" if "/" in name else "")
        )


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
    """Read a baseline file; `BaselineError` when it is missing, or not one, or malformed.

    The file's shape is checked (docs/checks.md#the-baseline-file): every part a check
    reads must be there and of its type, so a damaged or hand-edited file is refused
    here, naming the file and the part, instead of failing inside a check.
    """
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
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BaselineError(
            f"{path} is not a valid baseline: version is {json.dumps(version)}, where the whole"
            f" number {VERSION} belongs"
        )
    if version > VERSION:
        raise BaselineError(
            f"{path} was saved by a newer agentreel (format {version}); upgrade agentreel"
        )
    try:
        _FILE(body, "")
        for check, measure in body["measures"].items():
            _measure_shape(check)(measure, f"measures.{check}")
    except ShapeError as e:
        raise BaselineError(
            f"{path} is not a valid baseline: {e}; save it again with "
            f"`agentreel baseline save {path.stem}`"
        ) from None
    return SavedBaseline(
        name=body["name"],
        path=path,
        created_at=body["created_at"],
        window=body["window"],
        runs=body["runs"],
        spans=body["spans"],
        measures=body["measures"],
    )


#: The top level of a baseline file (``format`` and ``version`` are checked first).
_FILE = fields(
    name=text,
    created_at=text,
    window=fields(description=text),
    runs=count,
    spans=count,
    measures=mapping(any_object),
)


def _measure_shape(check: str) -> Shape:
    """The shape of `check`'s measure: a built-in check's own, else a metric check's."""
    from agentreel.checks._registry import BUILTINS
    from agentreel.checks._user import MetricCheck

    builtin = BUILTINS.get(check)
    return builtin.measure_shape if builtin is not None else MetricCheck.measure_shape
