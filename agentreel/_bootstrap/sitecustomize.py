"""Started by ``agentreel record``: record an unmodified Python program.

``agentreel record`` puts this directory first on PYTHONPATH, so Python runs this
file at start-up (the `site` module imports ``sitecustomize``). It initialises
agentreel and instruments the installed frameworks, then runs the next
``sitecustomize`` on the path, if the environment had one of its own.
"""

from __future__ import annotations

import importlib.util
import os
import sys


def _start() -> None:
    if os.environ.get("AGENTREEL_RECORD") != "1":
        return
    try:
        import agentreel

        agentreel.init(service_name=os.environ.get("AGENTREEL_SERVICE_NAME") or None)
    except Exception as e:  # the program must run even if recording cannot start
        print(f"agentreel: recording is off: {e}", file=sys.stderr)
        return
    try:
        names = [n for n in os.environ.get("AGENTREEL_INSTRUMENT", "").split(",") if n]
        agentreel.instrument(*names)
    except Exception as e:
        print(
            f"agentreel: frameworks are not instrumented ({e}); decorated code still records",
            file=sys.stderr,
        )


def _chain() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        if not entry or os.path.abspath(entry) == here:
            continue
        candidate = os.path.join(entry, "sitecustomize.py")
        if os.path.isfile(candidate):
            spec = importlib.util.spec_from_file_location(
                "_agentreel_chained_sitecustomize", candidate
            )
            if spec and spec.loader:
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            return


_start()
_chain()
