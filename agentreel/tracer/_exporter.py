"""The agent process's side of the spool: an OTel exporter and a start-record processor.

`SpoolExporter` runs under OpenTelemetry's own `BatchSpanProcessor`: each batch
of ended spans becomes one segment. `OpenSpanProcessor` keeps the spans that are
still open; on each tick it spools a start record for every root, agent and LLM
span open since the last tick (so a run in progress is visible, and a crashed run
shows where it stopped) and touches the process's heartbeat file. A span that
starts and ends between two ticks costs one dict insert and one dict pop. The
recorder does not add it to the provider: its batch processor passes each span's
start and end on, so a span costs one processor call at each end.

Payloads of agentreel's own spans may reach the exporter as captured (`RAW`); they
are redacted and cut here, before any record is built (`_settle`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import orjson
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode

from agentreel._journal import Journal
from agentreel._normalize import (
    _CONVERT,
    _FLAT_PREFIXES,
    _SOURCE_OF,
    INPUT,
    KIND,
    KINDS,
    OUTPUT,
    _kind,
    _tool_name,
    normalize_into,
)
from agentreel._redact import redact_attributes, redact_many, redact_name
from agentreel._spool import SpoolPaths, new_segment_name, write_atomic
from agentreel.tracer import _handoffs
from agentreel.tracer._capture import cut
from agentreel.tracer._steps import release_trace

__all__ = [
    "RAW",
    "RAW_INPUT",
    "RAW_OUTPUT",
    "SCOPE",
    "OpenSpanProcessor",
    "SpoolExporter",
    "SpoolFaults",
    "record_from_span",
]

#: The instrumentation scope of agentreel's own spans.
SCOPE = "agentreel"

#: On agentreel's own spans, while agentreel's processor is the only one on the
#: provider: which payloads still hold their JSON text as captured (`RAW_INPUT`,
#: `RAW_OUTPUT`), plus four times the cap they are cut to. They are redacted (a batch
#: at a time) and cut when the span is written; the key never reaches a record.
RAW = "agentreel.payload.raw"
RAW_INPUT = 1
RAW_OUTPUT = 2
_PAYLOADS = ((RAW_INPUT, INPUT), (RAW_OUTPUT, OUTPUT))
_CHUNK = 256

log = logging.getLogger("agentreel")

_STATUS = {StatusCode.UNSET: "unset", StatusCode.OK: "ok", StatusCode.ERROR: "error"}
_SPAN_KIND = {k: k.name.lower() for k in SpanKind}
_INTERNAL = SpanKind.INTERNAL
_UNSET = StatusCode.UNSET


def _dumps(record: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(record, default=str)
    except TypeError:  # e.g. an integer beyond 64 bits in an attribute
        return json.dumps(record, default=str, ensure_ascii=False).encode()


_START_KINDS = frozenset({"agent", "llm", "chain"})
_START_OPERATIONS = frozenset({"invoke_agent", "chat", "text_completion", "generate_content"})


def _attributes(s: ReadableSpan) -> Mapping[str, Any]:
    # The SDK keeps attributes in a BoundedAttributes whose plain dict is `_dict`;
    # reading it directly is ~10x cheaper than going through the mapping proxy.
    raw = getattr(s, "_attributes", None)
    d = getattr(raw, "_dict", None)
    if isinstance(d, dict):
        return d
    return dict(s.attributes or {})


class _Plan:
    """What `normalize_into` does with one set of attribute keys, worked out once.

    Spans from the same call site carry the same keys in the same order, and which
    attribute fills which field (and which payload keys leave `attributes`) depends
    on the keys alone when no value is None; so the mapping is planned once per key
    tuple and applied to each span with one lookup per field. `own` lists the keys
    `_redact_own` must look at (those not set from code), each with whether its name
    alone (not agentreel's or GenAI's) makes it masked whatever its type.
    """

    __slots__ = ("drop", "fields", "losers", "own", "used")

    def __init__(self, keys: tuple[str, ...]) -> None:
        best: dict[str, tuple[int, str]] = {}
        for k in keys:
            src = _SOURCE_OF.get(k)
            if src is not None:
                field, rank = src
                cur = best.get(field)
                if cur is None or rank < cur[0]:
                    best[field] = (rank, k)
        self.fields = tuple((f, k, _CONVERT.get(f)) for f, (_, k) in best.items())
        winners = {k for _, k in best.values()}
        #: keys that would fill a field but lose to another: a None among them does
        #: not rank, and moves where its field comes in the record
        self.losers = tuple(k for k in keys if k in _SOURCE_OF and k not in winners)
        self.used = frozenset(best[f][1] for f in ("input", "output") if f in best)
        #: what the record's `attributes` leave out when payloads were settled since
        #: capture (see `_settle`): the payloads used, and `RAW`
        self.drop = self.used | {RAW} if RAW in keys else self.used
        self.own = tuple(
            (k, not k.startswith(_OWN_PREFIXES)) for k in keys if k not in _REDACTED_OR_FROM_CODE
        )


_plans: dict[tuple[str, ...], _Plan | None] = {}
_MAX_PLANS = 4096


def _plan(a: Mapping[str, Any]) -> _Plan | None:
    """The plan for `a`'s keys; None where the general path is needed (flattened
    messages, or too many distinct key sets to keep)."""
    keys = tuple(a)
    plan = _plans.get(keys, _MISSING)
    if plan is _MISSING:
        flat = any(k.startswith(_FLAT_PREFIXES) for k in keys)
        plan = None if flat else _Plan(keys)
        if len(_plans) < _MAX_PLANS:
            _plans[keys] = plan
    return plan  # type: ignore[no-any-return]


_MISSING: Any = object()


def _merged(a: Mapping[str, Any], settled: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes `a` with the payloads `settled` put in, and without `RAW`."""
    out = {k: v for k, v in a.items() if k != RAW}
    out.update(settled)
    return out


def _normalize_planned(
    rec: dict[str, Any],
    a: Mapping[str, Any],
    plan: _Plan | None,
    settled: Mapping[str, Any] | None = None,
) -> None:
    """`normalize_into(rec, a)`, through `plan` when there is one (the same record).

    `settled` holds payloads of `a` redacted and cut since capture (see `_settle`):
    the record is `normalize_into`'s of `a` with them put in and `RAW` left out,
    made without that copy of `a`.
    """
    if plan is None or (settled is not None and RAW not in plan.drop):
        normalize_into(rec, a if settled is None else _merged(a, settled))
        return
    fields = plan.fields
    for k in plan.losers:
        if a[k] is None:
            normalize_into(rec, a if settled is None else _merged(a, settled))
            return
    for f, k, conv in fields:
        v = a[k]
        if v is None:  # a None value takes no part in the ranking: the general path
            for f2, _, _ in fields:
                rec.pop(f2, None)
            normalize_into(rec, a if settled is None else _merged(a, settled))
            return
        if settled is not None and k in settled:
            v = settled[k]
        if conv is not None:
            v = conv(v)
        if v is not None:
            rec[f] = v
    kind = a.get(KIND)
    rec["kind"] = kind if kind.__class__ is str and kind in KINDS else _kind(a)
    if rec["kind"] == "tool" and "tool_name" not in rec:
        tool_name = _tool_name(rec, a)
        if tool_name is not None:
            rec["tool_name"] = tool_name
    used = plan.used
    if settled is None:
        rec["attributes"] = {k: v for k, v in a.items() if k not in used} if used else a
        return
    drop = plan.drop
    attributes = {k: v for k, v in a.items() if k not in drop}
    if settled:  # what the cut payloads add (their lengths)
        extra = {k: v for k, v in settled.items() if k not in used}
        if extra:
            attributes.update(extra)
    rec["attributes"] = attributes


def record_from_span(
    s: ReadableSpan,
    process_id: str,
    *,
    open_: bool = False,
    redact: Callable[[str], str] | None = None,
    attributes: Mapping[str, Any] | None = None,
    settled: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The spool record of one span (a start record when `open_`).

    `attributes` stands for the span's own; `settled` holds its payloads redacted and
    cut since they were captured (see `_settle`).

    With `redact`, everything the span holds is masked before any field of the record
    is read from it: for spans other instrumentation made, every attribute (keys, and
    values in lists), the name, the scope's name, the status message and every event's
    name and attributes; for agentreel's own spans, the same minus the payloads
    (masked when captured) and the attributes agentreel sets from code.
    """
    c = s.get_span_context()
    assert c is not None
    st = s.status
    scope = s.instrumentation_scope
    scope_name = scope.name if scope is not None else None
    name = s.name
    description = st.description
    if attributes is None:
        attributes = _attributes(s)
    if settled is not None and (redact is None or scope_name != SCOPE):
        # not agentreel's own span (or nothing to mask): the payloads go in first
        attributes, settled = _merged(attributes, settled), None
    # the SDK's `events` property copies into a tuple under a lock; most spans have none
    raw_events = getattr(s, "_events", None)
    if raw_events is None:
        raw_events = s.events
    events = [(e.name, e.timestamp, e.attributes) for e in raw_events] if raw_events else None
    if redact is None:
        plan = _plan(attributes)
    else:
        if scope_name != SCOPE:
            attributes = redact_attributes(attributes, redact)
            plan = _plan(attributes)
            name = redact_name(name, redact)
            if scope_name:
                scope_name = redact_name(scope_name, redact)
        else:
            plan = _plan(attributes)
            masked = _redact_own(attributes, redact, plan)
            if masked is not attributes:  # keys may have been masked too
                attributes = masked
                plan = _plan(masked)
        if description:
            description = redact(description)
        if events:
            events = [
                (redact_name(n, redact), t, redact_attributes(ea or {}, redact))
                for n, t, ea in events
            ]
    # Null fields are left out: smaller segments, and readers take a missing field as null.
    kind, code = s.kind, st.status_code  # enum members hash in Python: compared first
    rec: dict[str, Any] = {
        "trace_id": f"{c.trace_id:032x}",
        "span_id": f"{c.span_id:016x}",
        "name": name,
        "span_kind": "internal" if kind is _INTERNAL else _SPAN_KIND[kind],
        "start_ns": s.start_time,
        "status": "unset" if open_ or code is _UNSET else _STATUS[code],
        "scope": scope_name,
        "process_id": process_id,
    }
    p = s.parent
    if p is not None:
        rec["parent_span_id"] = f"{p.span_id:016x}"
    if not open_:
        rec["end_ns"] = s.end_time
    if description:
        rec["status_message"] = description
    _normalize_planned(rec, attributes, plan, settled)
    if events:
        out = []
        for n, t, ea in events:
            ea = dict(ea or {})
            out.append({"name": n, "time_ns": t, "attributes": ea})
            if n == "exception":
                if rec.get("error_type") is None and ea.get("exception.type") is not None:
                    rec["error_type"] = ea["exception.type"]
                if rec.get("error_message") is None and ea.get("exception.message") is not None:
                    rec["error_message"] = ea["exception.message"]
        rec["events"] = out
    if rec["status"] == "error" and rec.get("error_message") is None and description:
        rec["error_message"] = description
    raw_links = getattr(s, "_links", None)  # as for events: most spans have none
    if raw_links:
        rec["links"] = links_of(raw_links, redact)
    return rec


def links_of(links: Any, redact: Callable[[str], str] | None) -> list[dict[str, Any]]:
    """A span's links as record values: the linked span's ids and the link's attributes."""
    out = []
    for link in links:
        c = link.context
        la = dict(link.attributes or {})
        out.append(
            {
                "trace_id": f"{c.trace_id:032x}",
                "span_id": f"{c.span_id:016x}",
                "attributes": redact_attributes(la, redact) if redact is not None else la,
            }
        )
    return out


def _settle(
    spans: Sequence[ReadableSpan],
    redact: Callable[[str], str] | None,
    attributes: Sequence[Mapping[str, Any]] | None = None,
) -> dict[int, dict[str, Any]] | None:
    """For the spans (by index) whose payloads are still as captured (`RAW`), those
    payloads redacted (all of the batch's at once) and cut, with the lengths of those
    cut (``agentreel.input.truncated``): what the record puts in place of the span's
    own, leaving the marker out. None when no span has any. `attributes` stands for
    the spans' own.
    """
    found: dict[int, dict[str, Any]] = {}
    jobs: list[tuple[dict[str, Any], str, int]] = []
    texts: list[str] = []
    for i, s in enumerate(spans):
        a = _attributes(s) if attributes is None else attributes[i]
        marker = a.get(RAW)
        if marker is None:
            continue
        own: dict[str, Any] = {}
        found[i] = own
        if type(marker) is not int:
            continue
        cap = marker >> 2
        for bit, key in _PAYLOADS:
            text = a.get(key)
            if marker & bit and isinstance(text, str):
                jobs.append((own, key, cap))
                texts.append(text)
    if not found:
        return None
    if redact is not None:
        texts = redact_many(texts, redact)
    for (own, key, cap), text in zip(jobs, texts, strict=True):
        own[key], truncated = cut(text, cap)
        if truncated is not None:
            own[key + ".truncated"] = truncated
    return found


#: Attributes of agentreel's own spans that need no redaction here: set from code
#: (names of functions, models, kinds, counts, hashes), or payloads masked when
#: captured. Where the user gives such a value (a `span()` name, `set_model`), it is
#: masked when it is given.
_REDACTED_OR_FROM_CODE = frozenset(
    (
        "agentreel.input",
        "agentreel.output",
        "agentreel.span.kind",
        "agentreel.llm.name",
        "agentreel.retriever.name",
        "agentreel.request.hash",
        "gen_ai.operation.name",
        "gen_ai.agent.name",
        "gen_ai.tool.name",
        "gen_ai.tool.type",
        "gen_ai.provider.name",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.response.finish_reasons",
    )
)


_OWN_PREFIXES = ("agentreel.", "gen_ai.")


def _redact_own(
    attributes: Mapping[str, Any], redact: Callable[[str], str], plan: _Plan | None = None
) -> Mapping[str, Any]:
    """The attributes of one of agentreel's own spans with what was set other than by
    capture masked: values given to `SpanHandle.set_attribute(s)` or OpenTelemetry's
    API, run names and tags. The attributes set from code are skipped by name (by the
    span's plan, when it has one), so a span that carries nothing else costs a type
    check per remaining attribute and no copy.
    """
    masked: dict[str, Any] | None = None
    if plan is not None:
        own = plan.own
        if not own:
            return attributes
        checks: Any = [(k, attributes[k], user) for k, user in own]
    else:
        checks = [
            (k, v, not k.startswith(_OWN_PREFIXES))
            for k, v in attributes.items()
            if k not in _REDACTED_OR_FROM_CODE
        ]
    for k, v, user in checks:
        # a string, or any value under a name of the user's (its key may hold a secret)
        if user or isinstance(v, str | tuple | list):
            if masked is None:
                masked = {}
            masked[k] = v
    if not masked:
        return attributes
    # a new mapping (never write into the span's own), without the keys masked
    out = {k: v for k, v in attributes.items() if k not in masked}
    out.update(redact_attributes(masked, redact))
    return out


class SpoolFaults:
    """What a recorder could not write, shared by its writers: counts and one warning.

    The first failed write of an outage logs one warning on the ``agentreel`` logger;
    the next successful write ends the outage, so a later one warns again.
    """

    def __init__(self, restore: Callable[[], None] | None = None) -> None:
        #: Recreates the spool's directories (and what the process wrote there once)
        #: when they were removed while recording; None leaves them missing.
        self.restore = restore
        self.spans = 0
        self.start_records = 0
        #: spans OpenTelemetry's batch queue dropped because it was full
        self.queue_full = 0
        self._warned = False
        self._warned_queue = False
        self._lock = threading.Lock()

    def overflowed(self, capacity: int) -> None:
        """One span pushed out of a full batch queue: counted, and one warning per process."""
        with self._lock:
            self.queue_full += 1
            warn = not self._warned_queue
            self._warned_queue = True
        if warn:
            log.warning(
                "agentreel: %d ended spans are waiting to be written, the most the queue "
                "holds; the oldest are being dropped (counted in agentreel.recorder().dropped)",
                capacity,
            )

    def failed(self, where: os.PathLike[str] | str, error: OSError, n: int, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self.start_records += n
            else:
                self.spans += n
            warn = not self._warned
            self._warned = True
        if warn:
            log.warning(
                "agentreel: cannot write to the spool at %s (%s); spans are being dropped "
                "until it can be written again",
                where,
                error,
            )

    def succeeded(self) -> None:
        self._warned = False


T = TypeVar("T")


class _SegmentWriter:
    """Writes records as segments; a failing disk drops the batch with one warning."""

    def __init__(
        self,
        paths: SpoolPaths,
        process_id: str,
        *,
        open_: bool = False,
        faults: SpoolFaults | None = None,
        journal: bool = False,
    ) -> None:
        self.paths = paths
        self.process_id = process_id
        self.open_ = open_
        self.faults = faults if faults is not None else SpoolFaults()
        #: with `journal`, records are appended to one open segment that `seal` closes
        self.journal = Journal(paths.dir, process_id) if journal else None

    def _write(self, data: bytes | bytearray, n: int) -> None:
        if self.journal is not None:
            self.journal.append(data, n)
            return
        write_atomic(self.paths.dir / new_segment_name(self.process_id, open_=self.open_), data)

    def _restoring(self, step: Callable[[], T]) -> T:
        """`step`, done again once if the spool directory was removed while recording
        (made again first, with the process's description)."""
        try:
            return step()
        except FileNotFoundError:
            if self.faults.restore is None:
                raise
            self.faults.restore()
            return step()

    def write(self, lines: Sequence[bytes]) -> bool:
        """Write encoded records as one segment; False (and counted) when the disk says no."""
        return self.write_lines(b"\n".join(lines) + b"\n", len(lines)) if lines else True

    def write_lines(self, data: bytes | bytearray, n: int) -> bool:
        """`write` for `n` records already joined, each line ending in a line break."""
        if not n:
            return True
        try:
            self._restoring(lambda: self._write(data, n))
        except OSError as e:
            self.faults.failed(self.paths.dir, e, n, open_=self.open_)
            return False
        if self.journal is None:  # a journal's records are written once sealed
            self.faults.succeeded()
        return True

    def seal(self) -> None:
        """Make the journal's records a segment the drain takes (a no-op without one).

        A spool that refuses the segment drops its records, counted as a failed write is.
        """
        j = self.journal
        if j is None:
            return
        try:
            sealed = self._restoring(j.seal)
        except OSError as e:
            self.faults.failed(self.paths.dir, e, j.discard(), open_=self.open_)
            return
        if sealed:
            self.faults.succeeded()


class SpoolExporter(SpanExporter):
    """Writes each batch of ended spans as one spool segment.

    Use it under a `BatchSpanProcessor`::

        provider.add_span_processor(BatchSpanProcessor(SpoolExporter(paths, "p1")))

    With `journal` (a span at a time, under a `SimpleSpanProcessor`), each batch is
    appended to one open segment instead (`agentreel._journal`), which `seal` (called
    each tick, on a flush and at shutdown) hands to the drain: a file per span would
    cost the agent a create and a rename and the drain an open, a read and an unlink.
    """

    def __init__(
        self,
        paths: SpoolPaths,
        process_id: str,
        redact: Callable[[str], str] | None = None,
        *,
        faults: SpoolFaults | None = None,
        journal: bool = False,
    ) -> None:
        self._writer = _SegmentWriter(paths, process_id, faults=faults, journal=journal)
        self._process_id = process_id
        self._redact = redact
        self.exported = 0

    @property
    def dropped(self) -> int:
        """Spans this exporter could not write."""
        return self._writer.faults.spans

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        pid = self._process_id
        redact = self._redact
        # Each record is encoded as soon as it is built and its line added to one
        # buffer, so the dicts and the encoded lines die young: keeping thousands of
        # lines alive to join them costs more than building them (and live dicts
        # would keep the garbage collector scanning).
        data = bytearray()
        # a few hundred spans at a time: payloads are redacted together
        for at in range(0, len(spans), _CHUNK):
            chunk = spans[at : at + _CHUNK]
            settled = _settle(chunk, redact)
            get = settled.get if settled is not None else _none
            for i, s in enumerate(chunk):
                data += _dumps(record_from_span(s, pid, redact=redact, settled=get(i)))
                data += b"\n"
        if self._writer.write_lines(data, len(spans)):
            self.exported += len(spans)
            return SpanExportResult.SUCCESS
        return SpanExportResult.FAILURE

    def seal(self) -> None:
        """Hand the spans appended so far to the drain (with `journal`; else a no-op)."""
        self._writer.seal()

    def shutdown(self) -> None:
        self.seal()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.seal()
        return True


def _none(i: int) -> None:
    return None


def _starting(span: Span) -> bool:
    """Whether `span` is one of agentreel's own whose call has not yet written its
    attributes in (each carries at least its kind): it is looked at on the next tick."""
    scope = span.instrumentation_scope
    return scope is not None and scope.name == SCOPE and not _attributes(span)


def _wants_start_record(span: Span) -> bool:
    if span.parent is None:
        return True
    a = _attributes(span)
    kind = a.get(KIND)
    if kind is not None:
        return kind in _START_KINDS
    op = a.get("gen_ai.operation.name")
    if op is not None:
        return op in _START_OPERATIONS
    oi = a.get("openinference.span.kind")
    return oi is not None and str(oi).upper() in ("AGENT", "LLM", "CHAIN")


class OpenSpanProcessor(SpanProcessor):
    """Spools start records of long-open spans and keeps the process's heartbeat.

    Its `on_start` and `on_end` are called by the recorder's batch processor (or it can
    be added to a provider as a processor of its own).
    """

    def __init__(
        self,
        paths: SpoolPaths,
        process_id: str,
        interval: float,
        redact: Callable[[str], str] | None = None,
        *,
        faults: SpoolFaults | None = None,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self._redact = redact
        self._writer = _SegmentWriter(paths, process_id, open_=True, faults=faults)
        self._on_tick = on_tick  # also done each tick (sealing a journal)
        self._process_id = process_id
        self._heartbeat = paths.live / process_id
        self._open: dict[int, Span] = {}
        self._spooled: set[int] = set()
        self._lock = threading.Lock()
        self._interval = interval
        self._stop = threading.Event()
        self._touch()
        self._thread = threading.Thread(target=self._run, name="agentreel-open-spans", daemon=True)
        self._thread.start()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        # Whether the span wants a start record is asked at the tick, of its attributes
        # then: a decorated call may put its attributes in after its span started.
        if not self._stop.is_set():
            self._open[span.context.span_id] = span
        handoffs = _handoffs._linker  # only while the OpenAI Agents SDK is instrumented
        if handoffs is not None:
            handoffs.started(span)

    def on_end(self, span: ReadableSpan) -> None:
        c = span.context
        if c is None:
            return
        handoffs = _handoffs._linker
        if handoffs is not None:
            handoffs.ended(span)
        if self._open.pop(c.span_id, None) is not None:
            self._spooled.discard(c.span_id)
        if span.parent is None:
            release_trace(c.trace_id)

    def _touch_once(self) -> None:
        fd = os.open(self._heartbeat, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
        os.utime(self._heartbeat)

    def _touch(self) -> None:
        try:
            try:
                self._touch_once()
            except FileNotFoundError:
                # the spool was removed while recording: make it again, so the runs of a
                # process with nothing to write for a while do not read as interrupted
                restore = self._writer.faults.restore
                if restore is None:
                    raise
                restore()
                self._touch_once()
        except OSError:
            pass

    def tick(self) -> None:
        """Spool start records of spans opened since the last tick; touch the heartbeat."""
        with self._lock:
            fresh = [
                s
                for sid, s in list(self._open.items())
                if sid not in self._spooled and not _starting(s)
            ]
            # Spans that want none are looked at once; those that do, until one is written.
            self._spooled.update(s.context.span_id for s in fresh if not _wants_start_record(s))
            fresh = [s for s in fresh if s.context.span_id not in self._spooled]
            if fresh:
                # The spans are open: their calling threads may be writing attributes
                # now, so each record is made from a copy (one C-level step).
                attrs = [dict(_attributes(s)) for s in fresh]
                get = (_settle(fresh, self._redact, attrs) or {}).get
                lines = [
                    _dumps(
                        record_from_span(
                            s,
                            self._process_id,
                            open_=True,
                            redact=self._redact,
                            attributes=a,
                            settled=get(i),
                        )
                    )
                    for i, (s, a) in enumerate(zip(fresh, attrs, strict=True))
                ]
                if self._writer.write(lines):
                    ids = (s.context.span_id for s in fresh)
                    self._spooled.update(i for i in ids if i in self._open)
            self._touch()
        if self._on_tick is not None:
            self._on_tick()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.tick()
            except Exception:  # never let the recorder's thread die
                log.exception("agentreel: start-record tick failed")

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self.tick()
        return True

    def shutdown(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=5)
        self.tick()
        with contextlib.suppress(OSError):
            os.unlink(self._heartbeat)
