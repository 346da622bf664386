"""Load the script an entry point was recorded in, without running the agent again.

A run recorded as ``python agent.py`` has its entry point in ``__main__``. The
replaying process loads that file as a module of its own, ``__agentreel_script__``
(registered in `sys.modules`, so classes defined there, an exception the agent
catches or a result's dataclass, are the ones replay rebuilds). It runs only the
top-level statements that define things: imports, functions, classes,
assignments, ``if`` and ``try`` blocks. Statements that do things (a bare call
such as ``agentreel.init()`` or ``asyncio.run(main())``, a ``with``, ``for`` or
``while`` block) are left out, and so is any definition that uses the entry
point's name: the script's own run of the agent (written without an
``if __name__ == "__main__":`` guard, as quick scripts are) would otherwise run,
live, inside the replay.
"""

from __future__ import annotations

import ast
import sys
import types
from pathlib import Path

from agentreel.tracer.seams import SCRIPT_MODULE

__all__ = ["load_script"]
_DEFINES = (
    ast.Import,
    ast.ImportFrom,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Assign,
    ast.AnnAssign,
    ast.AugAssign,
    ast.If,
    ast.Try,
    *((ast.TypeAlias,) if hasattr(ast, "TypeAlias") else ()),
)


def _main_guard(stmt: ast.stmt) -> bool:
    """``if __name__ == "__main__":``, which is false in a replay: left out, unremarked."""
    return (
        isinstance(stmt, ast.If)
        and isinstance(stmt.test, ast.Compare)
        and isinstance(stmt.test.left, ast.Name)
        and stmt.test.left.id == "__name__"
    )


def _uses(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def load_script(path: str | Path, entry: str) -> tuple[types.ModuleType, list[int]]:
    """The script at `path` as a module, and the line numbers of the statements left out.

    `entry` is the entry point's name in the script.
    """
    source = Path(path).read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    kept: list[ast.stmt] = []
    skipped: list[int] = []
    for stmt in tree.body:
        if _main_guard(stmt):
            continue
        defines = isinstance(stmt, _DEFINES)
        if defines and not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defines = not _uses(stmt, entry)
        if defines:
            kept.append(stmt)
        elif not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
            skipped.append(stmt.lineno)  # a docstring is not worth a mention
    tree.body = kept
    module = types.ModuleType(SCRIPT_MODULE)
    module.__file__ = str(path)
    sys.modules[SCRIPT_MODULE] = module
    exec(compile(tree, str(path), "exec"), module.__dict__)
    return module, skipped
