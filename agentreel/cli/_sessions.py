"""The subcommand sessions: runs grouped into the conversations they are turns of."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.text import Text

from agentreel.cli import dir_option, handles_errors, json_option, main

if TYPE_CHECKING:
    from agentreel.store import Session

console = Console(highlight=False)

_ENDED_STYLE = {"ok": "green", "error": "bold red", "running": "yellow", "interrupted": "magenta"}


def _tokens(r: Session) -> int | None:
    if r["input_tokens"] is None and r["output_tokens"] is None:
        return None
    return int((r["input_tokens"] or 0) + (r["output_tokens"] or 0))


@main.command()
@click.argument("session_id", required=False)
@click.option(
    "-q", "--query", help="Sessions with a turn this filter selects (`runs -q` language)."
)
@click.option("--since", help="Sessions with a turn started within this age (24h, 7d) or date.")
@click.option(
    "--limit", type=click.IntRange(1), default=50, show_default=True, help="At most this many."
)
@dir_option
@json_option
@handles_errors
def sessions(
    session_id: str | None,
    query: str | None,
    since: str | None,
    limit: int,
    store_dir: Path,
    as_json: bool,
) -> None:
    """List sessions (runs that are turns of one conversation), or read one as a transcript.

    A run belongs to a session when its spans carry gen_ai.conversation.id or session.id
    (agentreel.run(..., session=...) writes it).
    """
    from agentreel._fmt import fmt_cost, fmt_duration, fmt_time, fmt_tokens, said
    from agentreel.cli._commands import _open_fresh
    from agentreel.cli._render import plain_lines, to_json
    from agentreel.store import Run, Session, records

    if session_id is not None:
        with _open_fresh(store_dir) as store:
            turns = store.session_turns(session_id)
        if as_json:
            click.echo(to_json(turns))
            return
        width = max(console.width - 12, 40) if console.is_terminal else 10_000
        for i, r in enumerate(records(turns, Run), 1):
            head = Text(f"turn {i}  ", style="bold")
            head.append(f"{r['run_id'][:12]}  {fmt_time(r['start_time'])}  ")
            head.append(r["status"], style=_ENDED_STYLE.get(r["status"], ""))
            head.append(f"  {fmt_duration(r['duration_ms'])}  {fmt_cost(r['cost_usd'])}")
            console.print(head, crop=False)
            console.print(Text("  user   ", style="dim") + Text(said(r["input"], width)))
            if r["status"] == "error":
                failed = f"{r['error_type'] or 'error'}: {r['error_message'] or ''}"
                console.print(Text("  error  ", style="dim") + Text(failed, style="red"))
            else:
                console.print(Text("  agent  ", style="dim") + Text(said(r["output"], width)))
        return

    with _open_fresh(store_dir) as store:
        df = store.sessions(query=query, since=since, limit=limit)
    if as_json:
        click.echo(to_json(df))
        return
    if df.is_empty():
        console.print(
            "no sessions match"
            if (query or since)
            else "no sessions yet: runs join one through agentreel.run(..., session=ID) "
            "or a gen_ai.conversation.id / session.id attribute"
        )
        return
    header = ["session", "turns", "started", "took", "tokens", "cost", "err", "ended"]
    rows = []
    for s in records(df, Session):
        rows.append(
            [
                (s["session_id"], ""),
                (str(s["turns"]), ""),
                (fmt_time(s["start_time"]), ""),
                (fmt_duration(s["duration_ms"]), ""),
                (fmt_tokens(_tokens(s)), ""),
                (fmt_cost(s["cost_usd"]), ""),
                (str(s["error_count"]), "red" if s["error_count"] else "dim"),
                (s["ended"], _ENDED_STYLE.get(s["ended"], "")),
            ]
        )
    for line in plain_lines(header, rows, frozenset({1, 3, 4, 5, 6})):
        console.print(line, crop=False, soft_wrap=True)
