"""`agentreel tui` (and plain `agentreel` on a terminal): open the app on the store."""

from __future__ import annotations

from pathlib import Path

import click

from agentreel.cli import dir_option, handles_errors, main


@main.command()
@dir_option
@click.option(
    "--refresh",
    type=click.FloatRange(0.2, 60),
    default=1.0,
    show_default=True,
    help="Seconds between live refreshes.",
)
@handles_errors
def tui(store_dir: Path, refresh: float) -> None:
    """Browse runs in a terminal UI: runs table, span tree and timeline, payloads.

    Press ? inside for every key. Plain `agentreel` on a terminal opens it too.
    """
    from agentreel.store import parquet_dataset
    from agentreel.tui import AgentreelApp

    # an s3:// dataset is a URL, which an absolute path would spoil
    where = store_dir if parquet_dataset(store_dir) is not None else store_dir.absolute()
    AgentreelApp(where, refresh_every=refresh).run()
