"""Hand the terminal to another program (a pager, an editor, `agentreel fork`) and come back.

Textual's `App.suspend` resumes the app only when its block ends normally: an
exception inside it (a pager that does not exist, Ctrl+C) would leave the app
suspended for good, a blank screen that no key reaches. So nothing may escape
the block: every failure is caught inside it and reported after the app is back.
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from textual.app import SuspendNotSupported

__all__ = ["run_outside"]


def run_outside(app: Any, command: list[str], *, what: str, wait: bool = False) -> str | None:
    """Run `command` on the terminal while `app` is suspended.

    `what` names the program for messages (``$PAGER``); with `wait`, asks for Enter
    before going back. Returns why it failed, or None when it ran and exited 0.
    """
    if not command:
        return f"{what} is empty; set it to a program"
    if shutil.which(command[0]) is None:
        return f"cannot run {what} ({command[0]!r}): no such program; set {what} to one"
    failure: str | None = None
    try:
        with app.suspend():
            try:
                code = subprocess.run(command, check=False).returncode
                if code:
                    failure = f"{what} ({command[0]}) exited with status {code}"
                if wait:
                    input("\npress enter to go back to agentreel ")
            except OSError as e:
                failure = f"cannot run {what} ({command[0]}): {e.strerror or e}"
            except (KeyboardInterrupt, EOFError):
                failure = f"{what} ({command[0]}) was interrupted"
    except SuspendNotSupported:
        return f"cannot hand the terminal to {what} here"
    return failure
