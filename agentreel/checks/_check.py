"""`BuiltinCheck`: what every built-in check declares, and the group-by dimensions they share.

A check *measures* a window into a small JSON-ready dict (what a saved baseline
keeps), then *evaluates* the current window's measure against the baseline's
into `Metric` rows. Its parameters, with their defaults and types, are declared
once in `params`: the config loader validates against them and the docs list them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypedDict, TypeVar

import polars as pl

from agentreel.checks._load import WindowData
from agentreel.checks._metric import Metric, Severity
from agentreel.checks._shape import Shape, any_object

__all__ = [
    "COMMON_PARAMS",
    "BuiltinCheck",
    "Check",
    "CommonParams",
    "Inputs",
    "Param",
    "Params",
    "dim_expr",
    "grouped_counts",
    "scope_name",
]

Params = Mapping[str, Any]


class CommonParams(TypedDict):
    """The settings every built-in check has; each check's own params type adds its settings.

    A check's settings arrive as this plain dict (defaults with the config's overrides,
    validated by `load_config` against `BuiltinCheck.params`), so a misspelt or
    mistyped setting is a mypy error in the check's code and a `CheckConfigError`
    in the user's config.
    """

    enabled: bool
    severity: Severity
    min_n: int


P = TypeVar("P", bound=CommonParams)


@dataclass(frozen=True)
class Param:
    """One setting of a check: its default, the TOML types it accepts, what it means."""

    default: Any
    types: tuple[type, ...]
    help: str
    #: For a number: whether ``false`` turns it off (a limit), read as None.
    off: bool = True


COMMON_PARAMS: dict[str, Param] = {
    "enabled": Param(True, (bool,), "run this check"),
    "severity": Param("error", (str,), "`warn` or `error`: the worst status this check reports"),
    "min_n": Param(20, (int,), "below this many observations a scope reports skip"),
}


@dataclass
class Inputs:
    """What `evaluate` gets: the current window, its measure, and the baseline's (or None).

    `ci` is true on a CI runner, where an empty current window is an error.
    """

    current: WindowData
    measured: dict[str, Any]
    baseline: dict[str, Any] | None
    baseline_label: str
    ci: bool = False


class Check(Protocol):
    """What the runner needs of a check, built-in or yours."""

    @property
    def name(self) -> str: ...

    def measure(self, data: WindowData, p: Params) -> dict[str, Any]: ...

    def evaluate(self, inputs: Inputs, p: Params) -> list[Metric]: ...


class BuiltinCheck(Generic[P]):
    """A built-in check. Subclasses set the class attributes and implement `evaluate`.

    `P` is the check's params type (a `CommonParams` TypedDict): `measure` and
    `evaluate` read their settings from it by name, checked by mypy; `params` declares
    the same settings for the config loader and the docs (a test keeps the two equal).
    """

    name: ClassVar[str]
    #: One line: what it measures.
    summary: ClassVar[str]
    severity: ClassVar[Severity] = "error"
    min_n: ClassVar[int] = 20
    params: ClassVar[dict[str, Param]] = {}
    #: What `measure` returns, as a saved baseline keeps it (checked when one is read).
    measure_shape: ClassVar[Shape] = any_object

    @classmethod
    def all_params(cls) -> dict[str, Param]:
        common = dict(COMMON_PARAMS)
        common["severity"] = Param(cls.severity, (str,), COMMON_PARAMS["severity"].help)
        common["min_n"] = Param(cls.min_n, (int,), COMMON_PARAMS["min_n"].help)
        return {**common, **cls.params}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {k: p.default for k, p in cls.all_params().items()}

    def measure(self, data: WindowData, p: P) -> dict[str, Any]:
        """The statistics of `data` this check compares (JSON-ready). Default: none."""
        return {}

    def evaluate(self, inputs: Inputs, p: P) -> list[Metric]:
        raise NotImplementedError


def scope_name(dim: str | None, value: object) -> str:
    """``all``, or ``dim=value`` for one group."""
    return "all" if dim is None else f"{dim}={value}"


#: Dimensions that name a column of the runs frame directly.
RUN_DIMS = ("name", "service_name", "code_version", "model", "status")
#: Dimensions of the spans frame (others are looked up on the span's run).
SPAN_DIMS = {"tool": "tool_name", "model": "model", "kind": "kind"}


def dim_expr(dim: str) -> pl.Expr:
    """The runs-frame expression for a group-by dimension.

    ``name``, ``service_name``, ``code_version``, ``model`` (the run's most used
    model), ``status``, ``tags.KEY`` (a run tag) or ``attributes.KEY`` (a root-span
    attribute, loaded on request).
    """
    if dim.startswith("tags."):
        return pl.col("tags").str.json_path_match(f"$[{json.dumps(dim[5:])}]")
    return pl.col(dim)


def with_dims(frame: pl.DataFrame, dims: Sequence[str], runs: pl.DataFrame | None) -> pl.DataFrame:
    """`frame` with one column per dimension, named after it.

    For a spans frame (pass the window's `runs`), ``tool``, ``model`` and ``kind`` are
    the span's own; other dimensions are the span's run's.
    """
    own = [d for d in dims if runs is not None and d in SPAN_DIMS]
    from_run = [d for d in dims if d not in own]
    out = frame.with_columns(*(pl.col(SPAN_DIMS[d]).alias(d) for d in own)) if own else frame
    if from_run:
        if runs is None:
            return out.with_columns(
                *(dim_expr(d).cast(pl.String).alias(d) for d in from_run if d not in out.columns)
            )
        lookup = runs.select("run_id", *(dim_expr(d).cast(pl.String).alias(d) for d in from_run))
        out = out.join(lookup, on="run_id", how="left")
    return out


def grouped_counts(
    frame: pl.DataFrame, event: pl.Expr, dims: Sequence[str]
) -> dict[str, list[int]]:
    """``{scope: [events, n]}`` overall and per group of each dimension in `dims`."""
    out: dict[str, list[int]] = {}
    total = frame.select(k=event.sum(), n=pl.len())
    out["all"] = [int(total["k"][0] or 0), int(total["n"][0])]
    for d in dims:
        g = frame.group_by(d).agg(k=event.sum(), n=pl.len()).drop_nulls(d).sort(d)
        for value, k, n in g.select(d, "k", "n").iter_rows():
            out[scope_name(d, value)] = [int(k or 0), int(n)]
    return out
