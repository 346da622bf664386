"""`init()`: where spans go, and the one recorder of this process.

`init()` adds agentreel's processors to the application's `TracerProvider` when
it already has one (so spans reach both), or creates and installs one. The
decorators always ask `tracer()` for the tracer in force, so they emit plain
OpenTelemetry spans even when agentreel's recorder is not initialised.
"""

from __future__ import annotations

import atexit
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider, sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

from agentreel._errors import ConfigError
from agentreel._redact import Redactor, redact_argv, redact_attributes, redactor_from
from agentreel._spool import SpoolPaths, write_atomic
from agentreel.tracer._capture import DEFAULT_MAX_PAYLOAD
from agentreel.tracer._exporter import SCOPE, OpenSpanProcessor, SpoolExporter, SpoolFaults

__all__ = ["Recorder", "default_dir", "flush", "init", "recorder", "shutdown", "tracer"]

_lock = threading.Lock()
_recorder: Recorder | None = None
_tracer: trace.Tracer = trace.get_tracer(SCOPE)


def default_dir() -> Path:
    """The store directory: ``$AGENTREEL_DIR``, else ``./.agentreel``."""
    return Path(os.environ.get("AGENTREEL_DIR") or ".agentreel")


def _git_sha(start: Path) -> str | None:
    """The commit checked out at or above `start`, read from .git without running git."""
    for d in (start, *start.parents):
        git = d / ".git"
        if git.is_dir():
            try:
                head = (git / "HEAD").read_text().strip()
                if not head.startswith("ref: "):
                    return head or None
                ref = head[5:]
                ref_file = git / ref
                if ref_file.is_file():
                    return ref_file.read_text().strip() or None
                packed = git / "packed-refs"
                if packed.is_file():
                    for line in packed.read_text().splitlines():
                        if line.endswith(" " + ref):
                            return line.split(" ", 1)[0]
            except OSError:
                return None
            return None
    return None


def _flush_mode() -> float | None:
    """Seconds between flushes from ``$AGENTREEL_FLUSH`` (``each`` -> None: write through)."""
    raw = os.environ.get("AGENTREEL_FLUSH")
    if raw is None or raw == "":
        return 1.0
    if raw == "each":
        return None
    try:
        v = float(raw)
    except ValueError:
        raise ConfigError(
            f"AGENTREEL_FLUSH={raw!r} is not a number of seconds or 'each'; set it to e.g. 1 or each"
        ) from None
    if v <= 0:
        raise ConfigError(f"AGENTREEL_FLUSH={raw!r} must be positive seconds or 'each'")
    return v


#: Ended spans waiting for the next flush; more than this and the oldest are dropped.
QUEUE_SIZE = 100_000


class _SpoolBatchProcessor(BatchSpanProcessor):
    """OpenTelemetry's `BatchSpanProcessor`, also keeping the open spans and counting drops.

    The one processor agentreel adds to the provider: every span start and end passes
    through one call each, which tells `open_spans` (the start records of long-open
    spans) and queues the ended span for the exporter.

    The SDK drops the oldest queued span when a new one arrives at a full queue, with
    a log line of its own and no count anyone can read; agentreel counts each in
    `Recorder.dropped`. The queue's length is read from the SDK's batch processor
    (a private attribute): if a later SDK moves it, spans are still exported and
    dropped as before, only not counted. The length is read just before the SDK
    appends, so a batch the worker takes out in between makes one span counted that
    was not dropped: the count is exact give or take one span per batch taken at a
    full queue.
    """

    def __init__(
        self,
        exporter: SpoolExporter,
        faults: SpoolFaults,
        open_spans: OpenSpanProcessor,
        **kwargs: Any,
    ) -> None:
        super().__init__(exporter, **kwargs)
        self._faults = faults
        self._capacity = int(kwargs.get("max_queue_size") or QUEUE_SIZE)
        self.on_start = open_spans.on_start  # type: ignore[method-assign]
        self._ended = open_spans.on_end
        batch = getattr(self, "_batch_processor", None)
        queue = getattr(batch, "_queue", None)
        self._queue: Any = queue if hasattr(queue, "__len__") else None
        emit = getattr(batch, "emit", None)
        self._emit: Callable[[ReadableSpan], None] | None = emit if callable(emit) else None

    def on_end(self, span: ReadableSpan) -> None:
        self._ended(span)
        ctx = span.context
        if ctx is None or not ctx.trace_flags.sampled:
            return
        q = self._queue
        if q is not None and len(q) >= self._capacity:
            self._faults.overflowed(self._capacity)
        if self._emit is not None:
            self._emit(span)
        else:
            super().on_end(span)


class _SpoolSimpleProcessor(SimpleSpanProcessor):
    """OpenTelemetry's `SimpleSpanProcessor` (a write per span), also keeping the open spans."""

    def __init__(self, exporter: SpoolExporter, open_spans: OpenSpanProcessor) -> None:
        super().__init__(exporter)
        self.on_start = open_spans.on_start  # type: ignore[method-assign]
        self._ended = open_spans.on_end

    def on_end(self, span: ReadableSpan) -> None:
        self._ended(span)
        super().on_end(span)


class Recorder:
    """The running recorder: its spool, its processors and its settings.

    Made by `agentreel.init()`; most code never touches it directly.
    """

    def __init__(
        self,
        path: Path,
        provider: TracerProvider,
        *,
        capture: bool,
        max_payload_bytes: int,
        flush_interval: float | None,
        redactor: Callable[[str], str] | None = None,
    ) -> None:
        self.path = path
        self.provider = provider
        self.capture = capture
        self.redactor = redactor
        self.max_payload_bytes = max_payload_bytes
        self.process_id = secrets.token_hex(8)
        self.paths = SpoolPaths(path)
        self.paths.create()
        self._process_file = self._process_info(provider.resource)
        write_atomic(self.paths.processes / f"{self.process_id}.json", self._process_file)
        self.faults = SpoolFaults(restore=self._restore)
        # Writing through (`flush_interval` None), spans are appended to a journal that
        # each tick seals: on disk as each ends, a segment for the drain every tick.
        through = flush_interval is None
        self.exporter = SpoolExporter(
            self.paths, self.process_id, redactor, faults=self.faults, journal=through
        )
        self.open_spans = OpenSpanProcessor(
            # the heartbeat must tick well inside the store's 15 s staleness window
            self.paths,
            self.process_id,
            min(flush_interval or 1.0, 5.0),
            redactor,
            faults=self.faults,
            on_tick=self.exporter.seal if through else None,
        )
        # One processor on the provider: each span's start and end cost one call of
        # ours, which keeps the open spans and queues the ended one for the exporter.
        self.batch: SpanProcessor
        if flush_interval is None:
            self.batch = _SpoolSimpleProcessor(self.exporter, self.open_spans)
        else:
            self.batch = _SpoolBatchProcessor(
                self.exporter,
                self.faults,
                self.open_spans,
                max_queue_size=QUEUE_SIZE,
                schedule_delay_millis=flush_interval * 1000,
                max_export_batch_size=min(4096, QUEUE_SIZE),
            )
        self._closed = False
        provider.add_span_processor(self.batch)
        self.tracer = provider.get_tracer(SCOPE)
        # The SDK's list of the provider's processors (a tuple it replaces on each
        # add), to tell whether ours is the only one; None if a later SDK moves it.
        active = getattr(provider, "_active_span_processor", None)
        self._active: Any = active if hasattr(active, "_span_processors") else None
        self._alone = (self.batch,)
        # A length limit on attribute values (OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT) would
        # cut a payload before it is redacted, and a cut secret may no longer look like
        # one: then payloads are always redacted as they are captured.
        limits = getattr(self.tracer, "_span_limits", None)
        self._unlimited = limits is not None and getattr(limits, "max_attribute_length", 0) is None
        # Decorated calls may write their attributes straight into the span (see
        # `writes_attributes`) when no sampler reads them at the span's start.
        self._direct = self._unlimited and _ignores_attributes(
            getattr(self.tracer, "sampler", None)
        )
        atexit.register(self.shutdown)

    def _restore(self) -> None:
        """Make the spool again after it was removed while recording (OSError if it cannot)."""
        self.paths.create()
        write_atomic(self.paths.processes / f"{self.process_id}.json", self._process_file)

    def _process_info(self, resource: Resource) -> bytes:
        import json

        info: dict[str, Any] = {
            "process_id": self.process_id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_ns": time.time_ns(),
            "argv": sys.argv[:20],
            "resource": {
                k: (list(v) if isinstance(v, tuple) else v) for k, v in resource.attributes.items()
            },
        }
        if self.redactor is not None:  # a key given on the command line, say
            info["argv"] = redact_argv(info["argv"], self.redactor)
            info["resource"] = redact_attributes(info["resource"], self.redactor)
        return json.dumps(info).encode()

    def alone(self) -> bool:
        """Whether agentreel's processor is the only one on the provider (and recording):
        then nothing but agentreel reads a span's attributes before it is written."""
        active = self._active
        return active is not None and active._span_processors == self._alone and not self._closed

    def writes_attributes(self) -> bool:
        """Whether a decorated call may open its span bare and put its attributes
        straight into the span's attribute dict, skipping the SDK's checks of values
        the decorator built itself (strings and integers, which is most of what a span
        costs to start).

        Only while agentreel's processor is alone on the provider (so no other
        processor's `on_start` expects them), the sampler is one of the SDK's own,
        which never look at attributes, and no length limit applies to values.
        """
        return self._direct and self.alone()

    def defers_redaction(self) -> bool:
        """Whether payloads may wait until the span is written to be redacted and cut.

        Only while agentreel's processor is the only one on the provider (and the SDK
        puts no length limit on attribute values): then nothing but agentreel's
        exporter reads a span's attributes, and it redacts a whole batch's payloads at
        once, off the calling thread. With any other processor
        (an application's exporter, say), payloads are redacted as they are captured,
        so nothing else ever sees them unmasked.
        """
        return self.redactor is not None and self._unlimited and self.alone()

    @property
    def dropped(self) -> int:
        """Spans lost before the spool: it could not be written (disk full, spool
        unwritable), or more spans ended than the queue holds before a flush."""
        return self.faults.spans + self.faults.queue_full

    @property
    def dropped_start_records(self) -> int:
        """Start records of open spans that could not be written (the spans themselves
        are counted in `dropped` only if their complete record is lost too)."""
        return self.faults.start_records

    def flush(self, timeout_millis: int = 30_000) -> bool:
        """Write every ended span, and start records of open ones, to the spool now."""
        ok = self.batch.force_flush(timeout_millis)
        return self.open_spans.force_flush(timeout_millis) and ok

    def shutdown(self) -> None:
        """Flush and stop recording.

        The processors stay on the provider (OpenTelemetry cannot remove them) but go
        inert; the provider itself is left running, since other code may hold its
        tracers, and a later `init()` adds fresh processors to it.
        """
        if self._closed:
            return
        self._closed = True
        self.batch.shutdown()
        self.open_spans.shutdown()
        atexit.unregister(self.shutdown)


def _ignores_attributes(sampler: object) -> bool:
    """Whether `sampler` is built from the SDK's own samplers, none of which reads a
    span's attributes (a sampler of the application's own might)."""
    if type(sampler).__module__ != sampling.__name__:
        return False
    if isinstance(sampler, sampling.StaticSampler | sampling.TraceIdRatioBased):
        return True
    if isinstance(sampler, sampling.ParentBased):
        delegates = (
            "_root",
            "_remote_parent_sampled",
            "_remote_parent_not_sampled",
            "_local_parent_sampled",
            "_local_parent_not_sampled",
        )
        return all(_ignores_attributes(getattr(sampler, d, None)) for d in delegates)
    return False


def _program_name() -> str:
    arg0 = sys.argv[0] if sys.argv else ""
    return Path(arg0).stem if arg0 and arg0 != "-c" else "python"


def _resource(service_name: str | None) -> Resource:
    attrs: dict[str, Any] = {
        "service.name": service_name or os.environ.get("OTEL_SERVICE_NAME") or _program_name(),
        "process.pid": os.getpid(),
    }
    sha = _git_sha(Path.cwd())
    if sha:
        attrs["vcs.ref.head.revision"] = sha
    return Resource.create(attrs)


def init(
    path: str | os.PathLike[str] | None = None,
    *,
    service_name: str | None = None,
    capture: bool = True,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD,
    flush_interval: float | None = None,
    tracer_provider: TracerProvider | None = None,
    propagate_threads: bool = True,
    redact: bool | Redactor | Callable[[str], str] = True,
) -> Recorder:
    """Start recording this process's agent runs into the store at `path`.

    `path` defaults to ``$AGENTREEL_DIR`` or ``./.agentreel``. If the application
    already set an SDK `TracerProvider` (or passes one as `tracer_provider`),
    agentreel adds its processors to it, so spans reach both; otherwise it installs
    its own. Calling `init()` again with the same path returns the same recorder.

    Example::

        import agentreel
        agentreel.init()                    # ./.agentreel
        agentreel.init("/tmp/traces")       # or a directory of your choice

    Args:
        capture: record arguments and results of decorated functions.
        max_payload_bytes: cap per captured payload (longer ones are cut and marked).
        flush_interval: seconds between spool writes (default 1, or ``$AGENTREEL_FLUSH``;
            ``$AGENTREEL_FLUSH=each`` writes every span as it ends).
        propagate_threads: carry the current span into threads and thread pools, so
            work run in a pool nests under the span that submitted it.
        redact: mask secrets before anything is written: True (the default patterns:
            API keys, bearer tokens, passwords in URLs, secret-named fields, e-mail
            addresses), a `Redactor` with patterns of your own, any ``str -> str``
            function, or False to record payloads as they are.
    """
    global _recorder, _tracer
    # absolute, so a later chdir in the program does not move where spans go
    p = (Path(path) if path is not None else default_dir()).absolute()
    if max_payload_bytes < 64:
        raise ConfigError(f"max_payload_bytes={max_payload_bytes} is too small; use at least 64")
    interval = _flush_mode() if flush_interval is None else flush_interval
    if interval is not None and interval <= 0:
        raise ConfigError(f"flush_interval={interval} must be a positive number of seconds")
    with _lock:
        if _recorder is not None and not _recorder._closed:
            if _recorder.path.resolve() == p.resolve():
                return _recorder
            raise ConfigError(
                f"agentreel is already recording to {_recorder.path}; call agentreel.shutdown() "
                f"before init({str(p)!r})"
            )
        if tracer_provider is None:
            current = trace.get_tracer_provider()
            if isinstance(current, TracerProvider):
                tracer_provider = current
            else:
                tracer_provider = TracerProvider(resource=_resource(service_name))
                trace.set_tracer_provider(tracer_provider)
        redactor = redactor_from(redact)
        try:
            rec = Recorder(
                p,
                tracer_provider,
                redactor=redactor,
                capture=capture,
                max_payload_bytes=max_payload_bytes,
                flush_interval=interval,
            )
        except OSError as e:
            raise ConfigError(
                f"cannot create the agentreel store at {p}: {e.strerror or e}"
            ) from None
        if propagate_threads:
            _propagate_threads()
        from agentreel.tracer import _fingerprint

        _fingerprint.start()  # for replay; git status runs off the caller's thread
        _recorder = rec
        _tracer = rec.tracer
        return rec


def _propagate_threads() -> None:
    from opentelemetry.instrumentation.threading import ThreadingInstrumentor

    inst = ThreadingInstrumentor()
    if not inst.is_instrumented_by_opentelemetry:
        inst.instrument()


def recorder() -> Recorder | None:
    """The active recorder, or None before `init()`."""
    return _recorder


def tracer() -> trace.Tracer:
    """The tracer the decorators use: the recorder's, else the global provider's."""
    return _tracer


def flush(timeout_millis: int = 30_000) -> bool:
    """Write everything recorded so far to the spool. Returns False on timeout."""
    r = _recorder
    return r.flush(timeout_millis) if r is not None else True


def shutdown() -> None:
    """Flush and stop the active recorder; `init()` may be called again afterwards."""
    global _recorder, _tracer
    with _lock:
        r = _recorder
        _recorder = None
        _tracer = trace.get_tracer(SCOPE)
    if r is not None:
        from agentreel.tracer._integrations import uninstrument

        uninstrument()
        r.shutdown()
