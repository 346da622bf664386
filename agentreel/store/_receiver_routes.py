"""The receiver's routes: ``POST /v1/traces`` and ``POST /v1/logs``, decoded and
spooled while holding an in-flight slot, and their answers (200 with any partial
success, 503 when shed or when the spool cannot be written).
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from agentreel.store._otlp import Decoded, OTLPDecodeError
from agentreel.store._otlp_json import decode_json
from agentreel.store._otlp_logs import decode_logs_json, decode_logs_protobuf
from agentreel.store._otlp_protobuf import decode_protobuf
from agentreel.store._receiver_conn import RETRY_AFTER_S
from agentreel.store._receiver_http import _JSON, _PROTOBUF, _HTTPHandler

__all__ = ["LOGS_PATH", "TRACES_PATH"]

log = logging.getLogger("agentreel")

TRACES_PATH = "/v1/traces"
#: GenAI events (log records carrying a span's messages): store/_otlp_logs.py.
LOGS_PATH = "/v1/logs"


class _Handler(_HTTPHandler):
    _logs = False  # the request is POST /v1/logs

    def do_POST(self) -> None:
        self._handle()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_POST

    # -- responses -------------------------------------------------------------

    def _success(self, protobuf: bool, decoded: Decoded) -> None:
        """200, with OTLP's partial success when some spans or log records were rejected."""
        if not protobuf:
            doc: dict[str, Any] = {}
            if decoded.rejected:  # proto3 JSON: int64 as a string
                key = "rejectedLogRecords" if self._logs else "rejectedSpans"
                doc["partialSuccess"] = {
                    key: str(decoded.rejected),
                    "errorMessage": decoded.error_message,
                }
            self._send(200, json.dumps(doc).encode(), _JSON)
            return
        response: Any
        partial: Any
        if self._logs:
            from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
                ExportLogsPartialSuccess as partial,
            )
            from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
                ExportLogsServiceResponse as response,
            )

            field = "rejected_log_records"
        else:
            from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
                ExportTracePartialSuccess as partial,
            )
            from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
                ExportTraceServiceResponse as response,
            )

            field = "rejected_spans"
        resp = response()
        if decoded.rejected:
            resp.partial_success.CopyFrom(
                partial(**{field: decoded.rejected}, error_message=decoded.error_message)
            )
        self._send(200, resp.SerializeToString(), _PROTOBUF)

    # -- the request -----------------------------------------------------------

    def _handle_counted(self) -> None:
        with self.server.busy():
            try:
                self._dispatch()
            except (ConnectionError, TimeoutError):
                self.close_connection = True
            except Exception:
                log.exception("agentreel serve: request failed")
                with contextlib.suppress(Exception):
                    self._error(500, "the receiver failed on this request; see its log", close=True)

    def _dispatch(self) -> None:
        if not self._authorized():
            # answered from the head alone: the body of a client without the token is never read
            self._error(
                401,
                "missing or wrong bearer token; send Authorization: Bearer <token>",
                close=True,
                headers=(("WWW-Authenticate", "Bearer"),),
            )
            return
        path = urlsplit(self.path).path
        if path not in (TRACES_PATH, LOGS_PATH):
            self._error(
                404,
                f"no such path {path}; send OTLP traces to POST {TRACES_PATH} "
                f"and GenAI events to POST {LOGS_PATH}",
            )
            return
        self._logs = path == LOGS_PATH
        if self.command != "POST":
            self._error(
                405, f"{self.command} is not allowed; use POST", headers=(("Allow", "POST"),)
            )
            return
        ctype = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if ctype not in (_PROTOBUF, _JSON):
            self._error(
                415,
                f"content type {ctype or '(none)'!r} is not supported; use {_PROTOBUF} or {_JSON}",
            )
            return
        if not self.server.slots.acquire(timeout=self.server.queue_wait):
            self.server.count(shed_requests=1)
            self._error(
                503,
                "the receiver is at its limit of requests in flight; retry after "
                f"{RETRY_AFTER_S} s",
                headers=(("Retry-After", str(RETRY_AFTER_S)),),
            )
            return
        try:
            decoded = self._take(ctype)
        finally:
            self.server.slots.release()
        if decoded is not None:
            self._success(ctype == _PROTOBUF, decoded)

    def _take(self, ctype: str) -> Decoded | None:
        """Read, decode and spool the body (holding a slot); None once an error was answered."""
        body = self._read_body()
        if body is None:
            return None
        try:
            redact = self.server.spooler.redact  # masked while decoded, before anything is read
            if self._logs:
                decoded = (
                    decode_logs_protobuf(body, redact)
                    if ctype == _PROTOBUF
                    else decode_logs_json(body, redact)
                )
            else:
                decoded = (
                    decode_protobuf(body, redact)
                    if ctype == _PROTOBUF
                    else decode_json(body, redact)
                )
        except OTLPDecodeError as e:
            self._error(400, str(e))
            return None
        del body  # the raw bytes need not outlive the decode while the spool is written
        try:
            self.server.spooler.write(decoded)
        except OSError as e:
            log.warning("agentreel serve: cannot write to the spool: %s", e)
            self._error(
                503,
                f"the receiver cannot write to its spool ({e.strerror or e})",
                headers=(("Retry-After", str(RETRY_AFTER_S)),),
            )
            return None
        if self._logs:
            self.server.count(
                requests=1,
                contents=len(decoded.contents),
                rejected_log_records=decoded.rejected,
            )
        else:
            self.server.count(
                requests=1, spans=len(decoded.records), rejected_spans=decoded.rejected
            )
        return decoded
