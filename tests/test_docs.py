"""Keep the docs honest: every public name and CLI command is documented."""

from __future__ import annotations

from pathlib import Path

import agentreel
import agentreel.store
from agentreel.cli import main

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_public_name_is_documented() -> None:
    text = (DOCS / "python-api.md").read_text()
    missing = [
        n for n in agentreel.__all__ if n != "__version__" and f"`agentreel.{n}`" not in text
    ]
    missing += [n for n in agentreel.store.__all__ if f"`agentreel.store.{n}`" not in text]
    assert not missing, f"docs/python-api.md lacks: {missing}"


def test_every_cli_command_and_option_is_documented() -> None:
    text = (DOCS / "cli.md").read_text()
    for name, cmd in main.commands.items():
        assert f"## `agentreel {name}`" in text, f"docs/cli.md lacks a section for {name}"
        section = text.split(f"## `agentreel {name}`", 1)[1].split("\n## ", 1)[0]
        for param in cmd.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--"):
                    assert opt in section, (
                        f"docs/cli.md: `agentreel {name}` does not document {opt}"
                    )


def test_every_table_is_documented() -> None:
    text = (DOCS / "data-model.md").read_text()
    import re

    from agentreel.store._schema import MIGRATIONS

    tables = re.findall(r"CREATE TABLE (\w+)", "\n".join(MIGRATIONS))
    assert tables
    for t in tables:
        assert f"`{t}`" in text, f"docs/data-model.md lacks table {t}"


def test_every_test_that_reliability_md_names_exists() -> None:
    """docs/reliability.md proves each promise by a named test: the names must stay true."""
    import ast
    import re

    root = DOCS.parent
    text = (DOCS / "reliability.md").read_text()
    named: list[tuple[str, str]] = []
    last_file = ""
    for path, name in re.findall(r"`(tests/[\w/]+\.py)?::(\w+)`", text):
        last_file = path or last_file
        named.append((last_file, name))
    assert len(named) > 40, "docs/reliability.md names fewer tests than expected"
    missing = []
    for path, name in named:
        tree = ast.parse((root / path).read_text())
        defs = {
            n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        if name not in defs:
            missing.append(f"{path}::{name}")
    for path in set(re.findall(r"`(tests/[\w/]+\.py)`", text)):
        if not (root / path).is_file():
            missing.append(path)
    assert not missing, f"docs/reliability.md names tests that do not exist: {missing}"


def test_the_collector_config_in_scaling_md_forwards_every_signal_serve_takes() -> None:
    """`serve` takes spans and GenAI events (log records): a Collector set up as
    docs/scaling.md shows must forward both, or the spans arrive without their messages."""
    import re

    import yaml

    from agentreel.store._receiver_routes import LOGS_PATH, TRACES_PATH

    signals = [path.rsplit("/", 1)[1] for path in (TRACES_PATH, LOGS_PATH)]  # traces, logs
    blocks = re.findall(r"```yaml\n(.*?)```", (DOCS / "scaling.md").read_text(), re.S)
    config = next(yaml.safe_load(b) for b in blocks if "service:" in b)
    pipelines = config["service"]["pipelines"]
    for signal in signals:
        assert signal in pipelines, f"docs/scaling.md: the Collector has no {signal} pipeline"
        assert "otlphttp/agentreel" in pipelines[signal]["exporters"], signal


def test_what_serve_is_said_to_drop_it_drops() -> None:
    """`serve` keeps span links (tests/store/test_links.py receives some over OTLP): its
    section of docs/cli.md must not list them among what it does not store."""
    text = (DOCS / "cli.md").read_text()
    section = text.split("## `agentreel serve`", 1)[1].split("\n## ", 1)[0]
    dropped = " ".join(section.split()).split("not stored")[0].rsplit(".", 1)[-1]
    assert "dropped counts" in dropped  # the sentence that lists them
    assert "links" not in dropped.lower(), dropped
