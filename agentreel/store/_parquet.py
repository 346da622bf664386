"""A Parquet dataset read as a store: in-memory DuckDB views named as the store's tables.

A dataset is a directory (local, or on S3-compatible storage as an ``s3://`` URL)
holding ``agentreel-parquet.json`` (the manifest) and, for each table it carries,
``<table>/day=YYYY-MM-DD/part-<uuid>.parquet`` files with exactly the store table's
columns. The manifest lists the files that make up the dataset: a reader reads
those and no others, so files an export or a compaction is still writing (or left
behind by a crash) are never half-seen. `export_parquet` writes datasets and
appends to them; `compact_dataset` merges small files (store/_parquet_write.py).

Opening one makes an in-memory DuckDB database with every store table (the
current schema, empty), then replaces each table the dataset carries with a view
over its files, so every query the store runs (``runs``, ``show``, the checks, the
TUI) runs unchanged. The store is read-only.

Example::

    with Store.open("archive/agentreel") as store:   # the directory holding the manifest
        store.runs(status="error")
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from agentreel._errors import AgentreelError, StoreNotFound, StoreVersionError
from agentreel.store._attach import Handle
from agentreel.store._schema import SCHEMA_VERSION, migrate

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST",
    "TABLES",
    "DatasetHandle",
    "Manifest",
    "dataset_files",
    "is_remote",
    "open_dataset_connection",
    "parquet_dataset",
    "read_manifest",
]

#: The manifest's file name, in the dataset's top directory.
MANIFEST = "agentreel-parquet.json"
#: Version of the dataset layout (the manifest and the directories); the store's
#: schema version is kept beside it.
FORMAT_VERSION = 1
#: The store tables a dataset carries: what runs, show, check and the TUI read.
TABLES = ("spans", "runs", "evaluation_records", "processes")
#: URL schemes read through DuckDB's httpfs extension.
_REMOTE = ("s3://", "s3a://", "gs://", "r2://")
#: Those also read through s3fs when httpfs is not installed.
_S3FS = ("s3://", "s3a://")


def is_remote(location: str) -> bool:
    """Whether `location` is a URL (read through httpfs or s3fs) rather than a local path."""
    return location.startswith(_REMOTE)


def _as_location(path: str | os.PathLike[str]) -> str:
    """`path` as a local path or a URL: ``Path("s3://b/k")`` prints as ``s3:/b/k``, so a
    URL that went through `Path` (as ``--dir`` does) gets its second slash back."""
    s = os.fspath(path)
    for scheme in _REMOTE:
        bare = scheme[:-1]  # "s3:/"
        if s.startswith(bare) and not s.startswith(scheme):
            return scheme + s[len(bare) :]
    return s


def parquet_dataset(path: str | os.PathLike[str] | None) -> str | None:
    """The dataset at `path` (its local path or URL), or None when `path` is not one.

    A local directory is a dataset when it holds the manifest; an ``s3://`` URL is
    always taken for one (whether the manifest is there is known on opening).
    """
    if path is None:
        return None
    s = _as_location(path)
    if is_remote(s):
        return s.rstrip("/")
    return s if (Path(s) / MANIFEST).is_file() else None


@dataclass
class Manifest:
    """What the manifest says: the layout version, the store schema version of the
    columns, and each table's files (paths relative to the dataset's top)."""

    schema_version: int = SCHEMA_VERSION
    format_version: int = FORMAT_VERSION
    tables: dict[str, list[str]] = field(default_factory=dict)

    def files(self, table: str) -> list[str]:
        return list(self.tables.get(table, []))

    def as_json(self) -> str:
        doc = {
            "format": "agentreel-parquet",
            "format_version": self.format_version,
            "schema_version": self.schema_version,
            "tables": {t: {"files": sorted(fs)} for t, fs in sorted(self.tables.items())},
        }
        return json.dumps(doc, indent=1) + "\n"

    @classmethod
    def parse(cls, text: str, where: str) -> Manifest:
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict) or doc.get("format") != "agentreel-parquet":
                raise ValueError("not an agentreel-parquet manifest")
            tables = {str(t): [str(f) for f in v["files"]] for t, v in dict(doc["tables"]).items()}
            m = cls(int(doc["schema_version"]), int(doc["format_version"]), tables)
        except (ValueError, KeyError, TypeError) as e:
            raise AgentreelError(f"{where} is not a readable dataset manifest: {e}") from None
        if m.format_version > FORMAT_VERSION or m.schema_version > SCHEMA_VERSION:
            raise StoreVersionError(
                f"the Parquet dataset at {where} was written by a newer agentreel (layout "
                f"{m.format_version}, schema {m.schema_version}; this one reads layout "
                f"{FORMAT_VERSION}, schema {SCHEMA_VERSION}); upgrade agentreel to read it"
            )
        for fs in m.tables.values():
            for f in fs:
                if f.startswith("/") or ".." in f.split("/"):
                    raise AgentreelError(f"{where} names a file outside the dataset: {f!r}")
        return m


def _first_line(e: BaseException) -> str:
    """The gist of a DuckDB error: its first line, or for an error raised in Python code
    (an fsspec filesystem such as s3fs) the exception's own line, not ``Traceback ...``."""
    lines = [ln for ln in str(e).splitlines() if ln.strip()]
    if not lines:
        return type(e).__name__
    if lines[0].startswith("Traceback"):
        for ln in reversed(lines):
            if not ln.startswith((" ", "LINE ", "Traceback")):
                return ln.strip()
    return lines[0]


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _load_httpfs(con: duckdb.DuckDBPyConnection, install: bool) -> str | None:
    """Load httpfs (first installing it, when `install`); None when it loaded, else why not."""
    try:
        con.execute("LOAD httpfs")
    except duckdb.Error as e:
        if not install:
            return _first_line(e)
        try:
            con.execute("INSTALL httpfs")
            con.execute("LOAD httpfs")
        except duckdb.Error as e2:
            return _first_line(e2)
    return None


def _httpfs_secret(con: duckdb.DuckDBPyConnection) -> None:
    """S3 credentials for httpfs from the usual environment variables."""
    env = os.environ
    opts = ["TYPE s3"]
    for key, var in (
        ("KEY_ID", "AWS_ACCESS_KEY_ID"),
        ("SECRET", "AWS_SECRET_ACCESS_KEY"),
        ("SESSION_TOKEN", "AWS_SESSION_TOKEN"),
    ):
        if env.get(var):
            opts.append(f"{key} {_sql_str(env[var])}")
    region = _region()
    if region:
        opts.append(f"REGION {_sql_str(region)}")
    endpoint = _endpoint()
    if endpoint:  # an S3-compatible server (MinIO, Ceph, moto): path-style URLs
        secure = not endpoint.startswith("http://")
        host = endpoint.split("://", 1)[-1].rstrip("/")
        opts += [f"ENDPOINT {_sql_str(host)}", "URL_STYLE 'path'", f"USE_SSL {str(secure).lower()}"]
    con.execute(f"CREATE OR REPLACE SECRET agentreel_s3 ({', '.join(opts)})")


def _region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


def _endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def _register_s3fs(con: duckdb.DuckDBPyConnection) -> bool:
    """Register an s3fs filesystem on `con` (credentials, region and endpoint from the
    same variables httpfs reads); False when s3fs is not installed."""
    try:
        import s3fs  # type: ignore[import-untyped]  # s3fs ships no type information
    except ImportError:
        return False
    env = os.environ
    client: dict[str, str] = {}
    region = _region()
    if region:
        client["region_name"] = region
    fs = s3fs.S3FileSystem(
        key=env.get("AWS_ACCESS_KEY_ID") or None,
        secret=env.get("AWS_SECRET_ACCESS_KEY") or None,
        token=env.get("AWS_SESSION_TOKEN") or None,
        endpoint_url=_endpoint(),
        client_kwargs=client,
        # botocore's "standard" retries (3 attempts) unless the environment picks a mode:
        # its "legacy" default makes an unreachable endpoint take about ten seconds to report
        config_kwargs={} if env.get("AWS_RETRY_MODE") else {"retries": {"mode": "standard"}},
        skip_instance_cache=True,
    )
    con.register_filesystem(fs)
    return True


def _connect_remote(con: duckdb.DuckDBPyConnection, location: str) -> None:
    """Make `con` read `location`: through DuckDB's httpfs extension when it is installed,
    else (for ``s3://``) through s3fs registered as a filesystem on the connection, else
    through httpfs installed now. s3fs comes before installing httpfs: an install attempt
    without network access costs seconds on every command."""
    why = _load_httpfs(con, install=False)
    if why is not None and location.startswith(_S3FS) and _register_s3fs(con):
        return
    if why is not None:
        why = _load_httpfs(con, install=True)
    if why is None:
        _httpfs_secret(con)
        return
    raise AgentreelError(
        f"reading {location} needs DuckDB's httpfs extension, which could not be loaded "
        f"({why}), or s3fs for an s3:// URL: install httpfs once with network access "
        f"(python -c \"import duckdb; duckdb.execute('INSTALL httpfs')\"), "
        f"or pip install s3fs (pip install 'agentreel[s3]')"
    )


def read_manifest(con: duckdb.DuckDBPyConnection | None, location: str) -> Manifest:
    """The manifest of the dataset at `location` (`con` reads it when remote)."""
    where = f"{location}/{MANIFEST}"
    if is_remote(location):
        assert con is not None
        try:
            row = con.execute("SELECT content FROM read_text(?)", [where]).fetchone()
        except duckdb.Error as e:
            raise StoreNotFound(
                f"no Parquet dataset at {location}: cannot read {MANIFEST} ({_first_line(e)})"
            ) from None
        if row is None:  # through s3fs a missing file reads as no rows, not an error
            raise StoreNotFound(f"no Parquet dataset at {location}: it has no {MANIFEST}")
        text = str(row[0])
    else:
        try:
            text = Path(where).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise StoreNotFound(f"no Parquet dataset at {location}: it has no {MANIFEST}") from None
        except OSError as e:
            raise AgentreelError(f"cannot read {where}: {e.strerror or e}") from None
    return Manifest.parse(text, where)


def file_list(location: str, files: list[str]) -> str:
    """A DuckDB list literal of the files' full paths or URLs."""
    return "[" + ", ".join(_sql_str(f"{location}/{f}") for f in files) + "]"


def table_view_sql(
    con: duckdb.DuckDBPyConnection, table: str, location: str, files: list[str]
) -> str:
    """A SELECT over `files` giving exactly the columns (and types) of `table` as `con`
    has it: a column the files lack (written by an older schema) reads as NULL."""
    source = f"read_parquet({file_list(location, files)}, hive_partitioning = true, union_by_name = true)"
    have = {str(r[0]) for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    cols = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? "
        "AND schema_name = 'main' AND database_name = current_database() ORDER BY column_index",
        [table],
    ).fetchall()
    exprs = [
        f'CAST("{c}" AS {t}) AS "{c}"' if c in have else f'CAST(NULL AS {t}) AS "{c}"'
        for c, t in cols
    ]
    return f"SELECT {', '.join(exprs)} FROM {source}"


def open_dataset_connection(location: str) -> tuple[duckdb.DuckDBPyConnection, Manifest]:
    """An in-memory DuckDB connection whose store tables are views over the dataset."""
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        if is_remote(location):
            _connect_remote(con, location)
        manifest = read_manifest(con, location)
        migrate(con, location)  # every table and view of the store, empty
        con.execute("INSERT OR REPLACE INTO meta VALUES ('read_only_dataset', ?)", [location])
        for table in TABLES:
            files = manifest.files(table)
            if not files:
                continue  # stays an empty table
            select = table_view_sql(con, table, location, files)
            con.execute(f"DROP TABLE {table}")
            con.execute(f"CREATE VIEW {table} AS {select}")
    except duckdb.Error as e:
        con.close()
        raise AgentreelError(
            f"cannot read the Parquet dataset at {location}: {_first_line(e)}"
        ) from None
    except BaseException:
        con.close()
        raise
    return con, manifest


class DatasetHandle(Handle):
    """A `Handle` on a dataset's in-memory database: nothing attached, nothing locked."""

    def __init__(self, location: str) -> None:  # no super().__init__: no file to attach
        self.db = Path(location)
        self.read_only = True
        self.location = location
        self.con, self.manifest = open_dataset_connection(location)
        self._open = True

    def close(self) -> None:
        if self._open:
            self._open = False
            self.con.close()


def dataset_files(path: str | os.PathLike[str]) -> dict[str, list[str]]:
    """The files of each table of the local Parquet dataset at `path`, as its manifest
    lists them (full paths): what an engine other than DuckDB reads.

    Example::

        spark.read.parquet(*dataset_files("archive/agentreel")["spans"])
    """
    location = parquet_dataset(path)
    if location is None:
        raise AgentreelError(f"{os.fspath(path)} is not a Parquet dataset (no {MANIFEST})")
    if is_remote(location):
        raise AgentreelError(f"{location} is remote: only a local dataset's files are listed")
    manifest = read_manifest(None, location)
    return {t: [f"{location}/{f}" for f in manifest.files(t)] for t in TABLES}
