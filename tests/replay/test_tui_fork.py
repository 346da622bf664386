"""`f` on the TUI replay screen forks at the step under the playhead."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel.demo import run_demo
from agentreel.replay import steps
from agentreel.store import Store
from agentreel.tui import AgentreelApp
from agentreel.tui._replay import ReplayScreen, fork_step
from agentreel.tui._run import RunScreen
from agentreel.tui._runs import RunsScreen
from tests.tui.test_app import until


def test_f_names_the_fork_command_for_the_llm_step_under_the_playhead(tmp_path: Path) -> None:
    d = tmp_path / "store"
    agentreel.init(d, tracer_provider=TracerProvider())
    try:
        run_demo(1, seed=1, latency=0.001)
    finally:
        agentreel.shutdown()
    with Store.open(d, create=True) as store:
        store.ingest()
        rid = store.runs()["run_id"][0]
        tree = store.tree(rid)
    plan = steps(rid, d)
    # the TUI numbers steps as replay --steps does
    for s in plan:
        assert fork_step(tree, s["span_id"]) == s["index"]
    seen: list[str] = []

    async def main() -> None:
        app = AgentreelApp(d)
        async with app.run_test(size=(160, 44)) as pilot:
            await until(pilot, lambda: isinstance(pilot.app.screen, RunsScreen))
            await pilot.pause(0.5)
            await pilot.press("enter")
            await until(
                pilot, lambda: isinstance(pilot.app.screen, RunScreen) and pilot.app.screen.rows
            )
            await pilot.press("r")
            await until(pilot, lambda: isinstance(pilot.app.screen, ReplayScreen))
            screen = pilot.app.screen
            assert isinstance(screen, ReplayScreen)

            def notify(message: str, **_: Any) -> None:
                seen.append(message)

            screen.notify = notify  # type: ignore[method-assign]
            await pilot.press("f")  # the root span is not a step
            await pilot.press("l", "f")  # the first LLM call is step 1
            await pilot.pause(0.1)

    asyncio.run(main())
    assert "is not an LLM or tool call" in seen[0]
    # no terminal to hand over under the test driver: the notice gives the command
    assert seen[1].endswith(f"to fork, run: agentreel fork {rid[:12]} --at 1")
