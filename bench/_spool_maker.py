"""Big spools in seconds: a spool recorded by the real tracer, copied with new ids.

Recording 5,000,000 spans through the tracer takes minutes, so `make_spool` records
`TEMPLATE_SPANS` spans once with the tracer (bench_drain.py's program: runs of an
agent calling five tools and an LLM) and writes copies of its records with fresh
trace and span ids (the first six hex digits of each id carry the copy's number),
in segments of the size asked for. Every record is one the tracer wrote, byte for
byte but for its ids, so the drain does the same work it does on a recorded spool
(start records included: they are dropped as their spans' complete records come).

Example::

    from _spool_maker import make_spool
    spool = make_spool(work, "big", spans=1_000_000)              # tracer-sized segments
    spool = make_spool(work, "small", spans=20_000, per_segment=1)  # one span a segment
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

from agentreel._spool import OPEN_SUFFIX, SEGMENT_SUFFIX, SpoolPaths

__all__ = ["SPANS_PER_RUN", "TEMPLATE_SPANS", "make_spool", "spool_bytes"]

#: Spans of the recorded template (a multiple of the program's 8 spans a run).
TEMPLATE_SPANS = 2_000
SPANS_PER_RUN = 8
#: Spans per segment when none is asked for: what the tracer's batches hold.
TRACER_SEGMENT = 4096

_IDS = re.compile(rb'"(trace_id|span_id|parent_span_id)":"[0-9a-f]{6}')


def _template(work: Path) -> tuple[list[bytes], list[bytes], Path]:
    """(complete records, start records, processes dir) of the recorded template."""
    src = work / "template"
    if not src.exists():
        from bench_drain import generate

        generate(src, TEMPLATE_SPANS)
    complete: list[bytes] = []
    start: list[bytes] = []
    for seg in SpoolPaths(src).pending():
        lines = [ln for ln in seg.read_bytes().splitlines() if ln.strip()]
        (start if seg.name.endswith(OPEN_SUFFIX) else complete).extend(lines)
    if len(complete) != TEMPLATE_SPANS:
        raise SystemExit(f"the template holds {len(complete)} spans, expected {TEMPLATE_SPANS}")
    return complete, start, SpoolPaths(src).processes


def make_spool(
    work: Path,
    name: str,
    spans: int,
    per_segment: int = TRACER_SEGMENT,
    *,
    journal: bool = False,
) -> Path:
    """A store directory `work/name` whose spool holds `spans` spans (a multiple of
    `TEMPLATE_SPANS`) in segments of `per_segment` complete records, each copy of the
    template's start records in a segment of its own after its complete records.

    With `journal`, the complete records are written as a tracer writing through and
    `agentreel serve` write them: appended one record at a time to a `Journal`, sealed
    every `per_segment` records (each tick, or before each drain) or when it is full."""
    if spans % TEMPLATE_SPANS:
        raise SystemExit(f"spans must be a multiple of {TEMPLATE_SPANS}")
    complete, start, processes = _template(work)
    root = work / name
    paths = SpoolPaths(root)
    paths.create()
    for p in processes.iterdir():
        shutil.copy(p, paths.processes / p.name)
    pid = processes.iterdir().__next__().stem
    seq = 0
    t = time.time_ns()

    def write(lines: list[bytes], suffix: str) -> None:
        nonlocal seq
        target = paths.dir / f"{t + seq:020d}-{pid}-{seq:07d}{suffix}"
        target.write_bytes(b"\n".join(lines) + b"\n")
        os.chmod(target, 0o600)
        seq += 1

    block = b"\n".join(complete)
    starts = b"\n".join(start)
    appender = None
    if journal:
        from agentreel._journal import Journal

        appender = Journal(paths.dir, pid)
    for k in range(spans // TEMPLATE_SPANS):
        prefix = b'"\\1":"%06x' % k
        lines = _IDS.sub(prefix, block).split(b"\n")
        if appender is not None:
            for i, line in enumerate(lines, start=1):
                appender.append(line + b"\n", 1)
                if i % per_segment == 0:
                    appender.seal()
            appender.seal()
        else:
            for i in range(0, len(lines), per_segment):
                write(lines[i : i + per_segment], SEGMENT_SUFFIX)
        if starts:
            write(_IDS.sub(prefix, starts).split(b"\n"), OPEN_SUFFIX)
    return root


def spool_bytes(root: Path) -> int:
    """Bytes of the segments pending in the spool at `root`."""
    return sum(p.stat().st_size for p in SpoolPaths(root).pending())
