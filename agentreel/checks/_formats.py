"""Reports as text for machines and CI: JSON, JUnit XML, Markdown, GitHub annotations.

Example::

    report = run_checks(store)
    Path("checks.xml").write_text(to_junit_xml(report))
    print(to_markdown(report))
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Literal

import polars as pl

from agentreel._fmt import fmt_limits, fmt_stat
from agentreel.checks._report import CheckReport

__all__ = [
    "format_limits",
    "format_value",
    "github_annotations",
    "to_json",
    "to_junit_xml",
    "to_markdown",
]

_ICON = {"pass": "✅", "warn": "⚠️", "error": "❌", "skip": "⏭️"}


def format_value(v: float | None, unit: str) -> str:
    """A statistic in its unit: ``12.5%``, ``812 ms``, ``$0.0312``, ``1,204``."""
    return fmt_stat(v, unit)


def format_limits(row: dict[str, Any]) -> str:
    """The warn and error limits: ``≤ 6.0% / 9.0%`` (warn / error), ``≤ 0 (error)``."""
    return fmt_limits(row["op"], row["warn"], row["error"], row["unit"])


def to_json(report: CheckReport) -> str:
    """The report as JSON (`CheckReport.as_dict`); e.g. ``json.loads(to_json(report))["status"]``."""
    return report.to_json()


def _detail(report: CheckReport, i: int, row: dict[str, Any]) -> str:
    lines = [
        f"{row['check']} [{row['scope']}] {row['statistic']}: {format_value(row['value'], row['unit'])}",
        f"baseline {format_value(row['baseline'], row['unit'])}, limits {format_limits(row)} "
        f"(warn / error), n={row['n']}",
    ]
    if row["p_value"] is not None:
        lines.append(f"p={row['p_value']:.3g}")
    if row["message"]:
        lines.append(row["message"])
    f = report.failures(i)
    if f is not None and f.height:
        # every column and every character: a CI report is read later, with nothing at hand
        with pl.Config(tbl_rows=20, tbl_cols=-1, fmt_str_lengths=10_000, tbl_width_chars=65_000):
            lines.append(str(f))
    return "\n".join(lines)


def to_junit_xml(report: CheckReport, fail_on: Literal["error", "warn"] = "error") -> str:
    """JUnit XML: one test case per result row; errors (and warnings with ``fail_on="warn"``)
    are failures, skips are skipped, other warnings are written to system-out.

    Example: ``Path("checks.xml").write_text(to_junit_xml(report))``.
    """
    rows = report.rows()
    failed = [r["status"] == "error" or (r["status"] == "warn" and fail_on == "warn") for r in rows]
    suites = ET.Element("testsuites", name="agentreel")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name="agentreel.checks",
        tests=str(len(rows)),
        failures=str(sum(failed)),
        errors="0",
        skipped=str(sum(r["status"] == "skip" for r in rows)),
        time=f"{report.timings.total:.3f}",
        timestamp=report.checked_at.isoformat(timespec="seconds"),
    )
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="current", value=str(report.current.get("description")))
    if report.baseline is not None:
        ET.SubElement(
            props, "property", name="baseline", value=str(report.baseline.get("description"))
        )
    for i, (r, bad) in enumerate(zip(rows, failed, strict=True)):
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"agentreel.{r['check']}",
            name=f"{r['scope']} · {r['statistic']}",
            time=f"{report.timings.checks.get(r['check'], 0.0):.3f}",
        )
        cp = ET.SubElement(case, "properties")
        for key in (
            "status",
            "severity",
            "value",
            "baseline",
            "warn",
            "error",
            "n",
            "p_value",
            "message",
        ):
            if r[key] is not None and r[key] != "":
                ET.SubElement(cp, "property", name=key, value=str(r[key]))
        if r["status"] == "skip":
            ET.SubElement(case, "skipped", message=r["message"] or "skipped")
        elif bad:
            el = ET.SubElement(
                case,
                "failure",
                type=r["status"],
                message=f"{r['statistic']} {format_value(r['value'], r['unit'])} "
                f"outside {format_limits(r)}: {r['message']}",
            )
            el.text = _detail(report, i, r)
        elif r["status"] == "warn":
            ET.SubElement(case, "system-out").text = "WARNING: " + _detail(report, i, r)
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )


def _md(s: object) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def _md_table(frame: pl.DataFrame, limit: int = 20) -> list[str]:
    cols = frame.columns
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.head(limit).iter_rows():
        out.append("| " + " | ".join(_md("" if v is None else v) for v in row) + " |")
    if frame.height > limit:
        out.append(f"\n… and {frame.height - limit} more")
    return out


def to_markdown(report: CheckReport, *, all_rows: bool = True) -> str:
    """A Markdown summary: counts, the results table, and the failing rows of each failure.

    Example: ``Path(os.environ["GITHUB_STEP_SUMMARY"]).write_text(to_markdown(report))``.
    """
    c = report.counts()
    lines = [
        f"### agentreel checks: {_ICON[report.status]} {report.status}",
        "",
        f"{c['error']} errors, {c['warn']} warnings, {c['pass']} passed, {c['skip']} skipped · "
        f"current: {_md(report.current.get('description'))} ({report.current.get('runs')} runs)"
        + (
            f" · baseline: {_md(report.baseline.get('description'))}"
            if report.baseline is not None
            else ""
        ),
        "",
        "| status | check | scope | statistic | value | baseline | threshold (warn / error) | n | message |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rows = report.rows()
    for r in rows:
        if not all_rows and r["status"] in ("pass", "skip"):
            continue
        lines.append(
            f"| {_ICON[r['status']]} {r['status']} | {_md(r['check'])} | {_md(r['scope'])} | "
            f"{_md(r['statistic'])} | {format_value(r['value'], r['unit'])} | "
            f"{format_value(r['baseline'], r['unit'])} | {format_limits(r)} | {r['n']} | "
            f"{_md(r['message'])} |"
        )
    shown: set[int] = set()
    for i, r in enumerate(rows):
        if r["status"] not in ("warn", "error") or id(report.metrics[i].failures) in shown:
            continue
        shown.add(id(report.metrics[i].failures))
        f = report.failures(i)
        if f is None or f.height == 0:
            continue
        lines += [
            "",
            f"<details><summary>{_ICON[r['status']]} {_md(r['check'])} · {_md(r['scope'])}: "
            f"{f.height if f.height < 20 else 'first 20'} failing rows</summary>",
            "",
            *_md_table(f),
            "",
            "</details>",
        ]
    return "\n".join(lines) + "\n"


def _escape(s: str, prop: bool = False) -> str:
    s = s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return s.replace(":", "%3A").replace(",", "%2C") if prop else s


def github_annotations(report: CheckReport) -> str:
    """``::error`` and ``::warning`` workflow commands, one per failing row.

    Example: ``print(github_annotations(report), end="")`` in a GitHub Actions step.
    """
    out = []
    for r in report.rows():
        if r["status"] not in ("warn", "error"):
            continue
        title = _escape(f"agentreel {r['check']} ({r['scope']})", prop=True)
        msg = (
            f"{r['statistic']} {format_value(r['value'], r['unit'])}, baseline "
            f"{format_value(r['baseline'], r['unit'])}, limits {format_limits(r)} (n={r['n']})"
            + (f": {r['message']}" if r["message"] else "")
        )
        kind = "error" if r["status"] == "error" else "warning"
        out.append(f"::{kind} title={title}::{_escape(msg)}")
    return "\n".join(out) + ("\n" if out else "")
