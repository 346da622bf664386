"""A divergence late in a long prompt is visible in the diff at any width, in a CI log too."""

from __future__ import annotations

import io
from types import SimpleNamespace

from rich.console import Console

from agentreel.cli import _replay
from agentreel.cli._replay import focus_diff

PROMPT = "You are a careful assistant. " * 40  # some 1,160 characters
DIFF = "\n".join(
    [
        "--- recorded",
        "+++ replayed",
        "@@ -1,3 +1,3 @@",
        " {",
        f'-  "content": "{PROMPT}Answer in French."',
        f'+  "content": "{PROMPT}Answer in German."',
        " }",
    ]
)


def test_a_long_changed_line_is_cut_to_the_change_on_both_sides() -> None:
    shown = focus_diff(DIFF, 78).splitlines()
    minus, plus = shown[4], shown[5]
    assert minus.startswith("-…")
    assert plus.startswith("+…")
    assert "French" in minus
    assert "German" in plus
    assert len(minus) < 120
    assert len(plus) < 120
    assert shown[:4] == DIFF.splitlines()[:4]  # short lines stay whole


def test_the_cli_report_without_a_terminal_shows_what_changed(monkeypatch: object) -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=80, force_terminal=False, color_system=None)
    monkeypatch.setattr(_replay, "console", console)  # type: ignore[attr-defined]
    result = SimpleNamespace(
        run_id="a" * 32,
        replay_run_id="b" * 32,
        served=1,
        steps=2,
        live=0,
        env_changes=[],
        notes=[],
        divergence={"message": "step 2 (llm chat): the request differs", "diff": DIFF},
        outcome="stopped",
        reason="stopped at the divergence",
        reproduced=False,
    )
    _replay._report(result, verb="replay")
    out = buf.getvalue()
    assert "French" in out
    assert "German" in out
    # nothing is cut at the edge: every printed line fits the 80 columns
    assert max(len(line) for line in out.splitlines()) <= 80
