"""Content-addressed payloads: a long conversation is stored once per message.

Every LLM call sends the whole conversation so far, so the recorded inputs of a
run of n calls hold O(n²) messages. At ingest, the input of an LLM span of
`MIN_PAYLOAD` characters or more is split into parts kept in the ``blobs`` table:

- a JSON array (the messages, the tool definitions) becomes a hash chain, one
  node per element: the node of element j holds the element's text and the hash
  of the node of element j - 1, and its own hash covers both. Equal prefixes give
  equal nodes, so the k-th call of a conversation adds only the nodes of the
  messages new since the call before, and the input keeps ``{"$list":"<hash of
  the last node>"}`` in the array's place;
- a long string value (a system prompt passed on its own) is stored once under
  the hash of its text, and the input keeps ``{"$blob":"<hash>"}``.

The store then grows with the distinct messages of a run, not with the square of
its length. Readers get the text back whole (`expand_frame`, `Store.spans`, the
exports, the TUI). A payload that already holds the text ``"$blob"`` or
``"$list"`` is never split, so every reference in a stored input is one this
module wrote.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

import duckdb
import orjson
import polars as pl

__all__ = [
    "MIN_PAYLOAD",
    "address",
    "address_batch",
    "expand",
    "expand_frame",
    "expanded_spans_sql",
    "has_refs",
    "prune",
    "reached_sql",
]

#: Inputs shorter than this (in characters) stay whole: splitting them saves nothing.
MIN_PAYLOAD = 2048
#: An array at least this long (serialised) becomes a chain of its elements.
MIN_LIST = 256
#: A string value at least this long is stored once on its own.
MIN_STRING = 1024
#: How deep into a payload arrays and strings are looked for (messages sit at depth 0 or 1).
MAX_DEPTH = 4

_MARKS = ('"$blob"', '"$list"')
_REF = re.compile(r'\{"\$(blob|list)":"([0-9a-f]{32})"\}')
# the same patterns for DuckDB (RE2) inside a single-quoted SQL literal: the reference
# with its kind and hash captured, and without captures (to split an input at them)
_SQL_REF_PARTS = _REF.pattern
_SQL_REF = r'\{"\$(?:blob|list)":"[0-9a-f]{32}"\}'
# a SQL condition: the input holds a reference
_SQL_HAS_REFS = "(contains(input, '\"$list\"') OR contains(input, '\"$blob\"'))"

#: A node: (hash of the previous node or None, the element's or value's JSON text).
Node = tuple[str | None, str]

# orjson reads integers past 64 bits as floats: a payload that holds one is kept whole
_LONG_NUMBER = re.compile(r"\d{20}").search
_loads = orjson.loads
_dumps = orjson.dumps  # compact, UTF-8, keys in the order given
_blake2b = hashlib.blake2b


def _hash(prev: str | None, body: bytes) -> str:
    data = body if prev is None else prev.encode() + b"\n" + body  # compact JSON: no raw newline
    return _blake2b(data, digest_size=16).hexdigest()


def address(text: str) -> tuple[str, dict[str, Node]] | None:
    """Split one payload: (the payload with references, {hash: node}), or None to keep it whole.

    >>> msgs = [{"role": "user", "content": "x" * 300}] * 8
    >>> ref, nodes = address(orjson.dumps({"messages": msgs}).decode())
    >>> ref[:22], len(nodes)
    ('{"messages":{"$list":"', 8)
    """
    if len(text) < MIN_PAYLOAD or any(m in text for m in _MARKS):
        return None
    try:
        doc = _loads(text)
    except orjson.JSONDecodeError:  # not JSON, or lone surrogates in its escapes
        return None
    nodes: dict[str, Node] = {}

    def walk(v: Any, depth: int) -> Any:
        if isinstance(v, list):
            if not v:
                return v
            bodies = [_dumps(e) for e in v]
            if sum(map(len, bodies)) + len(bodies) + 1 < MIN_LIST:
                return v
            prev: str | None = None
            for body in bodies:
                h = _hash(prev, body)
                nodes[h] = (prev, body.decode())
                prev = h
            return {"$list": prev}
        if isinstance(v, dict) and depth < MAX_DEPTH:
            out: dict[str, Any] = {}
            for k, e in v.items():
                if isinstance(e, str) and len(e) >= MIN_STRING:
                    body = _dumps(e)
                    h = _hash(None, body)
                    nodes[h] = (None, body.decode())
                    out[k] = {"$blob": h}
                else:
                    out[k] = walk(e, depth + 1)
            return out
        return v

    try:
        out = walk(doc, 0)
        ref = _dumps(out)
    except (orjson.JSONEncodeError, TypeError):
        return None
    if not nodes:
        return None
    # an integer past 64 bits comes back as a float written with an exponent ("e+")
    if (b"e+" in ref or any("e+" in body for _, body in nodes.values())) and _LONG_NUMBER(text):
        return None
    return ref.decode(), nodes


def has_refs(text: str | None) -> bool:
    return text is not None and any(m in text for m in _MARKS)


def expand(text: str, nodes: dict[str, Node]) -> str:
    """`text` with every reference replaced by what it names (a missing one stays as it is)."""

    def whole(m: re.Match[str]) -> str:
        kind, h = m.group(1), m.group(2)
        if kind == "blob":
            node = nodes.get(h)
            return node[1] if node is not None else m.group(0)
        items: list[str] = []
        cur: str | None = h
        while cur is not None:
            node = nodes.get(cur)
            if node is None:
                return m.group(0)
            items.append(node[1])
            cur = node[0]
        items.reverse()
        return "[" + ",".join(items) + "]"

    return _REF.sub(whole, text)


# Every node the given references reach: each one and the chain of nodes before it.
_REACH = """
WITH RECURSIVE c(hash, prev, body) AS (
    SELECT hash, prev, body FROM blobs WHERE hash IN (SELECT unnest($h))
    UNION
    SELECT b.hash, b.prev, b.body FROM c JOIN blobs b ON b.hash = c.prev
)
SELECT hash, prev, body FROM c
"""


def fetch(con: duckdb.DuckDBPyConnection, texts: Iterable[str | None]) -> dict[str, Node]:
    """The nodes the references in `texts` need, from the ``blobs`` table."""
    tops = sorted({m.group(2) for t in texts if has_refs(t) for m in _REF.finditer(t or "")})
    if not tops:
        return {}
    rows = con.execute(_REACH, {"h": tops}).fetchall()
    return {str(h): (None if p is None else str(p), str(b)) for h, p, b in rows}


def expand_frame(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with its ``input`` column expanded (a frame without one is returned as is)."""
    if "input" not in frame.columns or frame.height == 0 or frame["input"].dtype != pl.String:
        return frame
    col = frame["input"]
    if not (
        col.str.contains(_MARKS[0], literal=True) | col.str.contains(_MARKS[1], literal=True)
    ).any():
        return frame
    texts = col.to_list()
    nodes = fetch(con, texts)
    return frame.with_columns(
        pl.Series("input", [expand(t, nodes) if has_refs(t) else t for t in texts], dtype=pl.String)
    )


def expanded_spans_sql(where: str) -> str:
    """A query for the rows of ``spans`` matching `where`, with their inputs expanded.

    For exports that stay in SQL (Parquet): each chain is walked by a recursive
    query, and each input cut at its references and put back together.
    """
    return f"""
    WITH RECURSIVE r AS (
        SELECT rowid AS rid,
               regexp_split_to_array(input, '{_SQL_REF}') AS pieces,
               regexp_extract_all(input, '{_SQL_REF_PARTS}', 1) AS kinds,
               regexp_extract_all(input, '{_SQL_REF_PARTS}', 2) AS tops
        FROM spans
        WHERE ({where}) AND kind = 'llm' AND {_SQL_HAS_REFS}
    ), walk(top, prev, body, depth) AS (
        SELECT b.hash, b.prev, b.body, 0
        FROM blobs b WHERE b.hash IN (SELECT DISTINCT unnest(tops) FROM r)
        UNION ALL
        SELECT w.top, b.prev, b.body, w.depth + 1 FROM walk w JOIN blobs b ON b.hash = w.prev
    ), texts AS (
        SELECT top, string_agg(body, ',' ORDER BY depth DESC) AS items FROM walk GROUP BY top
    ), u AS (
        SELECT rid, pieces, kinds, tops, unnest(range(1, len(pieces) + 1)) AS i FROM r
    ), e AS (
        SELECT u.rid,
               string_agg(
                   u.pieces[u.i] || CASE
                       WHEN u.tops[u.i] IS NULL THEN ''
                       WHEN t.items IS NULL
                           THEN '{{"$' || u.kinds[u.i] || '":"' || u.tops[u.i] || '"}}'
                       WHEN u.kinds[u.i] = 'list' THEN '[' || t.items || ']'
                       ELSE t.items END,
                   '' ORDER BY u.i) AS input
        FROM u LEFT JOIN texts t ON t.top = u.tops[u.i]
        GROUP BY u.rid
    )
    SELECT s.* REPLACE (coalesce(e.input, s.input) AS input)
    FROM spans s LEFT JOIN e ON e.rid = s.rowid
    WHERE ({where})
    """


def address_batch(con: duckdb.DuckDBPyConnection, ingest_id: int) -> int:
    """Split the long LLM inputs of one drain's rows; returns how many were split.

    Runs inside the drain's transaction, on rows that are not committed yet, so a
    drain killed at any point leaves either the whole inputs or the references and
    their nodes, never one without the other.
    """
    rows = con.execute(
        "SELECT rowid, input FROM spans WHERE ingest_id = $i AND kind = 'llm' "
        "AND strlen(input) >= $n",
        {"i": ingest_id, "n": MIN_PAYLOAD},
    ).fetchall()
    ids: list[int] = []
    inputs: list[str] = []
    nodes: dict[str, Node] = {}
    for rowid, text in rows:
        split = address(text)
        if split is None:
            continue
        ids.append(rowid)
        inputs.append(split[0])
        nodes.update(split[1])
    if not ids:
        return 0
    new_nodes = pl.DataFrame(  # noqa: F841 - read by the SQL below
        {
            "hash": list(nodes),
            "prev": [p for p, _ in nodes.values()],
            "body": [b for _, b in nodes.values()],
        },
        schema={"hash": pl.String, "prev": pl.String, "body": pl.String},
    )
    con.execute(
        "INSERT INTO blobs SELECT n.hash, n.prev, n.body, strlen(n.body) FROM new_nodes n "
        "ANTI JOIN blobs b ON b.hash = n.hash"
    )
    refs = pl.DataFrame(  # noqa: F841 - read by the SQL below
        {"rid": ids, "input": inputs}, schema={"rid": pl.Int64, "input": pl.String}
    )
    con.execute("UPDATE spans SET input = r.input FROM refs r WHERE spans.rowid = r.rid")
    return len(ids)


#: The hashes the inputs of spans refer to directly, one per row, with the span's run.
REFS_OF_SPANS = (
    "SELECT run_id, unnest(regexp_extract_all(input, '" + _SQL_REF_PARTS + "', 2)) AS hash "
    "FROM spans WHERE kind = 'llm' AND " + _SQL_HAS_REFS
)


def reached_sql(where: str = "true") -> str:
    """A query for the hashes of every node the inputs of spans reach: the nodes they
    refer to and the chains before them. `where` picks the spans, by ``r.run_id``."""
    return f"""
    WITH RECURSIVE c(hash, prev) AS (
        SELECT b.hash, b.prev FROM ({REFS_OF_SPANS}) r JOIN blobs b USING (hash)
        WHERE {where}
        UNION
        SELECT b.hash, b.prev FROM c JOIN blobs b ON b.hash = c.prev
    )
    SELECT hash FROM c
    """


def prune(con: duckdb.DuckDBPyConnection) -> int:
    """Delete the nodes no stored input reaches any more (after runs were removed)."""
    before = con.execute("SELECT count(*) FROM blobs").fetchone()
    if not before or not before[0]:
        return 0
    con.execute(f"DELETE FROM blobs WHERE hash NOT IN ({reached_sql()})")
    after = con.execute("SELECT count(*) FROM blobs").fetchone()
    return int(before[0]) - int(after[0] if after else 0)
