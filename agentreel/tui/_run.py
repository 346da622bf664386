"""The run screen: the span tree with a waterfall, and the selected span in detail."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, Static

from agentreel._editor import editor_command, pager_command
from agentreel._errors import AgentreelError
from agentreel.store import Span, records, spool_status
from agentreel.tui._detail import SpanDetail
from agentreel.tui._external import run_outside
from agentreel.tui._focus import focus_now, keep_typing
from agentreel.tui._footer import KeyFooter
from agentreel.tui._format import (
    ERROR_STYLE,
    evaluations_line,
    fmt_cost,
    fmt_duration,
    fmt_time,
    fmt_tokens,
    status_text,
)
from agentreel.tui._messages import RunDetailLoaded, StoreFailed, post_read
from agentreel.tui._reader import RunDetail, StoreReader
from agentreel.tui._spanview import SpanView

__all__ = ["RunScreen"]


class RunScreen(Screen[None]):
    """One run: tree, timeline, detail."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("n", "next_error", "Next error"),
        Binding("N", "previous_error", "Prev error"),
        Binding("r", "replay", "Replay"),
        Binding("slash", "search", "Search"),
        Binding("right_square_bracket", "next_match", "Next match", show=False),
        Binding("left_square_bracket", "previous_match", "Prev match", show=False),
        Binding("space", "fold", "Fold"),
        Binding("c", "copy", "Copy payload"),
        Binding("o", "open_pager", "Open in pager"),
        Binding("e", "open_editor", "Edit", show=False),
        Binding("plus", "mark('good')", "Mark good", key_display="+", show=False),
        Binding("minus", "mark('bad')", "Mark bad", key_display="-", show=False),
        Binding("D", "add_to_dataset", "Add to dataset", show=False),
        Binding("g", "graph", "Agent graph", show=False),
        Binding("question_mark", "app.help", "Help"),
        Binding("q", "app.quit", "Quit", show=False),
    ]

    def __init__(self, reader: StoreReader, run_id: str, *, span_id: str | None = None) -> None:
        super().__init__()
        self.reader = reader
        self.run_id = run_id
        self.span_id = span_id  # where the cursor starts (a failing check's span), if given
        self.detail: RunDetail | None = None
        self.rows: list[Span] = []  # the visible spans, in table order
        self.collapsed: set[str] = set()
        self.search_text = ""
        self._detail_timer: Timer | None = None
        self._shown: tuple[Span, str] | None = None  # what the detail pane shows
        self._pending = False  # spans of this store waited in the spool at the last tick

    def compose(self) -> ComposeResult:
        yield Static("loading…", id="run-header")
        with Horizontal(id="run-body"):
            yield SpanView(id="spans")
            yield SpanDetail(id="detail", hint="o opens the whole payload in $PAGER")
        search = Input(placeholder="search this run: names, payloads, errors", id="search")
        search.display = False  # shown by `/` (focus_now)
        yield search
        yield KeyFooter()

    def on_key(self, event: events.Key) -> None:
        keep_typing(self, event, "slash", self.query_one("#search", Input), self.action_search)

    def on_mount(self) -> None:
        self._load()
        self.set_interval(getattr(self.app, "refresh_every", 1.0), self._follow)

    def _follow(self) -> None:
        """Read the run again while it records: new spans, ends, tokens; cursor and folds kept.

        A run whose process has just exited reads as interrupted until the app has
        drained its last spans: it is followed while spans wait in the spool, once more
        after, and until its row and its spans agree.
        """
        if self.detail is None or self.detail.run["status"] not in ("running", "interrupted"):
            return
        pending = spool_status(self.reader.path).pending_segments > 0
        # the run's row and its spans are two reads: a drain that commits between them
        # leaves the row behind the tree (an ended run still counted as 4 spans, running)
        torn = self.detail.run["span_count"] != self.detail.tree.height
        if self.detail.run["status"] == "running" or pending or self._pending or torn:
            self._load()
        self._pending = pending

    @work(thread=True, exclusive=True, group="run")
    def _load(self) -> None:
        post_read(self, lambda: self.reader.run(self.run_id), RunDetailLoaded)

    @on(StoreFailed)
    def _failed(self, event: StoreFailed) -> None:
        self.query_one("#run-header", Static).update(Text(event.error, style="bold red"))

    @on(RunDetailLoaded)
    def _loaded(self, event: RunDetailLoaded) -> None:
        first = self.detail is None
        here = self.current()
        self.detail = event.detail
        run = event.detail.run
        # What matters first (a narrow terminal keeps the start): errors, tokens and cost
        # before the time and the id; whatever does not fit ends in an ellipsis.
        errors = run["error_count"]
        header = Text.assemble(
            (run["name"] or "(unnamed)", "bold"),
            "  ",
            status_text(run["status"]),
            "  ·  ",
            (f"{errors} error{'' if errors == 1 else 's'}", ERROR_STYLE if errors else "dim"),
            f"  ·  tokens {fmt_tokens(run['input_tokens'])} in / "
            f"{fmt_tokens(run['output_tokens'])} out  ·  {fmt_cost(run['cost_usd'])}"
            f"  ·  {fmt_duration(run['duration_ms'])}  ·  {run['span_count']} spans "
            f"({run['llm_count']} llm, {run['tool_count']} tool)  ·  {fmt_time(run['start_time'])}",
            (f"  ·  {run['run_id']}", "dim"),
            no_wrap=True,
            overflow="ellipsis",
        )
        if event.detail.evaluations:
            header.append("\n")
            header.append_text(evaluations_line(event.detail.evaluations))
        self.query_one("#run-header", Static).update(header)
        if first:
            self._rebuild(keep=self.span_id)
            self.query_one("#spans", SpanView).focus()
        else:  # a refresh of a run that records: stay on the span the cursor was on
            self._rebuild(keep=here["span_id"] if here is not None else None)

    # -- the table -------------------------------------------------------------

    def _rebuild(self, keep: str | None = None) -> None:
        assert self.detail is not None
        spans = list(records(self.detail.tree, Span))
        visible: list[Span] = []
        hide_below: int | None = None
        for s in spans:
            if hide_below is not None and s["depth"] > hide_below:
                continue
            hide_below = None
            visible.append(s)
            if s["span_id"] in self.collapsed:
                hide_below = s["depth"]
        self.rows = visible
        starts = [s["start_time"] for s in spans]
        ends = [s["end_time"] for s in spans if s["end_time"] is not None]
        t0: datetime | None = min(starts) if starts else None
        t1: datetime | None = max([*ends, *starts]) if starts else None
        total = (t1 - t0).total_seconds() if t0 and t1 else 0.0
        view = self.query_one("#spans", SpanView)
        view.set_rows(visible, self.collapsed, t0, total, open_as=self._open_as())
        if keep is not None:
            ids = [s["span_id"] for s in visible]
            if keep in ids:
                view.move_cursor(row=ids.index(keep))
        if visible:
            self._show(view.cursor_row)

    def _show(self, row: int) -> None:
        if self.detail is None or not (0 <= row < len(self.rows)):
            return
        shown = (self.rows[row], self._open_as())
        if shown == self._shown:
            return  # a live refresh that did not change this span: keep the pane's scroll
        self._shown = shown
        self.query_one("#detail", SpanDetail).show(
            self.rows[row], self.detail.run["start_time"], open_as=self._open_as()
        )

    def _open_as(self) -> str:
        """How spans that never ended read: the run's own state (running, or interrupted)."""
        status = self.detail.run["status"] if self.detail is not None else "running"
        return "interrupted" if status == "interrupted" else "running"

    @on(SpanView.Highlighted, "#spans")
    def _highlighted(self, event: SpanView.Highlighted) -> None:
        # Render the detail once the cursor rests: holding a key or paging through a
        # long run should not pay for rendering every payload it passes.
        if self._detail_timer is not None:
            self._detail_timer.stop()
        index = event.index
        self._detail_timer = self.set_timer(0.06, lambda: self._show(index))

    def current(self) -> Span | None:
        row = self.query_one("#spans", SpanView).cursor_row
        return self.rows[row] if 0 <= row < len(self.rows) else None

    # -- actions ---------------------------------------------------------------

    def action_replay(self) -> None:
        if self.detail is None:
            return
        from agentreel.tui._replay import ReplayScreen

        self.app.push_screen(ReplayScreen(self.detail))

    def action_back(self) -> None:
        search = self.query_one("#search", Input)
        if search.display:
            search.display = False
            self.query_one("#spans", SpanView).focus()
            return
        self.app.pop_screen()

    def _jump(self, predicate: Any, step: int) -> bool:
        table = self.query_one("#spans", SpanView)
        n = len(self.rows)
        for k in range(1, n + 1):
            i = (table.cursor_row + step * k) % n
            if predicate(self.rows[i]):
                table.move_cursor(row=i)
                return True
        return False

    def action_next_error(self) -> None:
        if not self._jump(lambda s: s["status"] == "error", 1):
            self.notify("no errors in this run")

    def action_previous_error(self) -> None:
        if not self._jump(lambda s: s["status"] == "error", -1):
            self.notify("no errors in this run")

    def action_fold(self) -> None:
        s = self.current()
        if s is None:
            return
        sid = s["span_id"]
        self.collapsed.symmetric_difference_update({sid})
        self._rebuild(keep=sid)

    def action_search(self) -> None:
        search = self.query_one("#search", Input)
        search.value = self.search_text  # the last search, to refine or to replace
        focus_now(search)
        search.select_all()

    def _hit(self, s: Span) -> bool:
        needle = self.search_text
        return bool(needle) and any(
            needle in str(s.get(k) or "").lower()
            for k in ("name", "input", "output", "error_message", "tool_name")
        )

    @on(Input.Submitted, "#search")
    def _search(self, event: Input.Submitted) -> None:
        self.search_text = event.value.strip().lower()
        event.input.display = False
        view = self.query_one("#spans", SpanView)
        view.focus()
        if not self.search_text:
            view.mark(set())
            return
        self.collapsed.clear()  # a match may be folded away
        shown = self.current()
        self._rebuild(keep=shown["span_id"] if shown else None)
        self._find(1, start=True)

    def _find(self, step: int, *, start: bool = False) -> None:
        """Mark every span that matches the search, and move to the next (or previous) one."""
        view = self.query_one("#spans", SpanView)
        hits = [i for i, s in enumerate(self.rows) if self._hit(s)]
        view.mark({self.rows[i]["span_id"] for i in hits})
        if not hits:
            self.notify(
                f"no span matches {self.search_text!r}" if self.search_text else "search with /"
            )
            return
        here = view.cursor_row
        if start and here in hits:
            i = here
        elif step > 0:
            i = next((h for h in hits if h > here), hits[0])
        else:
            i = next((h for h in reversed(hits) if h < here), hits[-1])
        view.move_cursor(row=i)
        self.notify(f"match {hits.index(i) + 1} of {len(hits)} for {self.search_text!r}", timeout=3)

    def action_next_match(self) -> None:
        self._find(1)

    def action_previous_match(self) -> None:
        self._find(-1)

    def _payload(self) -> str | None:
        s = self.current()
        if s is None:
            return None
        return s.get("output") or s.get("input") or s.get("error_message")

    # -- judging the run, and keeping it as a test ------------------------------

    def action_graph(self) -> None:
        """The run's agents and the calls between them (docs/tui.md#run-screen)."""
        if self.detail is None:
            return
        from agentreel.tui._graph import GraphScreen

        run = self.detail.run
        self.app.push_screen(GraphScreen(f"{run['name']} {run['run_id'][:12]}", self.detail.tree))

    def action_mark(self, label: str) -> None:
        """Mark the run good or bad, with a comment: an evaluation named ``human``."""
        from agentreel.tui._ask import AskScreen

        title = Text.assemble(
            "Mark run ",
            (self.run_id[:12], "bold"),
            " ",
            (label, "bold green" if label == "good" else "bold red"),
            ("\na comment (why), then enter; escape cancels", "dim"),
        )

        def answered(comment: str | None) -> None:
            if comment is not None:
                self._evaluate(label, comment.strip() or None)

        self.app.push_screen(AskScreen(title, placeholder="why"), answered)

    @work(thread=True, group="evaluate")
    def _evaluate(self, label: str, comment: str | None) -> None:
        try:
            self.reader.evaluate(
                self.run_id,
                "human",
                score=1.0 if label == "good" else 0.0,
                label=label,
                explanation=comment,
            )
        except AgentreelError as e:
            self.app.call_from_thread(self.notify, str(e), severity="error")
        else:
            self.app.call_from_thread(self.notify, f"run marked {label}")
            self._load()  # the header shows the mark

    def action_add_to_dataset(self) -> None:
        """Save the run as a case of a regression dataset (docs/datasets.md)."""
        from agentreel.tui._ask import AskScreen

        title = Text.assemble(
            "Add run ",
            (self.run_id[:12], "bold"),
            " to the regression dataset",
            ("\nits name, then enter (a file in agentreel-datasets/); escape cancels", "dim"),
        )

        def answered(name: str | None) -> None:
            if name:
                self._add_to_dataset(name.strip())

        self.app.push_screen(AskScreen(title, value="regressions"), answered)

    @work(thread=True, group="dataset")
    def _add_to_dataset(self, name: str) -> None:
        from agentreel import datasets

        try:
            ds, _ = datasets.add(name, [self.run_id], store_dir=self.reader.path)
        except AgentreelError as e:
            self.app.call_from_thread(self.notify, str(e), severity="error", timeout=10)
        else:
            self.app.call_from_thread(self.notify, f"added to {ds.path} ({len(ds.cases)} cases)")

    def action_copy(self) -> None:
        text = self._payload()
        if text is None:
            self.notify("this span has no payload")
            return
        self.app.copy_to_clipboard(text)
        self.notify("payload copied")

    def _open_with(self, what: str, command: list[str]) -> None:
        s = self.current()
        if s is None:
            return
        import json

        body = {k: s.get(k) for k in ("name", "kind", "status", "error_type", "error_message")}
        # the status as the screen shows it (a span with no error status set is ok)
        body["status"] = (
            "error"
            if s.get("status") == "error"
            else self._open_as()
            if s.get("end_time") is None
            else "ok"
        )
        for k, raw in (("input", s["input"]), ("output", s["output"])):
            try:
                body[k] = json.loads(raw) if raw else None
            except ValueError:
                body[k] = raw
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(body, f, indent=2, ensure_ascii=False)
            path = f.name
        try:
            failure = run_outside(self.app, [*command, path], what=what)
        finally:
            os.unlink(path)
        if failure is not None:
            self.notify(f"{failure}; c copies the payload instead", severity="error")

    def action_open_pager(self) -> None:
        self._open_with("$PAGER", pager_command())

    def action_open_editor(self) -> None:
        self._open_with("$EDITOR", editor_command())
