"""The one-way flow, checked mechanically: tracer -> spool -> store -> checks and tui."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "agentreel"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_tracer_imports_no_store_checks_tui_or_heavy_libraries() -> None:
    forbidden = (
        "agentreel.store",
        "agentreel.checks",
        "agentreel.tui",
        "agentreel.cli",
        "duckdb",
        "polars",
        "pyarrow",
        "textual",
    )
    for f in [
        *(PKG / "tracer").rglob("*.py"),
        PKG / "_spool.py",
        PKG / "_normalize.py",
        PKG / "_errors.py",
        PKG / "__init__.py",
    ]:
        bad = {m for m in _imports(f) if m.startswith(forbidden)}
        assert not bad, f"{f.relative_to(PKG.parent)} imports {sorted(bad)}"


def test_store_imports_no_checks_tui_or_cli() -> None:
    for f in (PKG / "store").rglob("*.py"):
        bad = {
            m
            for m in _imports(f)
            if m.startswith(
                (
                    "agentreel.checks",
                    "agentreel.tui",
                    "agentreel.cli",
                    "agentreel.tracer",
                    "textual",
                    "pandera",
                )
            )
        }
        assert not bad, f"{f.relative_to(PKG.parent)} imports {sorted(bad)}"


def test_import_agentreel_loads_neither_duckdb_nor_polars() -> None:
    code = (
        "import sys, agentreel\n"
        "agentreel.init(sys.argv[1])\n"
        "@agentreel.tool\n"
        "def t(): return 1\n"
        "t(); agentreel.flush()\n"
        "heavy = sorted(m for m in ('duckdb', 'polars', 'pyarrow', 'textual', 'pandera', 'agentreel.store') if m in sys.modules)\n"
        "print(','.join(heavy) or 'none')\n"
    )
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run(
            [sys.executable, "-c", code, d], capture_output=True, text=True, timeout=60, check=True
        )
    assert out.stdout.strip() == "none"


def test_tui_reads_through_the_store_only() -> None:
    for f in (PKG / "tui").rglob("*.py"):
        bad = {
            m for m in _imports(f) if m.startswith(("duckdb", "agentreel.tracer", "agentreel.cli"))
        }
        assert not bad, f"{f.relative_to(PKG.parent)} imports {sorted(bad)}"


def test_checks_import_no_tracer_tui_or_cli() -> None:
    """Checks read the store; they never record (tracer) and know nothing of the TUI or CLI."""
    for f in (PKG / "checks").rglob("*.py"):
        bad = {
            m
            for m in _imports(f)
            if m.startswith(("agentreel.tracer", "agentreel.tui", "agentreel.cli", "textual"))
        }
        assert not bad, f"{f.relative_to(PKG.parent)} imports {sorted(bad)}"


def test_import_checks_loads_no_textual_and_needs_no_pandas() -> None:
    # Pandera imports pandas by itself whenever it is installed (the `spark` extra
    # installs it), so what is checked is that the checks work without it: pandas and
    # numpy are made unimportable, and the checks and their Pandera models still import.
    code = (
        "import sys\n"
        "class Absent:  # pandas and numpy as if not installed\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('pandas', 'numpy'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, Absent())\n"
        "import agentreel.checks\n"
        "from agentreel.checks._models import RunModel, SpanModel\n"
        "heavy = sorted(m for m in ('textual', 'agentreel.tui', 'agentreel.cli') "
        "if m in sys.modules)\n"
        "print(','.join(heavy) or 'none')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "none"


def test_the_pytest_plugin_is_cheap_to_load() -> None:
    """Every pytest run of a project with agentreel installed loads agentreel.testing."""
    code = (
        "import sys, agentreel.testing\n"
        "heavy = sorted(m for m in ('duckdb', 'polars', 'pandera', 'agentreel.checks', "
        "'agentreel.store') if m in sys.modules)\n"
        "print(','.join(heavy) or 'none')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "none"


def _top(path: Path) -> str:
    """The package (or top-level module) a file belongs to: tracer, store, cli, httpx..."""
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def test_no_package_imports_another_packages_private_modules() -> None:
    """A package's contract is what its `__init__` (or a public submodule) gives: replay and
    the framework seams reach the tracer through `agentreel.tracer.seams`, the pytest
    plugin the checks through `agentreel.checks`, datasets the replay through
    `agentreel.replay`."""
    bad = []
    for f in PKG.rglob("*.py"):
        own = _top(f)
        for m in _imports(f):
            parts = m.split(".")
            if parts[0] != "agentreel" or len(parts) < 3:
                continue
            private = [p for p in parts[2:] if p.startswith("_")]
            if parts[1] != own and private:
                bad.append(f"{f.relative_to(PKG.parent)} imports {m}")
    assert not bad, "\n".join(sorted(bad))
