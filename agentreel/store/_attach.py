"""One DuckDB instance per process, with each store file attached to it once.

DuckDB checkpoints a table by rewriting its last, growing row group. With the
default row groups of 122,880 rows, a drain that appends a few thousand spans to a
store of hundreds of thousands paid up to 0.6–0.8 s of CPU in the checkpoint of
one commit, while every other process waited for the file. Attached with
``ROW_GROUP_SIZE 16384`` the worst such checkpoint took 0.04 s (docs/reliability.md
has the figures). The row group size is an option of ``ATTACH`` only (not of
``duckdb.connect``, and not kept in the file), so every store is attached to one
in-memory "hub" connection of the process: a `Handle` is a cursor of the hub whose
default database is the store, and the file is detached (checkpointed, its lock
released) when the last handle on it closes.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from agentreel._errors import AgentreelError

__all__ = [
    "DB_NAME",
    "ROW_GROUP_SIZE",
    "Handle",
    "cursor",
    "held_by_this_thread",
    "holders",
    "hub_cursor",
]

#: The store's DuckDB file, in the store directory.
DB_NAME = "agentreel.duckdb"

#: Rows per row group of data written through agentreel.
ROW_GROUP_SIZE = 16384
#: WAL bytes after which a commit checkpoints (DuckDB's default is 16 MiB).
CHECKPOINT_BYTES = 4 * 1024 * 1024


@dataclass
class _Attached:
    alias: str
    read_only: bool
    threads: Counter[int] = field(default_factory=Counter)  # open handles by thread


_lock = threading.Lock()
_hub: list[duckdb.DuckDBPyConnection] = []
_attached: dict[str, _Attached] = {}
_aliases = itertools.count(1)
_generation = [0]  # bumped in a forked child: handles made before belong to the parent
# The parent's connections, as a forked child inherited them: never used, and never
# freed (DuckDB's destructors would work on a copy of the parent's instance).
_inherited: list[duckdb.DuckDBPyConnection] = []


def _forget_in_child() -> None:
    """A forked child holds none of its parent's file locks: it must attach for itself."""
    global _lock
    _lock = threading.Lock()
    _generation[0] += 1
    _inherited.extend(_hub)
    _hub.clear()
    _attached.clear()


os.register_at_fork(after_in_child=_forget_in_child)


def _get_hub() -> duckdb.DuckDBPyConnection:
    if not _hub:
        hub = duckdb.connect()
        # DuckDB draws a progress bar on stdout for queries over 2 s, which would
        # corrupt `--json` output (seen under heavy recording): never.
        hub.execute("SET enable_progress_bar = false")
        # Every detach checkpoints what was written since the last checkpoint, and so
        # does a commit once the WAL holds this much: in smaller steps than DuckDB's
        # 16 MiB, a drain that lets go for a waiting reader holds the file only a
        # little longer.
        hub.execute(f"SET checkpoint_threshold = '{CHECKPOINT_BYTES}B'")
        # Text columns go to polars as Arrow string views, the layout polars keeps them
        # in, instead of plain strings it then copies into views: the same frames, and
        # a check of a million spans peaked about 40 MB lower (its tool calls' frame cost
        # twice its own size in copies while it was made).
        hub.execute("SET arrow_output_version = '1.4'")
        hub.execute("SET produce_arrow_string_view = true")
        _hub.append(hub)
    return _hub[0]


def _key(db: Path) -> str:
    return os.path.realpath(db)


def cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A new cursor on the database `con` uses (a bare cursor would use the hub's)."""
    row = con.execute("SELECT current_database()").fetchone()
    cur = con.cursor()
    if row:
        name = str(row[0]).replace('"', '""')
        cur.execute(f'USE "{name}"')
    return cur


def hub_cursor() -> duckdb.DuckDBPyConnection:
    """A cursor of this process's DuckDB connection, which outlives any `Handle`."""
    with _lock:
        return _get_hub().cursor()


def _in_use(db: Path) -> str:
    if _generation[0]:
        return (
            f"the store at {db} was open when this process was forked, and DuckDB allows "
            f"one open per file in a process: open stores only after the fork, or start "
            f"processes with the 'spawn' method"
        )
    return (
        f"the store at {db} is open in this process through a DuckDB connection of its "
        f"own; close that connection first"
    )


def holders(db: Path) -> int:
    """How many open handles of this process are on the file `db`."""
    with _lock:
        a = _attached.get(_key(db))
        return a.threads.total() if a else 0


def held_by_this_thread(db: Path) -> bool:
    """Whether the calling thread has a handle open on the file `db`."""
    with _lock:
        a = _attached.get(_key(db))
        return bool(a and a.threads[threading.get_ident()])


class Handle:
    """A connection to one store file: ``con`` queries it by its tables' bare names.

    Raises `duckdb.IOException` as ``duckdb.connect`` would when another process
    holds the file, and `AgentreelError` when this process has the file attached
    read-only and a handle that writes is asked for.
    """

    def __init__(self, db: Path, read_only: bool) -> None:
        self.db = db
        self.read_only = read_only
        self._generation = _generation[0]
        key = _key(db)
        with _lock:
            hub = _get_hub()
            a = _attached.get(key)
            if a is None:
                alias = f"agentreel_{next(_aliases)}"
                path = str(db).replace("'", "''")
                opts = f"ROW_GROUP_SIZE {ROW_GROUP_SIZE}" + (", READ_ONLY" if read_only else "")
                try:
                    hub.execute(f"ATTACH '{path}' AS {alias} ({opts})")
                except duckdb.ResourceInUseException:
                    # DuckDB knows every file open in the process, through any connection
                    raise AgentreelError(_in_use(db)) from None
                a = _attached[key] = _Attached(alias, read_only)
            elif a.read_only and not read_only:
                raise AgentreelError(
                    f"the store at {db} is open read-only in this process; close it before "
                    f"opening it to write"
                )
            self._thread = threading.get_ident()
            a.threads[self._thread] += 1
            self._key = key
            try:
                self.con: duckdb.DuckDBPyConnection = hub.cursor()
                self.con.execute(f"USE {a.alias}")
            except BaseException:
                self._release_locked()
                raise
        self._open = True

    def close(self) -> None:
        """Close the cursor; the last handle on the file detaches it. Idempotent."""
        if not getattr(self, "_open", False):
            return
        self._open = False
        if self._generation != _generation[0]:
            _inherited.append(self.con)  # made before this process was forked: the parent's
            return
        try:
            self.con.close()
        finally:
            with _lock:
                self._release_locked()

    def _release_locked(self) -> None:
        a = _attached[self._key]
        a.threads[self._thread] -= 1
        if not a.threads[self._thread]:
            del a.threads[self._thread]
        if a.threads:
            return
        del _attached[self._key]
        try:
            _hub[0].execute(f"DETACH {a.alias}")  # checkpoints, then lets go of the file
        except duckdb.Error as e:
            _drop_hub_if_idle()
            raise AgentreelError(f"closing the store at {self.db} failed: {e}") from None


def _drop_hub_if_idle() -> None:
    """After a failed detach (a checkpoint that found the disk full), let go of the file.

    The file may still be attached, and DuckDB may have given up on it, so the next
    open in this process would fail though the disk has room again. With no other
    file attached, closing the hub closes the in-memory instance and its hold on the
    file (what was committed is in the file's WAL); the next open starts afresh.
    Called with `_lock` held.
    """
    if _attached or not _hub:
        return
    hub = _hub.pop()
    with contextlib.suppress(duckdb.Error):
        hub.close()
