"""The subcommands: demo, ingest, runs, show, gc, rebuild."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape

from agentreel._errors import AgentreelError
from agentreel.cli import (
    CLI_WAIT_S,
    dir_option,
    err_console,
    handles_errors,
    invoked_as,
    json_option,
    main,
    store_args,
)
from agentreel.cli._progress import Tracker

if TYPE_CHECKING:
    from agentreel.store import IngestReport, Purpose, Store

# The store and the renderers (duckdb, polars) are imported by the commands that use
# them, so `agentreel --help` and `--version` start in a fraction of the time.

console = Console(highlight=False)


def _open_fresh(store_dir: Path, *, create: bool = False, writes: bool = False) -> Store:
    """Open the store for a command, the spool drained first, so what is shown is current.

    The store's rules decide who drains (`Store.open(purpose=...)`: docs/architecture.md,
    "Sharing the store"); this says on stderr what they left pending. A store this user
    can read but not write is opened read-only and not drained (unless the command
    `writes`, then it fails as it must).
    """
    from agentreel.store import Store, parquet_dataset

    if parquet_dataset(store_dir) is not None:  # read in place, never drained
        if writes:
            raise AgentreelError(f"{store_dir} is a Parquet dataset, which is read-only")
        return Store.open(store_dir)
    purpose: Purpose = "write" if create or writes else "read"
    store = Store.open(store_dir, create=create, purpose=purpose, wait=CLI_WAIT_S)
    access = store.access
    if access.drained is not None:
        _warn_rejected(access.drained)
    if store.read_only and access.left:
        note = (
            f"the store is read-only for you: {access.left} spool segment(s) not ingested; "
            "what is shown is what was ingested before"
        )
    elif access.left:
        by = "another agentreel process drains them" if access.kept_drained else "next read"
        recording = f"{len(access.live)} process(es) recording; " if access.live else ""
        note = f"{recording}{access.left} spool segment(s) not ingested yet ({by})"
    else:
        return store
    err_console.print(f"[dim]note: {note}[/]", highlight=False, soft_wrap=True)
    return store


def ingested_line(report: IngestReport) -> str:
    """What a drain took, in one line: new spans, and what else its records did."""
    line = f"ingested {report.spans} spans from {report.segments} segments"
    if report.completed:
        line += f", {report.completed} open spans ended"
    if report.duplicates:
        line += f", {report.duplicates} repeated records dropped"
    return line


def _warn_rejected(report: IngestReport) -> None:
    for name, error in report.rejected:
        err_console.print(
            f"[yellow]warning:[/] set aside unreadable spool segment {escape(name)}: {escape(error)}",
            highlight=False,
            soft_wrap=True,
        )


@main.command()
@click.option(
    "--runs",
    "n_runs",
    type=click.IntRange(1, 10_000),
    default=5,
    show_default=True,
    help="How many runs to record.",
)
@click.option(
    "--seed",
    type=int,
    default=1,  # agentreel.demo.DEFAULT_SEED (not imported: the CLI starts without the tracer)
    show_default=True,
    help="First seed; run i uses seed+i.",
)
@click.option(
    "--latency",
    type=click.FloatRange(0, 1),
    default=0.004,
    show_default=True,
    help="Simulated base latency in seconds.",
)
@dir_option
@json_option
@handles_errors
def demo(n_runs: int, seed: int, latency: float, store_dir: Path, as_json: bool) -> None:
    """Record runs of the bundled research agent (offline, scripted model) and list them."""
    import agentreel
    from agentreel.cli._render import runs_table, to_json
    from agentreel.demo import run_demo

    agentreel.init(store_dir, service_name="agentreel-demo")
    try:
        results = run_demo(n_runs, seed=seed, latency=latency)
    finally:
        agentreel.shutdown()
    with _open_fresh(store_dir, create=True) as store:
        runs = store.runs_by_id([rid for rid, _ in results]).sort("start_time", descending=True)
        if as_json:
            click.echo(to_json(runs))
            return
        console.print(runs_table(runs), crop=False)
        first = runs["run_id"][0][:12] if runs.height else ""
        hint = f"{invoked_as()} show {first}{store_args(store_dir)}"
        console.print(
            f"[dim]recorded {runs.height} runs in {escape(str(store_dir))}; read one with[/] "
            f"{escape(hint)}",
            soft_wrap=True,
        )


@main.command()
@dir_option
@json_option
@handles_errors
def ingest(store_dir: Path, as_json: bool) -> None:
    """Drain recorded spans from the spool into the store.

    Unreadable segments are set aside in spool/rejected/, reported, and the rest
    ingested; the exit code is then 2.
    """
    from agentreel.cli._render import to_json
    from agentreel.store import Store

    with (
        Store.open(store_dir, create=True, purpose="ingest", wait=CLI_WAIT_S) as store,
        Tracker("ingesting", "ingested", "spans", quiet=as_json) as progress,
    ):
        # while the TUI or serve reads this store too, let it in between steps
        report = store.ingest(give_way=store.access.kept_drained, progress=progress.advance)
    if as_json:
        click.echo(to_json(report.as_dict()))
    else:
        console.print(f"{ingested_line(report)} in {report.seconds:.2f}s")
    if report.rejected:
        _warn_rejected(report)
        raise SystemExit(2)


@main.command()
@click.option(
    "--status",
    type=click.Choice(["ok", "error", "running", "interrupted"]),
    help="Only runs with this status.",
)
@click.option("--name", help="Only runs with this name (glob with *).")
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="KEY=VALUE",
    help="Only runs with this tag (repeatable).",
)
@click.option(
    "--since", help="Only runs started within this age (90s, 15m, 2h, 7d) or since an ISO date."
)
@click.option("--until", help="Only runs started before this age or ISO date.")
@click.option(
    "--query",
    "-q",
    "query",
    metavar="FILTER",
    help="A filter expression, e.g. 'status:error tool:search duration>2s' (docs/tui.md).",
)
@click.option(
    "--limit", type=click.IntRange(1), default=50, show_default=True, help="At most this many runs."
)
@dir_option
@json_option
@handles_errors
def runs(
    status: str | None,
    name: str | None,
    tags: tuple[str, ...],
    since: str | None,
    until: str | None,
    query: str | None,
    limit: int,
    store_dir: Path,
    as_json: bool,
) -> None:
    """List recorded runs, newest first."""
    from agentreel.cli._render import runs_table, to_json

    tag_filter: dict[str, str] = {}
    for t in tags:
        if "=" not in t:
            raise click.BadParameter(f"{t!r} is not KEY=VALUE", param_hint="--tag")
        k, v = t.split("=", 1)
        tag_filter[k] = v
    with _open_fresh(store_dir) as store:
        df = store.runs(
            status=status,
            name=name,
            tag=tag_filter or None,
            since=since,
            until=until,
            query=query,
            limit=limit,
        )
    if as_json:
        click.echo(to_json(df))
    elif df.is_empty():
        console.print(
            "no runs match"
            if (status or name or tags or since or until or query)
            else f"no runs recorded yet; try `{invoked_as()} demo`"
        )
    else:
        console.print(runs_table(df), crop=False)


@main.command()
@click.argument("run_id")
@click.option(
    "--graph",
    is_flag=True,
    help="Show the run's agents and the calls and handoffs between them, not the span tree.",
)
@dir_option
@json_option
@handles_errors
def show(run_id: str, graph: bool, store_dir: Path, as_json: bool) -> None:
    """Show one run as a span tree: kind, name, duration, tokens, cost, status, errors.

    RUN_ID may be any unique prefix of at least 4 hex digits.
    """
    from agentreel.cli._render import agent_graph_lines, span_tree, to_json
    from agentreel.store import agent_graph

    with _open_fresh(store_dir) as store:
        run = store.run(run_id)
        tree = store.tree(run["run_id"])
        events = store.events(run["run_id"]) if as_json else None
        judged = store.evaluations(run["run_id"])
    if as_json:
        doc = {"run": run, "spans": tree, "events": events, "evaluations": judged}
        click.echo(to_json({**doc, "agent_graph": agent_graph(tree).to_dict()}))
    elif graph:
        for line in agent_graph_lines(run, agent_graph(tree)):
            console.print(line, crop=False, soft_wrap=True)
    else:
        console.print(span_tree(run, tree), crop=False)
        if judged.height:
            from agentreel.cli._evaluations import evaluations_block

            console.print(evaluations_block(judged), crop=False)


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


@main.command()
@click.option(
    "--older-than",
    metavar="AGE",
    help="Remove runs that ended longer ago than this (90s, 12h, 30d, 8w) or before an ISO date.",
)
@click.option(
    "--max-size",
    metavar="SIZE",
    help="Then remove the oldest runs until the DuckDB file fits (500MB, 2GB, 750MiB, bytes).",
)
@click.option("--dry-run", is_flag=True, help="Print what would be removed and change nothing.")
@dir_option
@json_option
@handles_errors
def gc(
    older_than: str | None, max_size: str | None, dry_run: bool, store_dir: Path, as_json: bool
) -> None:
    """Remove old runs and compact the store file.

    With no option it only compacts: DuckDB keeps the space of deleted rows, so the
    store is copied into a fresh file that replaces the old one once it is complete.
    """
    doing, done = ("copying to measure", "measured") if dry_run else ("compacting", "compacted")
    from agentreel.cli._render import runs_table, to_json

    with _open_fresh(store_dir, writes=True) as store:
        with Tracker(doing, done, "rows", quiet=as_json) as progress:
            report = store.gc(
                older_than=older_than,
                max_size=max_size,
                dry_run=dry_run,
                progress=progress.advance,
            )
        shown = store.runs_by_id(report.runs[:20]).sort("start_time") if dry_run else None
    if as_json:
        click.echo(to_json(report.as_dict()))
        return
    verb = "would remove" if dry_run else "removed"
    console.print(
        f"{verb} {len(report.runs)} runs ({report.spans} spans) and "
        f"{report.segments} archived spool segments"
    )
    if shown is not None and shown.height:
        console.print(runs_table(shown), crop=False)
        if len(report.runs) > shown.height:
            console.print(f"[dim]... and {len(report.runs) - shown.height} more[/]")
    size = f"{_mb(report.bytes_before)} -> {_mb(report.bytes_after)}"
    if dry_run:
        console.print(f"store file {size} (estimated; nothing changed)")
    else:
        console.print(f"store file {size}{' (compacted)' if report.compacted else ''}")
    if report.fits is False:
        err_console.print(
            f"[yellow]warning:[/] the store still exceeds --max-size {escape(max_size or '')}: "
            "what is left is runs still recording and the empty store's own size",
            highlight=False,
            soft_wrap=True,
        )


@main.command()
@click.option(
    "--force",
    is_flag=True,
    help="Rebuild a store that reads whole too (its check history is lost).",
)
@dir_option
@json_option
@handles_errors
def rebuild(force: bool, store_dir: Path, as_json: bool) -> None:
    """Rebuild a damaged store file from the spool archive.

    The damaged agentreel.duckdb is renamed agentreel.duckdb.damaged-<time> (never
    deleted), the drained segments kept in spool/archive/ are drained again into a
    new file, and what could not come back is said. Stop the TUI and `agentreel
    serve` on this store first.
    """
    from agentreel.cli._render import to_json
    from agentreel.store import rebuild as rebuild_store

    report = rebuild_store(store_dir, force=force)
    if as_json:
        click.echo(to_json(report.as_dict()))
    else:
        if report.set_aside:
            console.print(
                f"set the old store file aside as {escape(report.set_aside)}", soft_wrap=True
            )
        console.print(
            f"rebuilt the store from {report.segments} archived segments: "
            f"{report.spans} spans in {report.runs} runs"
        )
    for what in report.lost:
        err_console.print(
            f"[yellow]not rebuilt:[/] {escape(what)}", highlight=False, soft_wrap=True
        )
    if report.ingest.rejected:
        _warn_rejected(report.ingest)
        raise SystemExit(2)
