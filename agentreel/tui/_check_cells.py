"""How the checks screen shows results and failing rows: columns, cells, empty state.

Every cell is a `Text`, so check names, scopes and payloads are shown as data and never
read as console markup.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from agentreel._fmt import fmt_limits, fmt_stat
from agentreel.tui._format import clip

__all__ = [
    "COLUMNS",
    "STATUS_STYLE",
    "check_status_text",
    "columns_for",
    "failure_cell",
    "no_checks_message",
    "result_cells",
]

STATUS_STYLE = {"error": "bold red", "warn": "bold yellow", "pass": "green", "skip": "dim"}
#: (column key, label)
COLUMNS = [
    ("status", "status"),
    ("check", "check"),
    ("scope", "scope"),
    ("statistic", "statistic"),
    ("value", "value"),
    ("baseline", "baseline"),
    ("limits", "limits (warn / error)"),
    ("n", "n"),
    ("message", "message"),
]
_ID_COLUMNS = ("run_id", "trace_id", "span_id", "parent_span_id")


def check_status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def no_checks_message() -> Text:
    return Text.assemble(
        ("No check results yet\n\n", "bold"),
        "Checks hold the recorded runs to contracts and limits, and compare them\n"
        "with a baseline. Run them, and their results appear here:\n\n",
        ("  agentreel check", "bold cyan"),
        "                 the last day against the week before\n",
        ("  agentreel check --since 1h", "bold cyan"),
        "      a window of your own\n\n",
        ("docs/checks.md describes every check; r reads the store again.", "dim"),
    )


def columns_for(width: int) -> list[str]:
    """The result columns that fit `width`: the message, n and baseline give way first."""
    keys = [k for k, _ in COLUMNS]
    if width < 150:
        keys.remove("message")  # still shown above the failing rows
    if width < 110:
        keys = [k for k in keys if k not in ("n", "baseline")]
    if width < 90:
        keys.remove("scope")  # folded into the check column
    return keys


def result_cells(r: dict[str, Any], keys: list[str]) -> list[Text]:
    """A result row's cells, as Text: names and messages are data, never console markup."""
    narrow = "scope" not in keys
    check = r["check_name"]
    if narrow and r["scope"] != "all":
        check = f"{check} [{r['scope']}]"
    cells: dict[str, Text] = {
        "status": check_status_text(r["status"]),
        "check": Text(clip(check, 24 if narrow else None)),
        "scope": Text(r["scope"], style="dim" if r["scope"] == "all" else ""),
        "statistic": Text(clip(r["statistic"], 16 if narrow else None)),
        "value": Text(fmt_stat(r["value"], r["unit"]), justify="right"),
        "baseline": Text(fmt_stat(r["baseline"], r["unit"]), justify="right"),
        "limits": Text(fmt_limits(r["op"], r["warn_threshold"], r["error_threshold"], r["unit"])),
        "n": Text("-" if r["n"] is None else str(r["n"]), justify="right"),
        "message": Text(r["message"] or "", style="dim"),
    }
    return [cells[k] for k in keys]


def failure_cell(key: str, value: Any) -> Text:
    if value is None:
        return Text("-", style="dim")
    if isinstance(value, float):
        return Text(f"{value:.4g}", justify="right")
    if isinstance(value, int):
        return Text(str(value), justify="right")
    s = value if isinstance(value, str) else str(value)
    if key == "status" and s == "unset":
        s = "ok"  # a span that ended without an error status: what every screen calls ok
    if key in _ID_COLUMNS:
        return Text(s[:12], style="dim")
    return Text(clip(s, 40))
