"""The errors checks raise on purpose; the CLI turns them into one line and exit code 2."""

from __future__ import annotations

from agentreel._errors import AgentreelError, ConfigError

__all__ = ["BaselineError", "CheckConfigError", "CheckError"]


class CheckConfigError(ConfigError):
    """The checks' configuration is invalid: the message names the file, the key and the fix."""


class BaselineError(AgentreelError):
    """A saved baseline is missing, unreadable, or was written by a newer agentreel."""


class CheckError(AgentreelError):
    """A check could not run (for example, a check of your own raised an exception)."""
