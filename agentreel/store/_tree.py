"""A run's spans in tree order: each parent before its children, children by start time."""

from __future__ import annotations

import polars as pl

__all__ = ["tree_order"]


def tree_order(spans: pl.DataFrame) -> pl.DataFrame:
    """`spans` of one run reordered depth-first, with a ``depth`` column added.

    Spans whose parent is not in the run (the parent was lost, or is still open in
    another process) are shown at the top level, as are members of a parent cycle,
    so every span appears exactly once.
    """
    if spans.is_empty():
        return spans.with_columns(pl.lit(0, dtype=pl.Int32).alias("depth"))
    ids = spans["span_id"].to_list()
    parents = spans["parent_span_id"].to_list()
    index = {sid: i for i, sid in enumerate(ids)}
    children: dict[int, list[int]] = {}
    roots: list[int] = []
    for i, p in enumerate(parents):
        j = index.get(p) if p is not None else None
        if j is None or j == i:
            roots.append(i)
        else:
            children.setdefault(j, []).append(i)
    order: list[int] = []
    depth: list[int] = []
    seen: set[int] = set()

    def walk(starts: list[int]) -> None:
        stack = [(i, 0) for i in reversed(starts)]
        while stack:
            i, d = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            order.append(i)
            depth.append(d)
            stack.extend((c, d + 1) for c in reversed(children.get(i, ())))

    walk(roots)
    if len(order) < len(ids):  # spans in a parent cycle: no root reaches them
        walk([i for i in range(len(ids)) if i not in seen])
    return spans[order].with_columns(pl.Series("depth", depth, dtype=pl.Int32))
