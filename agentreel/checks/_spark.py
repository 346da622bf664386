"""The Spark engine: `load_window` over a Parquet dataset, computed by PySpark.

``agentreel check --engine spark`` runs the same checks as the DuckDB engine; what
differs is where the window is read. Every query `load_window` runs in DuckDB (the
window's runs, the per-run aggregates of LLM and tool calls, the counts per kind, the
tool and LLM calls, the orphans, the spans that may break the contract, the scored
evaluations) is written here again in Spark SQL and run by Spark over the dataset's
files, so the work over the spans scales with the cluster. What comes back is the same
`WindowData`, small (one row per run, per call, per suspect), and the checks measure
and judge it with the same code, which is what keeps the two engines' reports equal.

The session is the active one when there is one (make your own to run on a cluster),
else a local one (``local[*]``). Datasets are read from a local directory.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from agentreel._errors import AgentreelError
from agentreel.checks._errors import CheckError
from agentreel.checks._load import (
    CALL_COLUMNS,
    REFUSED,
    RUN_COLUMNS,
    SPAN_COLUMNS,
    WindowData,
    _derive_runs,
)
from agentreel.checks._models import KINDS, MAX_INPUT_TOKENS, MAX_OUTPUT_TOKENS, MAX_SPAN_COST_USD
from agentreel.checks._window import Window
from agentreel.store import Store, dataset_files, parquet_dataset

__all__ = ["load_window_spark", "spark_available", "spark_connect_or_nothing", "spark_session"]

#: Columns held as nanoseconds since the epoch (Spark reads Parquet's TIMESTAMP_NS as
#: a long); they come back as polars datetimes, as DuckDB gives them.
_NS_COLUMNS = ("start_time", "end_time", "created_at", "time")
_TABLES = ("spans", "runs", "evaluation_records")
_EVAL_EMPTY = (
    "evaluation_id string, run_id string, span_id string, name string, score double, "
    "label string, explanation string, source string, created_at bigint"
)


def spark_available() -> str | None:
    """None when PySpark and a Java runtime are there; else why not, in one sentence."""
    import importlib.util
    import os
    import shutil

    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install 'agentreel[spark]')"
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and Path(java_home, "bin", "java").exists()):
        return "Spark needs a Java runtime (17 or newer) on the PATH or in JAVA_HOME"
    return None


def spark_connect_or_nothing() -> None:
    """Import PySpark's Spark Connect package, or make it missing for good.

    Imported without its own dependencies (grpc) from a program that has no main file
    (``python -c``, a test runner's worker process), it takes the program for a doctest
    run and calls ``sys.exit(0)``. Pandera imports it only to support Spark Connect, and
    goes on without it on an ImportError: so after that exit it is marked missing, and
    every later import of it raises ImportError instead of ending the program.
    """
    try:
        import pyspark.sql.connect  # noqa: F401
    except SystemExit:
        sys.modules["pyspark.sql.connect"] = None  # type: ignore[assignment]
    except ImportError:
        pass


def spark_session() -> Any:
    """The active SparkSession, or a local one made with settings for small jobs."""
    missing = spark_available()
    if missing is not None:
        raise CheckError(f"the spark engine cannot run: {missing}")
    spark_connect_or_nothing()
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    if spark is None:
        spark = (
            SparkSession.builder.master("local[*]")
            .appName("agentreel-check")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
    # Parquet's TIMESTAMP(NANOS) is read as its long: Spark's timestamps hold microseconds
    spark.conf.set("spark.sql.legacy.parquet.nanosAsLong", "true")
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    return spark


def _dataset(store: Store) -> dict[str, list[str]]:
    """The files of the local Parquet dataset `store` was opened on (`CheckError` otherwise)."""
    where = str(store.path)
    if parquet_dataset(store.path) is None:
        raise CheckError(
            f"the spark engine reads a Parquet dataset, and {where} is a DuckDB store: "
            "export it with `agentreel export --format parquet --out DIR` and check --dir DIR"
        )
    try:
        return dataset_files(store.path)
    except AgentreelError as e:
        raise CheckError(
            f"the spark engine reads local datasets only ({e}); read it with the duckdb "
            "engine, or copy it to a local directory"
        ) from None


#: The column the rows the row contracts validate in Spark are numbered by.
ROW = "_agentreel_row"

#: The session and files the views were last made for: the baseline window of a check
#: run reads the same files, and each read of a table's schema is a Spark job.
_registered: list[tuple[Any, tuple[tuple[str, ...], ...]]] = []


def _register(spark: Any, files: dict[str, list[str]]) -> None:
    """Temp views ``spans``, ``runs`` and ``evaluation_records`` over the dataset's files."""
    key = tuple(tuple(files[t]) for t in _TABLES)
    if _registered and _registered[0][0] is spark and _registered[0][1] == key:
        return
    _registered.clear()
    for table in _TABLES:
        if files[table]:
            df = spark.read.option("mergeSchema", "true").parquet(*files[table])
            df = df.drop("day") if "day" in df.columns else df
        elif table == "evaluation_records":
            df = spark.createDataFrame([], _EVAL_EMPTY)
        else:
            raise CheckError(f"the Parquet dataset has no {table} files")
        df.createOrReplaceTempView(table)
    _registered.append((spark, key))


def _ns(t: datetime) -> int:
    aware = t.replace(tzinfo=UTC) if t.tzinfo is None else t
    return int(aware.timestamp()) * 1_000_000_000 + aware.microsecond * 1000


def _glob_regex(glob: str) -> str:
    """DuckDB's GLOB as a Java regular expression matching the whole name."""
    out = []
    for part in re.split(r"(\*|\?|\[[^\]]*\])", glob):
        if part == "*":
            out.append(".*")
        elif part == "?":
            out.append(".")
        elif part.startswith("[") and part.endswith("]") and len(part) > 1:
            out.append(part)
        else:
            out.append(re.escape(part))
    return "^" + "".join(out) + "$"


def _json_path(key: str) -> str:
    if "'" in key or "]" in key:
        raise CheckError(f"the spark engine cannot read the tag or attribute key {key!r}")
    return f"$['{key}']"


def _where(window: Window) -> tuple[str, dict[str, Any]]:
    """`Window.where` in Spark SQL, over ``runs r``, with named parameters."""
    w = window.resolve()
    conds = ["r.status <> 'running'"]
    args: dict[str, Any] = {}
    if not w.replays:
        conds.append(
            "get_json_object(r.tags, '$.replay_of') IS NULL "
            "AND get_json_object(r.tags, '$.forked_from') IS NULL"
        )
    if isinstance(w.since, datetime):
        conds.append("r.start_time >= :w_since")
        args["w_since"] = _ns(w.since)
    if isinstance(w.until, datetime):
        conds.append("r.start_time < :w_until")
        args["w_until"] = _ns(w.until)
    for i, (k, v) in enumerate(sorted(w.tags.items())):
        conds.append(f"get_json_object(r.tags, :w_tk{i}) = :w_tv{i}")
        args[f"w_tk{i}"] = _json_path(str(k))
        args[f"w_tv{i}"] = str(v).lower() if isinstance(v, bool) else str(v)
    if w.name:
        if any(c in w.name for c in "*?["):
            conds.append("r.name RLIKE :w_name")
            args["w_name"] = _glob_regex(w.name)
        else:
            conds.append("r.name = :w_name")
            args["w_name"] = w.name
    if w.git_sha:
        conds.append("startswith(r.code_version, :w_sha)")
        args["w_sha"] = w.git_sha.lower()
    return " AND ".join(conds), args


def _list(values: Sequence[str]) -> str:
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


_IN_WINDOW = "s.run_id IN (SELECT run_id FROM window_runs)"
_VALID_JSON = "try_parse_json({0}) IS NOT NULL"
_FINISH_REASON_EXPR = f"""(
    CASE WHEN s.finish_reason IS NULL AND s.kind = 'llm' AND ltrim(s.output) LIKE '{{%'
              AND {_VALID_JSON.format("s.output")}
         THEN coalesce(get_json_object(s.output, '$.choices[0].finish_reason'),
                       get_json_object(s.output, '$.stop_reason'))
         ELSE s.finish_reason END)"""
_ARGS = f"""
    CASE WHEN s.kind = 'tool' AND ltrim(s.input) LIKE '{{%'
         THEN {_VALID_JSON.format("s.input")} END AS args_json,
    CASE WHEN s.kind = 'tool' AND {_VALID_JSON.format("s.input")}
         THEN array_join(array_sort(json_object_keys(s.input)), ',') END AS args_keys"""
_MODEL = "coalesce(s.response_model, s.request_model) AS model"


def _spans_sql(columns: Sequence[str], only: str = "") -> str:
    cols = ", ".join(
        f"{_FINISH_REASON_EXPR} AS finish_reason" if c == "finish_reason" else f"s.{c}"
        for c in columns
    )
    return f"""
        SELECT {cols}, {_MODEL},
            CASE WHEN s.kind = 'tool' THEN shiftrightunsigned(xxhash64(s.input), 1) END
                AS args_hash,
            {_ARGS}
        FROM spans s WHERE {_IN_WINDOW}{f" AND ({only})" if only else ""}
    """


def _calls_sql(kind: str, columns: Sequence[str]) -> str:
    exprs = {"finish_reason": f"{_FINISH_REASON_EXPR} AS finish_reason", "model": _MODEL}
    cols = ", ".join(exprs.get(c, f"s.{c}") for c in columns)
    args = f", {_ARGS}" if kind == "tool" else ""
    return f"SELECT {cols}{args} FROM spans s WHERE s.kind = '{kind}' AND {_IN_WINDOW}"


def _runs_sql(where: str, extra: Sequence[str], attributes: Sequence[str]) -> str:
    cols = ", ".join(f"r.{c}" for c in [*RUN_COLUMNS, *extra])
    attrs = "".join(
        f", get_json_object(root.attributes, :attr{i}) AS `attributes.{a}`"
        for i, a in enumerate(attributes)
    )
    join = (
        " LEFT JOIN spans root ON root.run_id = r.run_id AND root.span_id = r.root_span_id"
        if attributes
        else ""
    )
    return f"""
        SELECT {cols}, CAST(r.tags AS STRING) AS tags,
            (r.output IS NULL OR trim(r.output) IN ('', '""', 'null', '[]', '{{}}'))
                AS output_empty,
            coalesce(r.output RLIKE :refusal, false) AS output_refusal{attrs}
        FROM runs r{join}
        WHERE {where}
    """


_PER_RUN_LLM = f"""
WITH llm_calls AS (
    SELECT s.run_id, s.end_time, {_FINISH_REASON_EXPR} AS finish_reason, {_MODEL}
    FROM spans s WHERE s.kind = 'llm' AND {_IN_WINDOW}
),
llm AS (
    SELECT run_id,
        max_by(finish_reason, struct(coalesce(end_time, 9223372036854775807L), finish_reason))
            FILTER (WHERE finish_reason IS NOT NULL) AS final_finish_reason,
        bool_or(lower(finish_reason) IN {_list(REFUSED)}) AS any_refusal_reason
    FROM llm_calls GROUP BY run_id
),
models AS (
    SELECT run_id, max_by(model, struct(n, model)) AS model
    FROM (SELECT run_id, model, count(*) AS n FROM llm_calls
          WHERE model IS NOT NULL GROUP BY run_id, model)
    GROUP BY run_id
)
SELECT llm.run_id, llm.final_finish_reason, llm.any_refusal_reason, models.model
FROM llm LEFT JOIN models ON models.run_id = llm.run_id
"""

_PER_RUN_TOOL = f"""
WITH calls AS (
    SELECT s.run_id, s.tool_name, xxhash64(s.input) AS args, s.status, s.start_time, s.span_id
    FROM spans s WHERE s.kind = 'tool' AND {_IN_WINDOW}
),
loops AS (
    SELECT run_id, max(n) AS max_repeat, max_by(tool_name, struct(n, tool_name)) AS loop_tool
    FROM (SELECT run_id, tool_name, args, count(*) AS n FROM calls
          WHERE status <> 'error' GROUP BY run_id, tool_name, args)
    GROUP BY run_id
),
failed AS (SELECT DISTINCT run_id, tool_name, args FROM calls WHERE status = 'error'),
streaks AS (
    SELECT c.run_id, c.tool_name, c.args, c.status,
        sum(CASE WHEN c.status <> 'error' THEN 1 ELSE 0 END) OVER (
            PARTITION BY c.run_id, c.tool_name, c.args
            ORDER BY c.start_time ASC NULLS FIRST, c.span_id ASC NULLS FIRST
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS streak
    FROM calls c LEFT SEMI JOIN failed f
        ON c.run_id = f.run_id AND c.tool_name <=> f.tool_name AND c.args = f.args
),
storms AS (
    SELECT run_id, max(n) AS max_failed_repeat,
        max_by(tool_name, struct(n, tool_name)) AS retry_tool
    FROM (SELECT run_id, tool_name, args, streak, count(*) AS n FROM streaks
          WHERE status = 'error' GROUP BY run_id, tool_name, args, streak)
    GROUP BY run_id
)
SELECT coalesce(loops.run_id, storms.run_id) AS run_id, loops.max_repeat, loops.loop_tool,
    storms.max_failed_repeat, storms.retry_tool
FROM loops FULL OUTER JOIN storms ON storms.run_id = loops.run_id
"""

_ORPHANS = f"""
SELECT o.run_id, o.span_id, o.parent_span_id, o.kind
FROM (SELECT s.run_id, s.span_id, s.parent_span_id, s.kind FROM spans s
      WHERE s.parent_span_id IS NOT NULL AND {_IN_WINDOW}) o
LEFT ANTI JOIN (SELECT s.span_id FROM spans s WHERE s.span_id IS NOT NULL AND {_IN_WINDOW}) p
    ON o.parent_span_id = p.span_id
"""

_EVAL_ATTR = "get_json_object(e.attributes, '$[''{0}'']')"
_EVALUATIONS = f"""
SELECT v.run_id, v.span_id, v.name AS evaluation, v.score, v.label, v.source
FROM evaluation_records v
WHERE v.score IS NOT NULL AND v.run_id IN (SELECT run_id FROM window_runs)
UNION ALL
SELECT run_id, span_id, coalesce(name, '(unnamed)') AS evaluation,
    try_cast(score AS DOUBLE) AS score, label, coalesce(source, 'span event') AS source
FROM (
    SELECT s.run_id, s.span_id,
        {_EVAL_ATTR.format("agentreel.evaluation.id")} AS eid,
        {_EVAL_ATTR.format("gen_ai.evaluation.name")} AS name,
        {_EVAL_ATTR.format("gen_ai.evaluation.score.value")} AS score,
        {_EVAL_ATTR.format("gen_ai.evaluation.score.label")} AS label,
        {_EVAL_ATTR.format("agentreel.evaluation.source")} AS source
    FROM spans s
    LATERAL VIEW explode(
        from_json(s.events, 'array<struct<name:string,time_ns:bigint,attributes:string>>')) x AS e
    WHERE s.events IS NOT NULL AND e.name = 'gen_ai.evaluation.result' AND {_IN_WINDOW}
) a
WHERE (eid IS NULL OR eid NOT IN (SELECT evaluation_id FROM evaluation_records))
    AND try_cast(score AS DOUBLE) IS NOT NULL
"""


def _id(col: str, digits: int, *, nullable: bool = False) -> str:
    bad = f"NOT (s.{col} RLIKE '^[0-9a-f]{{{digits}}}$')"
    return f"(s.{col} IS NOT NULL AND {bad})" if nullable else f"(s.{col} IS NULL OR {bad})"


def _in_range(col: str, high: float | None) -> str:
    cond = f"isnan(CAST(s.{col} AS DOUBLE)) OR s.{col} < 0"
    if high is not None:
        cond += f" OR s.{col} > {high!r}"
    return f"({cond})"


#: `agentreel.checks._suspects.SPAN_SUSPECTS` in Spark SQL: a span that may break a rule of
#: `SpanModel` (flagging too much is harmless, too little is not).
SPAN_SUSPECTS = " OR ".join(
    f"({c})"
    for c in [
        _id("run_id", 32),
        _id("trace_id", 32),
        _id("span_id", 16),
        _id("parent_span_id", 16, nullable=True),
        f"s.kind IS NULL OR s.kind NOT IN {_list(KINDS)}",
        "s.status IS NULL OR s.status NOT IN ('ok', 'error', 'unset')",
        "s.start_time IS NULL",
        _in_range("duration_ms", None),
        _in_range("input_tokens", MAX_INPUT_TOKENS),
        _in_range("output_tokens", MAX_OUTPUT_TOKENS),
        _in_range("cost_usd", MAX_SPAN_COST_USD),
        "s.end_time < s.start_time",
        "NOT (s.run_id <=> s.trace_id)",
        "s.kind = 'llm' AND s.request_model IS NULL AND s.response_model IS NULL",
        "s.kind = 'tool' AND s.tool_name IS NULL AND s.operation = 'execute_tool'",
        "s.kind = 'agent' AND s.agent_name IS NULL AND s.operation = 'invoke_agent'",
    ]
)


def _frame(spark: Any, sql: str, args: dict[str, Any] | None = None) -> pl.DataFrame:
    """Run `sql` in Spark; the result as a polars frame with DuckDB's types for times."""
    return _collect(_df(spark, sql, args))


def _df(spark: Any, sql: str, args: dict[str, Any] | None = None) -> Any:
    used = {k: v for k, v in (args or {}).items() if f":{k}" in sql}
    return spark.sql(sql, args=used or None)


def _collect(df: Any) -> pl.DataFrame:
    frame = pl.from_arrow(df.toArrow())
    assert isinstance(frame, pl.DataFrame)
    return frame.with_columns(
        pl.col(c).cast(pl.Datetime("ns"))
        for c in _NS_COLUMNS
        if c in frame.columns and frame.schema[c] == pl.Int64
    )


#: The row contracts' Spark DataFrames of the windows read last, kept in Spark's cache
#: until the contracts are validated or the next check run reads its windows.
_cached: list[Any] = []


def _numbered(df: Any) -> Any:
    """`df` with its rows numbered (`ROW`) and cached: the rows the contract checks
    validate in Spark are the rows collected, and report them by their place there."""
    from pyspark.sql import functions as F

    out = df.withColumn(ROW, F.monotonically_increasing_id()).persist()
    _cached.append(out)
    return out


@dataclass
class SparkWindowData(WindowData):
    """A window read by Spark, which validates the default row contracts in Spark."""

    #: frame name -> (its Spark DataFrame, the polars frame collected from it, the row
    #: numbers of that frame's rows)
    contracts: dict[str, tuple[Any, pl.DataFrame, pl.Series]] = field(
        default_factory=dict, repr=False
    )

    def contract_failures(self, frame: str, rows: pl.DataFrame) -> pl.DataFrame | None:
        """`SparkSpanModel` or `SparkRunModel` over the rows in Spark (see
        `agentreel.checks._spark_contracts`); None for rows this window did not read."""
        if frame not in self.contracts or self.contracts[frame][1] is not rows:
            return None
        from agentreel.checks._spark_contracts import (
            SparkRunModel,
            SparkSpanModel,
            contract_failures,
        )

        df, _, ids = self.contracts[frame]
        model = SparkSpanModel if frame == "spans" else SparkRunModel
        return contract_failures(model, df, rows, ids)


def _keep(df: Any) -> tuple[pl.DataFrame, pl.Series]:
    """`df` (numbered) collected: the frame without the row numbers, and the numbers."""
    frame = _collect(df)
    return frame.drop(ROW), frame[ROW]


def load_window_spark(
    store: Store,
    window: Window,
    *,
    refusal_pattern: str,
    span_extra: Sequence[str] = (),
    run_extra: Sequence[str] = (),
    attributes: Sequence[str] = (),
    full_spans: bool = True,
    suspects: str | None = None,
) -> WindowData:
    """`load_window` computed by Spark over the Parquet dataset `store` was opened on.

    `suspects` only says whether to read the spans that may break the default contract
    (Spark has its own condition for them, `SPAN_SUSPECTS`).
    """
    files = _dataset(store)  # before Spark starts: a wrong --dir fails at once
    spark = spark_session()
    _register(spark, files)
    while len(_cached) > 4:  # the current and baseline windows' of the last check run
        _cached.pop(0).unpersist()
    now = datetime.now()
    resolved = window.resolve()
    where, args = _where(resolved)
    span_extra = [c for c in dict.fromkeys(span_extra) if c not in SPAN_COLUMNS]
    run_extra = [c for c in dict.fromkeys(run_extra) if c not in RUN_COLUMNS and c != "tags"]
    run_args = {**args, "refusal": refusal_pattern}
    run_args.update({f"attr{i}": _json_path(a) for i, a in enumerate(attributes)})
    spark.sql(
        f"SELECT r.run_id FROM runs r WHERE {where}", args=args or None
    ).createOrReplaceTempView("window_runs")
    runs_df = _numbered(_df(spark, _runs_sql(where, run_extra, attributes), run_args))
    runs = _collect(runs_df)
    data = SparkWindowData(
        window=resolved, runs=runs, spans=None, hours=resolved.hours(), loaded_at=now, store=store
    )
    derived = _derive_runs(runs, _frame(spark, _PER_RUN_LLM), _frame(spark, _PER_RUN_TOOL))
    data.runs = derived.drop(ROW)  # the joins keep the runs' order
    data.contracts["runs"] = (runs_df, data.runs, derived[ROW])
    data.evaluations = _frame(spark, _EVALUATIONS)
    if full_spans:
        spans_df = _numbered(_df(spark, _spans_sql([*SPAN_COLUMNS, *span_extra])))
        data.spans, ids = _keep(spans_df)
        data.contracts["spans"] = (spans_df, data.spans, ids)
        return data
    counts = _frame(
        spark, f"SELECT s.kind, count(*) AS n FROM spans s WHERE {_IN_WINDOW} GROUP BY s.kind"
    )
    data.kind_counts = {str(k): int(n) for k, n in counts.iter_rows()}
    data.span_count = sum(data.kind_counts.values())
    for kind, columns in CALL_COLUMNS.items():
        data._kinds[kind] = _frame(spark, _calls_sql(kind, columns))
    data.orphans = _frame(spark, _ORPHANS)
    if suspects is not None:
        suspects_df = _numbered(
            _df(spark, _spans_sql([*SPAN_COLUMNS, *span_extra], only=SPAN_SUSPECTS))
        )
        data.span_suspects, ids = _keep(suspects_df)
        data.contracts["spans"] = (suspects_df, data.span_suspects, ids)
    return data


def refuse_unavailable(checks: Iterable[object]) -> None:
    """Raise `CheckError` naming the checks the spark engine cannot run.

    A metric check with ``sql`` runs DuckDB SQL against the store; on the spark engine
    there is no such store to run it on.
    """
    from agentreel.checks._user import MetricCheck

    names = [c.name for c in checks if isinstance(c, MetricCheck) and c.sql is not None]
    if names:
        raise CheckError(
            f"check {', '.join(names)} is not available on the spark engine (its sql is "
            "DuckDB's); run it with --engine duckdb, or leave it out with --only"
        )
