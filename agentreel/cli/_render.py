"""Rich renderings of runs and span trees for the terminal, and JSON for scripts."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
from rich import box
from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

from agentreel._fmt import (
    KIND_ICONS,
    fmt_cost,
    fmt_duration,
    fmt_span_tokens,
    fmt_tags,
    fmt_time,
    fmt_tokens,
    tree_prefixes,
)
from agentreel.store import Run, Span, records

__all__ = [
    "KIND_ICONS",
    "fmt_cost",
    "fmt_duration",
    "fmt_tokens",
    "runs_table",
    "span_tree",
    "to_json",
]

STATUS_STYLE = {
    "ok": "green",
    "error": "bold red",
    "running": "cyan",
    "interrupted": "yellow",
    "unset": "green",
}
_JSON_COLUMNS = {"tags", "attributes", "events", "links", "argv", "resource"}


def runs_table(runs: pl.DataFrame) -> RenderableType:
    """The runs: status, name, start, duration, counts, tokens, cost, errors, tags.

    On a terminal, a table fitted to its width: below 120 columns the tags give way,
    below 90 the span count too, below 80 the seconds, and long names are cut. Without a terminal (a pipe,
    a file, a CI log) plain aligned lines, one per run, with every value whole: the
    full run id, name, start time to the second and tags, however long the lines get.
    Print it with ``crop=False``.
    """
    return _Runs(runs)


# (column, justified right, minimum width on a terminal)
_RUN_COLUMNS = (
    ("run", False, 8),
    ("name", False, 6),
    ("status", False, 6),
    ("started", False, 11),
    ("took", True, 6),
    ("spans", True, 5),
    ("llm", True, 3),
    ("tools", True, 5),
    ("tokens", True, 6),
    ("cost", True, 7),
    ("err", True, 3),
    ("tags", False, 0),
)


def _run_cells(r: Run, *, whole: bool, width: int) -> dict[str, str]:
    tokens = (
        None
        if r["input_tokens"] is None and r["output_tokens"] is None
        else (r["input_tokens"] or 0) + (r["output_tokens"] or 0)
    )
    started = fmt_time(r["start_time"], short=not whole)
    return {
        "run": r["run_id"] if whole else r["run_id"][:8],
        "name": r["name"] or "",
        "status": r["status"],
        "started": started if whole else started[: 11 if width < 80 else 14],
        "took": fmt_duration(r["duration_ms"]),
        "spans": str(r["span_count"]),
        "llm": str(r["llm_count"]),
        "tools": str(r["tool_count"]),
        "tokens": fmt_tokens(tokens),
        "cost": fmt_cost(r["cost_usd"]),
        "err": str(r["error_count"]),
        "tags": fmt_tags(r["tags"]),
    }


def _styles(r: Run) -> dict[str, str]:
    return {
        "status": STATUS_STYLE.get(r["status"], ""),
        "err": "red" if r["error_count"] else "dim",
    }


class _Runs:
    def __init__(self, runs: pl.DataFrame) -> None:
        self.runs = runs

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        rows = list(records(self.runs, Run))
        if not options.is_terminal:
            header = [c for c, _, _ in _RUN_COLUMNS]
            cells = [_run_cells(r, whole=True, width=0) for r in rows]
            styles = [_styles(r) for r in rows]
            right = frozenset(i for i, (_, r, _) in enumerate(_RUN_COLUMNS) if r)
            yield from plain_lines(
                header,
                [
                    [(c[h], st.get(h, "")) for h in header]
                    for c, st in zip(cells, styles, strict=True)
                ],
                right,
            )
            return
        width = options.max_width
        drop = set()
        if width < 120:
            drop.add("tags")
        if width < 90:
            drop.add("spans")
        t = Table(
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            header_style="bold",
            padding=0,  # the box's own separator spaces the columns: the name gets the room
        )
        # Fixed columns keep their width; name and tags give way on narrow terminals.
        for col, right_justified, min_w in _RUN_COLUMNS:
            if col in drop:
                continue
            t.add_column(
                col,
                justify="right" if right_justified else "left",
                no_wrap=col not in ("tags", "name"),
                min_width=min_w or None,
                overflow="ellipsis" if col == "name" else "fold",
            )
        for r in rows:
            row = _run_cells(r, whole=False, width=width)
            style = _styles(r)
            # Text, not str: a run named "[prod] x" is not console markup
            t.add_row(*(Text(v, style=style.get(k, "")) for k, v in row.items() if k not in drop))
        yield t


def plain_lines(
    header: list[str], rows: list[list[tuple[str, str]]], right: frozenset[int] = frozenset()
) -> RenderResult:
    """Aligned lines for a pipe or a log: each column as wide as its widest cell, nothing
    cut, no trailing spaces. Cells are (text, style); `right` are the right-justified columns."""
    widths = [
        max([cell_len(h), *(cell_len(row[j][0]) for row in rows)]) for j, h in enumerate(header)
    ]

    def line(cells: list[tuple[str, str]], bold: bool = False) -> Text:
        out = Text(no_wrap=True, overflow="ignore", end="\n")
        last = len(cells) - 1
        for j, (text, style) in enumerate(cells):
            pad = " " * (widths[j] - cell_len(text)) if j < last or j in right else ""
            out.append(pad + text if j in right else text + pad, style="bold" if bold else style)
            if j < last:
                out.append("  ")
        out.rstrip()
        return out

    yield line([(h, "") for h in header], bold=True)
    for row in rows:
        yield line(row)


def span_tree(run: Run, tree: pl.DataFrame) -> RenderableType:
    """A run's header and its span tree with kind, duration, tokens, cost and status.

    On a terminal it fits the width (long span names are cut with "…"); without one,
    every line is whole. Print it with ``crop=False``.
    """
    return _RunView(run, tree)


class _RunView:
    def __init__(self, run: Run, tree: pl.DataFrame) -> None:
        self.run, self.tree = run, tree

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        run = self.run
        plain = not options.is_terminal
        wrap: dict[str, Any] = {"no_wrap": True, "overflow": "ignore"} if plain else {}
        status = run["status"]
        yield Text.assemble(
            (f"{run['name']}", "bold"),
            "  ",
            (status, STATUS_STYLE.get(status, "")),
            "  ",
            (f"run {run['run_id']}", "dim"),
            **wrap,
        )
        yield Text(
            f"started {fmt_time(run['start_time'])} · {fmt_duration(run['duration_ms'])} · "
            f"{run['span_count']} spans ({run['llm_count']} llm, {run['tool_count']} tool) · "
            f"tokens {fmt_tokens(run['input_tokens'])} in / {fmt_tokens(run['output_tokens'])} out · "
            f"cost {fmt_cost(run['cost_usd'])}",
            style="dim",
            **wrap,
        )
        extra = " ".join(
            x
            for x in (
                fmt_tags(run.get("tags")),
                f"service={run['service_name']}" if run.get("service_name") else "",
                f"code={run['code_version'][:10]}" if run["code_version"] else "",
            )
            if x
        )
        if extra:
            yield Text(extra, style="dim", **wrap)
        if run.get("error_message"):
            yield Text(
                f"error: {run.get('error_type') or ''} {run['error_message']}".replace("  ", " "),
                style="red",
                **wrap,
            )
        yield _SpanRows(self.tree, None if plain else options.max_width)


# (header, justify, minimum width) of the span tree's columns after the first
_SPAN_COLUMNS = (
    ("kind", "left", 5),
    ("duration", "right", 8),
    ("tokens", "right", 9),
    ("cost", "right", 7),
    ("status", "left", 6),
)
_DIM, _RED, _BOLD = Style(dim=True), Style(color="red"), Style(bold=True)
_ST_STYLE = {
    "error": Style(bold=True, color="red"),
    "open": Style(color="cyan"),
    "ok": Style(color="green"),
}


def _fit(text: str, width: int) -> str:
    """`text` cut to `width` cells with a "…", or padded to it."""
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    return set_cell_size(text, width - 1) + "…"


class _SpanRows:
    """The span tree's table, a line per span (and per error), laid out by hand.

    Columns are sized from the cells and each line is emitted as ready segments: a
    run of 100,000 spans prints in seconds, where a rich Table measured and wrapped
    every cell of it.
    """

    def __init__(self, tree: pl.DataFrame, width: int | None) -> None:
        """`width`: the terminal's; None lays the tree out whole, cutting nothing."""
        self.whole = width is None
        span_width = max(20, width - 47) if width is not None else 1 << 30
        keep = span_width * 2 // 3  # a deeper prefix shows its innermost levels after a "…"
        prefixes = [
            p if len(p) <= keep else "…" + p[len(p) - keep + 1 :]
            for p in tree_prefixes(tree["depth"].to_list())
        ]
        self.rows: list[tuple[str, str, list[str], str, str | None]] = []
        for prefix, s in zip(prefixes, records(tree, Span), strict=True):
            st = "open" if s["end_time"] is None else ("error" if s["status"] == "error" else "ok")
            tok = fmt_span_tokens(s)
            label = f"{KIND_ICONS.get(s['kind'], '·')} {s['name']}"
            error = None
            if st == "error" and (s["error_message"] or s["error_type"]):
                pad = prefix.replace("├─ ", "│  ").replace("└─ ", "   ")
                error = f"{pad}   {s['error_type'] or 'error'}: {s['error_message'] or ''}"
            cells = [
                s["kind"],
                fmt_duration(s["duration_ms"]),
                tok,
                fmt_cost(s["cost_usd"]) if s["cost_usd"] is not None else "",
            ]
            self.rows.append((prefix, label, cells, st, error))
        widest = max([4, *(cell_len(r[0]) + cell_len(r[1]) for r in self.rows)])
        self.w_span = min(span_width, widest)
        self.widths = [
            max([minimum, len(head), *(cell_len(r[2][i]) for r in self.rows)])
            for i, (head, _, minimum) in enumerate(_SPAN_COLUMNS[:-1])
        ] + [_SPAN_COLUMNS[-1][2]]

    def _cells(self, cells: list[str]) -> str:
        return "".join(
            " " + (c.rjust(w) if justify == "right" else c.ljust(w))
            for (_, justify, _), w, c in zip(_SPAN_COLUMNS, self.widths, cells, strict=False)
        )

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        total = 1 + self.w_span + sum(w + 1 for w in self.widths)
        yield Segment.line()
        yield Segment(
            " " + "span".ljust(self.w_span) + self._cells([h for h, _, _ in _SPAN_COLUMNS]), _BOLD
        )
        yield Segment.line()
        yield Segment(" " + "─" * (total - 1))
        yield Segment.line()
        w = self.w_span
        for prefix, label, cells, st, error in self.rows:
            yield Segment(" ")
            if cell_len(prefix) >= w:
                yield Segment(_fit(prefix, w), _DIM)
            else:
                yield Segment(prefix, _DIM)
                yield Segment(_fit(label, w - cell_len(prefix)), _RED if st == "error" else None)
            yield Segment(self._cells(cells) + " ")
            yield Segment(st, _ST_STYLE[st])
            yield Segment.line()
            if error is not None:
                yield Segment(
                    " " + (error if self.whole else _fit(error, total - 1)).rstrip(), _RED
                )
                yield Segment.line()


def _plain(v: Any, key: str | None = None) -> Any:
    if isinstance(v, datetime | date):
        return (
            v.replace(tzinfo=UTC).isoformat()
            if isinstance(v, datetime) and v.tzinfo is None
            else v.isoformat()
        )
    if key in _JSON_COLUMNS and isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def to_json(obj: Any) -> str:
    """`obj` (rows from polars, dicts, lists) as JSON: timestamps in ISO 8601 UTC, JSON columns parsed."""

    def conv(o: Any, key: str | None = None) -> Any:
        if isinstance(o, pl.DataFrame):
            return [conv(r) for r in o.iter_rows(named=True)]
        if isinstance(o, dict):
            return {k: conv(v, k) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [conv(v) for v in o]
        return _plain(o, key)

    return json.dumps(conv(obj), indent=2, ensure_ascii=False)


def agent_graph_lines(run: Run, graph: Any) -> list[Text]:
    """`show --graph`: a header, one line per edge (caller ─how→ callee: what it did), and
    one line per agent with all its invocations' own work."""
    from agentreel._fmt import fmt_agent_edge, fmt_agent_node

    out = [Text.assemble((run["name"] or "run", "bold"), f"  agents of run {run['run_id'][:12]}")]
    if not graph.nodes:
        out.append(Text("no agent spans in this run", style="dim"))
        return out
    width = max(len(fmt_agent_edge(e)[0]) for e in graph.edges)
    for e in graph.edges:
        arrow, what = fmt_agent_edge(e)
        line = Text(arrow.ljust(width) + "  ")
        line.append(what, style="red" if e.errors else "dim")
        out.append(line)
    out.append(Text("agents", style="bold"))
    for n in graph.nodes:
        out.append(Text(f"  {n.name}: {fmt_agent_node(n)}"))
    return out
