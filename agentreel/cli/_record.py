"""`agentreel record`: run an unmodified Python program with recording on."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import click
from rich.markup import escape

from agentreel.cli import CLI_WAIT_S, dir_option, err_console, handles_errors, main

BOOTSTRAP = Path(__file__).resolve().parents[1] / "_bootstrap"
#: `agentreel.tracer.INTEGRATIONS` and their aliases (the CLI starts without the tracer).
INTEGRATION_NAMES = (
    "pydantic-ai",
    "openai-agents",
    "langchain",
    "langgraph",
    "openai",
    "anthropic",
    "mcp",
    "pydantic_ai",
    "openai_agents",
)


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option(
    "--only",
    "only",
    multiple=True,
    metavar="NAME",
    # checked here, so a misspelt name stops before the program runs unrecorded
    type=click.Choice(INTEGRATION_NAMES),
    help="Instrument only this integration (repeatable): pydantic-ai, openai-agents, langchain, openai, anthropic, mcp.",
)
@click.option(
    "--service-name", help="service.name of the recorded process (default: the program's name)."
)
@dir_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@handles_errors
def record(
    only: tuple[str, ...], service_name: str | None, store_dir: Path, command: tuple[str, ...]
) -> None:
    """Run COMMAND (a Python program) with every installed framework recorded.

    No line of the program changes: agentreel starts in the program's own
    interpreter through a ``sitecustomize`` hook, as ``opentelemetry-instrument``
    does. Afterwards the runs it recorded are ingested and listed. The exit code
    is the program's.

    Example: agentreel record -- python my_agent.py --question "..."
    """
    from agentreel.cli._render import runs_table
    from agentreel.store import Store

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BOOTSTRAP), env.get("PYTHONPATH", "")) if p)
    env["AGENTREEL_RECORD"] = "1"
    env["AGENTREEL_DIR"] = str(store_dir.resolve())
    env["AGENTREEL_INSTRUMENT"] = ",".join(only)
    if service_name:
        env["AGENTREEL_SERVICE_NAME"] = service_name
    command = _with_an_interpreter_that_records(command)
    started = datetime.now(UTC).replace(tzinfo=None)
    try:
        child = subprocess.Popen(list(command), env=env)
    except OSError as e:
        err_console.print(
            f"[bold red]error:[/] cannot run {escape(repr(command[0]))}: {escape(str(e.strerror or e))}",
            highlight=False,
        )
        sys.exit(2)

    def forward(signum: int, frame: FrameType | None) -> None:
        child.send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = child.wait()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if not (store_dir / "spool").is_dir():
        err_console.print(
            "[yellow]agentreel:[/] nothing was recorded: the program never started agentreel. "
            "record runs a Python program (agentreel record -- python app.py) in an "
            "interpreter that has agentreel installed",
            highlight=False,
            soft_wrap=True,
        )
    else:
        with Store.open(store_dir, create=True, purpose="ingest", wait=CLI_WAIT_S) as store:
            store.ingest()
            runs = store.runs(since=started)
        if runs.is_empty():
            err_console.print(
                "agentreel: the program recorded no runs (is it a Python program using a supported framework?)",
                soft_wrap=True,
            )
        else:
            err_console.print(runs_table(runs), crop=False)
    sys.exit(128 - code if code < 0 else code)  # killed by signal N: 128 + N, as shells do


_PYTHON = re.compile(r"python(\d+(\.\d+)*)?(\.exe)?", re.IGNORECASE)


def _with_an_interpreter_that_records(command: tuple[str, ...]) -> tuple[str, ...]:
    """`command`, run by this interpreter instead if it names a Python that lacks agentreel.

    ``python`` on the PATH is often not the interpreter agentreel is installed in (a
    virtualenv not activated, a system Python): the ``sitecustomize`` hook cannot import
    agentreel there, and the program would run unrecorded. Such a command is run with
    ``sys.executable`` instead, and stderr says so.
    """
    first = command[0]
    if not _PYTHON.fullmatch(os.path.basename(first)):
        return command
    found = shutil.which(first)
    if found is None or os.path.dirname(os.path.abspath(found)) == os.path.dirname(
        os.path.abspath(sys.executable)
    ):
        return command  # this interpreter, or its sibling in the same virtualenv
    try:
        probe = subprocess.run(
            [found, "-c", "import agentreel"],
            env=dict(os.environ),
            capture_output=True,
            timeout=60,
        )
        if probe.returncode == 0:
            return command
    except (OSError, subprocess.TimeoutExpired):
        pass
    err_console.print(
        f"[yellow]agentreel:[/] {escape(first)} ({escape(found)}) cannot import agentreel, so it "
        f"would record nothing; running the program with {escape(sys.executable)}, the "
        "interpreter agentreel is installed in (to use another, install agentreel into it)",
        highlight=False,
        soft_wrap=True,
    )
    return (sys.executable, *command[1:])
