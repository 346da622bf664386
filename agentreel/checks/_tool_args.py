"""Tool arguments: calls whose arguments are not valid JSON or break the tool's schema.

A tool's schema is what you declare under ``schemas`` (``required`` and
``properties`` key names, as in JSON Schema), else what the baseline shows: the
keys every baseline call had are required, and keys no baseline call had are
unknown. Without either, only JSON validity is checked. Arguments that were not
recorded, were cut for size, or are not a JSON object are not judged.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar, TypedDict

import polars as pl

from agentreel.checks._check import BuiltinCheck, CommonParams, Inputs, Param, scope_name
from agentreel.checks._load import WindowData
from agentreel.checks._metric import Metric
from agentreel.checks._shape import Shape, count, fields, mapping, pair

__all__ = ["ToolArgs"]

_NUM = (float, int)


class ToolArgsParams(CommonParams):
    """`tool_args`: limits on the share of bad calls, and declared argument schemas."""

    max_warn: float | None
    max_error: float | None
    schemas: dict[str, ToolSchema]


class ToolSchema(TypedDict, total=False):
    """One tool's declared arguments, as JSON Schema names them."""

    required: list[str]
    properties: list[str] | dict[str, Any]


def _schema(
    tool: str, declared: dict[str, Any], keysets: dict[str, int] | None
) -> tuple[set[str], set[str] | None] | None:
    """(required keys, allowed keys or None for any) for `tool`, or None when unknown."""
    if tool in declared:
        d = declared[tool]
        props = d.get("properties")
        return set(d.get("required", [])), (set(props) if props is not None else None)
    if not keysets:
        return None
    sets = [set(k.split(",")) if k else set() for k in keysets]
    return set.intersection(*sets), set.union(*sets)


def _why(
    keys: str | None, valid: bool | None, schema: tuple[set[str], set[str] | None] | None
) -> str | None:
    if valid is False:
        return "not valid JSON"
    if keys is None or schema is None:
        return None
    have = set(keys.split(",")) if keys else set()
    required, allowed = schema
    missing = sorted(required - have)
    unknown = sorted(have - allowed) if allowed is not None else []
    if missing:
        return "missing " + ", ".join(missing)
    if unknown:
        return "unknown " + ", ".join(unknown)
    return None


class ToolArgs(BuiltinCheck[ToolArgsParams]):
    measure_shape: ClassVar[Shape] = fields(
        optional=True,
        calls=mapping(pair(count, count)),
        keysets=mapping(mapping(count)),
    )
    name = "tool_args"
    summary = "share of tool calls whose arguments are not valid JSON or break the tool's schema"
    min_n = 1
    params: ClassVar[dict[str, Param]] = {
        "max_warn": Param(0.0, _NUM, "warn when the share of bad calls is above this"),
        "max_error": Param(0.01, _NUM, "error when it is above this"),
        "schemas": Param(
            {}, (dict,), "per tool: {required = [...], properties = [...]} (key names)"
        ),
    }

    def measure(self, data: WindowData, p: ToolArgsParams) -> dict[str, Any]:
        # a call that names no tool (an OpenInference handoff) has no schema to keep
        tools = data.of_kind("tool").filter(pl.col("tool_name").is_not_null())
        calls = tools.group_by("tool_name").agg(
            n=pl.len(),
            invalid=(pl.col("args_json") == False).sum(),  # noqa: E712
        )
        keysets = (
            tools.filter(pl.col("args_keys").is_not_null())
            .group_by("tool_name", "args_keys")
            .agg(n=pl.len())
        )
        ks: dict[str, dict[str, int]] = {}
        for t, k, n in keysets.iter_rows():
            ks.setdefault(str(t), {})[k] = int(n)
        return {
            "calls": {str(t): [int(n), int(inv)] for t, n, inv in calls.iter_rows()},
            "keysets": ks,
        }

    def evaluate(self, inputs: Inputs, p: ToolArgsParams) -> list[Metric]:
        base_keys = inputs.baseline.get("keysets", {}) if inputs.baseline is not None else {}
        declared = dict(p["schemas"])
        cur = inputs.measured
        schemas = {t: _schema(t, declared, base_keys.get(t)) for t in cur["calls"]}
        bad: dict[str, int] = {}
        for tool, (_, invalid) in cur["calls"].items():
            broken = sum(
                c for k, c in cur["keysets"].get(tool, {}).items() if _why(k, True, schemas[tool])
            )
            bad[tool] = invalid + broken
        data = inputs.current

        problems = pl.DataFrame(
            [
                (t, k, why)
                for t, sets in cur["keysets"].items()
                for k in sets
                if (why := _why(k, True, schemas[t])) is not None
            ],
            schema={"tool_name": pl.String, "args_keys": pl.String, "problem": pl.String},
            orient="row",
        )

        def failing(tool: str | None) -> pl.DataFrame:
            t = data.of_kind("tool").filter(pl.col("tool_name").is_not_null())
            if tool is not None:
                t = t.filter(pl.col("tool_name") == tool)
            cols = ["run_id", "span_id", "tool_name", "problem"]
            broken = t.join(problems, on=["tool_name", "args_keys"], how="inner").select(cols)
            invalid = t.filter(pl.col("args_json") == False).with_columns(  # noqa: E712
                problem=pl.lit("not valid JSON")
            )
            return pl.concat([invalid.select(cols), broken])

        total_n = sum(n for n, _ in cur["calls"].values())
        rows = [(None, sum(bad.values()), total_n)]
        rows += [(t, bad[t], n) for t, (n, _) in sorted(cur["calls"].items())]
        out = []
        for tool, k, n in rows:
            unknown = [t for t in ([tool] if tool else cur["calls"]) if schemas.get(t) is None]
            note = f"; JSON only for {len(unknown)} tools (no schema)" if unknown else ""
            if unknown and tool:
                note = "; JSON only (no schema)"
            out.append(
                Metric(
                    check=self.name,
                    scope=scope_name("tool" if tool else None, tool),
                    statistic="bad tool arguments",
                    value=k / n if n else None,
                    warn=p["max_warn"],
                    error=p["max_error"],
                    n=n,
                    min_n=p["min_n"],
                    severity=p["severity"],
                    unit="share",
                    message=f"{k} of {n}{note}",
                    failures=partial(failing, tool) if k else None,
                )
            )
        return out
