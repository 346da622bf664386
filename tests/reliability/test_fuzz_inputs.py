"""What a user types or writes never crashes agentreel: filters and the checks' config.

Any text given as a run filter (`agentreel runs -q`, the TUI's filter bar,
`Store.runs(query=...)`), a name or a tag either selects runs or raises
`AgentreelError` (its `FilterError`), and the store is untouched. Any TOML-ish
checks configuration either loads or raises `CheckConfigError` naming the file.
tests/store/test_filter.py fuzzes the parser alone; this runs the same inputs
through a store.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentreel import AgentreelError
from agentreel._spool import SpoolPaths
from agentreel.checks import CheckConfigError, load_config
from agentreel.checks._registry import BUILTINS
from agentreel.store import Store
from agentreel.store._filter import FILTER_KEYS
from agentreel.store._otlp_json import decode_json
from agentreel.store._spooler import Spooler

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
any_text = st.text(alphabet=st.characters(codec=None), max_size=40)
term = st.tuples(
    st.sampled_from(["", "-"]),
    st.sampled_from([*FILTER_KEYS, "nope", ""]),
    st.sampled_from([":", ">", "<", ">=", "<=", "=", ""]),
    any_text | st.sampled_from(['"', "'", "*", "1e999", "nan", "-1", "2s", "=", "a=b"]),
).map("".join)
filter_text = any_text | st.lists(term, max_size=5).map(" ".join)


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    d = Path(tempfile.mkdtemp(prefix="agentreel-fuzz-filter-"))
    body = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": f"{i + 1:032x}",
                                "spanId": f"{i + 1:016x}",
                                "name": f"run {i}",
                                "startTimeUnixNano": str(1_700_000_000_000_000_000 + i),
                                "endTimeUnixNano": str(1_700_000_001_000_000_000 + i),
                                "attributes": [
                                    {
                                        "key": "agentreel.run.tags",
                                        "value": {"stringValue": json.dumps({"k": str(i)})},
                                    }
                                ],
                            }
                            for i in range(3)
                        ]
                    }
                ]
            }
        ]
    }
    Spooler(SpoolPaths(d)).write(decode_json(json.dumps(body)))
    with Store.open(d, create=True) as s:
        s.ingest()
        yield s


@FUZZ
@given(query=filter_text, name=st.none() | any_text, tag=st.none() | any_text)
def test_any_filter_name_or_tag_selects_runs_or_raises_agentreels_error(
    store: Store, query: str, name: str | None, tag: str | None
) -> None:
    try:
        height, refused = store.runs(query=query, name=name, tag=tag).height, ""
    except AgentreelError as e:
        height, refused = 0, str(e) or "(no message)"
    assert height <= 3
    assert refused != "(no message)"
    assert store.sql("SELECT count(*) AS n FROM runs")["n"][0] == 3


@FUZZ
@given(key=any_text, value=any_text)
def test_any_tag_key_and_value_select_runs_or_raise_agentreels_error(
    store: Store, key: str, value: str
) -> None:
    try:
        height, refused = store.runs(tag={key: value}).height, ""
    except AgentreelError as e:
        height, refused = -1, str(e) or "(no message)"
    if not refused:
        assert height == (1 if (key, value) in {("k", "0"), ("k", "1"), ("k", "2")} else 0)
    assert refused != "(no message)"


# -- the checks' configuration -----------------------------------------------------------


def _toml_key(k: str) -> str:
    return json.dumps(k)  # a quoted key: TOML's basic strings read JSON's escapes


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return (
            "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
        )
    if isinstance(v, int | str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def _toml(doc: dict[str, Any], prefix: str) -> str:
    """`doc` as TOML under the table `prefix`, sub-tables as [sections]."""
    plain = {k: v for k, v in doc.items() if not isinstance(v, dict)}
    lines = [f"[{prefix}]"] + [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in plain.items()]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines.append(_toml(v, f"{prefix}.{_toml_key(k)}"))
    return "\n".join(lines) + "\n"


scalar = st.one_of(
    st.integers(-(2**70), 2**70).filter(lambda n: -(2**63) <= n < 2**63),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=10),
    st.sampled_from(["warn", "error", "runs", "spans", "tool", "model", "tags.x", "avg(x)"]),
)
value = st.recursive(
    scalar, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3)
)
param_names = sorted({p for b in BUILTINS.values() for p in b.all_params()})
check_table = st.dictionaries(st.sampled_from(param_names) | st.text(max_size=8), value, max_size=4)
metric = st.dictionaries(
    st.sampled_from(
        [
            *("sql", "polars", "over", "group_by", "max_warn", "max_error", "min_warn"),
            *("min_error", "severity", "min_n", "description", "nope"),
        ]
    ),
    value,
    max_size=5,
)
config_doc = st.fixed_dictionaries(
    {},
    optional={
        "baseline": value,
        "baseline_dir": value,
        "fail_on": value,
        "files": value,
        "disable": st.lists(st.sampled_from([*BUILTINS, "nope"]), max_size=3) | value,
        "metrics": st.dictionaries(st.text(min_size=1, max_size=6), metric, max_size=2) | value,
        **dict.fromkeys(BUILTINS, check_table | value),
        "nope": value,
    },
)


@FUZZ
@given(doc=config_doc, where=st.sampled_from(["agentreel.toml", "pyproject.toml"]))
def test_any_checks_table_loads_or_names_the_file_and_key(
    tmp_path_factory: pytest.TempPathFactory, doc: dict[str, Any], where: str
) -> None:
    d = tmp_path_factory.mktemp("cfg")
    f = d / where
    f.write_text(_toml(doc, "checks" if where == "agentreel.toml" else "tool.agentreel.checks"))
    try:
        source, message = load_config(f).source, ""
    except CheckConfigError as e:
        source, message = f, str(e)
    assert source == f
    if message:
        assert message.startswith(f"{f}: "), message
        assert "[" in message or "TOML" in message  # the key's table, or the syntax


@FUZZ
@given(
    text=st.binary(max_size=120)
    | st.lists(
        st.sampled_from(
            [
                *("[checks]", "[checks.latency_p95]", "[tool]", "tool = 1", "x = ", "= 1", '"'),
                *("[[a]]", "ratio_error = nan", "[checks.metrics.m]", 'sql = "x"', "checks = 3"),
                "\x00",
            ]
        ),
        max_size=6,
    ).map(lambda ls: "\n".join(ls).encode()),
    where=st.sampled_from(["agentreel.toml", "pyproject.toml"]),
)
def test_any_bytes_as_a_config_file_load_or_raise_the_config_error(
    tmp_path_factory: pytest.TempPathFactory, text: bytes, where: str
) -> None:
    f = tmp_path_factory.mktemp("cfg") / where
    f.write_bytes(text)
    try:
        load_config(f)
        refused = ""
    except CheckConfigError as e:
        refused = str(e)
    assert not refused or refused.startswith(f"{f}: ")


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("pyproject.toml", "tool = 1\n", "[tool] must be a table"),
        ("pyproject.toml", "[tool]\nagentreel = 5\n", "[tool.agentreel] must be a table"),
        ("agentreel.toml", "[checks.categorical_drift]\ncolumns = [1]\n", "columns has 1"),
        ("agentreel.toml", "[checks.latency_p95]\nratio_error = nan\n", "finite number"),
    ],
)
def test_config_shapes_that_once_crashed_name_the_file_and_key(
    tmp_path: Path, name: str, text: str, says: str
) -> None:
    f = tmp_path / name
    f.write_text(text)
    with pytest.raises(CheckConfigError, match=f"^{tmp_path}") as e:
        load_config(f)
    assert says in str(e.value)


def test_a_config_that_is_not_utf8_is_the_config_error(tmp_path: Path) -> None:
    f = tmp_path / "agentreel.toml"
    f.write_bytes(b'[checks]\nbaseline = "\xff"\n')
    with pytest.raises(CheckConfigError, match="cannot read it as TOML"):
        load_config(f)
