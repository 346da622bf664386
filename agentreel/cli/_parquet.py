"""``agentreel parquet``: upkeep of a Parquet dataset (``agentreel export --format parquet``).

Named ``parquet``, not ``dataset`` (which holds regression datasets of inputs) nor
``compact`` (``gc`` compacts the DuckDB file): what it works on is the Parquet dataset.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from agentreel.cli import handles_errors, json_option, main

console = Console(highlight=False)


@main.group("parquet")
def parquet() -> None:
    """Upkeep of a Parquet dataset written by `agentreel export --format parquet`."""


@parquet.command("compact")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@json_option
@handles_errors
def compact_cmd(directory: Path, as_json: bool) -> None:
    """Merge each day's small files of each table into one, and delete unlisted files.

    Every export appends files; readers open each one, so a dataset appended to
    daily reads faster once compacted. The rows do not change, and readers see the
    dataset before or after the compaction, never between.
    """
    from agentreel.cli._render import to_json
    from agentreel.store import compact_dataset

    report = compact_dataset(directory)
    if as_json:
        click.echo(to_json(report.as_dict()))
        return
    orphans = f"; removed {report.orphans_removed} unlisted files" if report.orphans_removed else ""
    console.print(
        f"compacted {report.out}: {report.files_before} files -> {report.files_after}{orphans}",
        soft_wrap=True,
    )
