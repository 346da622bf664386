"""``missing_data``: what should be in the current window and is not.

Two kinds of gap no other check can see, because every other check measures what
is there:

- **no runs at all** where runs were expected. In CI (``CI`` or ``GITHUB_ACTIONS``
  set) a job records its agent's runs and checks them, so an empty window means
  they went somewhere else (another directory, another tag): an error. Locally an
  empty window is a skip.
- **a kind of call the baseline had and the current window has none of**: no LLM
  calls at all (a change that broke or bypassed the model call), no tool calls, no
  retriever calls. It counts only when the baseline's rate makes "none" unlikely:
  the Poisson chance of seeing no such call in this many runs, ``exp(-expected)``,
  must be below ``alpha``.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, ClassVar

import polars as pl

from agentreel.checks._check import BuiltinCheck, CommonParams, Inputs, Param
from agentreel.checks._load import WindowData
from agentreel.checks._metric import Metric
from agentreel.checks._shape import Shape, count, fields, mapping

__all__ = ["MissingData"]

_NUM = (float, int)
_LABELS = {"llm": "LLM calls", "tool": "tool calls", "retriever": "retriever calls"}


class MissingParams(CommonParams):
    """`missing_data`: which kinds of call must not vanish, and the test's alpha."""

    kinds: list[str]
    alpha: float | None


def _label(kind: str) -> str:
    return _LABELS.get(kind, f"{kind} spans")


def _where(data: WindowData) -> str:
    """The current window and the store it was read from, for a message."""
    where = f"the current window ({data.window.describe()})"
    if data.store is not None:
        where += f" of the store {data.store.path}"
    return where


class MissingData(BuiltinCheck[MissingParams]):
    measure_shape: ClassVar[Shape] = fields(optional=True, runs=count, calls=mapping(count))
    name = "missing_data"
    summary = "runs where they were expected (in CI), and every kind of call the baseline had"
    min_n = 1
    params: ClassVar[dict[str, Param]] = {
        "kinds": Param(
            ["llm", "tool", "retriever"],
            (list,),
            "span kinds that must not vanish when the baseline had them",
        ),
        "alpha": Param(
            0.05,
            _NUM,
            "no calls of a kind count only when their chance at the baseline's rate is below this",
        ),
    }

    def measure(self, data: WindowData, p: MissingParams) -> dict[str, Any]:
        return {
            "runs": data.runs.height,
            "calls": {str(k): data.count_of_kind(str(k)) for k in p["kinds"]},
        }

    def evaluate(self, inputs: Inputs, p: MissingParams) -> list[Metric]:
        data, runs = inputs.current, int(inputs.measured["runs"])
        base = inputs.baseline
        bruns = int(base["runs"]) if base is not None and "runs" in base else None
        common: dict[str, Any] = {"check": self.name, "severity": p["severity"], "unit": "count"}
        out = [self._runs(data, runs, bruns, inputs.ci, common)]
        if runs == 0:
            return out  # the runs row says it all
        if base is None or bruns is None:
            out.append(
                Metric(
                    scope="all",
                    statistic="calls of each kind",
                    value=None,
                    n=runs,
                    skip="no baseline",
                    **common,
                )
            )
            return out
        calls: dict[str, int] = inputs.measured["calls"]
        counted: dict[str, int] = base.get("calls", {})
        for kind, c in calls.items():
            if kind not in counted:  # a saved baseline that did not count this kind
                out.append(
                    Metric(
                        scope=f"kind={kind}",
                        statistic=_label(kind),
                        value=c,
                        n=runs,
                        skip=(
                            f"the baseline did not count {_label(kind)} (saved by an older "
                            f"agentreel, or without {kind!r} in kinds); save it again"
                        ),
                        **common,
                    )
                )
                continue
            bc = int(counted[kind])
            if bc == 0 or bruns == 0:
                continue  # the baseline had none: nothing is expected
            expected = bc / bruns * runs
            missing = c == 0
            out.append(
                Metric(
                    scope=f"kind={kind}",
                    statistic=_label(kind),
                    value=c,
                    baseline=expected,
                    op=">=",
                    error=1,
                    n=runs,
                    baseline_n=bruns,
                    min_n=p["min_n"],
                    p_value=math.exp(-expected),
                    alpha=p["alpha"],
                    message=(
                        f"no {_label(kind)} in the current window ({runs} runs); "
                        f"the baseline had {bc} in {bruns} runs"
                        if missing
                        else f"{c} in {runs} runs; the baseline had {bc} in {bruns}"
                    ),
                    failures=partial(_runs_without, data) if missing else None,
                    **common,
                )
            )
        return out

    def _runs(
        self, data: WindowData, runs: int, bruns: int | None, ci: bool, common: dict[str, Any]
    ) -> Metric:
        """The row for the runs themselves: an empty window fails in CI and skips locally."""
        had = f"; the baseline had {bruns}" if bruns else ""
        skip = None
        message = ""
        if runs == 0 and ci:
            message = f"no runs in {_where(data)}: in CI the agent's runs were expected there{had}"
        elif runs == 0:
            skip = f"no runs in {_where(data)}{had}"
        return Metric(
            scope="all",
            statistic="runs",
            value=runs,
            baseline=bruns,
            op=">=",
            error=1,
            n=runs,
            baseline_n=bruns,
            min_n=0,
            skip=skip,
            message=message,
            **common,
        )


def _runs_without(data: WindowData) -> pl.DataFrame:
    return data.runs.select(
        "run_id", "name", "status", "llm_count", "tool_count", "retriever_count"
    ).head(20)
