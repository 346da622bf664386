"""The terminal UI: browse runs, read one as a tree and a timeline, inspect every payload.

Example::

    from pathlib import Path
    from agentreel.tui import AgentreelApp
    AgentreelApp(Path(".agentreel")).run()

The app reads the store only through `agentreel.store`, in short sessions from
worker threads, so it never blocks recording, the CLI or a check.
"""

from __future__ import annotations

from agentreel.tui._app import AgentreelApp

__all__ = ["AgentreelApp"]
