from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel.store import Store


def spool_records(store_dir: Path) -> list[dict[str, Any]]:
    """Every record in the spool (pending and archived), in segment order."""
    out: list[dict[str, Any]] = []
    spool = store_dir / "spool"
    for seg in sorted(
        [*spool.glob("*.jsonl"), *(spool / "archive").glob("*.jsonl")], key=lambda p: p.name
    ):
        out.extend(json.loads(line) for line in seg.read_text().splitlines() if line)
    return out


class Recorded:
    """A recorder on its own TracerProvider, writing to a temporary store."""

    def __init__(self, path: Path, provider: TracerProvider) -> None:
        self.path = path
        self.provider = provider
        self.recorder = agentreel.init(path, tracer_provider=provider)

    def records(self) -> list[dict[str, Any]]:
        agentreel.flush()
        return [r for r in spool_records(self.path) if r["end_ns"] is not None]

    def by_name(self) -> dict[str, dict[str, Any]]:
        return {r["name"]: r for r in self.records()}

    def store(self) -> Store:
        agentreel.flush()
        store = Store.open(self.path, create=True)
        store.ingest()
        return store


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[Recorded]:
    r = Recorded(tmp_path / "store", TracerProvider())
    yield r
    agentreel.shutdown()
