"""Messages the TUI's workers and widgets post: small, past tense."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import polars as pl
from textual.message import Message
from textual.message_pump import MessagePump

from agentreel._errors import AgentreelError
from agentreel.store import RunDiff
from agentreel.tui._reader import RunDetail, RunsPage

__all__ = [
    "CheckResultsLoaded",
    "DiffLoaded",
    "RunDetailLoaded",
    "RunsLoaded",
    "SpoolDrained",
    "StoreFailed",
    "post_read",
]

T = TypeVar("T")


def post_read(to: MessagePump, read: Callable[[], T], loaded: Callable[[T], Message]) -> None:
    """`read` the store (in the calling worker's thread), then post `loaded` of what it
    read to `to`, or `StoreFailed` with why it could not: the pattern of every screen's
    read worker, whose failure is shown on its status line and never closes the app."""
    try:
        value = read()
    except AgentreelError as e:
        to.post_message(StoreFailed(str(e)))
    else:
        to.post_message(loaded(value))


@dataclass
class RunsLoaded(Message):
    """A refresh of the runs screen finished: the runs, and their table cells made ready
    off the UI thread (`cells`, for the columns `keys`, and the column `widths`)."""

    page: RunsPage
    query: str
    keys: list[str] = field(default_factory=list)
    cells: list[list[Any]] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)


@dataclass
class RunDetailLoaded(Message):
    """A run's spans were read."""

    detail: RunDetail


@dataclass
class SpoolDrained(Message):
    """A drain step ended: `spans` went into the store, `more` segments still wait.

    `busy`: the store was not opened, because another process had it or waited for it.
    """

    spans: int
    more: bool
    busy: bool = False


@dataclass
class StoreFailed(Message):
    """A read failed with a message for the user (busy store, bad filter, newer schema...)."""

    error: str


@dataclass
class DiffLoaded(Message):
    """Two runs were aligned."""

    diff: RunDiff


@dataclass
class CheckResultsLoaded(Message):
    """The saved check results were read (an empty frame when there are none)."""

    results: pl.DataFrame
