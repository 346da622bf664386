"""Call a function right after a module is first imported: how `instrument()` waits for frameworks.

`instrument()` must not import a framework the program never uses (importing all
of them took seconds), yet must record one the program imports later. So it asks
to be called when the framework's module has run: at once if it already has,
else from a finder at the front of ``sys.meta_path`` that wraps the module's
loader, so the hook runs after the module's code and before the ``import``
statement returns. Another thread importing the same module waits on Python's
own module lock meanwhile, so no thread sees the framework before it is
instrumented.

Example::

    when_imported("openai", lambda module: print("openai is here"))
"""

from __future__ import annotations

import sys
import threading
import warnings
from collections.abc import Callable
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

__all__ = ["cancel", "when_imported"]

Hook = Callable[[ModuleType], None]

_lock = threading.Lock()
_waiting: dict[str, list[Hook]] = {}


def when_imported(name: str, hook: Hook) -> None:
    """Call ``hook(module)`` once module `name` is imported: now if it is already.

    Called now, whatever `hook` raises propagates. Called from the import, an
    exception becomes a `RuntimeWarning`: the program's ``import`` never fails
    because of a hook.
    """
    with _lock:
        module = sys.modules.get(name)
        if module is None:
            hooks = _waiting.setdefault(name, [])
            if hook not in hooks:
                hooks.append(hook)
            if not any(isinstance(f, _Finder) for f in sys.meta_path):
                sys.meta_path.insert(0, _Finder())
            return
    hook(module)


def cancel(name: str, hook: Hook) -> None:
    """Forget `hook` if it is still waiting for module `name`."""
    with _lock:
        hooks = _waiting.get(name, [])
        if hook in hooks:
            hooks.remove(hook)
        if not hooks:
            _waiting.pop(name, None)


def _loaded(module: ModuleType) -> None:
    with _lock:
        hooks = _waiting.pop(module.__name__, [])
    for hook in hooks:
        try:
            hook(module)
        except Exception as e:  # the program's import must succeed
            warnings.warn(
                f"agentreel: after importing {module.__name__}: {type(e).__name__}: {e}",
                RuntimeWarning,
                stacklevel=2,
            )


class _Finder:
    """Finds nothing itself: for a module someone waits for, it wraps the real spec's loader."""

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in _waiting:  # the common case: one dict lookup per import
            return None
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec: ModuleSpec | None = find(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _ThenNotify(spec.loader)  # type: ignore[assignment]  # a Loader in all but name
                return spec
        return None


class _ThenNotify:
    """A loader that runs the real loader, then the hooks; the module keeps the real one."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        create = getattr(self.loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        # the module's code sees the loader it would have had (importlib.resources asks it)
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        _loaded(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)
