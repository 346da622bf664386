from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel._spool import RECORD_FIELDS
from agentreel.store import Store


def spool_records(store_dir: Path) -> list[dict[str, Any]]:
    """Every record in the spool (pending and archived), in segment order.

    Fields a record leaves out (null) are filled in as None, as the store reads them.
    """
    out: list[dict[str, Any]] = []
    spool = store_dir / "spool"
    segments = [*spool.glob("*.jsonl"), *(spool / "archive").glob("*.jsonl")]
    for seg in sorted(segments, key=lambda p: p.name):
        for line in seg.read_text().splitlines():
            if line:
                out.append({**dict.fromkeys(RECORD_FIELDS), **json.loads(line)})
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
