"""Security: user input reaches SQL only as data; import reads only what it is given;
secrets are masked on every path before anything is written.

tests/tracer/test_redact.py covers the patterns, arguments, LLM messages, results set
with `set_output` and exception messages; here are the paths it does not: attributes
and events set on agentreel's own spans (through the `SpanHandle` or OpenTelemetry's
API), run names and tags, results returned, tracebacks, start records of spans still
open.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from textual.pilot import Pilot
from textual.widgets import Static

import agentreel
from agentreel import AgentreelError
from agentreel.cli import main
from agentreel.store import Store, import_otlp_json
from agentreel.tui import AgentreelApp
from agentreel.tui._runs import RunsScreen
from tests.conftest import Recorded
from tests.tui.test_app import drive, runs_table, text_of, until

ROOT = Path(__file__).resolve().parents[2]

INJECTIONS = [
    "x' OR '1'='1",
    "x'; DROP TABLE runs; --",
    'x"; DROP TABLE spans; --',
    "') UNION SELECT * FROM spans --",
    "*' OR 1=1 --",
    "$1",
    "$status",
    "x\\' OR 1=1",
    "%' OR '%'='",
    "name:x' OR '1'='1",
]


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A store with two runs, one named and tagged with an injection attempt (as data)."""
    d = tmp_path / "store"
    agentreel.init(d, tracer_provider=TracerProvider())
    try:
        with agentreel.run("plain", tags={"team": "a"}):
            pass
        with agentreel.run(INJECTIONS[1], tags={"team": INJECTIONS[0]}):
            pass
    finally:
        agentreel.shutdown()
    with Store.open(d, create=True) as store:
        store.ingest()
    return d


def _intact(d: Path) -> None:
    with Store.open(d) as store:
        tables = set(store.sql("SELECT table_name FROM duckdb_tables()")["table_name"])
        assert {"spans", "runs", "segments", "processes", "check_results", "meta"} <= tables
        assert store.sql("SELECT count(*) AS n FROM runs")["n"][0] == 2
        assert store.sql("SELECT count(*) AS n FROM spans")["n"][0] == 2


@pytest.mark.parametrize("attack", INJECTIONS)
def test_sql_injection_through_store_runs_is_data(victim: Path, attack: str) -> None:
    with Store.open(victim) as store:
        assert store.runs(name=attack).height == (attack == INJECTIONS[1])
        assert store.runs(tag={"team": attack}).height == (attack == INJECTIONS[0])
        assert store.runs(tag={attack: "a"}).height == 0
        try:
            height = store.runs(query=attack).height
        except AgentreelError:  # an unclosed quote, say: refused, never run
            height = 0
        assert height <= 1
        quoted = json.dumps(attack)
        by_text = store.runs(query=f"name:{quoted}").height
        assert by_text == (attack == INJECTIONS[1])
    _intact(victim)


@pytest.mark.parametrize("attack", INJECTIONS[:4])
def test_sql_injection_through_the_cli_is_data(victim: Path, attack: str) -> None:
    runner = CliRunner()
    for args in (
        ["runs", "--json", "-q", attack],
        ["runs", "--json", "--name", attack],
        ["runs", "--json", "--tag", f"team={attack}"],
        ["runs", "--json", "--tag", f"{attack}=a"],
        ["show", attack],
    ):
        out = runner.invoke(main, [*args, "--dir", str(victim)])
        assert out.exit_code in (0, 2), out.output
        assert "Traceback" not in out.output
        if out.exit_code == 0 and args[0] == "runs":
            names = [r["name"] for r in json.loads(out.output)]
            assert set(names) <= {INJECTIONS[1]}
    out = runner.invoke(main, ["runs", "--json", "--name", INJECTIONS[1], "--dir", str(victim)])
    assert [r["name"] for r in json.loads(out.output)] == [INJECTIONS[1]]
    _intact(victim)


def test_sql_injection_through_the_tui_filter_bar_is_data(victim: Path) -> None:
    async def steps(pilot: Pilot[None]) -> None:
        await until(
            pilot,
            lambda: isinstance(pilot.app.screen, RunsScreen) and runs_table(pilot).row_count == 2,
        )
        for attack, rows in (
            (f"name:{json.dumps(INJECTIONS[1])}", 1),  # the run named so, found by its name
            ("x OR 1=1 --; DROP TABLE runs", 0),  # words searched for, not run
            (f'tag:team="{INJECTIONS[0]}"', 1),
        ):
            await pilot.press("slash")
            await pilot.press("ctrl+a", "ctrl+k", *attack, "enter")
            await until(pilot, lambda rows=rows: runs_table(pilot).row_count == rows)  # type: ignore[misc]
        await pilot.press("slash")
        await pilot.press("ctrl+a", "ctrl+k", *"x' OR 1=1 --", "enter")  # an unbalanced quote
        await until(
            pilot,
            lambda: (
                "close the quotes" in text_of(pilot.app.screen.query_one("#status-line", Static))
            ),
        )
        await pilot.press("escape")

    drive(AgentreelApp(victim, refresh_every=60), steps)
    _intact(victim)


# -- import reads only the files it is given ------------------------------------------


def test_import_refuses_directories_symlinked_directories_and_devices(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.json").write_text('{"resourceSpans": []}')
    asked = tmp_path / "asked"
    asked.mkdir()
    (asked / "link").symlink_to(outside, target_is_directory=True)
    fifo = asked / "fifo"
    os.mkfifo(fifo)
    store = tmp_path / "store"
    for p in (asked, asked / "link", fifo, Path("/dev/zero")):
        with pytest.raises(AgentreelError, match="not a regular file"):
            import_otlp_json(store, [p])
    assert not list((store / "spool").glob("*.jsonl")) if (store / "spool").exists() else True
    out = CliRunner().invoke(main, ["import", str(asked / "link"), "--dir", str(store)])
    assert out.exit_code == 2
    assert "not a regular file" in out.output


def test_import_checks_the_file_it_opens_not_only_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A path swapped for a FIFO between the check and the read is refused, not waited on."""
    import agentreel.store._import_json as importing

    good = tmp_path / "t.json"
    good.write_text('{"resourceSpans": []}')
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    checked = importing._check_files
    monkeypatch.setattr(importing, "_check_files", lambda files: [fifo] if checked(files) else [])
    t0 = time.monotonic()
    with pytest.raises(AgentreelError, match="not a regular file"):
        import_otlp_json(tmp_path / "store", [good])
    assert time.monotonic() - t0 < 5


def test_import_stops_a_gzip_bomb_at_the_document_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small gzip file that inflates past the limit is refused while reading, by name.

    The limit (256 MiB) is lowered to 1 MiB so that the test inflates 2 MiB, not 300.
    """
    import gzip

    import agentreel.store._import_json as importing
    from agentreel.store import OTLPDecodeError

    monkeypatch.setattr(importing, "MAX_IMPORT_DOCUMENT", 1024 * 1024)
    good = json.dumps({"resourceSpans": []}).encode()
    one_line = tmp_path / "line.json.gz"  # a request per line, the second one huge
    one_line.write_bytes(gzip.compress(good + b"\n" + b" " * (2 * 1024 * 1024) + b"{}\n"))
    document = tmp_path / "doc.json.gz"  # one pretty-printed document, huge
    document.write_bytes(
        gzip.compress(b'{\n"resourceSpans":\n' + b" " * (2 * 1024 * 1024) + b"[]}")
    )
    assert one_line.stat().st_size < 10_000
    store = tmp_path / "store"
    with pytest.raises(OTLPDecodeError, match=r"line.json.gz, line 2, is longer than 1 MiB"):
        import_otlp_json(store, [one_line])
    with pytest.raises(OTLPDecodeError, match=r"doc.json.gz is longer than 1 MiB"):
        import_otlp_json(store, [document])
    assert not list((store / "spool").glob("*.jsonl"))  # nothing of either import stays
    out = CliRunner().invoke(main, ["import", str(document), "--dir", str(store)])
    assert out.exit_code == 2
    assert "is longer than 1 MiB" in out.output


# -- redaction on every path -----------------------------------------------------------

SECRET = "sk-proj-abcdefghijklmnopqrstuvwx1234"
NEEDLE = "abcdefghijklmnopqrstuvwx1234"


def _spooled(recorded: Recorded) -> str:
    agentreel.flush()
    spool = recorded.path / "spool"
    return "".join(p.read_text() for p in [*spool.glob("*.jsonl"), *spool.glob("*/*.jsonl")])


def test_secrets_set_on_agentreels_own_spans_are_masked(recorded: Recorded) -> None:
    @agentreel.tool
    def fetch(url: str) -> dict[str, str]:
        h = agentreel.current_span()
        h.set_attribute("http.header", f"Bearer {SECRET}")
        h.set_attributes({"keys": [SECRET, "plain"], "note": f"key={SECRET}"})
        raw = trace.get_current_span()  # OpenTelemetry's own API on agentreel's span
        raw.set_attribute("otel.direct", SECRET)
        raw.add_event("retry", {"why": f"token {SECRET} expired"})
        raw.set_status(trace.Status(trace.StatusCode.ERROR, f"rejected {SECRET}"))
        return {"token": SECRET}  # a result returned, not set with set_output

    fetch(f"https://example.org/?key={SECRET}")
    with agentreel.run(f"deploy {SECRET}", tags={"auth": SECRET}):
        pass
    raw = _spooled(recorded)
    assert "[REDACTED]" in raw
    assert NEEDLE not in raw
    recs = {r["name"]: r for r in recorded.records()}
    tool = recs["execute_tool fetch"]
    assert tool["attributes"]["keys"] == ["[REDACTED]", "plain"]
    assert tool["events"][0]["attributes"]["why"] == "token [REDACTED] expired"


def test_secrets_in_tracebacks_and_in_start_records_are_masked(recorded: Recorded) -> None:
    @agentreel.tool
    def boom() -> None:
        raise RuntimeError("failed with sk-proj-abcdefghijklmnopqrstuvwx1234")  # in the source

    with pytest.raises(RuntimeError):
        boom()

    @agentreel.agent(name="slow")
    def slow(key: str) -> str:
        agentreel.flush()  # while this span is open: its start record is spooled
        return "done"

    tracer = recorded.provider.get_tracer("openinference.instrumentation.x")
    with tracer.start_as_current_span("outer", attributes={"input.value": SECRET}):
        slow(SECRET)
    opened = "".join(p.read_text() for p in (recorded.path / "spool").glob("*.open.jsonl"))
    assert "invoke_agent slow" in opened
    assert "[REDACTED]" in opened
    raw = _spooled(recorded)
    assert "Traceback" in raw
    assert "RuntimeError" in raw
    assert NEEDLE not in raw


def test_async_tasks_and_generators_capture_through_the_redactor(recorded: Recorded) -> None:
    @agentreel.tool
    async def afetch(token: str) -> str:
        return f"used {token}"

    @agentreel.tool
    def stream(token: str):  # type: ignore[no-untyped-def]
        yield f"chunk {token}"

    asyncio.run(afetch(SECRET))
    assert list(stream(SECRET)) == [f"chunk {SECRET}"]
    assert NEEDLE not in _spooled(recorded)


# -- spans from outside: serve and import redact as the tracer does ------------------

_SECRETS = {
    "key": "sk-" + "a1B2c3D4e5F6g7H8i9J0k1L2",
    "url": "https://bob:hunter2hunter2@db.example.com/x",
    "bearer": "Bearer " + "eyJhbGciOiJIUzI1NiJ9abcdef",
    "email": "carol@example.org",
    "custom": "ACME-123456",
}


def _otlp_with_secrets() -> dict[str, object]:
    """One OTLP/JSON request with a secret on every path a span carries text."""

    def attr(k: str, v: str) -> dict[str, object]:
        return {"key": k, "value": {"stringValue": v}}

    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [attr("service.name", "outside")]},
                "scopeSpans": [
                    {
                        "scope": {"name": "someone-elses-sdk"},
                        "spans": [
                            {
                                "traceId": "0af7651916cd43dd8448eb211c80319c",
                                "spanId": "b7ad6b7169203331",
                                "name": "tool call",
                                "kind": 1,
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": "1700000000250000000",
                                "attributes": [
                                    attr("openinference.span.kind", "TOOL"),
                                    attr("input.value", f'{{"api_key": "{_SECRETS["key"]}"}}'),
                                    attr("output.value", f"mail {_SECRETS['email']}"),
                                    attr("db.url", _SECRETS["url"]),
                                    attr("ticket", _SECRETS["custom"]),
                                ],
                                "events": [
                                    {
                                        "name": "exception",
                                        "timeUnixNano": "1700000000200000000",
                                        "attributes": [
                                            attr("exception.type", "PermissionError"),
                                            attr("exception.message", f"as {_SECRETS['email']}"),
                                            attr("exception.stacktrace", _SECRETS["bearer"]),
                                        ],
                                    }
                                ],
                                "status": {"code": 2, "message": _SECRETS["bearer"]},
                            }
                        ],
                    }
                ],
            }
        ]
    }


def _stored_text(store_dir: Path) -> str:
    """Everything the store and its spool hold about spans, as one text."""
    with Store.open(store_dir, create=True) as store:
        store.ingest()
        rows = store.sql("SELECT * FROM spans").rows() + store.sql("SELECT * FROM events").rows()
    spool = store_dir / "spool"
    files = [p for p in spool.rglob("*.jsonl") if p.is_file()]
    assert rows
    assert files
    return repr(rows) + "".join(p.read_text() for p in files)


def test_spans_received_over_otlp_are_redacted_before_they_are_written(tmp_path: Path) -> None:
    import http.client

    from agentreel.store import Receiver

    body = json.dumps(_otlp_with_secrets()).encode()
    for store_dir, redact in ((tmp_path / "masked", True), (tmp_path / "as-sent", False)):
        with Receiver(store_dir, port=0, redact=redact) as r:
            c = http.client.HTTPConnection("127.0.0.1", r.port, timeout=10)
            c.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/json"})
            assert c.getresponse().status == 200
            c.close()
        text = _stored_text(store_dir)
        builtin = [v for k, v in _SECRETS.items() if k != "custom"]
        if redact:
            leaked = [s for s in builtin if s in text or s.split()[-1] in text]
            assert not leaked, leaked
            assert "[REDACTED]" in text
        else:  # turned off on purpose: stored as sent
            assert all(s in text for s in builtin)


def test_imported_spans_are_redacted_with_the_defaults_and_patterns_of_your_own(
    tmp_path: Path,
) -> None:
    src = tmp_path / "traces.json"
    src.write_text(json.dumps(_otlp_with_secrets()))
    runner = CliRunner()
    out = runner.invoke(
        main, ["import", str(src), "--redact-pattern", r"ACME-\d{6}", "--dir", str(tmp_path / "a")]
    )
    assert out.exit_code == 0, out.output
    text = _stored_text(tmp_path / "a")
    leaked = [s for s in _SECRETS.values() if s in text or s.split()[-1] in text]
    assert not leaked, leaked
    # the Python API, defaults only: the custom token stays, the built-in ones go
    import_otlp_json(tmp_path / "b", [src])
    text = _stored_text(tmp_path / "b")
    assert _SECRETS["custom"] in text
    assert _SECRETS["email"] not in text
    # turned off, and a contradiction refused by name
    import_otlp_json(tmp_path / "c", [src], redact=False)
    assert _SECRETS["email"] in _stored_text(tmp_path / "c")
    both = runner.invoke(
        main, ["import", str(src), "--no-redact", "--redact-pattern", "x", "--dir", str(tmp_path)]
    )
    assert both.exit_code == 2
    assert "either --no-redact or --redact-pattern" in both.output
    bad = runner.invoke(main, ["import", str(src), "--redact-pattern", "(", "--dir", str(tmp_path)])
    assert bad.exit_code != 0
    assert "not a valid regular expression" in bad.output
    assert "Traceback" not in bad.output
