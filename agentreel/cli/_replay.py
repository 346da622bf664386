"""The subcommands replay and fork: re-run a recorded run with its results served back."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from agentreel._errors import AgentreelError
from agentreel.cli import dir_option, handles_errors, json_option, main
from agentreel.cli._progress import Tracker

console = Console(highlight=False)

_DIVERGENCE = click.Choice(["stop", "live"])


def _common(fn: Any) -> Any:
    fn = click.option(
        "--on-divergence",
        type=_DIVERGENCE,
        default="stop",
        show_default=True,
        help="At the first call the recording does not have: stop there, or let it run live.",
    )(fn)
    fn = click.option(
        "--network",
        is_flag=True,
        help="Let the replaying process open network connections (blocked by default).",
    )(fn)
    return click.option(
        "--timeout",
        type=click.FloatRange(min=1),
        default=600,
        show_default=True,
        help="Seconds the replaying process may run.",
    )(fn)


def _print_steps(plan_steps: list[dict[str, Any]]) -> None:
    for s in plan_steps:
        tail = f"raises {s['error_type']}" if s["error_type"] else "returns"
        console.print(
            f"{s['index']:>4}  {s['kind']:<4}  {escape(s['name'])}  [dim]{s['hash'][:12]}  {tail}[/]"
        )


#: Characters of context kept on each side of a change in a long diff line.
FOCUS_CONTEXT = 40


def _first_change(a: str, b: str) -> tuple[int, int, int]:
    """Where `a` and `b` differ: the common prefix length and each one's end of the change."""
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end_a, end_b = len(a), len(b)
    while end_a > start and end_b > start and a[end_a - 1] == b[end_b - 1]:
        end_a -= 1
        end_b -= 1
    return start, end_a, end_b


def _clip(line: str, start: int, end: int) -> str:
    lo = max(1, start - FOCUS_CONTEXT)
    hi = min(len(line), end + FOCUS_CONTEXT)
    return line[0] + ("…" if lo > 1 else "") + line[lo:hi] + ("…" if hi < len(line) else "")


def focus_diff(diff: str, width: int) -> str:
    """A unified diff whose long changed lines show the part that changed.

    A removed line followed by an added one, either longer than `width`, is cut to
    the change and `FOCUS_CONTEXT` characters around it on both lines, marked with
    ``…``; so a change late in a long prompt is seen at any width, in a terminal
    or in a CI log. Other lines are kept whole (and wrap).
    """
    lines = diff.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        a = lines[i]
        b = lines[i + 1] if i + 1 < len(lines) else ""
        if (
            a.startswith("-")
            and not a.startswith("---")
            and b.startswith("+")
            and not b.startswith("+++")
            and max(len(a), len(b)) > width
        ):
            start, end_a, end_b = _first_change(a[1:], b[1:])
            out += [_clip(a, start + 1, end_a + 1), _clip(b, start + 1, end_b + 1)]
            i += 2
            continue
        out.append(a)
        i += 1
    return "\n".join(out)


def _report(result: Any, *, verb: str) -> None:
    rid = result.run_id[:12]
    new = (result.replay_run_id or "")[:12]
    console.print(f"{verb} of run {rid} recorded as run {new}")
    console.print(
        f"[dim]{result.served} of {result.steps} recorded steps served, {result.live} ran live[/]"
    )
    for change in result.env_changes:
        console.print(f"[yellow]environment changed:[/] {escape(change)}")
    for note in result.notes:
        console.print(f"[dim]{escape(note)}[/]")
    d = result.divergence
    if d is not None:
        console.print(f"[bold red]diverged[/] at {escape(d['message'])}", soft_wrap=True)
        if d["diff"]:
            from rich.syntax import Syntax  # pygments: 20 ms of every command's start-up

            shown = focus_diff(d["diff"], max(console.width - 2, 20))
            console.print(
                Syntax(shown, "diff", theme="ansi_dark", background_color="default", word_wrap=True)
            )
    if result.outcome == "stopped":
        console.print(f"[dim]{escape(result.reason or 'stopped')}[/]")
    elif result.outcome == "failed":
        console.print(f"[bold red]could not finish:[/] {escape(result.reason or '')}")
    elif result.outcome in ("returned", "raised"):
        ended = "raised " + escape(result.error or "") if result.error else "returned"
        same = "as recorded" if result.output_matches else "[bold]unlike the recording[/]"
        console.print(f"the entry point {ended}, {same}")
    if result.reproduced:
        console.print("[green]reproduced[/]")


@main.command()
@click.argument("run_id")
@_common
@click.option(
    "--check",
    is_flag=True,
    help="Exit 0 when the run reproduces, 1 when it diverges, 2 when it cannot be replayed.",
)
@click.option(
    "--steps",
    "list_steps",
    is_flag=True,
    help="List the numbered steps a replay serves; run nothing.",
)
@dir_option
@json_option
@handles_errors
def replay(
    run_id: str,
    on_divergence: str,
    network: bool,
    timeout: float,
    check: bool,
    list_steps: bool,
    store_dir: Path,
    as_json: bool,
) -> None:
    """Re-run a recorded run with every recorded LLM and tool result served back."""
    from agentreel import replay as rp

    if list_steps:
        plan_steps = rp.steps(run_id, store_dir)
        if as_json:
            click.echo(json.dumps(plan_steps, indent=2))
        else:
            _print_steps(plan_steps)
        return
    with Tracker("replaying", "replayed", "steps", quiet=as_json) as progress:
        result = rp.replay(
            run_id,
            store_dir,
            on_divergence=on_divergence,
            network=network,
            timeout=timeout,
            progress=progress.advance,
        )
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _report(result, verb="replay")
    if check:
        if result.outcome == "failed":
            sys.exit(2)
        sys.exit(0 if result.reproduced else 1)


def _edited_response(run_id: str, at: int, store_dir: Path, response: str | None) -> Any:
    from agentreel import replay as rp

    if response == "-":
        text = sys.stdin.read()
    elif response is not None:
        try:
            text = Path(response).read_text()
        except OSError as e:
            raise AgentreelError(f"cannot read --response {response}: {e.strerror or e}") from None
    else:
        steps = rp.steps(run_id, store_dir)
        if not 1 <= at <= len(steps):
            raise AgentreelError(f"the run has steps 1 to {len(steps)}; --at {at} is not one")
        step = steps[at - 1]
        current = json.loads(step["output"]) if step["output"] is not None else None
        from agentreel._editor import editor_command

        edited = click.edit(
            json.dumps(current, indent=2, ensure_ascii=False) + "\n",
            editor=shlex.join(editor_command()),
            extension=".json",
        )
        if edited is None:
            raise AgentreelError("the response was not changed in the editor; nothing to fork")
        text = edited
    try:
        return json.loads(text)
    except ValueError as e:
        raise AgentreelError(f"the edited response is not JSON: {e}") from None


@main.command()
@click.argument("run_id")
@click.option(
    "--at",
    "at",
    type=click.IntRange(min=1),
    required=True,
    help="The step to edit (see replay --steps).",
)
@click.option(
    "--response",
    type=str,
    default=None,
    help="A JSON file with the step's new result ('-' reads stdin); without it, $VISUAL or $EDITOR (else vi) opens.",
)
@click.option(
    "--then",
    type=_DIVERGENCE,
    default="live",
    show_default=True,
    help="After the edited step: run the rest live, or stop.",
)
@_common
@dir_option
@json_option
@handles_errors
def fork(
    run_id: str,
    at: int,
    response: str | None,
    then: str,
    on_divergence: str,
    network: bool,
    timeout: float,
    store_dir: Path,
    as_json: bool,
) -> None:
    """Replay a run up to a step, serve an edited result there, then go on live or stop."""
    from agentreel import replay as rp

    value = _edited_response(run_id, at, store_dir, response)
    with Tracker("replaying", "replayed", "steps", quiet=as_json) as progress:
        result = rp.fork(
            run_id,
            at,
            value,
            store_dir,
            then=then,
            on_divergence=on_divergence,
            network=network,
            timeout=timeout,
            progress=progress.advance,
        )
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _report(result, verb=f"fork at step {at}")
        if result.outcome in ("returned", "raised"):
            console.print(f"[dim]output:[/] {escape((result.output or result.error or '')[:500])}")
