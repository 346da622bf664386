"""`RecordedSpans`: what an agent recorded during a test, with the usual assertions.

The ``agentreel_spans`` pytest fixture gives one to a test (see `agentreel.testing`)::

    def test_research(agentreel_spans):
        research("How many satellites are in low Earth orbit?")
        agentreel_spans.assert_called("web_search")
        agentreel_spans.assert_no_errors()
        agentreel_spans.assert_llm_calls(at_most=4)
        agentreel_spans.assert_final_output(r"satellites")

Every read flushes the recorder and drains the spool first, so it sees everything
recorded up to that line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from agentreel.store import Store

__all__ = ["RecordedSpans"]

Expected = str | re.Pattern[str] | Callable[[Any], bool]


def _show(frame: pl.DataFrame, cols: list[str]) -> str:
    with pl.Config(tbl_rows=20, fmt_str_lengths=60, tbl_width_chars=160):
        return str(frame.select(c for c in cols if c in frame.columns))


def _decode(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


class RecordedSpans:
    """The spans recorded into one store, read fresh on every access."""

    def __init__(self, path: Path, flush: Callable[[], object]) -> None:
        self.path = path
        self._flush = flush

    def _read(self, query: str) -> pl.DataFrame:
        self._flush()
        with Store.open(self.path, create=True) as store:
            store.ingest()
            return store.expand(store.sql(query))

    @property
    def frame(self) -> pl.DataFrame:
        """Every span recorded so far, in start order (the store's ``spans`` columns)."""
        return self._read("SELECT * FROM spans ORDER BY start_time, span_id")

    @property
    def runs(self) -> pl.DataFrame:
        """Every run recorded so far, oldest first (the store's ``runs`` columns)."""
        return self._read("SELECT * FROM runs ORDER BY start_time")

    def tool_calls(self, tool: str | None = None) -> pl.DataFrame:
        """Tool spans, of one tool or all, with ``args`` (the decoded input) added."""
        t = self.frame.filter(pl.col("kind") == "tool")
        if tool is not None:
            t = t.filter(pl.col("tool_name") == tool)
        return t.with_columns(args=pl.Series([_decode(x) for x in t["input"]], dtype=pl.Object))

    def llm_calls(self) -> pl.DataFrame:
        """LLM spans, in start order."""
        return self.frame.filter(pl.col("kind") == "llm")

    def final_output(self) -> Any:
        """The decoded output of the last run's root span (None if nothing finished)."""
        runs = self.runs.filter(pl.col("end_time").is_not_null())
        return _decode(runs["output"][-1]) if runs.height else None

    # -- assertions ------------------------------------------------------------

    def assert_called(
        self,
        tool: str,
        *,
        times: int | None = None,
        at_least: int = 1,
        with_args: dict[str, Any] | None = None,
    ) -> pl.DataFrame:
        """The agent called `tool` (exactly `times`, or at least `at_least` times), with
        arguments including `with_args` if given. Returns the matching calls."""
        calls = self.tool_calls(tool)
        if with_args is not None:
            keep = [
                isinstance(a, dict) and all(a.get(k) == v for k, v in with_args.items())
                for a in calls["args"]
            ]
            calls = calls.filter(pl.Series(keep, dtype=pl.Boolean))
        n = calls.height
        ok = n == times if times is not None else n >= at_least
        if not ok:
            want = f"exactly {times}" if times is not None else f"at least {at_least}"
            args = f" with arguments {with_args}" if with_args else ""
            tools = self.frame.filter(pl.col("kind") == "tool")
            raise AssertionError(
                f"expected {want} call(s) of tool {tool!r}{args}, found {n}; tool calls recorded:\n"
                + _show(tools, ["tool_name", "input", "status"])
            )
        return calls

    def assert_not_called(self, tool: str) -> None:
        """The agent never called `tool`."""
        self.assert_called(tool, times=0)

    def assert_no_errors(self) -> None:
        """No span failed."""
        bad = self.frame.filter(pl.col("status") == "error")
        if bad.height:
            raise AssertionError(
                f"{bad.height} span(s) failed:\n"
                + _show(bad, ["kind", "name", "error_type", "error_message"])
            )

    def assert_conventions(self, *, warnings: bool = False) -> None:
        """Every GenAI span follows the OpenTelemetry GenAI conventions (`agentreel lint-spans`).

        Fails on the first rule broken at level error (or warn too, with `warnings`),
        listing every finding: for authors of an instrumentation.
        """
        from agentreel.conventions import lint_spans

        self._flush()
        with Store.open(self.path, create=True) as store:
            store.ingest()
            found = lint_spans(store)
        bad = [f for f in found if f.level == "error" or warnings]
        if bad:
            raise AssertionError(
                f"{len(bad)} convention finding(s):\n"
                + "\n".join(f"  {f.level} {f.rule}: {f.span_name}: {f.message}" for f in bad)
            )

    def assert_llm_calls(self, *, at_most: int | None = None, at_least: int = 0) -> pl.DataFrame:
        """The agent made between `at_least` and `at_most` LLM calls. Returns them."""
        calls = self.llm_calls()
        if calls.height < at_least or (at_most is not None and calls.height > at_most):
            bound = f"at most {at_most}" if at_most is not None else f"at least {at_least}"
            raise AssertionError(
                f"expected {bound} LLM calls, found {calls.height}:\n"
                + _show(calls, ["name", "request_model", "input_tokens", "output_tokens"])
            )
        return calls

    def assert_final_output(self, expected: Expected) -> Any:
        """The last run's output matches: a regex (searched in the text), a compiled
        pattern, or a predicate. Returns the output."""
        out = self.final_output()
        text = out if isinstance(out, str) else json.dumps(out)
        if callable(expected) and not isinstance(expected, re.Pattern):
            ok = bool(expected(out))
        else:
            ok = re.search(expected, text) is not None
        if not ok:
            raise AssertionError(f"final output {text[:500]!r} does not match {expected!r}")
        return out
