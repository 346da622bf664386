"""`agentreel diff RUN_A RUN_B`: two runs aligned step by step."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from agentreel._fmt import KIND_ICONS, fmt_duration
from agentreel.cli import dir_option, handles_errors, json_option, main
from agentreel.cli._commands import _open_fresh

if TYPE_CHECKING:
    from agentreel.store import RunDiff, Span

console = Console(highlight=False)
_OP_STYLE = {"same": "dim", "changed": "yellow", "only_a": "red", "only_b": "green"}
_OP_MARK = {"same": " ", "changed": "~", "only_a": "-", "only_b": "+"}


def diff_table(d: RunDiff, width: int) -> Table:
    """The alignment as a table: A's step, B's step, what changed; the first difference marked."""
    t = Table(box=None, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")
    side = max(20, (width - 4) // 3)
    t.add_column("", width=1, no_wrap=True)
    t.add_column(f"A {d.run_a['run_id'][:8]}", max_width=side, no_wrap=True, overflow="ellipsis")
    t.add_column(f"B {d.run_b['run_id'][:8]}", max_width=side, no_wrap=True, overflow="ellipsis")
    t.add_column("difference", overflow="fold")
    first = d.first_difference
    for i, p in enumerate(d.pairs):

        def cell(s: Span | None) -> Text:
            if s is None:
                return Text("")
            depth = int(s.get("depth") or 0)
            name = s.get("tool_name") or s.get("agent_name") or s["name"]
            label = f"{'  ' * depth}{KIND_ICONS.get(str(s['kind']), '·')} {name}  {fmt_duration(s.get('duration_ms'))}"
            return Text(label, style="red" if s.get("status") == "error" else "")

        mark = Text(_OP_MARK[p.op], style=_OP_STYLE[p.op])
        note = Text(
            "; ".join(p.changes)
            if p.changes
            else {"only_a": "only in A", "only_b": "only in B"}.get(p.op, ""),
            style=_OP_STYLE[p.op],
        )
        if i == first:
            note = Text("▶ first difference: ", style="bold") + note
        t.add_row(mark, cell(p.a), cell(p.b), note)
    return t


@main.command()
@click.argument("run_a")
@click.argument("run_b")
@dir_option
@json_option
@handles_errors
def diff(run_a: str, run_b: str, store_dir: Path, as_json: bool) -> None:
    """Compare two runs step by step (steps aligned by kind and name, not by position).

    Marks: ~ changed, - only in A, + only in B; the first difference is pointed
    out. RUN_A and RUN_B may be unique id prefixes. Exit code 0 either way.
    """
    from agentreel.cli._render import to_json

    with _open_fresh(store_dir) as store:  # drained first, or read-only for a reader
        d = store.diff(run_a, run_b)
    if as_json:
        click.echo(to_json(d.as_dict()))
        return
    console.print(diff_table(d, console.width))
    if d.first_difference is None:
        console.print(
            Text("the runs take the same steps with the same inputs and outputs", style="green")
        )
    else:
        n = sum(p.differs for p in d.pairs)
        console.print(Text(f"{n} of {len(d.pairs)} steps differ", style="bold"))
