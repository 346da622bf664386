"""Checks of your own: metric checks (a decorator, or SQL / polars in the config) and models.

A metric check turns a window's runs (or spans) into one number per scope, which
must stay within the limits you give. Write one in Python::

    import polars as pl
    from agentreel.checks import metric_check

    @metric_check(max_error=0.02, group_by=["model"])
    def cost_per_success(runs: pl.DataFrame) -> float:
        ok = runs.filter(pl.col("status") == "ok")
        return runs["cost_usd"].sum() / max(ok.height, 1)

or in ``pyproject.toml``::

    [tool.agentreel.checks.metrics.cost_per_success]
    sql = "sum(cost_usd) / nullif(count(*) FILTER (WHERE status = 'ok'), 0)"
    max_error = 0.02

List the Python files under ``files`` in the config; their `metric_check`s and
their subclasses of `SpanModel` and `RunModel` are used by ``agentreel check``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, overload

import pandera.polars as pa
import polars as pl

from agentreel.checks._check import Inputs, Params, scope_name, with_dims
from agentreel.checks._errors import CheckConfigError, CheckError
from agentreel.checks._load import WindowData
from agentreel.checks._metric import Metric, Severity
from agentreel.checks._models import RunModel, SpanModel
from agentreel.checks._shape import Shape, count, fields, mapping, pair, scalar

__all__ = ["MetricCheck", "UserChecks", "load_files", "metric_check"]

MetricFn = Callable[[pl.DataFrame], Any]


class MetricCheck:
    """A metric check of yours: a number per scope from the window's runs or spans.

    Made by `metric_check` (Python) or from ``[tool.agentreel.checks.metrics.NAME]``
    (``sql`` or ``polars``). Calling it calls your function.
    """

    #: ``{"scopes": {scope: [n, value]}}``, as a saved baseline keeps it.
    measure_shape: ClassVar[Shape] = fields(optional=True, scopes=mapping(pair(count, scalar)))

    def __init__(
        self,
        name: str,
        *,
        fn: MetricFn | None = None,
        sql: str | None = None,
        polars: str | None = None,
        over: Literal["runs", "spans"] = "runs",
        group_by: Sequence[str] = (),
        max_warn: float | None = None,
        max_error: float | None = None,
        min_warn: float | None = None,
        min_error: float | None = None,
        severity: Severity = "error",
        min_n: int = 1,
        summary: str = "",
    ) -> None:
        if sum(x is not None for x in (fn, sql, polars)) != 1:
            raise CheckConfigError(
                f"metric check {name!r} needs exactly one of a function, sql or polars"
            )
        self.name = name
        self.fn, self.sql, self.polars = fn, sql, polars
        self.over = over
        self.group_by = list(group_by)
        self.limits = (max_warn, max_error, min_warn, min_error)
        self.severity: Severity = severity
        self.min_n = min_n
        doc = (fn.__doc__ or "").strip().split("\n")[0] if fn is not None else ""
        self.summary = summary or doc or sql or polars or ""
        self._expr: pl.Expr | None = None

    def __call__(self, frame: pl.DataFrame) -> Any:
        if self.fn is None:
            raise TypeError(f"metric check {self.name!r} is not a Python function")
        return self.fn(frame)

    def settings(self) -> dict[str, Any]:
        return {"enabled": True, "severity": self.severity, "min_n": self.min_n}

    def _value(self, frame: pl.DataFrame) -> float | None:
        if self.polars is not None:
            if self._expr is None:
                self._expr = _polars_expr(self.name, self.polars)
            out: Any = frame.select(self._expr).item() if frame.height else None
        else:
            assert self.fn is not None
            out = self.fn(frame)
            if isinstance(out, pl.Expr):
                out = frame.select(out).item() if frame.height else None
        if out is None:
            return None
        if isinstance(out, bool | int | float):
            return float(out)
        raise CheckError(
            f"metric check {self.name!r} returned {type(out).__name__}; return a number, "
            f"a bool or a polars expression"
        )

    def _sql(self, data: WindowData) -> dict[str, list[Any]]:
        if data.store is None:
            raise CheckError(f"metric check {self.name!r} needs the store to run its SQL")
        where, params = data.window.where("w_")
        table = (
            f"runs r WHERE {where}"
            if self.over == "runs"
            else f"spans WHERE run_id IN (SELECT r.run_id FROM runs r WHERE {where})"
        )
        groups = [f"({g})" for g in self.group_by]
        select = ", ".join([*groups, f"({self.sql}) AS value", "count(*) AS n"])
        q = f"SELECT {select} FROM {table}"
        if groups:
            q += " GROUP BY " + ", ".join(str(i + 1) for i in range(len(groups)))
        frame = data.store.sql(q, params)
        out: dict[str, list[Any]] = {}
        for row in frame.iter_rows():
            key = (
                "all"
                if not groups
                else ", ".join(
                    f"{g}={v}" for g, v in zip(self.group_by, row[: len(groups)], strict=True)
                )
            )
            v, n = row[len(groups)], row[len(groups) + 1]
            out[key] = [int(n), None if v is None else float(v)]
        if groups:  # the overall value as well
            out = {**self._sql_all(data), **out}
        return out

    def _sql_all(self, data: WindowData) -> dict[str, list[Any]]:
        plain = MetricCheck(self.name, sql=self.sql, over=self.over)
        return plain._sql(data)

    def measure(self, data: WindowData, p: Params) -> dict[str, Any]:
        if self.sql is not None:
            return {"scopes": self._sql(data)}
        frame = data.runs if self.over == "runs" else data.all_spans()
        scopes: dict[str, list[Any]] = {"all": [frame.height, self._value(frame)]}
        if self.group_by:
            framed = with_dims(frame, self.group_by, data.runs if self.over == "spans" else None)
            for dim in self.group_by:
                for key, g in framed.partition_by(dim, as_dict=True, maintain_order=True).items():
                    if key[0] is not None:
                        scopes[scope_name(dim, key[0])] = [g.height, self._value(g)]
        return {"scopes": scopes}

    def evaluate(self, inputs: Inputs, p: Params) -> list[Metric]:
        base = inputs.baseline.get("scopes", {}) if inputs.baseline is not None else {}
        max_warn, max_error, min_warn, min_error = self.limits
        out: list[Metric] = []
        for scope, (n, v) in inputs.measured["scopes"].items():
            bn, b = base.get(scope, (None, None))
            common: dict[str, Any] = {
                "check": self.name,
                "scope": scope,
                "value": v,
                "baseline": b,
                "n": n,
                "baseline_n": bn,
                "min_n": self.min_n,
                "severity": self.severity,
            }
            if (
                max_warn is not None
                or max_error is not None
                or (min_warn is None and min_error is None)
            ):
                out.append(Metric(statistic=self.name, warn=max_warn, error=max_error, **common))
            if min_warn is not None or min_error is not None:
                out.append(
                    Metric(statistic=self.name, op=">=", warn=min_warn, error=min_error, **common)
                )
        return out


def _polars_expr(name: str, text: str) -> pl.Expr:
    try:
        expr = eval(text, {"__builtins__": {}, "pl": pl}, {})  # the user's own config
    except Exception as e:
        raise CheckConfigError(
            f"metric check {name!r}: polars = {text!r} is not a polars expression ({e}); "
            f"write e.g. polars = \"pl.col('cost_usd').mean()\""
        ) from None
    if not isinstance(expr, pl.Expr):
        raise CheckConfigError(
            f"metric check {name!r}: polars = {text!r} gives {type(expr).__name__}, not a polars expression"
        )
    return expr


@overload
def metric_check(fn: MetricFn, /) -> MetricCheck: ...


@overload
def metric_check(
    *,
    name: str | None = None,
    over: Literal["runs", "spans"] = "runs",
    group_by: Sequence[str] = (),
    max_warn: float | None = None,
    max_error: float | None = None,
    min_warn: float | None = None,
    min_error: float | None = None,
    severity: Severity = "error",
    min_n: int = 1,
) -> Callable[[MetricFn], MetricCheck]: ...


def metric_check(
    fn: MetricFn | None = None,
    /,
    *,
    name: str | None = None,
    over: Literal["runs", "spans"] = "runs",
    group_by: Sequence[str] = (),
    max_warn: float | None = None,
    max_error: float | None = None,
    min_warn: float | None = None,
    min_error: float | None = None,
    severity: Severity = "error",
    min_n: int = 1,
) -> MetricCheck | Callable[[MetricFn], MetricCheck]:
    """Declare a metric check: a function from a window's frame to a number.

    Works bare or with arguments. The function gets the window's runs frame (or its
    spans frame with ``over="spans"``), once per scope when `group_by` is given, and
    returns a number, a bool or a polars expression over the frame. It is also run
    on the baseline window, whose value is shown beside it.

    Example::

        @metric_check(max_error=0.05, group_by=["tags.segment"])
        def refusal_rate(runs: pl.DataFrame) -> pl.Expr:
            return pl.col("refused").mean()
    """

    def wrap(f: MetricFn) -> MetricCheck:
        return MetricCheck(
            name or f.__name__,
            fn=f,
            over=over,
            group_by=group_by,
            max_warn=max_warn,
            max_error=max_error,
            min_warn=min_warn,
            min_error=min_error,
            severity=severity,
            min_n=min_n,
        )

    return wrap(fn) if fn is not None else wrap


@dataclass
class UserChecks:
    """What the config's ``files`` define: metric checks and row-contract models."""

    metrics: list[MetricCheck] = field(default_factory=list)
    span_model: type[SpanModel] | None = None
    run_model: type[RunModel] | None = None


def _leaf(models: list[type[pa.DataFrameModel]], what: str) -> Any:
    leaves = [m for m in models if not any(o is not m and issubclass(o, m) for o in models)]
    if len(leaves) > 1:
        names = ", ".join(f"{m.__module__}.{m.__qualname__}" for m in leaves)
        raise CheckConfigError(
            f"several {what} subclasses ({names}); make one subclass the others, or list one file"
        )
    return leaves[0] if leaves else None


def enabled_checks(config: Any) -> list[str]:
    """The names of the checks `config` (a `CheckConfig`) runs: the enabled built-ins,
    then its metrics, then those of the Python files it names (imported here)."""
    from agentreel.checks._registry import BUILTINS

    names = [n for n in BUILTINS if config.params(n)["enabled"]]
    names += [m.name for m in config.metrics]
    return names + [m.name for m in load_files(config.files, config.where()).metrics]


def load_files(paths: Sequence[Path], source: str) -> UserChecks:
    """Import the Python files `paths` and collect their checks and models.

    `source` names where the list came from (for error messages).
    """
    metrics: dict[str, MetricCheck] = {}
    spans: list[type[pa.DataFrameModel]] = []
    runs: list[type[pa.DataFrameModel]] = []
    for path in paths:
        if not path.is_file():
            raise CheckConfigError(
                f"{source}: files lists {str(path)!r}, which does not exist; fix the path or remove it"
            )
        digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
        mod_name = f"agentreel_user_checks_{path.stem}_{digest}"
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise CheckConfigError(f"{source}: cannot import {path}; is it a Python file?")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            frame = traceback.extract_tb(e.__traceback__)[-1]
            raise CheckError(
                f"{path} raised {type(e).__name__} at line {frame.lineno}: {e}"
            ) from None
        for value in vars(module).values():
            if isinstance(value, MetricCheck):
                metrics[value.name] = value
            elif (
                isinstance(value, type) and issubclass(value, SpanModel) and value is not SpanModel
            ):
                spans.append(value)
            elif isinstance(value, type) and issubclass(value, RunModel) and value is not RunModel:
                runs.append(value)
    return UserChecks(
        metrics=list(metrics.values()),
        span_model=_leaf(spans, "SpanModel"),
        run_model=_leaf(runs, "RunModel"),
    )
