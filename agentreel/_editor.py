"""The one rule for which editor and pager agentreel starts (the CLI's fork, the TUI's keys).

``$VISUAL``, then ``$EDITOR``, then ``vi`` for the editor; ``$PAGER``, then ``less -R``
for the pager: what git and most Unix tools do. Each is split like a shell command
line (``EDITOR="code --wait"`` works).
"""

from __future__ import annotations

import os
import shlex

__all__ = ["editor_command", "pager_command"]


def editor_command() -> list[str]:
    """The editor to start, as an argument list."""
    return shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")


def pager_command() -> list[str]:
    """The pager to start, as an argument list."""
    return shlex.split(os.environ.get("PAGER") or "less -R")
