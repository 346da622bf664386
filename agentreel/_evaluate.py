"""`agentreel.evaluate`: attach a score, label or comment to a recorded run or span.

Importing this module is cheap; the store (DuckDB, polars) loads on the first call.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agentreel._errors import ConfigError

if TYPE_CHECKING:
    from agentreel.store import Evaluation

__all__ = ["evaluate", "user_source"]


def user_source() -> str:
    """``user:LOGIN``: the source of an evaluation a person makes (the CLI, the TUI)."""
    import getpass

    try:
        return f"user:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a container)
        return "user"


def _caller() -> str:
    """``module:function`` of the code that called `evaluate`, or the module at top level."""
    frame = sys._getframe(2)
    module = str(frame.f_globals.get("__name__", "?"))
    code = frame.f_code
    if code.co_name == "<module>":
        return module
    return f"{module}:{getattr(code, 'co_qualname', code.co_name)}"


def evaluate(
    run_id: str,
    name: str,
    *,
    score: float | None = None,
    label: str | None = None,
    explanation: str | None = None,
    span_id: str | None = None,
    source: str | None = None,
    store: str | os.PathLike[str] | None = None,
) -> Evaluation:
    """Attach an evaluation to a recorded run (or one of its spans) and store it.

    `score` is a number, `label` a category (``good``, ``bad``, ``hallucinated``);
    at least one of them. `source` says who or what judged; by default the function
    that called `evaluate` (``evals:helpfulness``), so an evaluator function needs
    nothing more. `run_id` and `span_id` may be unique prefixes. The store is
    `store`, else the one this process records into, else ``$AGENTREEL_DIR`` or
    ``./.agentreel``. Returns the stored evaluation.

    Example::

        def helpfulness(run_id: str, answer: str) -> None:
            agentreel.evaluate(run_id, "helpfulness", score=0.8, explanation="cites 2 sources")
    """
    from agentreel.store import Store
    from agentreel.tracer import flush, recorder

    if store is not None and not isinstance(store, str | os.PathLike):
        raise ConfigError(
            f"evaluate(store=...) takes the store's directory, not {type(store).__name__}; "
            "on an open Store, call its own evaluate(...)"
        )
    who = source if source is not None else _caller()
    rec = recorder()
    if store is None and rec is not None:
        store = rec.path
    if rec is not None:
        flush()  # the run may have ended a moment ago, in this process
    with Store.open(Path(store) if store is not None else None, wait=10.0) as s:
        s.ingest()
        return s.evaluate(
            run_id,
            name,
            score=score,
            label=label,
            explanation=explanation,
            span_id=span_id,
            source=who,
        )
