"""Runs of any shape: parent cycles, orphans, 5,000 levels deep, 100,000 spans.

A span whose parent is itself, two spans each the other's parent, a span whose parent
never arrived: the tree, `agentreel show`, the diff and the TUI's run screen show each
span exactly once and do not hang. A chain 5,000 deep and a run of 100,000 spans ingest
and render without a recursion error.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from click.testing import CliRunner
from textual.pilot import Pilot

from agentreel._spool import SpoolPaths, write_atomic
from agentreel.cli import main
from agentreel.store import Store
from agentreel.tui import AgentreelApp
from agentreel.tui._run import RunScreen
from agentreel.tui._runs import RunsScreen
from agentreel.tui._spanview import SpanView
from tests.tui.test_app import drive, until

T = TypeVar("T")
T0 = 1_700_000_000_000_000_000
CYCLIC = "c" * 32
PLAIN = "a" * 32
DEEP = "d" * 32
BIG = "b" * 32


def _rec(trace: str, span: int, parent: int | None, name: str | None = None) -> dict[str, Any]:
    return {
        "trace_id": trace,
        "span_id": f"{span:016x}",
        "parent_span_id": None if parent is None else f"{parent:016x}",
        "name": name or f"step {span}",
        "kind": "tool",
        "start_ns": T0 + span * 1000,
        "end_ns": T0 + span * 1000 + 500,
        "status": "ok",
        "input": json.dumps({"n": span}),
    }


def _spool(d: Path, n: int, records: list[dict[str, Any]]) -> None:
    paths = SpoolPaths(d)
    paths.create()
    data = ("\n".join(json.dumps(r) for r in records) + "\n").encode()
    write_atomic(paths.dir / f"{n:020d}-feedfacefeedface-{n:07d}.jsonl", data)


def within(seconds: float, fn: Callable[[], T]) -> T:
    """`fn()`, failing the test if it has not returned after `seconds` (a hang)."""
    out: list[T] = []
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    t.join(seconds)
    assert out, f"did not finish within {seconds} s"
    return out[0]


def _open_run(store_dir: Path, run_id: str, rows: int) -> None:
    """The TUI's run screen opens `run_id` and lists `rows` spans."""

    async def steps(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: isinstance(pilot.app.screen, RunsScreen))
        app = pilot.app
        assert isinstance(app, AgentreelApp)
        app.push_screen(RunScreen(app.reader, run_id))

        def listed() -> int:
            views = (
                pilot.app.screen.query("#spans") if isinstance(pilot.app.screen, RunScreen) else []
            )
            return next((v.row_count for v in views if isinstance(v, SpanView)), -1)

        await until(pilot, lambda: listed() == rows, timeout=60)
        await pilot.press("end", "pageup", "home")  # scrolls through without a hang

    drive(AgentreelApp(store_dir, refresh_every=60), steps)


@pytest.fixture
def cyclic(tmp_path: Path) -> Path:
    d = tmp_path / "store"
    _spool(
        d,
        1,
        [
            _rec(CYCLIC, 1, None, "root"),
            _rec(CYCLIC, 2, 2, "its own parent"),
            _rec(CYCLIC, 3, 4, "A"),  # A -> B -> A
            _rec(CYCLIC, 4, 3, "B"),
            _rec(CYCLIC, 5, 99, "orphan"),  # its parent never arrived
            _rec(CYCLIC, 6, 1, "child"),
            _rec(CYCLIC, 7, 3, "under the cycle"),
            _rec(PLAIN, 11, None, "root"),
            _rec(PLAIN, 16, 11, "child"),
        ],
    )
    with Store.open(d, create=True) as store:
        store.ingest()
    return d


def test_parent_cycles_and_orphans_show_each_span_once(cyclic: Path) -> None:
    with Store.open(cyclic) as store:
        tree = within(10, lambda: store.tree(CYCLIC))
        assert sorted(tree["name"].to_list()) == sorted(
            ["root", "its own parent", "A", "B", "orphan", "child", "under the cycle"]
        )
        depth = dict(zip(tree["name"], tree["depth"], strict=True))
        assert (depth["root"], depth["child"], depth["its own parent"], depth["orphan"]) == (
            0,
            1,
            0,
            0,
        )
        diff = within(10, lambda: store.diff(CYCLIC, PLAIN))
        assert diff.as_dict()
    for extra in ([], ["--json"]):
        args = ["show", CYCLIC, "--dir", str(cyclic), *extra]
        out = within(30, lambda args=args: CliRunner().invoke(main, args))  # type: ignore[misc]
        assert out.exit_code == 0, out.output
        assert "under the cycle" in out.output
    out = CliRunner().invoke(main, ["diff", CYCLIC, PLAIN, "--dir", str(cyclic)])
    assert out.exit_code in (0, 1), out.output
    _open_run(cyclic, CYCLIC, 7)


def test_a_chain_5000_deep_ingests_and_renders(tmp_path: Path) -> None:
    d = tmp_path / "store"
    _spool(d, 1, [_rec(DEEP, i, i - 1 if i > 1 else None) for i in range(1, 5001)])
    with Store.open(d, create=True) as store:
        assert store.ingest().spans == 5000
        tree = store.tree(DEEP)
        assert (tree.height, tree["depth"].max()) == (5000, 4999)
        assert tree["name"].to_list() == [f"step {i}" for i in range(1, 5001)]
    out = within(120, lambda: CliRunner().invoke(main, ["show", "dddd", "--dir", str(d)]))
    assert out.exit_code == 0, out.output
    assert "step 5000" in out.output
    _open_run(d, DEEP, 5000)


@pytest.mark.slow
def test_a_run_of_100000_spans_ingests_and_opens(tmp_path: Path) -> None:
    d = tmp_path / "store"
    n = 100_000  # a root, ten children each, ...: depth 5
    _spool(d, 1, [_rec(BIG, i, (i - 1) // 10 if i > 1 else None) for i in range(1, n + 1)])
    with Store.open(d, create=True) as store:
        assert store.ingest().spans == n
        tree = store.tree(BIG)
        assert tree.height == n
        assert tree["span_id"].n_unique() == n
        assert store.runs()["span_count"].to_list() == [n]
    out = CliRunner().invoke(main, ["runs", "--json", "--dir", str(d)])
    assert json.loads(out.output)[0]["span_count"] == n
    shown = within(120, lambda: CliRunner().invoke(main, ["show", "bbbb", "--dir", str(d)]))
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert sum(" step " in ln for ln in lines) == n
    assert f"step {n} " in shown.output
    _open_run(d, BIG, n)
