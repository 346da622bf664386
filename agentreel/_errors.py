"""The exceptions a user of agentreel can cause, shared by every package.

Each message is one sentence that says what went wrong, where, and what to do.
The CLI turns any `AgentreelError` into exit code 2 with no traceback.
"""

from __future__ import annotations

__all__ = [
    "AgentreelError",
    "ConfigError",
    "RunNotFound",
    "StoreBusy",
    "StoreCorrupt",
    "StoreNotFound",
    "StoreVersionError",
]


class AgentreelError(Exception):
    """Base class for every error agentreel raises on purpose."""


class ConfigError(AgentreelError):
    """A setting passed to agentreel is invalid."""


class StoreNotFound(AgentreelError):
    """No store exists at the given directory."""


class StoreBusy(AgentreelError):
    """Another process holds the store's DuckDB file."""


class StoreCorrupt(AgentreelError):
    """The store's DuckDB file is damaged (truncated, overwritten): `agentreel rebuild` it."""


class StoreVersionError(AgentreelError):
    """The store was written by a newer agentreel than this one."""


class RunNotFound(AgentreelError):
    """No run matches the given id or prefix (or the prefix is ambiguous)."""
