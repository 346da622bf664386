"""The replay screen: a playhead through a recorded run, with the state the agent saw.

Nothing re-runs: every state is computed from the recording (`ReplayState`), so
stepping back is as instant as stepping forward.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, ClassVar

import polars as pl
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, Static

from agentreel.tui._external import run_outside
from agentreel.tui._focus import focus_now, keep_typing
from agentreel.tui._footer import KeyFooter
from agentreel.tui._format import (
    ERROR_STYLE,
    KIND_ICONS,
    KIND_STYLE,
    fmt_cost,
    fmt_duration,
    fmt_tokens,
    payload,
)
from agentreel.tui._reader import RunDetail
from agentreel.tui._replay_state import Moment, ReplayState

if TYPE_CHECKING:
    from agentreel.store import Span

__all__ = ["ReplayScreen"]

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
TICK_S = 0.1
#: In real-time mode an idle gap longer than this (run time) is skipped.
GAP_CAP_MS = 1000.0


def lanes(state: ReplayState, width: int, playhead_ms: float) -> RenderableType:
    """One lane per agent, one for LLM calls, one per tool, on the run's time axis."""
    total = max(state.offset_ms(state.end), 1.0)
    order: list[str] = []
    rows: dict[str, list[Span]] = {}
    for s in state.steps:
        if s["kind"] == "agent":
            lane = f"◆ {s.get('agent_name') or s['name']}"
        elif s["kind"] == "llm":
            lane = "✦ llm"
        elif s["kind"] in ("tool", "retriever"):
            lane = f"{KIND_ICONS.get(s['kind'], '·')} {s.get('tool_name') or s['name']}"
        else:
            continue
        if lane not in rows:
            order.append(lane)
            rows[lane] = []
        rows[lane].append(s)
    label_w = min(max((len(x) for x in order), default=4) + 1, 24)
    bar_w = max(width - label_w - 2, 10)
    head = int(min(playhead_ms / total, 1.0) * (bar_w - 1))
    t = Table.grid(padding=(0, 1))
    t.add_column(width=label_w, no_wrap=True)
    t.add_column(width=bar_w, no_wrap=True)
    for lane in order:
        cells = [" "] * bar_w
        styles = [""] * bar_w
        for s in rows[lane]:
            a = int(state.offset_ms(s["start_time"]) / total * (bar_w - 1))
            end = s["end_time"] or state.end
            b = max(int(state.offset_ms(end) / total * (bar_w - 1)), a)
            style = (
                ERROR_STYLE.replace("bold ", "")
                if s["status"] == "error"
                else KIND_STYLE.get(s["kind"], "").replace("bold ", "")
            )
            for x in range(a, b + 1):
                cells[x] = "█" if state.offset_ms(s["start_time"]) <= playhead_ms else "░"
                styles[x] = style
        line = Text()
        for x, (c, st) in enumerate(zip(cells, styles, strict=True)):
            line.append(
                "│" if x == head and c == " " else c, style="bold white" if x == head else st
            )
        t.add_row(Text(lane, style="dim"), line)
    return t


def render_state(m: Moment, total: int) -> RenderableType:
    parts: list[RenderableType] = []
    s = m.span
    parts.append(
        Text.assemble(
            (f"step {m.index + 1}/{total}  ", "bold"),
            (
                f"{KIND_ICONS.get(s['kind'], '·')} {s['name']}",
                KIND_STYLE.get(s["kind"], "")
                + (" " + ERROR_STYLE if s["status"] == "error" else ""),
            ),
            (f"  at +{fmt_duration(m.elapsed_ms)}", "dim"),
        )
    )
    parts.append(
        Text(
            f"agent {m.active_agent or '—'}  ·  {m.llm_calls} llm, {m.tool_calls} tool calls  ·  "
            f"tokens {fmt_tokens(m.input_tokens)} in / {fmt_tokens(m.output_tokens)} out  ·  "
            f"{fmt_cost(m.cost_usd if m.cost_usd else None)}  ·  {m.errors} errors",
            style="dim",
        )
    )
    parts.append(Text("\nConversation so far", style="bold underline"))
    parts.append(
        payload(m.conversation) if m.conversation else Text("no LLM call yet", style="dim")
    )
    parts.append(Text("\nTool results so far", style="bold underline"))
    if not m.tool_results:
        parts.append(Text("none yet", style="dim"))
    for name, out, failed in m.tool_results[-12:]:
        line = Text(f"{name}: ", style="yellow")
        line.append(
            out[:160] + ("…" if len(out) > 160 else ""), style=ERROR_STYLE if failed else ""
        )
        parts.append(line)
    return Group(*parts)


class ReplayScreen(Screen[None]):
    """Step through a run as it happened."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "play", "Play/pause"),
        Binding("right", "step(1)", "Step"),
        Binding("left", "step(-1)", "Back"),
        Binding("l", "llm(1)", "Next LLM"),
        Binding("L", "llm(-1)", "Prev LLM"),
        Binding("e", "first_error", "First error"),
        Binding("plus,equals_sign", "speed(1)", "Faster"),
        Binding("minus", "speed(-1)", "Slower"),
        Binding("m", "mode", "Real time/steps"),
        Binding("g", "goto", "Go to step"),
        Binding("f", "fork", "Fork"),
        Binding("home", "jump(0)", "Start", show=False),
        Binding("end", "jump(-1)", "End", show=False),
        Binding("escape", "back", "Back"),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self, detail: RunDetail) -> None:
        super().__init__()
        self.detail = detail
        self.state = ReplayState(detail.tree)
        self.index = 0
        self.playhead_ms = 0.0
        self.speed = 1.0
        self.real_time = True
        self._timer: Timer | None = None

    @property
    def playing(self) -> bool:
        return self._timer is not None

    def compose(self) -> ComposeResult:
        yield Static("", id="replay-header")
        yield Static("", id="lanes")
        with Horizontal(id="replay-body"), VerticalScroll(id="replay-state"):
            yield Static("", id="state-body")
        goto = Input(placeholder="go to step (1..N)", id="goto")
        goto.display = False  # shown by `g` (focus_now)
        yield goto
        yield KeyFooter()

    def on_key(self, event: events.Key) -> None:
        keep_typing(self, event, "g", self.query_one("#goto", Input), self.action_goto)

    def on_mount(self) -> None:
        if len(self.state):
            self.show(0)

    # -- rendering -------------------------------------------------------------

    def show(self, index: int, *, playhead_ms: float | None = None) -> None:
        n = len(self.state)
        if n == 0:
            return
        self.index = max(0, min(index, n - 1))
        m = self.state.at(self.index)
        self.playhead_ms = m.elapsed_ms if playhead_ms is None else playhead_ms
        run = self.detail.run
        mode = "real time" if self.real_time else "one step a tick"
        self.query_one("#replay-header", Static).update(
            Text.assemble(
                ("▶ " if self.playing else "⏸ ", "bold green" if self.playing else "bold"),
                (run["name"] or "(unnamed)", "bold"),
                f"  ·  step {self.index + 1}/{n}  ·  +{fmt_duration(self.playhead_ms)} of "
                f"{fmt_duration(self.state.offset_ms(self.state.end))}  ·  {self.speed:g}x  ·  {mode}",
            )
        )
        self.query_one("#lanes", Static).update(
            lanes(self.state, max(self.size.width - 2, 40), self.playhead_ms)
        )
        self.query_one("#state-body", Static).update(render_state(m, n))

    # -- playback --------------------------------------------------------------

    def action_play(self) -> None:
        if self.playing:
            self._stop()
        else:
            if self.index >= len(self.state) - 1:
                self.show(0)
            self._timer = self.set_interval(TICK_S, self._tick)
        self.show(self.index, playhead_ms=self.playhead_ms)

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _tick(self) -> None:
        n = len(self.state)
        if self.index >= n - 1:
            self._stop()
            self.show(self.index)
            return
        if not self.real_time:
            self.show(self.index + 1)
            return
        target = self.playhead_ms + TICK_S * 1000 * self.speed
        nxt = self.state.offset_ms(self.state.steps[self.index + 1]["start_time"])
        if nxt - self.playhead_ms > GAP_CAP_MS:  # skip long idle gaps
            target = max(target, nxt - GAP_CAP_MS)
        i = self.index
        while i + 1 < n and self.state.offset_ms(self.state.steps[i + 1]["start_time"]) <= target:
            i += 1
        self.show(i, playhead_ms=target)

    def action_step(self, delta: int) -> None:
        self._stop()
        self.show(self.index + delta)

    def action_jump(self, where: int) -> None:
        self._stop()
        self.show(0 if where == 0 else len(self.state) - 1)

    def action_llm(self, direction: int) -> None:
        self._stop()
        i = self.state.first(lambda s: s["kind"] == "llm", after=self.index, step=direction)
        if i is None:
            self.notify("no more LLM calls that way")
        else:
            self.show(i)

    def action_first_error(self) -> None:
        self._stop()
        i = self.state.first(lambda s: s["status"] == "error")
        if i is None:
            self.notify("no errors in this run")
        else:
            self.show(i)

    def action_speed(self, direction: int) -> None:
        k = SPEEDS.index(self.speed) if self.speed in SPEEDS else 2
        self.speed = SPEEDS[max(0, min(k + direction, len(SPEEDS) - 1))]
        self.show(self.index, playhead_ms=self.playhead_ms)

    def action_mode(self) -> None:
        self.real_time = not self.real_time
        self.show(self.index)

    def action_goto(self) -> None:
        box = self.query_one("#goto", Input)
        box.value = ""
        focus_now(box)

    @on(Input.Submitted, "#goto")
    def _goto(self, event: Input.Submitted) -> None:
        event.input.display = False
        try:
            n = int(event.value.strip())
        except ValueError:
            self.notify(f"{event.value!r} is not a step number", severity="error")
            return
        self._stop()
        self.show(n - 1)

    def action_fork(self) -> None:
        """Fork the run at this step: `agentreel fork` in the terminal, with $EDITOR on its result."""
        self._stop()
        if not len(self.state):
            return
        span = self.state.steps[self.index]
        n = fork_step(self.detail.tree, str(span["span_id"]))
        if n is None:
            self.notify(
                f"step {self.index + 1} is not an LLM or tool call agentreel's decorators "
                "recorded; move to one (l, →) to fork there",
                severity="warning",
            )
            return
        rid = str(self.detail.run["run_id"])
        store = getattr(getattr(self.app, "reader", None), "path", None)
        cmd = [sys.executable, "-m", "agentreel", "fork", rid, "--at", str(n)]
        if store is not None:
            cmd += ["--dir", str(store)]
        failure = run_outside(self.app, cmd, what="agentreel fork", wait=True)
        if failure is not None:
            self.notify(
                f"{failure}; to fork, run: agentreel fork {rid[:12]} --at {n}",
                severity="error",
                timeout=20,
            )

    def action_back(self) -> None:
        box = self.query_one("#goto", Input)
        if box.display:
            box.display = False
            return
        self._stop()
        self.app.pop_screen()


def fork_step(tree: pl.DataFrame, span_id: str) -> int | None:
    """The number `agentreel fork --at` gives the LLM or tool call `span_id`, or None.

    Steps are the run's LLM and tool calls recorded by agentreel's decorators, not
    nested in another such call, numbered in the order they started
    (``agentreel.step``), as ``agentreel replay RUN_ID --steps`` lists them.
    """
    if "attributes" not in tree.columns:
        return None
    rows = tree.select("span_id", "parent_span_id", "kind", "attributes").to_dicts()
    by_id = {r["span_id"]: r for r in rows}
    order: list[tuple[int, str]] = []
    for r in rows:
        if r["kind"] not in ("llm", "tool"):
            continue
        p = by_id.get(r["parent_span_id"] or "")
        while p is not None and p["kind"] not in ("llm", "tool"):
            p = by_id.get(p["parent_span_id"] or "")
        if p is not None:
            continue
        try:
            seq = json.loads(r["attributes"] or "{}").get("agentreel.step")
        except (ValueError, AttributeError):
            seq = None
        if isinstance(seq, int):
            order.append((seq, r["span_id"]))
    order.sort()
    for i, (_, sid) in enumerate(order, start=1):
        if sid == span_id:
            return i
    return None
