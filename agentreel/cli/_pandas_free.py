"""Keep pandas (and PySpark) out of an ``agentreel check`` process that does not need them.

Pandera's top-level package imports pandas whenever it is installed, and with PySpark
installed ``pyspark.pandas`` too, although the checks validate polars frames only: in
a process that checks a million spans that is about a second of CPU and 100 MB of
memory spent on modules never used. While `pandas_hidden` is active, importing
``pandas`` or ``pyspark`` raises ``ModuleNotFoundError``, as on a machine without
them, so Pandera takes its polars-only path; `prime_pandera` then settles, before the
finder is removed, the one lookup Pandera otherwise makes lazily at the first
validation (whether a frame's class is pandas-like), so that pandas stays unloaded.

Code loaded later (a ``files =`` module of the checks config) can still import pandas
as usual; only Pandera's routing of *pandas* frames is off in this process, which the
checks never validate.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Iterator, Sequence
from types import ModuleType

__all__ = ["pandas_hidden", "prime_pandera"]

HIDDEN = ("pandas", "pyspark")


class _Hide(importlib.abc.MetaPathFinder):
    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


@contextlib.contextmanager
def pandas_hidden(active: bool = True) -> Iterator[None]:
    """Within the block, pandas and PySpark cannot be imported (unless already imported).

    Does nothing when `active` is false or either is already loaded: a process that
    has them pays nothing more, and hiding them then would split its modules.
    """
    if not active or any(name in sys.modules for name in HIDDEN):
        yield
        return
    finder = _Hide()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def prime_pandera() -> None:
    """Make Pandera decide now, with pandas hidden, that no frame here is a pandas one."""
    try:
        from pandera.backends import register_checks
    except ImportError:  # an older or newer Pandera without this lookup: nothing to settle
        return
    lookup = getattr(register_checks, "_load_get_backend_types_from_mro", None)
    if callable(lookup):
        lookup()
