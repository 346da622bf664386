"""The checks' configuration: ``[tool.agentreel.checks]`` in pyproject.toml, or ``[checks]``
in agentreel.toml.

Example (pyproject.toml)::

    [tool.agentreel.checks]
    baseline = "main"                 # the saved baseline CI compares with
    files = ["agent_checks.py"]       # metric checks and models of your own
    disable = ["volume"]

    [tool.agentreel.checks.latency_p95]
    ratio_error = 1.3
    group_by = ["tool", "model"]

    [tool.agentreel.checks.metrics.cost_per_success]
    sql = "sum(cost_usd) / nullif(count(*) FILTER (WHERE status = 'ok'), 0)"
    max_error = 0.02

Anything wrong is a `CheckConfigError` naming the file, the key and the fix.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agentreel.checks._check import Param
from agentreel.checks._errors import CheckConfigError
from agentreel.checks._registry import BUILTINS
from agentreel.checks._user import MetricCheck

__all__ = ["DEFAULT_BASELINE_DIR", "CheckConfig", "load_config"]

DEFAULT_BASELINE_DIR = "agentreel-baselines"
_TOP = {
    "baseline": "the saved baseline compared with in CI (a name or a .json path)",
    "baseline_dir": "where `agentreel baseline save` writes",
    "fail_on": "error or warn: the lowest status that fails `agentreel check`",
    "files": "Python files with metric checks and models of your own",
    "disable": "built-in checks to turn off",
    "metrics": "metric checks declared here: [...checks.metrics.NAME]",
}
_METRIC_KEYS = {
    "sql",
    "polars",
    "over",
    "group_by",
    "max_warn",
    "max_error",
    "min_warn",
    "min_error",
    "severity",
    "min_n",
    "description",
}
_KINDS = ("llm", "tool", "retriever", "agent", "embedding", "chain", "other")
_DIMS = ("tool", "model", "kind", "name", "service_name", "code_version", "status")
_NUMERIC = (
    "duration_ms",
    "tokens",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "steps",
    "span_count",
    "agent_count",
    "llm_count",
    "tool_count",
    "retriever_count",
    "error_count",
    "max_repeat",
    "max_failed_repeat",
)


@dataclass
class CheckConfig:
    """Settings of every check, where they came from, and the run-wide options."""

    source: Path | None = None
    root: Path = field(default_factory=Path.cwd)
    settings: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {name: c.defaults() for name, c in BUILTINS.items()}
    )
    metrics: list[MetricCheck] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    baseline: str | None = None
    baseline_dir: Path = field(default_factory=lambda: Path(DEFAULT_BASELINE_DIR))
    fail_on: Literal["error", "warn"] = "error"

    def params(self, name: str) -> dict[str, Any]:
        """The settings of built-in check `name` (defaults with your overrides)."""
        return self.settings[name]

    def where(self) -> str:
        return str(self.source) if self.source else "the default settings"


def _find(start: Path) -> Path | None:
    for d in (start, *start.parents):
        for name in ("agentreel.toml", "pyproject.toml"):
            if (d / name).is_file():
                return d / name
    return None


def load_config(
    path: str | os.PathLike[str] | None = None, *, start: Path | None = None
) -> CheckConfig:
    """Read the checks' configuration.

    `path` is a pyproject.toml or agentreel.toml; by default the first of those found
    in `start` (the working directory) or above it. No file, or no checks table in
    it, gives the defaults.

    Example::

        config = load_config()                   # ./pyproject.toml or ./agentreel.toml
        config.params("latency_p95")["ratio_error"]   # 1.5 unless you changed it
    """
    file: Path | None
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise CheckConfigError(
                f"no config file at {file}; give a pyproject.toml or agentreel.toml"
            )
    else:
        file = _find((start or Path.cwd()).resolve())
    if file is None:
        return CheckConfig(root=(start or Path.cwd()).resolve())
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise CheckConfigError(f"{file}: cannot read it as TOML ({e}); fix the syntax") from None
    if file.name == "pyproject.toml":
        tool = _table(data.get("tool", {}), file, "tool")
        ours = _table(tool.get("agentreel", {}), file, "tool.agentreel")
        table, prefix = ours.get("checks"), "tool.agentreel.checks"
    else:
        table, prefix = data.get("checks"), "checks"
    config = CheckConfig(source=file, root=file.parent.resolve())
    if table is None:
        return config
    _apply(config, _table(table, file, prefix), file, prefix)
    return config


def _table(value: Any, file: Path, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CheckConfigError(f"{file}: [{key}] must be a table, not {type(value).__name__}")
    return value


def _unknown(file: Path, where: str, key: str, known: list[str]) -> CheckConfigError:
    close = difflib.get_close_matches(key, known, n=1)
    fix = f"did you mean {close[0]!r}?" if close else "known keys: " + ", ".join(sorted(known))
    return CheckConfigError(f"{file}: [{where}] has an unknown key {key!r}; {fix}")


def _apply(config: CheckConfig, table: dict[str, Any], file: Path, prefix: str) -> None:
    known = [*_TOP, *BUILTINS]
    for key, value in table.items():
        if key in BUILTINS:
            _check_table(config, key, _table(value, file, f"{prefix}.{key}"), file, prefix)
        elif key == "metrics":
            for name, spec in _table(value, file, f"{prefix}.metrics").items():
                where = f"{prefix}.metrics.{name}"
                config.metrics.append(_metric(name, _table(spec, file, where), file, where))
        elif key == "baseline":
            config.baseline = _str(value, file, prefix, key, 'baseline = "main"')
        elif key == "baseline_dir":
            config.baseline_dir = Path(_str(value, file, prefix, key, 'baseline_dir = "baselines"'))
        elif key == "fail_on":
            v = _str(value, file, prefix, key, 'fail_on = "warn"')
            if v not in ("error", "warn"):
                raise CheckConfigError(
                    f'{file}: [{prefix}] fail_on = {v!r} must be "error" or "warn"'
                )
            config.fail_on = "warn" if v == "warn" else "error"
        elif key == "files":
            config.files = [
                config.root / f for f in _strs(value, file, prefix, key, 'files = ["checks.py"]')
            ]
        elif key == "disable":
            for name in _strs(value, file, prefix, key, 'disable = ["volume"]'):
                if name not in BUILTINS:
                    raise _unknown(file, f"{prefix}] disable = [...", name, list(BUILTINS))
                config.settings[name]["enabled"] = False
        else:
            raise _unknown(file, prefix, key, known)
    if not config.baseline_dir.is_absolute():
        config.baseline_dir = config.root / config.baseline_dir


def _str(value: Any, file: Path, where: str, key: str, example: str) -> str:
    if not isinstance(value, str):
        raise CheckConfigError(
            f"{file}: [{where}] {key} = {value!r} must be a string; write e.g. {example}"
        )
    return value


def _strs(value: Any, file: Path, where: str, key: str, example: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CheckConfigError(
            f"{file}: [{where}] {key} = {value!r} must be a list of strings; write e.g. {example}"
        )
    return list(value)


def _dim_ok(dim: object) -> bool:
    if not isinstance(dim, str):
        return False
    return dim in _DIMS or any(
        dim.startswith(p) and len(dim) > len(p) for p in ("tags.", "attributes.")
    )


def _value(param: Param, value: Any, file: Path, where: str, key: str) -> Any:
    numeric = float in param.types
    if numeric and value is False and param.off:  # `false` turns a limit off
        return None
    ok = isinstance(value, param.types) and not (
        isinstance(value, bool) and bool not in param.types
    )
    if not ok:
        want = {
            bool: "true or false",
            int: "a whole number",
            str: "a string",
            list: "a list",
            dict: "a table",
        }
        kind = "a number" if numeric else want.get(param.types[0], param.types[0].__name__)
        example = (
            f"{key} = {param.default!r}".replace("'", '"')
            .replace("True", "true")
            .replace("False", "false")
        )
        raise CheckConfigError(
            f"{file}: [{where}] {key} = {_toml(value)} must be {kind}; write e.g. {example}"
        )
    if numeric and isinstance(value, float) and not math.isfinite(value):
        raise CheckConfigError(f"{file}: [{where}] {key} = {value!r} must be a finite number")
    if key == "severity" and value not in ("warn", "error"):
        raise CheckConfigError(f'{file}: [{where}] severity = {value!r} must be "warn" or "error"')
    if key in ("min_n", "repeat", "hard_max", "bins", "small_n") and value < 0:
        raise CheckConfigError(f"{file}: [{where}] {key} = {value!r} must not be negative")
    if key == "measures":
        bad = [m for m in value if m not in ("success", "refusal", "latency", "cost")]
        if bad:
            raise CheckConfigError(
                f"{file}: [{where}] measures has {bad[0]!r}; use success, refusal, latency or cost"
            )
    if key == "kinds":
        bad = [k for k in value if k not in _KINDS]
        if bad:
            raise CheckConfigError(
                f"{file}: [{where}] kinds has {bad[0]!r}, not a span kind; use " + ", ".join(_KINDS)
            )
    if key == "refusal_pattern":
        try:
            re.compile(value)
        except re.error as e:
            raise CheckConfigError(
                f"{file}: [{where}] refusal_pattern = {value!r} is not a regular expression ({e})"
            ) from None
    if key == "schemas":
        for tool, spec in value.items():
            _tool_schema(spec, file, f"{where}.schemas.{tool}")
    if key == "columns" and where.endswith("numeric_drift"):
        bad = [c for c in value if c not in _NUMERIC]
        if bad:
            raise CheckConfigError(
                f"{file}: [{where}] columns has {bad[0]!r}, not a numeric run column; use "
                + ", ".join(_NUMERIC)
            )
    if key == "columns" and where.endswith("categorical_drift"):
        bad = [c for c in value if c != "finish_reason" and not _dim_ok(c)]
        if bad:
            raise CheckConfigError(
                f"{file}: [{where}] columns has {bad[0]!r}; use model, tool, finish_reason, "
                f"a run column, tags.KEY or attributes.KEY"
            )
    if key in ("group_by", "by"):
        bad = [d for d in value if not isinstance(d, str) or not _dim_ok(d)]
        if bad:
            raise CheckConfigError(
                f"{file}: [{where}] {key} has {bad[0]!r}, which is not a dimension; use "
                f"{', '.join(_DIMS)}, tags.KEY or attributes.KEY"
            )
    return float(value) if numeric and isinstance(value, int) else value


def _tool_schema(spec: Any, file: Path, where: str) -> None:
    """A declared tool schema: a table of ``required`` and ``properties`` key names."""
    example = 'required = ["query"]'
    if not isinstance(spec, dict):
        raise CheckConfigError(
            f"{file}: [{where}] must be a table of required and properties; write e.g. {example}"
        )
    for k, v in spec.items():
        if k not in ("required", "properties"):
            raise _unknown(file, where, k, ["properties", "required"])
        names = list(v) if k == "properties" and isinstance(v, dict) else v
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise CheckConfigError(
                f"{file}: [{where}] {k} = {_toml(v)} must be a list of key names; "
                f'write e.g. {k} = ["query"]'
            )


def _toml(value: Any) -> str:
    """`value` as the TOML file wrote it, as far as a message needs (``false``, not ``False``)."""
    return ("true" if value else "false") if isinstance(value, bool) else repr(value)


def _check_table(
    config: CheckConfig, name: str, table: Mapping[str, Any], file: Path, prefix: str
) -> None:
    params = BUILTINS[name].all_params()
    where = f"{prefix}.{name}"
    for key, value in table.items():
        if key not in params:
            raise _unknown(file, where, key, list(params))
        config.settings[name][key] = _value(params[key], value, file, where, key)


def _metric(name: str, spec: dict[str, Any], file: Path, where: str) -> MetricCheck:
    for key in spec:
        if key not in _METRIC_KEYS:
            raise _unknown(file, where, key, sorted(_METRIC_KEYS))
    has = [k for k in ("sql", "polars") if k in spec]
    if len(has) != 1:
        raise CheckConfigError(
            f"{file}: [{where}] needs exactly one of sql or polars; write e.g. "
            f'sql = "avg(cost_usd)"'
        )
    num = Param(None, (float, int), "")
    limits = {
        k: _value(num, spec[k], file, where, k)
        for k in ("max_warn", "max_error", "min_warn", "min_error")
        if k in spec
    }
    over = spec.get("over", "runs")
    if over not in ("runs", "spans"):
        raise CheckConfigError(f'{file}: [{where}] over = {over!r} must be "runs" or "spans"')
    group_by = _strs(spec.get("group_by", []), file, where, "group_by", 'group_by = ["model"]')
    severity = _value(
        Param("error", (str,), ""), spec.get("severity", "error"), file, where, "severity"
    )
    min_n = _value(Param(1, (int,), ""), spec.get("min_n", 1), file, where, "min_n")
    return MetricCheck(
        name,
        sql=_str(spec["sql"], file, where, "sql", 'sql = "avg(cost_usd)"')
        if "sql" in spec
        else None,
        polars=_str(spec["polars"], file, where, "polars", "polars = \"pl.col('cost_usd').mean()\"")
        if "polars" in spec
        else None,
        over="spans" if over == "spans" else "runs",
        group_by=group_by,
        severity=severity,
        min_n=min_n,
        summary=str(spec.get("description", "")),
        **limits,
    )
