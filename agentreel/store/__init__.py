"""The store: spool segments drained into DuckDB, read back as polars frames.

Example::

    from agentreel.store import Store
    with Store.open() as store:
        store.ingest()
        runs = store.runs(since="24h")

Spans also arrive over OTLP/HTTP (`Receiver`, `serve`) and from OTLP/JSON files
(`import_otlp_json`), and leave as OTLP/JSON or Parquet (`export_otlp_json`,
`export_parquet`); a Parquet dataset opens as a read-only store (`parquet_dataset`,
`compact_dataset`, docs/scaling.md).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from agentreel.store._access import Access, Keeper, Purpose
from agentreel.store._diff import RunDiff, StepPair
from agentreel.store._filter import FilterError
from agentreel.store._gc import GcReport
from agentreel.store._graph import AgentEdge, AgentGraph, AgentNode, agent_graph
from agentreel.store._ingest import IngestReport
from agentreel.store._markers import SpoolStatus, keep_draining, spool_status, stop_draining
from agentreel.store._parquet import dataset_files, parquet_dataset
from agentreel.store._records import Evaluation, Event, Run, Session, Span, records
from agentreel.store._schema import SCHEMA_VERSION
from agentreel.store._store import DB_NAME, Store

if TYPE_CHECKING:
    from agentreel.store._export_json import ExportReport, export_otlp_json
    from agentreel.store._import_json import ImportReport, import_otlp_json
    from agentreel.store._otlp import OTLPDecodeError
    from agentreel.store._parquet_write import CompactReport, compact_dataset, export_parquet
    from agentreel.store._rebuild import RebuildReport, rebuild
    from agentreel.store._receiver import Receiver
    from agentreel.store._receiver_stats import ReceiverStats
    from agentreel.store._serve import serve

#: Names imported on first use: `agentreel runs` and `show` never need the receiver,
#: OTLP decoding, import/export or rebuild (tens of milliseconds at start-up).
_LAZY = {
    "OTLPDecodeError": "_otlp",
    "RebuildReport": "_rebuild",
    "rebuild": "_rebuild",
    "Receiver": "_receiver",
    "ReceiverStats": "_receiver_stats",
    "serve": "_serve",
    "ExportReport": "_export_json",
    "ImportReport": "_import_json",
    "export_otlp_json": "_export_json",
    "export_parquet": "_parquet_write",
    "CompactReport": "_parquet_write",
    "compact_dataset": "_parquet_write",
    "import_otlp_json": "_import_json",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agentreel.store' has no attribute {name!r}")
    value = getattr(import_module(f"agentreel.store.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "DB_NAME",
    "SCHEMA_VERSION",
    "Access",
    "AgentEdge",
    "AgentGraph",
    "AgentNode",
    "CompactReport",
    "Evaluation",
    "Event",
    "ExportReport",
    "FilterError",
    "GcReport",
    "ImportReport",
    "IngestReport",
    "Keeper",
    "OTLPDecodeError",
    "Purpose",
    "RebuildReport",
    "Receiver",
    "ReceiverStats",
    "Run",
    "RunDiff",
    "Session",
    "Span",
    "SpoolStatus",
    "StepPair",
    "Store",
    "agent_graph",
    "compact_dataset",
    "dataset_files",
    "export_otlp_json",
    "export_parquet",
    "import_otlp_json",
    "keep_draining",
    "parquet_dataset",
    "rebuild",
    "records",
    "serve",
    "spool_status",
    "stop_draining",
]
