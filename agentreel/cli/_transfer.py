"""The subcommands that move spans in and out: serve, import, export."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape

from agentreel._errors import StoreBusy
from agentreel.cli import (
    CLI_WAIT_S,
    dir_option,
    err_console,
    handles_errors,
    json_option,
    main,
    removed_on_failure,
)
from agentreel.cli._commands import _open_fresh, _warn_rejected, ingested_line
from agentreel.cli._progress import Tracker

if TYPE_CHECKING:
    from agentreel._redact import Redactor
    from agentreel.store import IngestReport, Receiver, ReceiverStats

console = Console(highlight=False)


def redact_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--no-redact` and `--redact-pattern`, for the commands that take spans from outside."""
    fn = click.option(
        "--redact-pattern",
        "redact_patterns",
        multiple=True,
        metavar="REGEX",
        help="Also mask matches of this regular expression (repeatable).",
    )(fn)
    return click.option(
        "--no-redact",
        is_flag=True,
        help="Store spans as sent, without masking secrets (keys, tokens, passwords, e-mails).",
    )(fn)


def _redaction(off: bool, patterns: tuple[str, ...]) -> bool | Redactor:
    from agentreel._redact import Redactor

    if off and patterns:
        raise click.UsageError("give either --no-redact or --redact-pattern, not both")
    return False if off else Redactor(patterns) if patterns else True


def _say(message: str) -> None:
    console.print(message, soft_wrap=True)
    sys.stdout.flush()  # serve's lines must reach a pipe as they happen


@main.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; anything but a loopback address needs --token.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=4318,
    show_default=True,
    help="Port to listen on (0 picks a free one and prints it).",
)
@click.option(
    "--token",
    envvar="AGENTREEL_TOKEN",
    help="Require 'Authorization: Bearer TOKEN' on every request (or set AGENTREEL_TOKEN).",
)
@click.option(
    "--max-body-mb",
    type=click.FloatRange(0, min_open=True),
    default=16.0,
    show_default=True,
    help="Largest request accepted, in MiB, compressed and decompressed (else 413).",
)
@click.option(
    "--max-inflight",
    type=click.IntRange(1, 256),
    default=4,
    show_default=True,
    help="Requests decoded at once; more wait up to 0.5 s, then get 503 with Retry-After.",
)
@redact_options
@dir_option
@handles_errors
def serve_cmd(
    host: str,
    port: int,
    token: str | None,
    max_body_mb: float,
    max_inflight: int,
    no_redact: bool,
    redact_patterns: tuple[str, ...],
    store_dir: Path,
) -> None:
    """Receive OTLP/HTTP traces from any OpenTelemetry SDK or Collector into the store.

    Listens for POST /v1/traces (application/x-protobuf or application/json,
    optionally gzip), and POST /v1/logs for the GenAI events that carry the spans'
    messages, and drains what arrives into the store as it comes, at least once a
    second.
    Point an exporter at it with OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318.
    Secrets are masked before anything is written, as agentreel's tracer does.
    Stops cleanly on Ctrl-C or SIGTERM.
    """
    from agentreel.store import serve

    def ready(r: Receiver) -> None:
        keep()
        logs = r.url.removesuffix("/v1/traces") + "/v1/logs"
        _say(
            f"receiving OTLP/HTTP traces on {r.url} and logs on {logs} into {store_dir} "
            "(Ctrl-C stops)"
        )

    def ingested(report: IngestReport) -> None:
        if report.spans or report.completed or report.duplicates or report.rejected:
            _say(ingested_line(report))
        _warn_rejected(report)

    redact = _redaction(no_redact, redact_patterns)
    with removed_on_failure(store_dir) as keep:
        stats = serve(
            store_dir,
            host=host,
            port=port,
            token=token,
            max_body_bytes=int(max_body_mb * 1024 * 1024),
            max_inflight=max_inflight,
            redact=redact,
            on_ready=ready,
            on_ingest=ingested,
        )
    _say(stopped_line(stats))


def stopped_line(stats: ReceiverStats) -> str:
    """`serve`'s last line: what it took in, GenAI messages from log records included."""
    return (
        f"stopped: {stats.spans} spans received in {stats.requests} requests, "
        f"{stats.rejected_spans} spans and {stats.failed_requests} requests refused"
        + (f"; messages of {stats.contents} spans from log records" if stats.contents else "")
        + (
            f"; {stats.rejected_log_records} log records refused (not GenAI events of a span)"
            if stats.rejected_log_records
            else ""
        )
    )


@main.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@redact_options
@dir_option
@json_option
@handles_errors
def import_cmd(
    files: tuple[Path, ...],
    no_redact: bool,
    redact_patterns: tuple[str, ...],
    store_dir: Path,
    as_json: bool,
) -> None:
    """Import OTLP/JSON files (such as the Collector's file exporter output) into the store.

    Each FILE holds one ExportTraceServiceRequest JSON object, or one per line
    (gzip-compressed files are read too); ExportLogsServiceRequest lines bring
    the messages GenAI events carry into their spans. Spans that cannot be placed
    (bad ids, no start time) are counted and skipped; the exit code is then 2.
    Log records that are not GenAI events of a span are counted and skipped. Secrets are
    masked before anything is written, as agentreel's tracer does.
    """
    from agentreel.cli._render import to_json
    from agentreel.store import Store, import_otlp_json

    redact = _redaction(no_redact, redact_patterns)
    ingest: IngestReport | None = None
    with Tracker("importing", "imported", "spans", quiet=as_json) as progress:
        with removed_on_failure(store_dir):
            report = import_otlp_json(store_dir, files, redact=redact, progress=progress.advance)
        progress.then("ingesting")
        busy = False
        try:
            with Store.open(store_dir, create=True, purpose="ingest", wait=CLI_WAIT_S) as store:
                ingest = store.ingest(progress=progress.advance)
        except StoreBusy:
            busy = True
    if busy:
        err_console.print(
            "[yellow]note:[/] the store is open in another process; the imported spans wait "
            "in its spool and are ingested by whichever agentreel command reads it next",
            highlight=False,
            soft_wrap=True,
        )
    if as_json:
        click.echo(to_json({**report.as_dict(), "ingest": ingest.as_dict() if ingest else None}))
    else:
        console.print(
            f"imported {report.spans} spans from {report.files} files "
            f"({report.segments} segments) into {store_dir}"
            + (f"; rejected {report.rejected} spans" if report.rejected else "")
            + (f"; messages of {report.contents} spans from log records" if report.contents else "")
            + (
                f"; skipped {report.rejected_log_records} log records that are not "
                "GenAI events of a span"
                if report.rejected_log_records
                else ""
            )
            + (
                f"; {ingest.duplicates} records repeated spans already stored and were dropped"
                if ingest is not None and ingest.duplicates
                else ""
            )
        )
    if ingest is not None:
        _warn_rejected(ingest)
    for reason in report.reasons:
        err_console.print(f"[yellow]rejected:[/] {escape(reason)}", highlight=False, soft_wrap=True)
    if report.rejected or (ingest is not None and ingest.rejected):
        raise SystemExit(2)


@main.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["otlp-json", "parquet"]),
    default="otlp-json",
    show_default=True,
    help="otlp-json: one OTLP request per line in a file; parquet: a directory by day.",
)
@click.option(
    "--run",
    "run_ids",
    multiple=True,
    metavar="RUN_ID",
    help="Only this run (any unique prefix; repeatable).",
)
@click.option(
    "--since", help="Only runs started within this age (90s, 15m, 2h, 7d) or since an ISO date."
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="The file (otlp-json) to write, or the Parquet dataset directory (new, or one to append to).",
)
@dir_option
@json_option
@handles_errors
def export_cmd(
    fmt: str,
    run_ids: tuple[str, ...],
    since: str | None,
    out: Path,
    store_dir: Path,
    as_json: bool,
) -> None:
    """Export runs as OTLP/JSON (for any OpenTelemetry backend) or Parquet partitioned by day.

    Without --run or --since, every run is exported; with both, the runs named
    that also started since then. A Parquet dataset is appended to: a run it holds
    already is skipped when unchanged and replaced when it changed, never duplicated.
    """
    from agentreel.cli._render import to_json
    from agentreel.store import export_otlp_json, export_parquet

    with _open_fresh(store_dir) as store:
        ids: list[str] | None = [store.resolve_run(r) for r in run_ids] if run_ids else None
        if since is not None:
            recent = store.runs(since=since, origin="any")["run_id"].to_list()
            ids = recent if ids is None else [r for r in ids if r in frozenset(recent)]
        with Tracker("exporting", "exported", "spans", quiet=as_json) as progress:
            if fmt == "parquet":
                report = export_parquet(store, out, ids, progress=progress.advance)
            else:
                report = export_otlp_json(store, out, ids, progress=progress.advance)
    if as_json:
        click.echo(to_json(report.as_dict()))
        return
    what = f"{report.runs} runs, {report.spans} spans, {report.events} events"
    skipped = (
        f" ({report.open_spans_skipped} spans still open skipped)"
        if report.open_spans_skipped
        else ""
    )
    if report.replaced or report.unchanged:
        skipped += f" ({report.replaced} runs replaced, {report.unchanged} already there unchanged)"
    console.print(f"exported {what} to {report.out} as {fmt}{skipped}", soft_wrap=True)
