"""Ages and dates beyond what the store holds are a clear error on every path, not a crash.

The store keeps times in nanoseconds (1677 to 2262). `--since 99999999d` once raised
OverflowError from the CLI and closed the TUI; an ISO date before 1677 failed in DuckDB.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from textual.pilot import Pilot
from textual.widgets import Static

import agentreel
from agentreel import AgentreelError
from agentreel.checks import CheckConfigError, Window
from agentreel.cli import main
from agentreel.store import Store
from agentreel.tui import AgentreelApp
from agentreel.tui._runs import RunsScreen
from tests.tui.test_app import drive, runs_table, text_of, until

TOO_FAR = ["99999999d", "200000d", "9" * 400 + "w", "1500-01-01", "2300-01-01"]


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    d = tmp_path / "store"
    agentreel.init(d, tracer_provider=TracerProvider())
    try:
        with agentreel.run("one"):
            pass
    finally:
        agentreel.shutdown()
    with Store.open(d, create=True) as store:
        store.ingest()
    return d


@pytest.mark.parametrize("age", TOO_FAR, ids=["99999999d", "200000d", "400 digits", "1500", "2300"])
def test_the_cli_refuses_an_age_or_date_out_of_range_with_a_sentence(
    store_dir: Path, age: str
) -> None:
    for args in (["--since", age], ["--until", age], ["-q", f"since:{age}"]):
        out = CliRunner().invoke(main, ["runs", "--dir", str(store_dir), *args])
        assert out.exit_code == 2, (args, out.output)
        assert "the store holds times from 1677-09-22 to 2262-04-11" in out.output
        assert "Traceback" not in out.output
    gc = CliRunner().invoke(main, ["gc", "--dir", str(store_dir), "--older-than", age])
    assert gc.exit_code == 2, gc.output
    assert "1677-09-22" in gc.output
    with Store.open(store_dir) as store:  # nothing was removed
        assert store.runs().height == 1


def test_the_api_refuses_them_with_its_own_errors(store_dir: Path) -> None:
    with Store.open(store_dir) as store:
        for since in (*TOO_FAR, timedelta(days=999_999_999), datetime(1, 1, 1)):
            with pytest.raises(AgentreelError, match="1677-09-22 to 2262-04-11"):
                store.runs(since=since)
        # the edge of what is held still selects
        assert store.runs(since="36500d").height == 1
    for since in ("99999999d", timedelta(days=999_999_999)):
        with pytest.raises(CheckConfigError, match="reaches back too far"):
            Window(since=since).resolve()


def test_the_tui_filter_bar_says_so_and_stays_up(store_dir: Path) -> None:
    async def steps(pilot: Pilot[None]) -> None:
        await until(
            pilot,
            lambda: isinstance(pilot.app.screen, RunsScreen) and runs_table(pilot).row_count == 1,
        )
        await pilot.press("slash")
        await pilot.press("ctrl+a", "ctrl+k", *"since:99999999d", "enter")
        status = pilot.app.screen.query_one("#status-line", Static)
        await until(pilot, lambda: "reaches back too far" in text_of(status))
        # still up, and a good filter works again
        await pilot.press("slash")
        await pilot.press("ctrl+a", "ctrl+k", *"since:7d", "enter")
        await until(pilot, lambda: runs_table(pilot).row_count == 1)
        assert pilot.app.is_running

    drive(AgentreelApp(store_dir, refresh_every=60), steps)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=5000),
    unit=st.sampled_from([("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 604800)]),
    spaced=st.booleans(),
)
def test_an_age_means_the_same_to_the_store_its_filter_and_the_checks(
    n: int, unit: tuple[str, int], spaced: bool
) -> None:
    # one parser (agentreel/_when.py) behind `since=`, the filter's `since:` and a
    # check window's `since`
    from agentreel._when import point_in_time
    from agentreel.checks._window import parse_when
    from agentreel.store._filter import parse_filter

    now = datetime(2026, 12, 1, 12, 0, 0)
    age = f"{n} {unit[0]}" if spaced else f"{n}{unit[0]}"
    want = now - timedelta(seconds=n * unit[1])
    assert point_in_time(age, now) == want
    assert parse_when(age, now, "since") == want
    if not spaced:  # a filter term holds no space
        f = parse_filter(f"since:{age}", now=now)
        assert want in f.params.values()
