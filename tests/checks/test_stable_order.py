"""A report lists a check's groups in the order of their names, the same on every run,
so two reports of the same runs read, and diff, alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from agentreel.checks import CheckConfig, Window, run_checks


def test_the_groups_of_a_check_come_in_the_order_of_their_names(
    store_of: Any, baseline_file: Path
) -> None:
    report = run_checks(
        store_of(runs=300), current=Window(), baseline=str(baseline_file), config=CheckConfig()
    )
    groups = report.results.filter(pl.col("scope").str.contains("="))
    checked = 0
    for (check, statistic), rows in groups.group_by("check", "statistic", maintain_order=True):
        for dim in {s.split("=")[0] for s in rows["scope"]}:
            scopes = [s for s in rows["scope"] if s.startswith(dim + "=")]
            assert scopes == sorted(scopes), (check, statistic)
            checked += len(scopes) > 1
    assert checked >= 4  # latency p50 and p95, tool error rate and tool arguments, per tool
