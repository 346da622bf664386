"""`when_imported`: a hook runs once, right after its module's code, and never breaks the import."""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from agentreel.tracer._on_import import cancel, when_imported


@pytest.fixture
def package(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh importable package (named after the test) whose code sets ``RAN = True``."""
    name = "arl_hooked_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_")
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text("RAN = True\n")
    (tmp_path / name / "sub.py").write_text("from . import RAN\n")
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    yield name
    sys.path.remove(str(tmp_path))
    for m in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[m]


def test_a_hook_runs_once_after_the_module_code_and_the_module_keeps_its_loader(
    package: str,
) -> None:
    seen: list[tuple[bool, bool]] = []

    def hook(module: ModuleType) -> None:
        seen.append((module.RAN, package in sys.modules))

    when_imported(package, hook)
    when_imported(package, hook)  # the same hook again: still once
    assert seen == []
    module = importlib.import_module(f"{package}.sub")  # the parent is imported first
    importlib.import_module(package)
    assert seen == [(True, True)]
    parent = sys.modules[package]
    assert isinstance(parent.__loader__, importlib.machinery.SourceFileLoader)
    assert parent.__spec__ is not None
    assert parent.__spec__.loader is parent.__loader__
    assert module.RAN


def test_a_hook_for_a_module_already_imported_runs_at_once_and_may_raise(package: str) -> None:
    importlib.import_module(package)
    seen: list[str] = []
    when_imported(package, lambda m: seen.append(m.__name__))
    assert seen == [package]

    def broken(module: ModuleType) -> None:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        when_imported(package, broken)


def test_a_failing_hook_warns_and_the_import_still_succeeds(package: str) -> None:
    def broken(module: ModuleType) -> None:
        raise ValueError("the instrumentor is broken")

    when_imported(package, broken)
    with pytest.warns(RuntimeWarning, match="the instrumentor is broken"):
        module = importlib.import_module(package)
    assert module.RAN


def test_a_cancelled_hook_never_runs(package: str) -> None:
    seen: list[str] = []

    def hook(module: ModuleType) -> None:
        seen.append(module.__name__)

    when_imported(package, hook)
    cancel(package, hook)
    importlib.import_module(package)
    assert seen == []


def test_threads_importing_at_once_see_the_module_only_after_its_hook(package: str) -> None:
    def hook(module: ModuleType) -> None:
        module.HOOKED = getattr(module, "HOOKED", 0) + 1  # type: ignore[attr-defined]

    when_imported(package, hook)
    start = threading.Barrier(4)
    hooked: list[int] = []

    def importer() -> None:
        start.wait()
        hooked.append(importlib.import_module(package).HOOKED)

    threads = [threading.Thread(target=importer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert hooked == [1, 1, 1, 1]
