"""The ``agentreel`` command: one thin function per subcommand over the packages.

Errors a user can cause print one line to stderr and exit with code 2.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from agentreel import __version__
from agentreel._errors import AgentreelError

__all__ = ["main"]

F = TypeVar("F", bound=Callable[..., Any])
err_console = Console(stderr=True)


def _fail(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(2)


def handles_errors(fn: F) -> F:
    """Turn AgentreelError into one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AgentreelError as e:
            _fail(str(e))

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def removed_on_failure(store_dir: Path) -> Iterator[Callable[[], None]]:
    """Remove `store_dir` again if the block fails and the directory did not exist before.

    A command that fails (a port in use, a file that is not OTLP/JSON) must not leave
    behind a store directory the user never had. The block may call the function it
    is given once the directory holds something worth keeping (a server has started).
    """
    existed = store_dir.exists()
    keep = [existed]

    def kept() -> None:
        keep[0] = True

    try:
        yield kept
    except BaseException:
        if not keep[0]:
            shutil.rmtree(store_dir, ignore_errors=True)
        raise


def invoked_as() -> str:
    """How to type this command again in the user's shell, for the hints it prints.

    ``agentreel`` when that name on the PATH is the program running now; otherwise
    the path it was started by (``.venv/bin/agentreel`` before the virtualenv is
    activated), or ``python -m agentreel`` with the interpreter's path.
    """
    argv0 = sys.argv[0] if sys.argv else ""
    on_path = shutil.which("agentreel")
    if os.path.basename(argv0) == "__main__.py":  # python -m agentreel
        if on_path and os.path.dirname(on_path) == os.path.dirname(sys.executable):
            return "agentreel"
        return f"{shlex.quote(sys.executable)} -m agentreel"
    if on_path and argv0 and _same_file(on_path, argv0):
        return "agentreel"
    return shlex.quote(argv0) if os.sep in argv0 else "agentreel"


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def store_args(store_dir: Path) -> str:
    """``--dir DIR`` for a hint, unless the store is the one a command finds by itself."""
    if store_dir == Path(".agentreel") or os.environ.get("AGENTREEL_DIR") == str(store_dir):
        return ""
    return f" --dir {shlex.quote(str(store_dir))}"


#: How long a command waits for a store another agentreel process holds for a moment.
CLI_WAIT_S = 5.0

dir_option = click.option(
    "--dir",
    "store_dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="AGENTREEL_DIR",
    default=".agentreel",
    show_default=True,
    help="The store directory (or set AGENTREEL_DIR).",
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON for scripts instead of a table."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
@click.version_option(__version__, prog_name="agentreel")  # not from metadata: 10 ms
@click.pass_context
def main(ctx: click.Context) -> None:
    """agentreel: a flight recorder for AI agent runs.

    Record with `agentreel.init()` and the decorators, then browse with
    `agentreel tui` (plain `agentreel` on a terminal), list runs with
    `agentreel runs` and read one with `agentreel show RUN_ID`.
    """
    if ctx.invoked_subcommand is None:
        if _is_terminal():
            tui = tui_command()
            # parsed like `agentreel tui`, so its options' defaults and AGENTREEL_DIR hold
            with tui.make_context("tui", [], parent=ctx) as sub:
                tui.invoke(sub)
        else:
            click.echo(ctx.get_help())


def _is_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def tui_command() -> click.Command:
    from agentreel.cli._tui import tui

    return tui


from agentreel.cli import (  # noqa: E402,F401  (registers the subcommands)
    _checks,
    _commands,
    _datasets,
    _diff,
    _evaluations,
    _lint,
    _parquet,
    _record,
    _replay,
    _sessions,
    _transfer,
    _tui,
)
