"""Start-up: each command and `import agentreel` import only what they need (bench/bench_startup.py times them)."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import agentreel

HEAVY = (
    "polars",
    "duckdb",
    "pyarrow",
    "pandera",
    "textual",
    "agentreel.store",
    "agentreel.checks",
    "agentreel.tui",
    "agentreel.tracer",
    "importlib.metadata",
)


def _loaded_after(code: str, *args: str) -> list[str]:
    probe = f"{code}\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return [m for m in out.stdout.splitlines()[-1].split(",") if m]


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_import_no_store_checks_tui_nor_tracer(flag: str) -> None:
    loaded = _loaded_after(
        "import sys\n"
        "from agentreel.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:], prog_name='agentreel')\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n",
        flag,
    )
    assert loaded == []


def test_import_agentreel_leaves_the_tracer_and_importlib_metadata_for_later() -> None:
    assert _loaded_after("import sys, agentreel") == []
    # the tracer loads on first use of its names, still without importlib.metadata
    assert _loaded_after("import sys, agentreel\nagentreel.span") == ["agentreel.tracer"]


def test_the_version_printed_is_the_installed_distributions() -> None:
    assert agentreel.__version__ == metadata.version("agentreel")


def test_runs_and_show_import_no_checks_tui_nor_tracer(tmp_path: Path) -> None:
    from agentreel.store import Store

    Store.open(tmp_path, create=True).close()
    for args in (["runs"], ["show", "0123abcd"]):  # show's "no such run" is enough
        loaded = _loaded_after(
            "import sys\n"
            "from agentreel.cli import main\n"
            "try:\n"
            "    main(sys.argv[1:], prog_name='agentreel')\n"
            "except SystemExit as e:\n"
            "    print(e.code)\n",
            *args,
            "--dir",
            str(tmp_path),
        )
        assert {"agentreel.store", "duckdb"} <= set(loaded)  # the command did read the store
        assert not {
            "pandera",
            "textual",
            "agentreel.checks",
            "agentreel.tui",
            "agentreel.tracer",
        } & set(loaded), args
