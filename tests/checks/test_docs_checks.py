"""docs/checks.md documents every built-in check, every setting, every CLI option and
every name `agentreel.checks` exports."""

from __future__ import annotations

import re
from pathlib import Path

import agentreel.checks
from agentreel.checks._registry import BUILTINS
from agentreel.cli import main

DOC = (Path(__file__).resolve().parents[2] / "docs" / "checks.md").read_text()


def _section(name: str) -> str:
    parts = re.split(r"^### ", DOC, flags=re.M)
    found = [p for p in parts if f"`{name}`" in p.splitlines()[0]]
    assert found, f"docs/checks.md has no ### section for `{name}`"
    return found[0]


def test_every_builtin_check_and_setting_is_documented() -> None:
    for name, check in BUILTINS.items():
        assert f"[`{name}`]" in DOC, f"the summary table lacks {name}"
        section = _section(name)
        for key in check.params:
            assert f"`{key}" in section or f"{key} =" in section, f"{name}: {key} is not documented"


def _paragraph(section: str, label: str) -> str:
    """The text from `label` to the next blank line or bold label."""
    start = section.index(label) + len(label)
    end = min(
        i
        for i in (section.find("\n\n", start), section.find("\n**", start), len(section))
        if i >= 0
    )
    return " ".join(section[start:end].split())


def test_every_check_says_what_it_counts_with_an_example_either_way() -> None:
    """Each check's section says what counts as an event, and gives a run (or window)
    that triggers it and one that does not."""
    for name in BUILTINS:
        section = _section(name)
        assert section.count("**Event:**") == 1, f"{name}: no **Event:** paragraph"
        assert section.count("**Example:**") == 1, f"{name}: no **Example:** paragraph"
        event = _paragraph(section, "**Event:**")
        assert len(event) > 20, f"{name}: the event is not described: {event!r}"
        example = _paragraph(section, "**Example:**")
        assert re.search(r"\btrigger(s|)\b", example), f"{name}: no example that triggers it"
        assert re.search(r"\b(does|do) not\b|\bneither\b", example), (
            f"{name}: no example that does not trigger it"
        )


def test_every_check_option_is_documented() -> None:
    for cmd in (main.commands["check"], main.commands["baseline"].commands["save"]):  # type: ignore[attr-defined]
        for param in cmd.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--") and opt not in ("--dir", "--config", "--output"):
                    assert opt in DOC, f"docs/checks.md does not mention {opt}"


def test_agentreel_checks_exports_what_the_docs_list_and_nothing_else() -> None:
    table = DOC.split("### What `agentreel.checks` exports", 1)[1].split("\n## ", 1)[0]
    listed: set[str] = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            listed |= set(re.findall(r"`(\w+)", line.split("|")[1]))
    assert listed == set(agentreel.checks.__all__)
