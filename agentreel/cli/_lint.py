"""The subcommand lint-spans: recorded spans against the GenAI semantic conventions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from agentreel.cli import dir_option, handles_errors, json_option, main

console = Console(highlight=False)


@main.command("lint-spans")
@click.argument("run_ids", nargs=-1)
@click.option("-q", "--query", help="Lint the runs this filter selects (`runs -q` language).")
@click.option(
    "--limit", type=click.IntRange(1), default=50, show_default=True, help="At most this many runs."
)
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too, not only on errors.")
@dir_option
@json_option
@handles_errors
def lint_spans(
    run_ids: tuple[str, ...],
    query: str | None,
    limit: int,
    strict: bool,
    store_dir: Path,
    as_json: bool,
) -> None:
    """Check recorded spans against the OpenTelemetry GenAI semantic conventions.

    For instrumentation authors: what each span lacks that the conventions require or
    recommend. Exit 1 when a span breaks a rule of level error (with --strict, any rule).
    """
    from agentreel.cli._commands import _open_fresh
    from agentreel.conventions import lint_spans as lint

    with _open_fresh(store_dir) as store:
        found = lint(store, run_ids or None, query=query, limit=limit)
    errors = sum(f.level == "error" for f in found)
    warnings = len(found) - errors
    if as_json:
        click.echo(json.dumps([f.to_dict() for f in found], indent=2))
    else:
        for f in found:
            style = "bold red" if f.level == "error" else "yellow"
            console.print(
                f"[{style}]{f.level:<5}[/] {f.rule:<15} {f.run_id[:8]} {f.span_id[:8]} "
                f"{escape(f.span_name)}: {escape(f.message)}",
                soft_wrap=True,
            )
        console.print(
            f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
        )
    sys.exit(1 if errors or (strict and warnings) else 0)
