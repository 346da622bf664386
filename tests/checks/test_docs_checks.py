"""docs/checks.md documents every built-in check, every setting and every CLI option."""

from __future__ import annotations

import re
from pathlib import Path

from agentreel.checks import BUILTINS
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


def test_every_check_option_is_documented() -> None:
    for cmd in (main.commands["check"], main.commands["baseline"].commands["save"]):  # type: ignore[attr-defined]
        for param in cmd.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--") and opt not in ("--dir", "--config", "--output"):
                    assert opt in DOC, f"docs/checks.md does not mention {opt}"
