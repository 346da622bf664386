"""The subcommands evaluate and evaluations: scores, labels and comments on runs and spans."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.text import Text

from agentreel._evaluate import user_source
from agentreel.cli import dir_option, handles_errors, json_option, main

if TYPE_CHECKING:
    import polars as pl

    from agentreel.store import Evaluation

console = Console(highlight=False)


@main.command()
@click.argument("run_id")
@click.argument("name")
@click.option("--score", type=float, help="A number (for example 0 to 1).")
@click.option("--label", help="A category: good, bad, hallucinated, ...")
@click.option("--explanation", "-m", help="Why: a comment in words.")
@click.option("--span", "span_id", help="Judge this span of the run (an id prefix), not the run.")
@click.option("--source", help="Who or what judged (default user:YOUR_LOGIN).")
@dir_option
@json_option
@handles_errors
def evaluate(
    run_id: str,
    name: str,
    score: float | None,
    label: str | None,
    explanation: str | None,
    span_id: str | None,
    source: str | None,
    store_dir: Path,
    as_json: bool,
) -> None:
    """Attach an evaluation NAME (a score and/or a label, with a comment) to a run or span."""
    from agentreel.cli._commands import _open_fresh
    from agentreel.cli._render import to_json

    with _open_fresh(store_dir, writes=True) as store:
        row = store.evaluate(
            run_id,
            name,
            score=score,
            label=label,
            explanation=explanation,
            span_id=span_id,
            source=source or user_source(),
        )
    if as_json:
        click.echo(to_json(row))
    else:
        on = f"span {row['span_id'][:8]} of run" if row["span_id"] else "run"
        console.print(f"evaluated {on} {row['run_id'][:12]}: {describe(row)}")


def describe(e: Evaluation) -> str:
    """One evaluation in words: ``helpfulness 0.8 good: cites two sources``."""
    parts = [e["name"]]
    if e["score"] is not None:
        parts.append(f"{e['score']:g}")
    if e["label"] is not None:
        parts.append(e["label"])
    text = " ".join(parts)
    if e["explanation"]:
        text += f": {e['explanation']}"
    return text


@main.command()
@click.argument("run_id", required=False)
@click.option("--name", help="Only evaluations with this name.")
@click.option("--since", help="Only evaluations made within this age (24h, 7d) or since a date.")
@dir_option
@json_option
@handles_errors
def evaluations(
    run_id: str | None, name: str | None, since: str | None, store_dir: Path, as_json: bool
) -> None:
    """List evaluations, oldest first: of one run, or of all runs."""
    from agentreel._fmt import fmt_time
    from agentreel.cli._commands import _open_fresh
    from agentreel.cli._render import plain_lines, to_json
    from agentreel.store import Evaluation, records

    with _open_fresh(store_dir) as store:
        df = store.evaluations(run_id, name=name, since=since)
    if as_json:
        click.echo(to_json(df))
        return
    if df.is_empty():
        console.print("no evaluations match" if (run_id or name or since) else "no evaluations yet")
        return
    header = ["run", "span", "name", "score", "label", "source", "made", "explanation"]
    rows = [
        [
            (r["run_id"][:12], ""),
            ((r["span_id"] or "")[:8], "dim"),
            (r["name"], "bold"),
            ("" if r["score"] is None else f"{r['score']:g}", ""),
            (r["label"] or "", _label_style(r["label"])),
            (r["source"], "dim"),
            (fmt_time(r["created_at"]), "dim"),
            (" ".join((r["explanation"] or "").split()), ""),
        ]
        for r in records(df, Evaluation)
    ]
    for line in plain_lines(header, rows, frozenset({3})):
        console.print(line, crop=False, soft_wrap=True)


def _label_style(label: str | None) -> str:
    return {"good": "green", "bad": "bold red"}.get((label or "").lower(), "")


def evaluations_block(df: pl.DataFrame) -> Text:
    """The evaluations under `show`'s tree."""
    from agentreel.store import Evaluation, records

    out = Text("evaluations\n", style="bold")
    for r in records(df, Evaluation):
        where = f"span {r['span_id'][:8]}" if r["span_id"] else "run"
        out.append(f"  {where:<13} ", style="dim")
        out.append(describe(r), style=_label_style(r["label"]))
        out.append(f"  ({r['source']})\n", style="dim")
    out.rstrip()
    return out


__all__ = ["describe", "evaluations_block"]
