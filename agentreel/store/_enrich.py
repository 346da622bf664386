"""What a drained batch gets beside its span rows: the processes that sent them, and
prices for the models it is the first to name (then its LLM spans' cost)."""

from __future__ import annotations

import json

import duckdb

from agentreel._spool import SpoolPaths
from agentreel.store._cost import resolve_price


def _cost_sql(t: str) -> str:
    """The cost of an LLM span `t` at the prices `p`: cached input at the cache's rates
    (input's when the table has none), the rest of the input and the output at theirs."""
    read, written = f"coalesce({t}.cache_read_tokens, 0)", f"coalesce({t}.cache_creation_tokens, 0)"
    return (
        f"greatest(coalesce({t}.input_tokens, 0) - {read} - {written}, 0) * p.input_usd_per_token"
        f" + {read} * coalesce(p.cache_read_usd_per_token, p.input_usd_per_token)"
        f" + {written} * coalesce(p.cache_write_usd_per_token, p.input_usd_per_token)"
        f" + coalesce({t}.output_tokens, 0) * p.output_usd_per_token"
    )


def _load_processes(con: duckdb.DuckDBPyConnection, paths: SpoolPaths, ingest_id: int) -> None:
    missing = con.execute(
        "SELECT DISTINCT s.process_id FROM spans s ANTI JOIN processes p USING (process_id) "
        "WHERE s.ingest_id = $i AND s.process_id IS NOT NULL",
        {"i": ingest_id},
    ).fetchall()
    for (pid,) in missing:
        try:
            info = json.loads((paths.processes / f"{pid}.json").read_text())
        except (OSError, ValueError):
            info = {}
        if not isinstance(info, dict):
            info = {}
        res = info.get("resource")
        res = res if isinstance(res, dict) else {}
        con.execute(
            "INSERT INTO processes VALUES (?, ?, ?, make_timestamp_ns(?), ?, ?, ?, ?)",
            [
                pid,
                _fitting_int(info.get("pid")),
                _text(info.get("host")),
                _fitting_int(info.get("started_ns")),
                _json_text(info.get("argv")),
                _json_text(res),
                _text(res.get("service.name")),
                _text(res.get("vcs.ref.head.revision")),
            ],
        )


# A process file holds whatever its sender's resource held: values that do not fit a
# column are left out, and text that is not valid UTF-8 (lone surrogates from JSON
# escapes) is mended, so a resource can never fail the drain of the spans it sent.
def _text(v: object) -> str | None:
    return v.encode("utf-8", "replace").decode("utf-8") if isinstance(v, str) else None


def _json_text(v: object) -> str:
    return _text(json.dumps(v, ensure_ascii=False, default=str)) or "null"


def _fitting_int(v: object) -> int | None:
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 7_258_118_400_000_000_000:
        return v
    return None


def _price_new_models(con: duckdb.DuckDBPyConnection, ingest_id: int) -> None:
    """Look up models seen for the first time, then price their spans of this batch."""
    missing = con.execute(
        """
        SELECT DISTINCT s.provider, coalesce(s.response_model, s.request_model) AS model
        FROM spans s
        WHERE s.ingest_id = $i AND s.kind = 'llm' AND s.cost_usd IS NULL
          AND (s.input_tokens IS NOT NULL OR s.output_tokens IS NOT NULL)
          AND coalesce(s.response_model, s.request_model) IS NOT NULL
          AND NOT EXISTS (
            SELECT 1 FROM prices p
            WHERE p.model = coalesce(s.response_model, s.request_model)
              AND p.provider IS NOT DISTINCT FROM s.provider)
        """,
        {"i": ingest_id},
    ).fetchall()
    if not missing:
        return
    for provider, model in missing:
        price = resolve_price(provider, model)
        con.execute(
            "INSERT INTO prices (provider, model, input_usd_per_token, output_usd_per_token, "
            "source, cache_read_usd_per_token, cache_write_usd_per_token) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                provider,
                model,
                price.input,
                price.output,
                price.source,
                price.cache_read,
                price.cache_write,
            ],
        )
    con.execute(
        f"""
        UPDATE spans s SET cost_usd = {_cost_sql("s")}
        FROM prices p
        WHERE s.ingest_id = $i AND s.kind = 'llm' AND s.cost_usd IS NULL
          AND (s.input_tokens IS NOT NULL OR s.output_tokens IS NOT NULL)
          AND p.model = coalesce(s.response_model, s.request_model)
          AND p.provider IS NOT DISTINCT FROM s.provider
          AND p.input_usd_per_token IS NOT NULL
        """,
        {"i": ingest_id},
    )
