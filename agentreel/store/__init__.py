"""The store: spool segments drained into DuckDB, read back as polars frames.

Example::

    from agentreel.store import Store
    with Store.open() as store:
        store.ingest()
        runs = store.runs(since="24h")
"""

from __future__ import annotations

from agentreel.store._ingest import IngestReport
from agentreel.store._schema import SCHEMA_VERSION
from agentreel.store._store import DB_NAME, Store

__all__ = ["DB_NAME", "SCHEMA_VERSION", "IngestReport", "Store"]
