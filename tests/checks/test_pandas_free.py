"""`agentreel check` on the DuckDB engine keeps pandas and PySpark out of its process.

Pandera imports pandas (and, with PySpark installed, ``pyspark.pandas``) whenever they
are installed; the checks validate polars frames only, so the check process hides them
while Pandera loads (cli/_pandas_free.py). These run the command in a subprocess and
ask the process itself, at exit, which modules it loaded.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.checks._simulate import record_runs

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pandas") is None,
    reason="pandas is not installed here, so there is nothing to keep out",
)

#: runs `agentreel check ARGS...` and prints, at exit, whether pandas and pyspark were loaded
RUNNER = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps(
    {m: m in sys.modules for m in ("pandas", "pyspark", "pandera")}), file=sys.stderr))
from agentreel.cli import main
sys.argv = ["agentreel", "check", *sys.argv[1:]]
main()
"""


def check(cwd: Path, *args: str) -> tuple[int, str, dict[str, bool]]:
    r = subprocess.run(
        [sys.executable, "-c", RUNNER, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), "PYTHONPATH": str(ROOT)},
    )
    loaded = json.loads(r.stderr.strip().splitlines()[-1])
    return r.returncode, r.stdout, loaded


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("project")
    record_runs(d / "store", 200, seed=2)
    return d


def test_the_checks_run_without_loading_pandas_or_pyspark(project: Path) -> None:
    code, out, loaded = check(project, "--dir", "store", "--no-save", "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["status"] == "pass"
    assert loaded == {"pandas": False, "pyspark": False, "pandera": True}


def test_a_checks_file_of_the_user_can_still_import_pandas(project: Path, tmp_path: Path) -> None:
    (tmp_path / "store").symlink_to(project / "store")
    (tmp_path / "agentreel.toml").write_text('[checks]\nfiles = ["mine.py"]\n')
    (tmp_path / "mine.py").write_text(
        "import pandas as pd\n"
        "from agentreel.checks import metric_check\n\n"
        "@metric_check(max_error=0.5)\n"
        "def failed_share(runs):\n"
        '    return float(pd.Series(runs["failed"].to_list()).mean())\n'
    )
    code, out, loaded = check(tmp_path, "--dir", "store", "--no-save", "--json")
    assert code == 0, out
    rows = [r for r in json.loads(out)["results"] if r["check"] == "failed_share"]
    assert [r["status"] for r in rows] == ["pass"], rows
    assert loaded["pandas"] is True
