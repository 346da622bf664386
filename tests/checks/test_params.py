"""Each built-in check's settings are typed (a TypedDict per check) and validated when the
config is read: the declared settings and the types the check's code reads agree, any
value the loader accepts has the declared type, and anything else is one clear error."""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentreel.checks import CheckConfigError, Window, load_config, run_checks
from agentreel.checks._check import BuiltinCheck
from agentreel.checks._registry import BUILTINS
from agentreel.store import Store


def params_type(cls: type[BuiltinCheck[Any]]) -> Any:
    """The TypedDict a check class reads its settings as (its `BuiltinCheck[P]`)."""
    for klass in cls.__mro__:
        for base in getattr(klass, "__orig_bases__", ()):
            for arg in typing.get_args(base):
                if typing.is_typeddict(arg):
                    return arg
    raise AssertionError(f"{cls.__name__} names no params type")


def _fits(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    if origin is dict:
        (_, item) = typing.get_args(hint)
        return isinstance(value, dict) and all(_fits(v, item) for v in value.values())
    if typing.is_typeddict(hint):
        return isinstance(value, dict)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


@pytest.mark.parametrize("name", list(BUILTINS))
def test_the_declared_settings_are_the_typed_ones(name: str) -> None:
    cls = BUILTINS[name]
    hints = typing.get_type_hints(params_type(cls))
    declared = cls.all_params()
    assert set(hints) == set(declared)
    for key, param in declared.items():
        assert _fits(param.default, hints[key]), f"{name}.{key} default {param.default!r}"
        if float in param.types:
            # a number that `false` turns off (a limit) is read as None: its type says so
            assert (type(None) in typing.get_args(hints[key])) == param.off, f"{name}.{key}"


_TOML_VALUES = st.one_of(
    st.booleans(),
    st.integers(-5, 10_000),
    st.floats(-10, 10, allow_nan=False),
    st.sampled_from(["warn", "error", "tool", "model", "fast", "tags.region", ""]),
    st.lists(
        st.sampled_from(["tool", "model", "llm", "duration_ms", "finish_reason", "nope"]),
        max_size=3,
    ),
    st.lists(st.integers(0, 3), min_size=1, max_size=2),
    st.just({"search": ["query"]}),
)
#: Values of a setting's own TOML type, right or wrong inside: where a loose check slips.
_NEAR: dict[type, st.SearchStrategy[Any]] = {
    list: st.lists(st.one_of(st.integers(0, 3), st.sampled_from(["llm", "tool", "x"])), max_size=2),
    dict: st.dictionaries(
        st.sampled_from(["search", "fetch"]),
        st.one_of(
            st.integers(0, 3),
            st.fixed_dictionaries({"required": st.lists(st.sampled_from(["q", "n"]))}),
            st.fixed_dictionaries({"properties": st.lists(st.integers(0, 3), min_size=1)}),
            st.just({"requird": ["q"]}),
        ),
        max_size=2,
    ),
    str: st.sampled_from(["warn", "error", "(?i)sorry", "(sorry"]),
    int: st.integers(-3, 50),
    bool: st.booleans(),
    float: st.one_of(st.floats(-1, 5, allow_nan=False), st.booleans()),
}


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_setting_is_read_as_its_type_or_refused_naming_check_and_key(
    tmp_path: Path, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(list(BUILTINS)))
    key = data.draw(st.sampled_from(list(BUILTINS[name].all_params())))
    param = BUILTINS[name].all_params()[key]
    value = data.draw(st.one_of(_TOML_VALUES, _NEAR[param.types[0]]))
    file = tmp_path / "agentreel.toml"
    file.write_text(f"[checks.{name}]\n{key} = {_toml(value)}\n")
    try:
        config = load_config(file)
    except CheckConfigError as e:
        refused = str(e)
    else:
        got = config.params(name)[key]
        assert _fits(got, typing.get_type_hints(params_type(BUILTINS[name]))[key]), (key, got)
        return
    # the file, the check's table and the setting (a nested one names its own table)
    assert refused.startswith((f"{file}: [checks.{name}] {key} ", f"{file}: [checks.{name}.{key}."))
    assert "\n" not in refused


def test_a_setting_that_is_not_a_limit_cannot_be_turned_off(tmp_path: Path) -> None:
    file = tmp_path / "agentreel.toml"
    file.write_text("[checks.evaluation_below]\nthreshold = false\n")
    with pytest.raises(CheckConfigError) as e:
        load_config(file)
    assert str(e.value) == (
        f"{file}: [checks.evaluation_below] threshold = false must be a number; "
        "write e.g. threshold = 0.5"
    )


def test_a_refusal_pattern_that_is_not_a_regular_expression_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "agentreel.toml"
    file.write_text('[checks.group_disparity]\nrefusal_pattern = "(sorry"\n')
    with pytest.raises(CheckConfigError) as e:
        load_config(file)
    assert str(e.value).startswith(
        f"{file}: [checks.group_disparity] refusal_pattern = '(sorry' is not a regular expression ("
    )


def test_a_ratio_limit_turned_off_sets_no_limit(
    tmp_path: Path, store_of: Callable[..., Store]
) -> None:
    file = tmp_path / "agentreel.toml"
    file.write_text("[checks.latency_p95]\nratio_warn = false\nmin_n = 1\n")
    config = load_config(file)
    store = store_of(runs=40)
    report = run_checks(
        store, current=Window(), baseline=Window(), config=config, only=["latency_p95"]
    )
    rows = report.results
    assert rows.height >= 1
    assert rows["warn"].is_null().all()
    assert rows["error"].is_not_null().any()
    assert set(rows["status"]) <= {"pass", "skip"}
