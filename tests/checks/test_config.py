"""Configuration: pyproject.toml or agentreel.toml, checks of your own, and clear errors."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from agentreel.checks import CheckConfigError, CheckError, Window, load_config, run_checks
from agentreel.store import Store


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_no_file_gives_the_defaults(tmp_path: Path) -> None:
    config = load_config(start=tmp_path)
    assert config.source is None
    assert config.params("latency_p95")["ratio_error"] == 1.5
    assert config.params("tool_error_rate")["group_by"] == ["tool"]


def test_pyproject_settings_are_read_from_the_nearest_file(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        """
        [project]
        name = "my-agent"

        [tool.agentreel.checks]
        baseline = "nightly"
        fail_on = "warn"
        disable = ["volume"]

        [tool.agentreel.checks.latency_p95]
        ratio_error = 2
        group_by = ["tool", "tags.region"]
        severity = "warn"

        [tool.agentreel.checks.run_error_rate]
        max_warn = false
        """,
    )
    sub = tmp_path / "src" / "deep"
    sub.mkdir(parents=True)
    config = load_config(start=sub)
    assert config.source == tmp_path / "pyproject.toml"
    assert (config.baseline, config.fail_on) == ("nightly", "warn")
    assert config.baseline_dir == tmp_path / "agentreel-baselines"
    p = config.params("latency_p95")
    assert (p["ratio_error"], p["group_by"], p["severity"]) == (
        2.0,
        ["tool", "tags.region"],
        "warn",
    )
    assert config.params("volume")["enabled"] is False
    assert config.params("run_error_rate")["max_warn"] is None  # false turns a limit off


def test_agentreel_toml_uses_a_checks_table(tmp_path: Path) -> None:
    write(tmp_path / "agentreel.toml", "[checks.loops]\nrepeat = 6\n")
    write(tmp_path / "pyproject.toml", "[tool.agentreel.checks.loops]\nrepeat = 9\n")
    assert load_config(start=tmp_path).params("loops")["repeat"] == 6


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            "[tool.agentreel.checks.latency_p96]\nratio_warn = 1.1\n",
            r"pyproject.toml: \[tool.agentreel.checks\] has an unknown key 'latency_p96'; did you mean 'latency_p95'\?",
        ),
        (
            "[tool.agentreel.checks.latency_p95]\nratio_wran = 1.1\n",
            r"\[tool.agentreel.checks.latency_p95\] has an unknown key 'ratio_wran'; did you mean 'ratio_warn'\?",
        ),
        (
            '[tool.agentreel.checks.latency_p95]\nratio_warn = "fast"\n',
            r"\[tool.agentreel.checks.latency_p95\] ratio_warn = 'fast' must be a number; write e.g. ratio_warn = 1.25",
        ),
        (
            "[tool.agentreel.checks.loops]\nrepeat = 2.5\n",
            r"repeat = 2.5 must be a whole number; write e.g. repeat = 4",
        ),
        (
            '[tool.agentreel.checks.loops]\nseverity = "fatal"\n',
            r"severity = 'fatal' must be \"warn\" or \"error\"",
        ),
        (
            '[tool.agentreel.checks.tool_error_rate]\ngroup_by = ["toolz"]\n',
            r"group_by has 'toolz', which is not a dimension; use tool, model",
        ),
        (
            '[tool.agentreel.checks]\ndisable = ["volumes"]\n',
            r"unknown key 'volumes'; did you mean 'volume'\?",
        ),
        (
            '[tool.agentreel.checks]\nfail_on = "never"\n',
            r"fail_on = 'never' must be \"error\" or \"warn\"",
        ),
        (
            "[tool.agentreel.checks.metrics.cost]\nmax_error = 1\n",
            r"\[tool.agentreel.checks.metrics.cost\] needs exactly one of sql or polars",
        ),
        ("[tool.agentreel.checks\n", r"pyproject.toml: cannot read it as TOML"),
    ],
)
def test_bad_config_names_the_file_the_key_and_the_fix(
    tmp_path: Path, toml: str, message: str
) -> None:
    write(tmp_path / "pyproject.toml", toml)
    with pytest.raises(CheckConfigError, match=message) as info:
        load_config(start=tmp_path)
    assert str(tmp_path / "pyproject.toml") in str(info.value)
    assert "\n" not in str(info.value)


def test_metric_checks_in_sql_and_polars(tmp_path: Path, store_of: Callable[..., Store]) -> None:
    write(
        tmp_path / "pyproject.toml",
        """
        [tool.agentreel.checks.metrics.cost_per_success]
        sql = "sum(cost_usd) / nullif(count(*) FILTER (WHERE status = 'ok'), 0)"
        max_error = 0.000001
        group_by = ["json_extract_string(tags, '$.segment')"]

        [tool.agentreel.checks.metrics.llm_share]
        polars = "(pl.col('kind') == 'llm').mean()"
        over = "spans"
        min_warn = 0.2
        min_error = 0.1
        group_by = ["tags.segment"]
        """,
    )
    config = load_config(start=tmp_path)
    store = store_of(runs=60)
    report = run_checks(
        store,
        current=Window(),
        baseline=Window(),
        config=config,
        only=["cost_per_success", "llm_share"],
    )
    rows = report.results
    cost = rows.filter(pl.col("check") == "cost_per_success")
    assert cost["scope"].to_list()[0] == "all"
    assert cost.height == 4
    assert (cost["status"] == "error").all()  # about $0.002 a success, far above the limit
    assert cost["baseline"].to_list() == cost["value"].to_list()  # the same runs as baseline
    share = rows.filter(pl.col("check") == "llm_share")
    assert share.height == 4
    assert (share["status"] == "pass").all()
    assert all(0.2 < v < 0.5 for v in share["value"])
    assert (share["op"] == ">=").all()


def test_python_files_add_metric_checks_and_models(
    tmp_path: Path, store_of: Callable[..., Store]
) -> None:
    write(
        tmp_path / "agent_checks.py",
        '''
        import pandera.polars as pa
        import polars as pl
        from agentreel.checks import RunModel, SpanModel, metric_check

        @metric_check(max_error=0.5, group_by=["tags.segment"])
        def failure_share(runs: pl.DataFrame) -> float:
            """Share of runs that failed."""
            return runs["failed"].mean()

        @metric_check
        def long_runs(runs):
            return (pl.col("duration_ms") > 60_000).sum()

        class Spans(SpanModel):
            # our agent always names its LLM provider; but here nobody does
            provider: str = pa.Field(nullable=False)

        class Runs(RunModel):
            @pa.dataframe_check()
            def every_run_has_a_name(cls, data):
                return data.lazyframe.select(pl.col("name").is_not_null())
        ''',
    )
    write(tmp_path / "agentreel.toml", '[checks]\nfiles = ["agent_checks.py"]\n')
    config = load_config(start=tmp_path)
    store = store_of(runs=40)
    report = run_checks(store, current=Window(), baseline=False, config=config)
    r = report.results
    fs = r.filter(pl.col("check") == "failure_share")
    assert fs.height == 4
    assert set(fs["status"]) == {"pass"}
    assert r.filter(pl.col("check") == "long_runs")["value"].to_list() == [0.0]
    spans = r.filter(pl.col("check") == "span_schema")
    assert spans["scope"].to_list() == ["provider: not_nullable"]
    assert spans["status"].to_list() == ["error"]
    assert (
        spans["value"][0]
        == store.sql("SELECT count(*) n FROM spans WHERE provider IS NULL")["n"][0]
    )
    assert r.filter(pl.col("check") == "run_schema")["scope"].to_list() == ["Runs"]  # passes


def test_a_check_that_raises_is_reported_with_its_name(
    tmp_path: Path, store_of: Callable[..., Store]
) -> None:
    write(
        tmp_path / "broken.py",
        "from agentreel.checks import metric_check\n@metric_check\ndef broken(runs):\n    return 1 / 0\n",
    )
    write(tmp_path / "agentreel.toml", '[checks]\nfiles = ["broken.py"]\n')
    with pytest.raises(CheckError, match="check 'broken' raised ZeroDivisionError"):
        run_checks(
            store_of(runs=3), current=Window(), baseline=False, config=load_config(start=tmp_path)
        )


def test_a_missing_checks_file_is_a_config_error(
    tmp_path: Path, store_of: Callable[..., Store]
) -> None:
    write(tmp_path / "agentreel.toml", '[checks]\nfiles = ["nope.py"]\n')
    with pytest.raises(
        CheckConfigError, match=r"agentreel.toml: files lists '.*nope.py', which does not exist"
    ):
        run_checks(store_of(runs=3), config=load_config(start=tmp_path), baseline=False)
