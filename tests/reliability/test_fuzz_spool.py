"""A truncated or garbled spool segment is set aside; every other segment's spans land.

Segments recorded by the real tracer are copied into a fresh store; one of them is
damaged by Hypothesis (cut short, bytes changed or inserted, a field given a value
of the wrong type or out of range, a line that is not an object). The drain must not
raise, must leave nothing pending, must put the damaged segment in the archive (it
was still readable) or in ``spool/rejected/``, and must store every span of the
other segments exactly once.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider

import agentreel
from agentreel._spool import SpoolPaths
from agentreel.store import Store

SEGMENTS = 4


@pytest.fixture(scope="module")
def recorded() -> list[tuple[str, bytes]]:
    """(name, bytes) of `SEGMENTS` segments the tracer wrote, 3 runs of 4 spans each."""
    d = Path(tempfile.mkdtemp(prefix="agentreel-fuzz-spool-"))
    agentreel.init(d, tracer_provider=TracerProvider())

    @agentreel.tool
    def lookup(q: str) -> list[str]:
        return [q, "é", "\u2603"]

    @agentreel.llm(provider="openai", model="gpt-4.1-mini")
    def chat(q: str) -> dict[str, object]:
        return {"usage": {"prompt_tokens": 7, "completion_tokens": 2}}

    @agentreel.agent(name="fuzzed")
    def work(q: str) -> str:
        lookup(q)
        chat(q)
        return q

    try:
        for i in range(SEGMENTS):
            with agentreel.run(f"run {i}"):
                work(f"question {i}")
            agentreel.flush()  # one segment per run
    finally:
        agentreel.shutdown()
    paths = SpoolPaths(d)
    segs = [(p.name, p.read_bytes()) for p in paths.pending() if not p.name.endswith(".open.jsonl")]
    assert len(segs) == SEGMENTS
    processes = list(paths.processes.iterdir())
    shutil.copytree(paths.processes, _PROCESSES, dirs_exist_ok=True)
    assert processes
    return segs


_PROCESSES = Path(tempfile.mkdtemp(prefix="agentreel-fuzz-processes-"))


def _span_ids(data: bytes) -> set[str]:
    return {json.loads(line)["span_id"] for line in data.splitlines() if line.strip()}


damage = st.one_of(
    st.tuples(st.just("cut"), st.floats(0, 1), st.just(b"")),
    st.tuples(st.just("set"), st.floats(0, 1), st.binary(min_size=1, max_size=4)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=8)),
    st.tuples(
        st.just("field"),
        st.floats(0, 1),
        st.sampled_from(
            [
                b'"start_ns":"soon"',
                b'"start_ns":1e999',
                b'"start_ns":99999999999999999999',
                b'"start_ns":9223372036854775807',
                b'"end_ns":-5',
                b'"input_tokens":{"a":1}',
                b'"name":{"nested":[1,2]}',
                b'"span_id":null',
                b'"trace_id":7',
                b'"attributes":"{not json"',
                b'"events":[{"time_ns":"x"}]',
                b'"status":["ok"]',
            ]
        ),
    ),
    st.tuples(
        st.just("line"),
        st.floats(0, 1),
        st.sampled_from([b"[1,2]", b"null", b"{", b"\xff\xfe", b"\x00" * 5, b"{}"]),
    ),
)


def _damage(data: bytes, kind: str, where: float, what: bytes) -> bytes:
    at = int(where * (len(data) - 1))
    if kind == "cut":
        return data[:at]
    if kind == "set":
        return data[:at] + what + data[at + len(what) :]
    if kind == "insert":
        return data[:at] + what + data[at:]
    lines = data.split(b"\n")
    i = int(where * (len([ln for ln in lines if ln]) - 1))
    if kind == "line":
        lines.insert(i, what)
        return b"\n".join(lines)
    # kind == "field": give one field of one record that raw value instead
    try:
        record = json.loads(lines[i])
    except ValueError:  # an earlier damage broke this line already
        return data
    if not isinstance(record, dict):  # a line put in by an earlier damage
        return data
    key = json.loads(b"{" + what + b"}") if b"1e999" not in what else {"start_ns": 0}
    (field,) = key
    rest = json.dumps({k: v for k, v in record.items() if k != field}).encode()
    lines[i] = rest[:-1] + (b"," if len(rest) > 2 else b"") + what + b"}"
    return b"\n".join(lines)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(victim=st.integers(0, SEGMENTS - 1), damages=st.lists(damage, min_size=1, max_size=3))
def test_a_damaged_segment_is_set_aside_and_the_others_land_once(
    recorded: list[tuple[str, bytes]], victim: int, damages: list[tuple[str, float, bytes]]
) -> None:
    with tempfile.TemporaryDirectory() as d:
        paths = SpoolPaths(d)
        paths.create()
        shutil.copytree(_PROCESSES, paths.processes, dirs_exist_ok=True)
        for i, (name, data) in enumerate(recorded):
            if i == victim:
                for kind, where, what in damages:
                    data = _damage(data, kind, where, what)
            (paths.dir / name).write_bytes(data)
        with Store.open(d, create=True) as store:
            report = store.ingest()  # must not raise
            assert paths.pending() == []
            victim_name = recorded[victim][0]
            # a drained segment is archived alone or, when small, in a bundle with others
            kept = b"".join(p.read_bytes() for p in sorted(paths.archive.iterdir()))
            status = dict(store.sql("SELECT name, status FROM segments").rows())
            archived = status.get(victim_name) == "ingested"
            rejected = (paths.rejected / victim_name).exists()
            assert archived != rejected
            assert [n for n, _ in report.rejected] == ([victim_name] if rejected else [])
            for i, (name, data) in enumerate(recorded):
                if i == victim:
                    continue
                assert status[name] == "ingested"
                assert data in kept
                ids = sorted(_span_ids(data))
                got = store.sql(
                    "SELECT span_id, count(*) AS n FROM spans WHERE span_id IN (SELECT unnest($i)) "
                    "GROUP BY ALL ORDER BY 1",
                    {"i": ids},
                ).rows()
                assert got == [(s, 1) for s in ids]
            # what was stored reads back: runs, trees, events
            for run_id in store.runs()["run_id"]:
                store.tree(run_id)
                store.events(run_id)
            again = store.ingest()  # and the next drain has nothing left to trip on
            assert (again.segments, again.rejected) == (0, [])


def test_an_empty_and_a_truncated_segment(recorded: list[tuple[str, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        paths = SpoolPaths(d)
        paths.create()
        (paths.dir / recorded[0][0]).write_bytes(b"")
        (paths.dir / recorded[1][0]).write_bytes(recorded[1][1][: len(recorded[1][1]) // 2])
        (paths.dir / recorded[2][0]).write_bytes(recorded[2][1])
        with Store.open(d, create=True) as store:
            report = store.ingest()
            assert [n for n, _ in report.rejected] == [recorded[1][0]]
            assert (paths.rejected / recorded[1][0]).exists()
            assert store.sql("SELECT count(*) FROM spans").row(0)[0] == len(
                _span_ids(recorded[2][1])
            )
