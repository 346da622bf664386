"""`run_checks`: load the windows once, measure and evaluate every check, apply thresholds.

Example::

    from agentreel.store import Store
    from agentreel.checks import Window, run_checks

    with Store.open() as store:
        report = run_checks(store, current=Window(since="24h"))
    print(report.status, report.results)
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl

from agentreel.checks._baseline import (
    SavedBaseline,
    baseline_path,
    check_name,
    read_baseline,
    write_baseline,
)
from agentreel.checks._check import BuiltinCheck, Check, Inputs
from agentreel.checks._config import CheckConfig, load_config
from agentreel.checks._contracts import RunSchema, SpanSchema
from agentreel.checks._disparity import DEFAULT_REFUSAL
from agentreel.checks._errors import BaselineError, CheckConfigError, CheckError
from agentreel.checks._load import SPAN_COLUMNS, WindowData, load_window
from agentreel.checks._metric import Metric, metrics_frame
from agentreel.checks._models import SpanModel
from agentreel.checks._rates import OrphanSpans, ToolErrorRate
from agentreel.checks._registry import BUILTINS
from agentreel.checks._report import CheckReport
from agentreel.checks._suspects import SPAN_SUSPECTS
from agentreel.checks._thresholds import statuses
from agentreel.checks._timing import Timings, timed
from agentreel.checks._user import MetricCheck, UserChecks, load_files
from agentreel.checks._window import Window
from agentreel.store import Store

__all__ = ["default_windows", "in_ci", "run_checks", "save_baseline"]

BaselineSpec = Window | SavedBaseline | str | os.PathLike[str] | None


def in_ci(env: Mapping[str, str] | None = None) -> bool:
    """True on a CI runner (``CI`` or ``GITHUB_ACTIONS`` set to true)."""
    e = os.environ if env is None else env
    return e.get("GITHUB_ACTIONS", "").lower() == "true" or e.get("CI", "").lower() in ("true", "1")


def default_windows(
    config: CheckConfig, env: Mapping[str, str] | None = None
) -> tuple[Window, BaselineSpec]:
    """The windows used when none are given.

    Locally: the last 24 hours against the 7 days before. In CI: every run in the
    store (a CI job records into a fresh one) against the saved baseline. A saved
    baseline named in the config's ``baseline`` is used in both cases.
    """
    ci = in_ci(env)
    current = Window() if ci else Window(since="24h")
    if config.baseline:
        return current, config.baseline
    return current, ("main" if ci else Window(since="8d", until="24h"))


@dataclass
class _Plan:
    checks: list[tuple[Check | BuiltinCheck[Any], dict[str, Any]]]
    user: UserChecks

    def attributes(self) -> list[str]:
        """``attributes.KEY`` dimensions any check groups by (loaded from root spans)."""
        dims: list[str] = []
        for check, p in self.checks:
            for key in ("group_by", "by", "columns"):
                dims += [d for d in p.get(key, []) if isinstance(d, str)]
            if isinstance(check, MetricCheck):
                dims += check.group_by
        return list(
            dict.fromkeys(d[len("attributes.") :] for d in dims if d.startswith("attributes."))
        )

    def needs_spans(self) -> bool:
        """Does a check read the full spans frame? The built-in ones, as configured by
        default, need only counts and the tool and LLM calls (see `load_window`)."""
        for check, p in self.checks:
            if isinstance(check, SpanSchema) and check.model is not SpanModel:
                return True  # your rules may need every span
            if isinstance(check, MetricCheck) and check.over == "spans" and check.sql is None:
                return True
            if isinstance(check, OrphanSpans) and p.get("group_by"):
                return True
            if isinstance(check, ToolErrorRate) and {"model", "kind"} & set(p.get("group_by", [])):
                return True  # columns the tool calls are not loaded with
            if not isinstance(check, BuiltinCheck | MetricCheck):
                return True
        return False

    def span_suspects(self) -> str | None:
        """The SQL picking the spans ``span_schema`` must validate, when it runs."""
        if any(isinstance(c, SpanSchema) and c.model is SpanModel for c, _ in self.checks):
            return SPAN_SUSPECTS
        return None


def _plan(config: CheckConfig, only: Sequence[str], extra: Iterable[MetricCheck]) -> _Plan:
    user = load_files(config.files, config.where())
    metrics = {m.name: m for m in [*config.metrics, *user.metrics, *extra]}
    known = [*BUILTINS, *metrics]
    for name in only:
        if name not in known:
            raise CheckConfigError(f"no check named {name!r}; the checks are: {', '.join(known)}")
    checks: list[tuple[Check | BuiltinCheck[Any], dict[str, Any]]] = []
    for name, cls in BUILTINS.items():
        p = config.params(name)
        if (only and name not in only) or (not only and not p["enabled"]):
            continue
        if cls is SpanSchema:
            checks.append((SpanSchema(user.span_model), p))
        elif cls is RunSchema:
            checks.append((RunSchema(user.run_model), p))
        else:
            checks.append((cls(), p))
    for name, m in metrics.items():
        if name in BUILTINS:
            raise CheckConfigError(
                f"metric check {name!r} has the name of a built-in check; rename it"
            )
        if not only or name in only:
            checks.append((m, m.settings()))
    return _Plan(checks, user)


def _table_columns(store: Store, table: str) -> set[str]:
    cols = store.sql(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = $t AND schema_name = 'main' "
        "AND database_name = current_database()",
        {"t": table},
    )
    return set(cols["column_name"].to_list())


def _load(
    store: Store, window: Window, plan: _Plan, config: CheckConfig, engine: str = "duckdb"
) -> WindowData:
    span_extra: list[str] = []
    run_extra: list[str] = []
    if plan.user.span_model is not None:
        have = _table_columns(store, "spans")
        span_extra = [c for c in plan.user.span_model.to_schema().columns if c in have]
    if plan.user.run_model is not None:
        have = _table_columns(store, "runs")
        run_extra = [c for c in plan.user.run_model.to_schema().columns if c in have]
    refusal = config.params("group_disparity").get("refusal_pattern", DEFAULT_REFUSAL)
    store.give_way()
    full = plan.needs_spans()
    load = load_window
    if engine == "spark":  # the same window, computed by Spark over a Parquet dataset
        from agentreel.checks._spark import load_window_spark as load
    return load(
        store,
        window,
        refusal_pattern=refusal,
        span_extra=[c for c in span_extra if c not in SPAN_COLUMNS],
        run_extra=run_extra,
        attributes=plan.attributes(),
        full_spans=full,
        suspects=None if full else plan.span_suspects(),
    )


def _resolve_baseline(
    spec: BaselineSpec, config: CheckConfig, explicit: bool
) -> tuple[Window | SavedBaseline | None, str]:
    """The baseline to compare with and a label for it.

    A saved baseline that does not exist is an error when asked for explicitly, and
    otherwise (the CI default) a baseline-less run whose label says how to save one.
    """
    if spec is None or isinstance(spec, Window | SavedBaseline):
        label = (
            spec.label()
            if isinstance(spec, SavedBaseline)
            else spec.describe()
            if isinstance(spec, Window)
            else "none"
        )
        return spec, label
    path = baseline_path(spec, config.baseline_dir)
    if not path.exists() and not explicit:
        return (
            None,
            f"no saved baseline at {path}; save one with `agentreel baseline save {path.stem}`",
        )
    saved = read_baseline(path)
    return saved, saved.label()


def run_checks(
    store: Store,
    *,
    current: Window | None = None,
    baseline: BaselineSpec | Literal[False] = None,
    config: CheckConfig | None = None,
    only: Sequence[str] = (),
    checks: Iterable[MetricCheck] = (),
    env: Mapping[str, str] | None = None,
    loaded: Callable[[], object] | None = None,
    engine: Literal["duckdb", "spark"] = "duckdb",
) -> CheckReport:
    """Run the enabled checks over `current` against `baseline`; returns a `CheckReport`.

    `current` and `baseline` default to `default_windows` (`env` is read for CI,
    default ``os.environ``; in CI a current window with no runs is an error). `baseline` may be a `Window` (compared live), a saved
    baseline's name or path, or False for none. `only` runs just the named checks;
    `checks` adds metric checks made with `metric_check`. `loaded` is called once
    both windows are read, after which `store` is not used: the CLI closes the store
    there, so other readers are not kept waiting while the checks compute. `engine`
    ``"spark"`` reads the windows with PySpark, from the Parquet dataset `store` was
    opened on (docs/scaling.md#checks-on-apache-spark).

    Example::

        report = run_checks(store, current=Window(tags={"ci": "1234"}), baseline="main")
        report.exit_code()
    """
    config = config or load_config()
    explicit = baseline is not None
    if current is None or baseline is None:
        dc, db = default_windows(config, env)
        current = current or dc
        baseline = baseline if baseline is not None else db
    if baseline is False:
        baseline = None
    now = datetime.now(UTC).replace(tzinfo=None)
    current = current.resolve(now)
    if isinstance(baseline, Window):
        baseline = baseline.resolve(now)
    ci = in_ci(env)
    timings = Timings()
    metrics: list[Metric] = []
    with timed(timings):
        plan = _plan(config, only, checks)
        if engine == "spark":
            from agentreel.checks._spark import refuse_unavailable

            refuse_unavailable(c for c, _ in plan.checks)
        elif engine != "duckdb":
            raise CheckConfigError(f"engine {engine!r} is not one of duckdb, spark")
        t0 = time.perf_counter()
        base, label = _resolve_baseline(baseline, config, explicit)
        cur = _load(store, current, plan, config, engine)
        base_data = _load(store, base, plan, config, engine) if isinstance(base, Window) else None
        if base_data is not None and base_data.runs.height == 0:
            base, base_data = None, None
            label = f"the baseline window ({label}) has no finished runs"
        timings.load = time.perf_counter() - t0
        if loaded is not None:
            loaded()
        stale: list[str] = []
        for check, p in plan.checks:
            t1 = time.perf_counter()
            try:
                measured = check.measure(cur, p)
                old = None
                if isinstance(base, SavedBaseline):
                    base_m = base.measures.get(check.name)
                    old = _predates(base, check.name, measured, config)
                    if old is not None:
                        base_m = None
                else:
                    base_m = check.measure(base_data, p) if base_data is not None else None
                found = check.evaluate(Inputs(cur, measured, base_m, label, ci), p)
                if old is not None:
                    for m in found:
                        if m.skip == "no baseline":
                            m.skip = old
                            if check.name not in stale:
                                stale.append(check.name)
                metrics += found
            except (CheckError, CheckConfigError, BaselineError):
                raise
            except Exception as e:
                if not isinstance(check, MetricCheck):
                    raise
                raise CheckError(f"check {check.name!r} raised {type(e).__name__}: {e}") from e
            timings.checks[check.name] = (
                timings.checks.get(check.name, 0.0) + time.perf_counter() - t1
            )
        if stale and isinstance(base, SavedBaseline):
            label += f"; it has no measure of {', '.join(stale)}: {_resave(base, config)}"
        frame = metrics_frame(metrics)
        status, cases = statuses(frame)
    results = frame.select(
        "check",
        "scope",
        "statistic",
        pl.Series("status", status, dtype=pl.String),
        "severity",
        "value",
        "baseline",
        "op",
        "warn",
        "error",
        "n",
        "baseline_n",
        "min_n",
        "p_value",
        "alpha",
        "unit",
        pl.Series(
            "message",
            [
                m.skip_reason() or m.message if s == "skip" else m.message
                for m, s in zip(metrics, status, strict=True)
            ],
            dtype=pl.String,
        ),
    )
    return CheckReport(
        results=results,
        metrics=metrics,
        current={**current.as_dict(), "runs": cur.runs.height, "spans": cur.n_spans},
        baseline=_baseline_info(base, base_data, label),
        timings=timings,
        checked_at=now,
        id=secrets.token_hex(8),
        failure_cases=cases,
    )


def _resave(saved: SavedBaseline, config: CheckConfig) -> str:
    """How to save `saved` again, where it is."""
    cmd = f"agentreel baseline save {saved.name}"
    if saved.path.resolve() != baseline_path(saved.name, config.baseline_dir).resolve():
        cmd += f" --output {saved.path}"
    return f"save it again with `{cmd}`"


def _predates(
    saved: SavedBaseline, check: str, measured: Mapping[str, Any], config: CheckConfig
) -> str | None:
    """Why `saved` cannot serve as `check`'s baseline, or None when it can.

    A baseline saved by an older agentreel (or with the check disabled) lacks the
    check's measure, or part of it (e.g. ``missing_data``'s call counts). The check
    then runs as if there were no baseline, and its rows that needed one say this.
    """
    if not measured:
        return None  # the check compares nothing with a baseline
    have = saved.measures.get(check)
    when = f" (saved {saved.created_at[:10]})" if saved.created_at else ""
    if have is None:
        return (
            f"the saved baseline {saved.name}{when} has no measure of {check} (it predates "
            f"the check, or the check was disabled); {_resave(saved, config)}"
        )
    missing = [k for k in measured if k not in have]
    if not missing:
        return None
    return (
        f"the saved baseline {saved.name}{when} predates {check}'s "
        f"{', '.join(missing)}; {_resave(saved, config)}"
    )


def _baseline_info(
    base: Window | SavedBaseline | None, data: WindowData | None, label: str
) -> dict[str, Any] | None:
    if isinstance(base, SavedBaseline):
        return {
            **base.window,
            "saved": base.name,
            "path": str(base.path),
            "runs": base.runs,
            "description": label,
        }
    if isinstance(base, Window) and data is not None:
        return {**base.as_dict(), "runs": data.runs.height, "spans": data.n_spans}
    return {"description": label} if base is None else None


def save_baseline(
    store: Store,
    name: str,
    window: Window | None = None,
    *,
    config: CheckConfig | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Path:
    """Measure `window` (default: the 7 days before the last 24 hours, or every run in CI)
    and save it as baseline `name`; returns the file written.

    Example::

        save_baseline(store, "main", Window(tags={"branch": "main"}, since="7d"))
    """
    check_name(name)  # before measuring: a name that cannot be saved is the first thing said
    config = config or load_config()
    target = Path(path) if path is not None else baseline_path(name, config.baseline_dir)
    if window is None:
        window = Window() if in_ci() else Window(since="8d", until="24h")
    window = window.resolve()
    plan = _plan(config, (), ())
    data = _load(store, window, plan, config)
    if data.runs.height == 0:
        raise BaselineError(
            f"no finished runs in the baseline window ({window.describe()}); widen it with --since"
        )
    measures = {check.name: check.measure(data, p) for check, p in plan.checks}
    window_info = {**window.as_dict(), "hours": data.hours}
    return write_baseline(target, name, window_info, data.runs.height, data.n_spans, measures)
