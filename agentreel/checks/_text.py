"""The report as a terminal table: one row per result, then the failing rows of each failure."""

from __future__ import annotations

from typing import Any

import polars as pl
from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from agentreel.checks._formats import format_limits, format_value
from agentreel.checks._report import CheckReport

__all__ = ["render_text"]

_STYLE = {"pass": "green", "warn": "yellow", "error": "bold red", "skip": "dim"}


def render_text(
    report: CheckReport, *, only_failures: bool = False, examples: int = 5
) -> RenderableType:
    """A rich renderable of `report`: header, results table, failing rows under each failure.

    On a terminal the tables fit its width. Without one (a CI log, a file, a pipe) they
    are plain aligned lines, one per row, as long as their contents: nothing is cut or
    dropped, whatever the width. Print those with ``crop=False`` so the console keeps
    them whole.

    Example::

        Console().print(render_text(run_checks(store)), crop=False)
    """
    c = report.counts()
    cur = report.current
    head = Text.assemble(
        ("agentreel check: ", "bold"),
        (report.status, _STYLE[report.status]),
        f"  ·  current: {cur.get('description')} ({cur.get('runs')} runs, {cur.get('spans')} spans)",
    )
    if report.baseline is not None:
        head.append(f"  ·  baseline: {report.baseline.get('description')}")
    rows = report.rows()
    shown_rows = [r for r in rows if not (only_failures and r["status"] in ("pass", "skip"))]
    table = _ResultsTable(shown_rows)
    parts: list[RenderableType] = [head, table]
    shown: set[int] = set()
    for i, r in enumerate(rows):
        if r["status"] not in ("warn", "error"):
            continue
        failures = report.metrics[i].failures
        if failures is not None and id(failures) in shown:
            continue  # rows that share their failing rows (a rate's two limits) show them once
        f = report.failures(i, limit=None)
        has_rows = f is not None and f.height > 0
        if not has_rows and not r["message"]:
            continue
        if failures is not None:
            shown.add(id(failures))
        more = f"  … {f.height - examples} more" if f is not None and f.height > examples else ""
        parts.append(
            Text.assemble(
                ("\n" + ("✗ " if r["status"] == "error" else "! "), _STYLE[r["status"]]),
                (f"{r['check']} · {r['scope']}", "bold"),
                f" — {r['statistic']} {format_value(r['value'], r['unit'])}{more}",
                (f"\n{r['message']}" if r["message"] else "", "dim"),
            )
        )
        if f is not None and has_rows:
            parts.append(_FailureTable(f.head(examples)))
    parts.append(
        Text(
            f"\n{c['error']} errors, {c['warn']} warnings, {c['pass']} passed, {c['skip']} skipped "
            f"in {report.timings.total:.2f}s",
            style=_STYLE[report.status],
        )
    )
    return Group(*parts)


def _plain(
    header: list[str], rows: list[list[tuple[str, str]]], right: frozenset[int] = frozenset()
) -> RenderResult:
    """Aligned lines without a width: each column as wide as its widest cell, the last one
    unpadded. Cells are (text, style); `right` are the columns justified to the right."""
    widths = [max([len(h), *(len(row[j][0]) for row in rows)]) for j, h in enumerate(header)]

    def line(cells: list[tuple[str, str]], header_style: str = "") -> Text:
        out = Text(no_wrap=True, overflow="ignore")
        last = len(cells) - 1
        for j, (text, style) in enumerate(cells):
            pad = " " * (widths[j] - len(text)) if j < last else ""
            cell = pad + text if j in right else text + pad
            out.append(cell, style=header_style or style)
            if j < last:
                out.append("  ")
        out.rstrip()
        return out

    yield line([(h, "") for h in header], "bold")
    for row in rows:
        yield line(row)


class _FailureTable:
    """The failing rows under a warning or failure: folded to a terminal's width, or plain
    lines without one."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        cells = [[("" if v is None else str(v), "") for v in row] for row in self.frame.iter_rows()]
        if not options.is_terminal:
            yield from _plain(self.frame.columns, cells)
            return
        sub = Table(show_edge=False, pad_edge=False, header_style="dim", box=None)
        for col in self.frame.columns:
            sub.add_column(col, overflow="fold")
        for row in cells:
            sub.add_row(*(Text(text) for text, _ in row))
        yield sub


class _ResultsTable:
    """The results table, laid out for the width it is printed at.

    Wide terminals get every column; below 120 columns the message column goes (the
    messages of warnings and failures are printed under them anyway) and long
    statistics and scopes are cut with an ellipsis instead of wrapping letter by letter.
    Without a terminal (a CI log, a file) every column is printed in full, one line per
    row, however wide the lines get: a log is read later, and nothing may be lost.
    """

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not options.is_terminal:
            yield from self._plain()
            return
        wide = options.max_width >= 120
        table = Table(
            box=box.SIMPLE_HEAD if wide else None,
            show_edge=False,
            pad_edge=False,
            header_style="bold" if wide else "bold underline",
            padding=(0, 1) if wide else (0, 1, 0, 0),
        )
        fixed = {"no_wrap": True}
        cut = {"no_wrap": True, "overflow": "ellipsis"}
        num = {"justify": "right", "no_wrap": True}
        cols: list[tuple[str, dict[str, Any]]] = [("status", {**fixed, "min_width": 5})]
        if wide:
            cols += [
                ("check", fixed),
                ("scope", {**cut, "max_width": 28}),
                ("statistic", {**cut, "ratio": 1}),
            ]
        else:  # scope beside the check's name, so the numbers keep their room
            cols += [("check", {**cut, "max_width": 20}), ("statistic", {**cut, "max_width": 14})]
        cols += [
            ("value", {**num, "min_width": 7}),
            ("baseline", {**num, "min_width": 8}),
            ("threshold", {**num, "min_width": 9}),
            ("n", num),
        ]
        if wide:
            cols.append(("message", {"ratio": 2, "min_width": 20}))
        for col, kw in cols:
            table.add_column(col, **kw)
        for r in self.rows:
            check = r["check"] if wide or r["scope"] == "all" else f"{r['check']} {r['scope']}"
            # Text, not str: names and scopes come from the user's config and data, not markup
            cells: list[RenderableType] = [
                Text(r["status"], style=_STYLE[r["status"]]),
                Text(check),
            ]
            if wide:
                cells.append(Text(r["scope"]))
            cells += [
                Text(r["statistic"]),
                format_value(r["value"], r["unit"]),
                format_value(r["baseline"], r["unit"]),
                format_limits(r),
                f"{r['n']:,}",
            ]
            if wide:
                cells.append(Text(r["message"] or "", style="dim" if r["status"] == "skip" else ""))
            table.add_row(*cells)
        yield table

    def _plain(self) -> RenderResult:
        header = [
            "status",
            "check",
            "scope",
            "statistic",
            "value",
            "baseline",
            "threshold",
            "n",
            "message",
        ]
        rows = [
            [
                (r["status"], _STYLE[r["status"]]),
                (r["check"], ""),
                (r["scope"], ""),
                (r["statistic"], ""),
                (format_value(r["value"], r["unit"]), ""),
                (format_value(r["baseline"], r["unit"]), ""),
                (format_limits(r), ""),
                (f"{r['n']:,}", ""),
                (r["message"] or "", "dim" if r["status"] == "skip" else ""),
            ]
            for r in self.rows
        ]
        yield from _plain(header, rows, right=frozenset({4, 5, 6, 7}))
