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

`polars_returning_memory`, called first, is the check process's other setting made
before its libraries load: polars's allocator returning freed memory at once.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Iterator, Sequence
from types import ModuleType

__all__ = ["pandas_hidden", "polars_returning_memory", "prime_pandera"]

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


#: The setting of polars's memory allocator (jemalloc, its own copy) that `polars_returning_memory` makes.
_RETURN_AT_ONCE = "dirty_decay_ms:0,muzzy_decay_ms:0"
_POLARS_ALLOCATOR_CONF = "_RJEM_MALLOC_CONF"


def polars_returning_memory() -> None:
    """Have polars's allocator give freed memory back to the system at once, in this process.

    A check reads its window into frames one query at a time and drops what each check
    derived from them. polars's allocator (its own jemalloc) holds freed pages for half a
    second, then releases them lazily (``MADV_FREE``), so they stay counted in the
    process's memory until the system runs short: every frame a check had dropped still
    counted in its peak when the next was built. Checking a million spans peaked at
    about 590 MB, and at 490-560 MB with freed pages returned at once, for no measurable
    time. The allocator reads its setting once, when polars loads, so this does nothing
    if polars is loaded already; the variable is removed again afterwards, so a program
    the checks start is not given it. A setting of the user's is left alone.
    """
    if "polars" in sys.modules or _POLARS_ALLOCATOR_CONF in os.environ:
        return
    os.environ[_POLARS_ALLOCATOR_CONF] = _RETURN_AT_ONCE
    try:
        import polars as pl

        pl.Series([0]).sum()  # the allocator's first use, when it reads its setting
    finally:
        del os.environ[_POLARS_ALLOCATOR_CONF]
