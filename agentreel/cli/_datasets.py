"""The subcommand group `dataset`: save recorded runs as regression cases, and run them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from agentreel.cli import dir_option, handles_errors, json_option, main

console = Console(highlight=False)

datasets_option = click.option(
    "--datasets",
    "datasets_dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="AGENTREEL_DATASETS",
    default="agentreel-datasets",
    show_default=True,
    help="The directory of dataset files (or set AGENTREEL_DATASETS).",
)


@main.group()
def dataset() -> None:
    """Regression datasets: recorded runs saved as cases that replay offline as tests."""


@dataset.command("add")
@click.argument("name")
@click.argument("run_ids", nargs=-1)
@click.option("-q", "--query", help="Add every run this filter selects (the `runs -q` language).")
@click.option(
    "--evaluator",
    "evaluators",
    multiple=True,
    metavar="MODULE:FUNCTION",
    help="Score each case's output with fn(output, arguments); a replay must score as much.",
)
@datasets_option
@dir_option
@json_option
@handles_errors
def add(
    name: str,
    run_ids: tuple[str, ...],
    query: str | None,
    evaluators: tuple[str, ...],
    datasets_dir: Path,
    store_dir: Path,
    as_json: bool,
) -> None:
    """Save runs (ids or unique prefixes, or -q FILTER) as cases of dataset NAME."""
    from agentreel import datasets

    if evaluators and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # evaluators live in the user's project
    ds, added = datasets.add(
        name,
        run_ids,
        query=query,
        store_dir=store_dir,
        directory=datasets_dir,
        evaluators=evaluators,
    )
    if as_json:
        click.echo(json.dumps({"dataset": name, "path": str(ds.path), "added": added}, indent=2))
        return
    for rid in added:
        case = ds.case(rid)
        console.print(f"added {rid[:12]}  {escape(case.run_name or '')}  {case.status}")
    console.print(f"[dim]{ds.path}: {len(ds.cases)} case{'s' * (len(ds.cases) != 1)}[/]")


@dataset.command("list")
@datasets_option
@json_option
@handles_errors
def list_(datasets_dir: Path, as_json: bool) -> None:
    """The datasets in the dataset directory, with their cases."""
    from agentreel import datasets

    names = sorted(p.stem for p in datasets_dir.glob("*.json")) if datasets_dir.is_dir() else []
    rows: list[dict[str, Any]] = []
    for n in names:
        ds = datasets.load(n, datasets_dir)
        rows.append(
            {
                "name": n,
                "path": str(ds.path),
                "cases": len(ds.cases),
                "guarding_fixes": sum(c.expects_fix for c in ds.cases),
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print(f"no datasets in {escape(str(datasets_dir))}")
    for r in rows:
        console.print(
            f"{escape(r['name'])}  {r['cases']} cases, {r['guarding_fixes']} from failed runs"
        )


@dataset.command("show")
@click.argument("name")
@datasets_option
@json_option
@handles_errors
def show(name: str, datasets_dir: Path, as_json: bool) -> None:
    """The cases of dataset NAME."""
    from agentreel import datasets

    ds = datasets.load(name, datasets_dir)
    rows: list[dict[str, Any]] = [
        {
            "run_id": c.run_id,
            "run_name": c.run_name,
            "status": c.status,
            "recorded_at": c.recorded_at,
            "steps": len(c.plan.get("steps") or []),
            "entry": c.plan.get("entry"),
            "evaluators": c.evaluators,
        }
        for c in ds.cases
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        expect = "must reproduce" if r["status"] == "ok" else "guards a fix"
        console.print(
            f"{r['run_id'][:12]}  {escape(r['run_name'] or '')}  {r['status']}  "
            f"{r['steps']} steps  [dim]{expect}[/]"
        )


@dataset.command("remove")
@click.argument("name")
@click.argument("run_ids", nargs=-1, required=True)
@datasets_option
@handles_errors
def remove(name: str, run_ids: tuple[str, ...], datasets_dir: Path) -> None:
    """Take cases (run ids or unique prefixes) out of dataset NAME."""
    from agentreel import datasets

    ds = datasets.remove(name, run_ids, datasets_dir)
    console.print(f"[dim]{ds.path}: {len(ds.cases)} cases left[/]")


@dataset.command("run")
@click.argument("name")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=600,
    show_default=True,
    help="Seconds each replay may run.",
)
@datasets_option
@json_option
@handles_errors
def run(name: str, timeout: float, datasets_dir: Path, as_json: bool) -> None:
    """Replay every case of dataset NAME offline; exit 1 when any fails."""
    from agentreel import datasets

    ds = datasets.load(name, datasets_dir)
    results = [datasets.run_case(c, timeout=timeout) for c in ds.cases]
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        for r in results:
            mark = "[green]pass[/]" if r.passed else "[bold red]FAIL[/]"
            console.print(f"{mark}  {r.case.id}  {escape(r.message)}", soft_wrap=True)
            if not r.passed and r.diff:
                console.print(escape(r.diff), soft_wrap=True)
        failed = sum(not r.passed for r in results)
        console.print(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if any(not r.passed for r in results) else 0)
