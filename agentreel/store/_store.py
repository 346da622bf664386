"""`Store`: one agentreel directory, its DuckDB file and its spool, queried as polars frames."""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType

import duckdb

from agentreel._errors import AgentreelError, StoreNotFound
from agentreel._spool import SpoolPaths
from agentreel.store import _access
from agentreel.store._access import Access, Purpose
from agentreel.store._archive import BUDGET_S as COMPRESS_BUDGET_S
from agentreel.store._archive import SHARE as COMPRESS_SHARE
from agentreel.store._archive import compress_archived
from agentreel.store._attach import DB_NAME, Handle
from agentreel.store._damage import damaged, is_damage
from agentreel.store._derived import Derived
from agentreel.store._gc import GcReport
from agentreel.store._gc_run import collect
from agentreel.store._ingest import IngestReport
from agentreel.store._parquet import DatasetHandle, parquet_dataset
from agentreel.store._queries import _when
from agentreel.store._schema import migrate

__all__ = ["DB_NAME", "Store"]

_MIGRATE_LOCK = threading.Lock()


def _failed(db: Path, e: duckdb.Error) -> Exception:
    """The error to raise for a failed open: `StoreCorrupt` for a damaged file,
    `StoreBusy` (naming the holder) for the lock, `e` itself otherwise."""
    if is_damage(e):
        return damaged(db, e)
    if isinstance(e, duckdb.IOException):
        return _access.open_failed(db, e)
    return e


class Store(Derived):
    """An agentreel store: ``<dir>/agentreel.duckdb`` plus ``<dir>/spool/``.

    Open it, drain what agents recorded, and query runs and spans as polars frames::

        from agentreel.store import Store
        with Store.open(".agentreel") as store:
            store.ingest()
            print(store.runs(status="error"))

    Only one process at a time may open the DuckDB file read-write; agents never
    open it (they write the spool), so recording never waits on a reader.
    """

    def __init__(self, path: Path, handle: Handle, read_only: bool) -> None:
        self.path = path
        self.paths = SpoolPaths(path)
        self.read_only = read_only
        #: why the store was opened, and what the open did for it (`Access`)
        self.access = Access()
        self._set_handle(handle)

    def _set_handle(self, handle: Handle) -> None:
        self._handle = handle
        # a Store dropped without close still lets go of the file
        self._release = weakref.finalize(self, handle.close)

    @property
    def _con(self) -> duckdb.DuckDBPyConnection:
        return self._handle.con

    @property
    def db(self) -> Path:
        """The DuckDB file (``<path>/agentreel.duckdb``)."""
        return self.path / DB_NAME

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        read_only: bool = False,
        create: bool = False,
        wait: float | None = None,
        purpose: Purpose | None = None,
    ) -> Store:
        """Open the store at `path` (default ``$AGENTREEL_DIR`` or ``./.agentreel``).

        DuckDB lets one process at a time hold the file; readers such as the TUI hold
        it only for a moment at a time, so `wait` seconds of retrying usually get in.

        `purpose` says who opens it, and so how it waits, drains and gives way
        (docs/architecture.md, "Sharing the store"): ``read`` and ``write`` for a
        command (the spool is drained first, unless the TUI or ``serve`` keeps it
        drained), ``ingest`` for one that drains it all itself, ``tui`` for the TUI's
        reads, ``drain`` for a process that keeps the store drained. `wait` then
        defaults to the purpose's; without a purpose the open waits `wait` seconds
        (0 by default) and drains nothing. `access` says what the open did.

        A Parquet dataset (`parquet_dataset`: a directory holding its manifest, or an
        ``s3://`` URL) opens read-only, as views over its files (store/_parquet.py).

        Raises `StoreNotFound` when nothing was ever recorded there and `create` is
        false, `StoreBusy` when another process still holds the file after `wait`,
        and `StoreVersionError` when a newer agentreel wrote it.
        """
        where = path if path is not None else os.environ.get("AGENTREEL_DIR") or ".agentreel"
        dataset = parquet_dataset(where)
        if dataset is not None:  # a Parquet dataset (store/_parquet.py): read-only views
            return cls(Path(dataset), DatasetHandle(dataset), True)
        p = Path(where)
        if purpose is not None:
            return _access.open_for(cls, p, purpose, read_only=read_only, create=create, wait=wait)
        return cls._open(p, read_only=read_only, create=create, wait=wait or 0.0)

    @classmethod
    def _open(cls, p: Path, *, read_only: bool, create: bool, wait: float) -> Store:
        """The open itself: the file attached (waiting up to `wait`) and migrated."""
        db = p / DB_NAME
        if not db.exists() and not (p / "spool").is_dir() and not create:
            raise StoreNotFound(
                f"no agentreel store at {p}: record a run first (try `agentreel demo`) or point "
                f"--dir / AGENTREEL_DIR at an existing store"
            )
        if read_only and not db.exists():
            raise StoreNotFound(
                f"no agentreel store at {p} yet: run `agentreel ingest` to create it"
            )
        try:
            p.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not db.exists():
                os.close(os.open(db, os.O_CREAT | os.O_WRONLY, 0o600))
                os.unlink(db)  # DuckDB creates it; this checks the directory is writable
            handle = _access.connect(db, read_only, wait)
        except duckdb.Error as e:
            raise _failed(db, e) from None
        except OSError as e:
            raise AgentreelError(f"cannot create the store at {p}: {e.strerror or e}") from None
        try:
            # Threads of one process share the open database: one migrates, the
            # others then find it current (two creating the tables would conflict).
            with _MIGRATE_LOCK:
                migrate(handle.con, str(db), read_only=read_only)
        except BaseException as e:
            with contextlib.suppress(AgentreelError):
                handle.close()
            if isinstance(e, duckdb.Error) and is_damage(e):
                raise damaged(db, e) from None
            raise
        store = cls(p, handle, read_only)
        store._tighten()
        return store

    def _tighten(self) -> None:
        """Make the DuckDB file and its WAL owner-only, like the spool.

        DuckDB creates them with the process's umask (and makes the WAL afresh after
        each checkpoint), so every write through the store ends here; the store
        directory itself is ``0700`` when agentreel made it.
        """
        if self.read_only:
            return
        db = self.path / DB_NAME
        for f in (db, db.with_name(db.name + ".wal")):
            with contextlib.suppress(OSError):
                if f.stat().st_mode & 0o077:
                    f.chmod(0o600)

    def close(self) -> None:
        """Let go of the store; the last `Store` of this process on it checkpoints it."""
        self._release()

    def give_way(self, *, wait: float = _access.GIVE_WAY_WAIT_S) -> bool:
        """Let a process that is waiting for the store in first, then take it back.

        A reader that runs several queries which need not see one instant (`run_checks`
        reading its windows) calls this between them, so another command waits for
        one query, not for all of them. Returns False at once when nobody waits.
        Otherwise the file is closed until the waiting process has opened it (or
        0.5 s), then opened again, waiting up to `wait` seconds (`StoreBusy` after).
        Do not call it with a result unread or inside a transaction.
        """
        return _access.give_way(self, wait)

    def _reconnect(self, wait: float) -> None:
        """Attach the file again after `_release` (waiting up to `wait` seconds)."""
        try:
            self._set_handle(_access.connect(self.db, self.read_only, wait))
        except duckdb.Error as e:
            raise _failed(self.db, e) from None

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------

    def ingest(
        self,
        *,
        limit: int | None = None,
        budget: float | None = None,
        give_way: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> IngestReport:
        """Drain the spool into the store; returns what was taken and what was set aside.

        `limit` caps the segments taken; `budget` (seconds) stops starting new
        transactions once it is spent, leaving the rest for the next call, so a reader
        under heavy recording holds the store only briefly (the TUI drains this way).
        A drain with a budget also stops early when another process is waiting to
        open the store. With `give_way` (and no budget) the drain takes everything,
        in transactions of about a quarter of a second, and between them lets a
        process that waits for the store in first (`give_way()`), then goes on: a
        backlog of minutes then keeps nobody waiting for more than one transaction.
        `progress`, when given, is called with the spans of each committed
        transaction (a progress bar's `advance`).
        """
        if self.read_only:
            raise AgentreelError(
                "this store was opened read-only; open it without read_only to ingest"
            )
        try:
            report = _access.ingest_for(
                self, limit=limit, budget=budget, give_way=give_way, progress=progress
            )
            # settled drained segments, within a budget that grows with the drain's work
            compress_archived(
                self.paths, budget_s=max(COMPRESS_BUDGET_S, COMPRESS_SHARE * report.seconds)
            )
            return report
        except duckdb.Error as e:
            if is_damage(e):
                raise damaged(self.path / DB_NAME, e) from None
            raise
        finally:
            self._tighten()

    def gc(
        self,
        *,
        older_than: datetime | timedelta | str | None = None,
        max_size: int | str | None = None,
        dry_run: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> GcReport:
        """Remove old runs and compact the DuckDB file; returns what went.

        `older_than` (``"30d"``, ``"12h"``, a timedelta) removes runs that ended that
        long ago; `max_size` (``"500MB"``, ``"2GiB"``, bytes) then removes the oldest
        runs until the file fits. A run's spans, its ``runs`` row, processes no run
        needs any more and archived spool segments older than every kept run go with
        it; check results stay (they are the history of `agentreel check`). The file
        is then compacted: copied into a fresh file that replaces it atomically, so a
        gc killed midway leaves the old store whole. With no limits, gc only compacts.

        A `max_size` below what the store can shrink to (its size with every removable
        run gone: the empty tables' blocks, check history, runs still recording) raises
        `AgentreelError` before anything is removed. `dry_run` removes nothing; the
        size afterwards is measured on a scratch copy of what would be kept, so a dry
        run takes about as long as the compaction. `progress`, when given, is told the
        rows copied as the compaction goes (a call per chunk of rows).

        Drain the spool first (`ingest`) so its spans count too. Close any other
        `Store` on this directory in this process first (they share the open file,
        which compaction replaces): gc raises `AgentreelError` while one is open.

        Example::

            with Store.open() as store:
                store.ingest()
                report = store.gc(older_than="30d", max_size="500MB")
                print(len(report.runs), report.bytes_before, report.bytes_after)
        """
        if self.read_only:
            raise AgentreelError("this store was opened read-only; open it without read_only to gc")
        before = _when(older_than, "older_than") if older_than is not None else None
        return collect(self, before=before, max_size=max_size, dry_run=dry_run, progress=progress)
