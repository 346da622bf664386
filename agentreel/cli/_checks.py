"""The subcommands ``check`` and ``baseline save``: checks over the store, for CI and at night.

Exit codes of ``check``: 0 when everything passed (or only warned), 1 on an
error-level failure (or a warning with ``--fail-on warn``), 2 when the checks
could not run.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from agentreel.cli import CLI_WAIT_S, dir_option, err_console, handles_errors, main
from agentreel.cli._commands import _open_fresh

F = Callable[..., Any]


def _tags(values: tuple[str, ...], flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in values:
        if "=" not in t:
            raise click.BadParameter(f"{t!r} is not KEY=VALUE", param_hint=flag)
        k, v = t.split("=", 1)
        out[k] = v
    return out


def _window_options(prefix: str, who: str, dest: str) -> Callable[[F], F]:
    """--[prefix]since, --[prefix]until, --[prefix]tag, --[prefix]name, --[prefix]git-sha,
    passed to the command as ``<dest>since`` and so on."""

    def deco(f: F) -> F:
        for opt, kw in reversed(
            [
                (
                    "since",
                    {
                        "help": f"{who}: runs started within this age (24h, 7d) or since an ISO date."
                    },
                ),
                ("until", {"help": f"{who}: runs started before this age or ISO date."}),
                (
                    "tag",
                    {
                        "multiple": True,
                        "metavar": "KEY=VALUE",
                        "help": f"{who}: runs with this tag (repeatable).",
                    },
                ),
                ("name", {"help": f"{who}: runs with this name (glob with *)."}),
                ("git-sha", {"help": f"{who}: runs of this commit (or a prefix of it)."}),
            ]
        ):
            f = click.option(f"--{prefix}{opt}", f"{dest}{opt.replace('-', '_')}", **kw)(f)  # type: ignore[arg-type]
        return f

    return deco


def _window(kw: dict[str, Any], dest: str, flag: str) -> Any:
    from agentreel.checks import Window

    values = {k: kw.pop(f"{dest}{k}") for k in ("since", "until", "tag", "name", "git_sha")}
    if not any(values.values()):
        return None
    return Window(
        since=values["since"],
        until=values["until"],
        tags=_tags(values["tag"], f"--{flag}tag"),
        name=values["name"],
        git_sha=values["git_sha"],
    )


def _github_summary(markdown: str) -> None:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(markdown)


@main.command()
@_window_options("", "Current window", "w_")
@click.option("--baseline", metavar="NAME|PATH", help="Compare with this saved baseline.")
@_window_options("baseline-", "Baseline window", "b_")
@click.option("--only", multiple=True, metavar="CHECK", help="Run only this check (repeatable).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "junit", "markdown", "github"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
@click.option(
    "--junit-xml",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write JUnit XML here.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warn"]),
    help="Lowest status that fails (exit 1); default from the config, else error.",
)
@click.option("--failures-only", is_flag=True, help="Show only the rows that warn or fail.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A pyproject.toml or agentreel.toml to read (default: the nearest).",
)
@click.option("--no-save", is_flag=True, help="Do not keep the results in the store.")
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "spark"]),
    default="duckdb",
    show_default=True,
    help="What reads the runs: DuckDB, or PySpark over a Parquet dataset (--dir DATASET).",
)
@dir_option
def check(**kw: Any) -> None:
    """Run the checks: what got worse in the current runs against the baseline.

    By default the last 24 hours are compared with the 7 days before; in CI, every
    run in the store with the saved baseline (`agentreel baseline save`). Exit code 0
    means nothing failed, 1 an error-level failure, 2 that the checks could not run.
    """
    try:
        code = _check(kw)
    except click.ClickException:
        raise
    except SystemExit:
        raise
    except Exception:
        err_console.print("[bold red]error:[/] the checks could not run:", highlight=False)
        traceback.print_exc()
        sys.exit(2)
    sys.exit(code)


@handles_errors
def _check(kw: dict[str, Any]) -> int:
    from agentreel.cli._pandas_free import pandas_hidden, polars_returning_memory, prime_pandera

    polars_returning_memory()
    # The DuckDB engine validates polars frames only: pandas and PySpark, when installed,
    # would cost a second and 100 MB to import for nothing (the Spark engine needs both).
    with pandas_hidden(kw["engine"] == "duckdb"):
        from agentreel.checks import (
            github_annotations,
            in_ci,
            load_config,
            render_text,
            run_checks,
            save_results,
            to_json,
            to_junit_xml,
            to_markdown,
        )

        prime_pandera()
    from agentreel.store import Store, parquet_dataset

    current = _window(kw, "w_", "")
    baseline_window = _window(kw, "b_", "baseline-")
    if kw["baseline"] and baseline_window is not None:
        raise click.UsageError("give either --baseline or --baseline-* window options, not both")
    config = load_config(kw["config_path"])
    fail_on = kw["fail_on"] or config.fail_on
    # The store is held only while the windows are read, not while the checks compute,
    # so the TUI and other commands are not kept waiting; it is opened again to save.
    with _open_fresh(kw["store_dir"]) as store:
        read_only = store.read_only  # a store this user cannot write was opened read-only
        report = run_checks(
            store,
            current=current,
            baseline=kw["baseline"] or baseline_window,
            config=config,
            only=kw["only"],
            loaded=store.close,
            engine=kw["engine"],
        )
    dataset = parquet_dataset(kw["store_dir"]) is not None
    if not kw["no_save"] and (dataset or read_only):
        why = "a Parquet dataset is read-only" if dataset else "the store is read-only for you"
        err_console.print(
            f"[dim]note: the results are not saved in the check history ({why})[/]",
            highlight=False,
            soft_wrap=True,
        )
    elif not kw["no_save"]:
        with Store.open(kw["store_dir"], wait=CLI_WAIT_S) as store:
            save_results(store, report)
    fmt = "json" if kw["as_json"] else kw["fmt"]
    on_github = os.environ.get("GITHUB_ACTIONS", "").lower() == "true"
    if fmt == "json":
        click.echo(to_json(report))
    elif fmt == "junit":
        click.echo(to_junit_xml(report, fail_on), nl=False)
    elif fmt == "markdown":
        click.echo(to_markdown(report), nl=False)
    elif fmt == "github":
        click.echo(github_annotations(report), nl=False)
        c = report.counts()
        click.echo(f"agentreel check: {report.status} ({c['error']} errors, {c['warn']} warnings)")
    else:
        # crop=False, and soft wrap without a terminal: the tables are plain lines as long
        # as they need, and the header is not broken across lines of a CI log
        out = Console(highlight=False)
        out.print(
            render_text(report, only_failures=kw["failures_only"]),
            crop=False,
            soft_wrap=not out.is_terminal,
        )
    if on_github and fmt in ("text", "markdown"):
        click.echo(github_annotations(report), nl=False)
    if on_github or (fmt == "github" and in_ci()):
        _github_summary(to_markdown(report, all_rows=False))
    if kw["junit_xml"]:
        kw["junit_xml"].write_text(to_junit_xml(report, fail_on))
    return report.exit_code(fail_on)


@main.group()
def baseline() -> None:
    """Saved baselines: a window's statistics in a JSON file, so CI needs no old runs."""


@baseline.command("save")
@click.argument("name")
@_window_options("", "Baseline window", "w_")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here instead of <baseline_dir>/NAME.json.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A pyproject.toml or agentreel.toml to read.",
)
@dir_option
@click.option("--json", "as_json", is_flag=True, help='Print {"name", "path"} as JSON.')
@handles_errors
def baseline_save(
    name: str,
    output: Path | None,
    config_path: Path | None,
    store_dir: Path,
    as_json: bool,
    **kw: Any,
) -> None:
    """Measure the runs of a window and save their statistics as baseline NAME.

    By default the window is the 7 days before the last 24 hours (in CI, every run).
    Commit the file: `agentreel check --baseline NAME` compares with it.
    """
    from agentreel.checks import load_config, save_baseline

    window = _window(kw, "w_", "")
    config = load_config(config_path)
    with _open_fresh(store_dir) as store:
        path = save_baseline(store, name, window, config=config, path=output)
    if as_json:
        click.echo(json.dumps({"name": name, "path": str(path)}))
    else:
        click.echo(f"saved baseline {name} to {path}")
