"""agentreel's pytest plugin (registered through the ``pytest11`` entry point).

Two things:

- ``pytest --agentreel-checks`` adds one test item per enabled check (built-in or
  yours), named ``agentreel::<check>``, after your own tests, so ``-k``,
  ``--junitxml`` and your CI's test report work on them. An item fails when its
  check has an error (or a warning, with ``--agentreel-fail-on warn``), and is
  skipped when every scope skipped.
- The ``agentreel_spans`` fixture records what the code under test does into a
  temporary store and gives the test a `RecordedSpans` with assertions::

      def test_answers_with_sources(agentreel_spans):
          research("What limits the range of electric aircraft?")
          agentreel_spans.assert_called("web_search")
          agentreel_spans.assert_no_errors()
          agentreel_spans.assert_llm_calls(at_most=5)
          agentreel_spans.assert_final_output(r"(?i)battery")

Importing this module is cheap: the checks, polars and DuckDB load only when used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from agentreel.checks import CheckReport, RecordedSpans

__all__ = ["CheckItem", "DatasetCaseItem", "agentreel_spans"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agentreel", "agentreel checks")
    group.addoption(
        "--agentreel-checks",
        action="store_true",
        help="add one test item per agentreel check (run after the other tests)",
    )
    group.addoption(
        "--agentreel-dir", help="the store to check (default $AGENTREEL_DIR or .agentreel)"
    )
    group.addoption("--agentreel-baseline", help="compare with this saved baseline (name or path)")
    group.addoption(
        "--agentreel-since", help="current window: runs started within this age, e.g. 24h"
    )
    group.addoption("--agentreel-config", help="a pyproject.toml or agentreel.toml to read")
    group.addoption(
        "--agentreel-dataset",
        action="append",
        default=[],
        metavar="NAME",
        help="add one test item per case of this regression dataset (repeatable)",
    )
    group.addoption(
        "--agentreel-datasets",
        metavar="DIR",
        help="the dataset directory (default $AGENTREEL_DATASETS or agentreel-datasets)",
    )
    group.addoption(
        "--agentreel-fail-on",
        choices=["error", "warn"],
        help="lowest status that fails an item (default from the config, else error)",
    )


class _Session:
    """Runs every check once, on the first item that asks, and keeps the report."""

    def __init__(self, config: pytest.Config) -> None:
        from agentreel.checks import load_config

        self.options = config.option
        self.config = load_config(self.options.agentreel_config)
        self.fail_on = self.options.agentreel_fail_on or self.config.fail_on
        self._report: CheckReport | None = None
        self._error: str | None = None

    def names(self) -> list[str]:
        from agentreel.checks import enabled_checks

        return enabled_checks(self.config)

    def report(self) -> CheckReport:
        from agentreel._errors import AgentreelError
        from agentreel.checks import Window, run_checks
        from agentreel.store import Store

        if self._error is not None:
            raise _CheckFailed(self._error)
        if self._report is None:
            o = self.options
            try:
                with Store.open(o.agentreel_dir) as store:
                    store.ingest()
                    self._report = run_checks(
                        store,
                        current=Window(since=o.agentreel_since) if o.agentreel_since else None,
                        baseline=o.agentreel_baseline,
                        config=self.config,
                    )
            except AgentreelError as e:
                self._error = f"the checks could not run: {e}"
                raise _CheckFailed(self._error) from None
        return self._report


class _CheckFailed(Exception):
    """An agentreel check item failed; the message is its report."""


class CheckItem(pytest.Item):
    """One agentreel check as a test item."""

    def __init__(self, *, session_runner: _Session, check: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.runner = session_runner
        self.check = check

    def runtest(self) -> None:
        from agentreel.checks import format_limits, format_value

        report = self.runner.report()
        rows = [(i, r) for i, r in enumerate(report.rows()) if r["check"] == self.check]
        for _, r in rows:
            self.user_properties.append(
                (f"{r['scope']} · {r['statistic']}", f"{r['status']} {r['value']}")
            )
        statuses = {r["status"] for _, r in rows}
        failing = [
            (i, r)
            for i, r in rows
            if r["status"] == "error" or (r["status"] == "warn" and self.runner.fail_on == "warn")
        ]
        if failing:
            lines = []
            for i, r in failing:
                lines.append(
                    f"{r['status']}: [{r['scope']}] {r['statistic']} "
                    f"{format_value(r['value'], r['unit'])} (baseline "
                    f"{format_value(r['baseline'], r['unit'])}, limits {format_limits(r)}, "
                    f"n={r['n']}) {r['message']}"
                )
                f = report.failures(i, limit=5)
                if f is not None and f.height:
                    lines.append(str(f))
            raise _CheckFailed("\n".join(lines))
        if rows and statuses == {"skip"}:
            pytest.skip(rows[0][1]["message"] or "skipped")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, _CheckFailed):
            return f"agentreel check {self.check} failed:\n{excinfo.value}"
        return str(super().repr_failure(excinfo, style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"agentreel check {self.check}"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    for name in config.getoption("agentreel_dataset") or []:
        items.extend(_dataset_items(session, config, name))
    if not config.getoption("agentreel_checks"):
        return
    runner = _Session(config)
    for name in runner.names():
        items.append(
            CheckItem.from_parent(
                session,
                name=f"agentreel_{name}",
                nodeid=f"agentreel::{name}",
                session_runner=runner,
                check=name,
            )
        )


class _CaseFailed(Exception):
    """A dataset case failed; the message says how, the diff follows."""


class DatasetCaseItem(pytest.Item):
    """One case of a regression dataset as a test item: replayed offline, then judged."""

    def __init__(self, *, case: Any, dataset: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.case = case
        self.dataset = dataset

    def runtest(self) -> None:
        from agentreel.datasets import run_case

        result = run_case(self.case)
        for s in result.scores:
            self.user_properties.append(
                (s["evaluator"], f"{s['replayed']:g} (recorded {s['recorded']:g})")
            )
        if not result.passed:
            raise _CaseFailed(result.message + (f"\n{result.diff}" if result.diff else ""))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        from agentreel._errors import AgentreelError

        if isinstance(excinfo.value, _CaseFailed | AgentreelError):
            head = f"dataset {self.dataset}, case {self.case.id} ({self.case.status})"
            return f"{head}:\n{excinfo.value}"
        return str(super().repr_failure(excinfo, style))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"agentreel dataset {self.dataset} case {self.case.id}"


def _dataset_items(session: pytest.Session, config: pytest.Config, name: str) -> list[pytest.Item]:
    from agentreel._errors import AgentreelError
    from agentreel.datasets import load

    try:
        ds = load(name, config.getoption("agentreel_datasets"))
    except AgentreelError as e:
        raise pytest.UsageError(f"--agentreel-dataset {name}: {e}") from None
    return [
        DatasetCaseItem.from_parent(
            session,
            name=f"{name}[{case.id}]",
            nodeid=f"agentreel-dataset::{name}::{case.id}",
            case=case,
            dataset=name,
        )
        for case in ds.cases
    ]


@pytest.fixture
def agentreel_spans(tmp_path: Path) -> Iterator[RecordedSpans]:
    """Record the test's agent runs into a temporary store; assert on them.

    The recorder uses its own OpenTelemetry provider, so the decorators and
    ``agentreel.instrument()`` record here and nowhere else.
    """
    from opentelemetry.sdk.trace import TracerProvider

    import agentreel
    from agentreel.checks import RecordedSpans

    if agentreel.recorder() is not None:
        pytest.fail(
            "agentreel is already recording in this process; agentreel_spans needs to start "
            "its own recorder (call agentreel.shutdown() first)"
        )
    rec = agentreel.init(tmp_path / "agentreel", tracer_provider=TracerProvider())
    try:
        yield RecordedSpans(rec.path, agentreel.flush)
    finally:
        agentreel.shutdown()
