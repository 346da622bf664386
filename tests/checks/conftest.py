from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from agentreel.checks import CheckConfig, CheckReport, Window, save_baseline
from agentreel.store import Store
from tests.checks._simulate import record_runs

RUNS = 1000  # per window: at this n every drift statistic is far from its threshold by chance


@pytest.fixture(scope="session")
def baseline_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved baseline of 1,000 clean simulated runs (seed 1)."""
    d = tmp_path_factory.mktemp("baseline")
    record_runs(d / "store", RUNS, seed=1)
    with Store.open(d / "store", create=True) as store:
        store.ingest()
        return save_baseline(store, "main", Window(), config=CheckConfig(), path=d / "main.json")


@pytest.fixture
def store_of(tmp_path: Path) -> Iterator[Callable[..., Store]]:
    """Record simulated runs into a fresh store and open it: ``store_of(regression=...)``."""
    opened: list[Store] = []

    def make(runs: int = RUNS, seed: int = 2, **kw: Any) -> Store:
        path = tmp_path / f"store{len(opened)}"
        record_runs(path, runs, seed=seed, **kw)
        store = Store.open(path, create=True)
        store.ingest()
        opened.append(store)
        return store

    yield make
    for s in opened:
        s.close()


def fired(report: CheckReport) -> dict[str, str]:
    """{check: worst status} of the checks that warned or failed."""
    bad = report.results.filter(pl.col("status").is_in(["warn", "error"]))
    out: dict[str, str] = {}
    for check, status in bad.select("check", "status").iter_rows():
        if out.get(check) != "error":
            out[check] = status
    return out
