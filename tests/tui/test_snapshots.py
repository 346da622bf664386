"""Snapshots of the main screens at fixed sizes, over a demo store recorded deterministically.

The demo is recorded with a fake clock (1 ms a tick), seeded span ids and no sleeps, at a
fixed path, and rendered in UTC: the pictures hold no wall-clock time and no random id.
Update them with ``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at the
SVGs before committing.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator

import agentreel
from agentreel.demo import run_demo
from agentreel.store import Store
from agentreel.tui import AgentreelApp
from agentreel.tui._run import RunScreen
from agentreel.tui._runs import RunsScreen

STORE = Path("/tmp/agentreel-snapshot-store")


class SeededIds(IdGenerator):
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def generate_span_id(self) -> int:
        return self.rng.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self.rng.getrandbits(128) or 1


class FakeClock:
    def __init__(self, start_ns: int) -> None:
        self.now = start_ns

    def __call__(self) -> int:
        self.now += 1_000_000
        return self.now


@pytest.fixture(scope="module")
def snapshot_store() -> Iterator[Path]:
    import opentelemetry.sdk.trace as sdk

    old_tz = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    shutil.rmtree(STORE, ignore_errors=True)
    real = sdk.time_ns
    sdk.time_ns = FakeClock(1_767_225_600_000_000_000)  # type: ignore[assignment]  # 2026-01-01T00:00Z
    try:
        agentreel.init(STORE, tracer_provider=TracerProvider(id_generator=SeededIds(7)))
        try:
            run_demo(8, seed=0, latency=0.0)
        finally:
            agentreel.shutdown()
    finally:
        sdk.time_ns = real
    with Store.open(STORE, create=True) as store:
        store.ingest()
        # tracebacks name files by absolute path: make them independent of the checkout
        root = str(Path(agentreel.__file__).resolve().parents[1])
        store.sql(
            "UPDATE spans SET events = regexp_replace(replace(events::VARCHAR, $root, '<repo>'), "
            "'line [0-9]+', 'line N', 'g')::JSON",
            {"root": root},
        )
    yield STORE
    shutil.rmtree(STORE, ignore_errors=True)
    if old_tz is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old_tz
    time.tzset()


async def _runs_loaded(pilot: Any) -> None:
    from textual.widgets import DataTable

    for _ in range(2400):
        screen = pilot.app.screen
        tables = screen.query("#runs") if isinstance(screen, RunsScreen) else []
        # a screen just pushed (the store opens in a worker) may not be composed yet
        if tables and tables.first(DataTable).row_count == 8:
            break
        await pilot.pause(0.025)
    await pilot.pause(0.1)


async def _run_open(pilot: Any) -> None:
    from textual.widgets import DataTable

    await _runs_loaded(pilot)
    await pilot.press("slash", *"errors>0", "enter")
    for _ in range(2400):
        if pilot.app.screen.query_one("#runs", DataTable).row_count < 8:
            break
        await pilot.pause(0.025)
    await pilot.press("enter")
    for _ in range(2400):
        if isinstance(pilot.app.screen, RunScreen) and pilot.app.screen.rows:
            break
        await pilot.pause(0.025)
    await pilot.press("n")  # the first error, with its traceback in the detail pane
    await pilot.pause(0.3)


def test_runs_screen(snapshot_store: Path, snap_compare: Any) -> None:
    assert snap_compare(
        AgentreelApp(snapshot_store, refresh_every=60),
        terminal_size=(120, 30),
        run_before=_runs_loaded,
    )


def test_runs_screen_at_80x24(snapshot_store: Path, snap_compare: Any) -> None:
    assert snap_compare(
        AgentreelApp(snapshot_store, refresh_every=60),
        terminal_size=(80, 24),
        run_before=_runs_loaded,
    )


def test_run_screen(snapshot_store: Path, snap_compare: Any) -> None:
    assert snap_compare(
        AgentreelApp(snapshot_store, refresh_every=60),
        terminal_size=(150, 40),
        run_before=_run_open,
    )


def test_help_overlay(snapshot_store: Path, snap_compare: Any) -> None:
    async def helped(pilot: Any) -> None:
        await _runs_loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.2)

    assert snap_compare(
        AgentreelApp(snapshot_store, refresh_every=60), terminal_size=(100, 34), run_before=helped
    )


async def _replaying(pilot: Any) -> None:
    await _run_open(pilot)
    await pilot.press("r")
    for _ in range(200):
        if type(pilot.app.screen).__name__ == "ReplayScreen":
            break
        await pilot.pause(0.025)
    await pilot.press("l", "right", "right")  # just past the first LLM call
    await pilot.pause(0.2)


def test_replay_screen(snapshot_store: Path, snap_compare: Any) -> None:
    assert snap_compare(
        AgentreelApp(snapshot_store, refresh_every=60),
        terminal_size=(130, 40),
        run_before=_replaying,
    )


#: The sizes a person checked the screens at: the smallest common terminal, and a big one.
EDGE_SIZES = [(80, 24), (220, 60)]


@pytest.mark.parametrize(
    ("screen", "size"),
    # the runs screen at 80x24 is test_runs_screen_at_80x24
    [(sc, sz) for sc in ("runs", "run-with-an-error", "replay") for sz in EDGE_SIZES][1:],
    ids=lambda v: v if isinstance(v, str) else f"{v[0]}x{v[1]}",
)
def test_screens_at_the_edge_sizes(
    snapshot_store: Path, snap_compare: Any, screen: str, size: tuple[int, int]
) -> None:
    before = {"runs": _runs_loaded, "run-with-an-error": _run_open, "replay": _replaying}[screen]
    assert snap_compare(
        AgentreelApp(snapshot_store, refresh_every=60), terminal_size=size, run_before=before
    )


@pytest.fixture(scope="module")
def checked_store(snapshot_store: Path) -> Path:
    """The snapshot store with two saved check runs at fixed times: the first four runs, then all."""
    from datetime import datetime

    import polars as pl

    from agentreel.checks import Window, run_checks
    from agentreel.checks._save import results_rows
    from tests.tui.test_checks import strict_config

    with Store.open(snapshot_store) as store:
        if store.check_results().height:
            return snapshot_store
        starts = store.runs(order_by="start_time", descending=False)["start_time"]
        for i, (window, at) in enumerate(
            [
                (Window(until=starts[4]), datetime(2026, 1, 1, 6, 0)),
                (Window(), datetime(2026, 1, 2, 6, 0)),
            ]
        ):
            report = run_checks(store, current=window, baseline=False, config=strict_config())
            rows = results_rows(report).with_columns(
                checked_at=pl.lit(at, dtype=pl.Datetime("ns")),
                check_run_id=pl.lit(f"check-run-{i}"),
            )
            store.save_check_results(rows)
    return snapshot_store


async def _checks_open(pilot: Any) -> None:
    from textual.widgets import DataTable

    from agentreel.tui._checks import ChecksScreen

    await _runs_loaded(pilot)
    await pilot.press("c")
    for _ in range(2400):
        screen = pilot.app.screen
        if (
            isinstance(screen, ChecksScreen)
            and screen.query_one("#check-results", DataTable).row_count
        ):
            break
        await pilot.pause(0.025)
    await pilot.pause(0.2)


def test_checks_screen(checked_store: Path, snap_compare: Any) -> None:
    assert snap_compare(
        AgentreelApp(checked_store, refresh_every=60),
        terminal_size=(130, 36),
        run_before=_checks_open,
    )


def test_checks_screen_at_80x24(checked_store: Path, snap_compare: Any) -> None:
    assert snap_compare(
        AgentreelApp(checked_store, refresh_every=60),
        terminal_size=(80, 24),
        run_before=_checks_open,
    )


def test_checks_screen_at_220x60(checked_store: Path, snap_compare: Any) -> None:
    assert snap_compare(
        AgentreelApp(checked_store, refresh_every=60),
        terminal_size=(220, 60),
        run_before=_checks_open,
    )
