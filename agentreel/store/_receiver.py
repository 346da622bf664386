"""An OTLP/HTTP trace receiver on the standard library.

`Receiver` answers ``POST /v1/traces`` (protobuf or JSON, optionally gzip) as the
OTLP/HTTP specification asks, and writes each request's spans to the spool as one
segment; ``POST /v1/logs`` takes GenAI events (log records carrying a span's
messages, store/_otlp_logs.py) the same way. Its request threads never open DuckDB: draining the spool into the
store is `agentreel.store._serve.serve`'s job (or any reader's).

Under load it sheds rather than queues without bound, as the OTLP/HTTP
specification's throttling section asks: at most `max_inflight` requests are read,
decoded and spooled at once; one that finds every slot taken waits up to
`QUEUE_WAIT_S` for one, then gets ``503 Service Unavailable`` with
``Retry-After: 1`` (OTLP exporters retry it after that delay). So memory stays
bounded by about `max_inflight` request bodies, whatever the number of senders.

A client that opens connections and sends nothing, or its request head a byte at a
time, must not lock out the exporters that send theirs at once. So a connection
has `HEAD_TIMEOUT_S` in all to deliver a whole request head (counted from when it
was accepted, or from the end of its previous answer), at most `MAX_HEAD_BYTES` of
it, and `BODY_TIMEOUT_S` in all for the body. When a new connection would pass
`max_connections`, or `max_per_address` from one client address, the connection
that has waited longest for a head it has not finished (from that address first)
is closed to make room: a well-behaved exporter sends its head in one piece, so
the room always goes to the newcomer, while a slow client loses its oldest
connections. Only when every connection is inside a request is a new one answered
503 with ``Retry-After`` at once. A token is checked as soon as the head is in;
the body of a request without the right one is never read.

Example::

    with Receiver(".agentreel", port=0) as r:   # port 0: any free port
        print(r.url)                            # http://127.0.0.1:PORT/v1/traces
"""

from __future__ import annotations

import contextlib
import hmac
import io
import ipaddress
import json
import logging
import os
import socket
import socketserver
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agentreel._errors import ConfigError
from agentreel._redact import redactor_from
from agentreel._spool import SpoolPaths
from agentreel.store._otlp import Decoded, OTLPDecodeError, decode_json, decode_protobuf
from agentreel.store._otlp_logs import decode_logs_json, decode_logs_protobuf
from agentreel.store._spooler import Spooler

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_INFLIGHT",
    "DEFAULT_MAX_PER_ADDRESS",
    "DEFAULT_PORT",
    "LOGS_PATH",
    "QUEUE_WAIT_S",
    "TRACES_PATH",
    "Receiver",
    "ReceiverStats",
    "is_loopback",
]

log = logging.getLogger("agentreel")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4318
DEFAULT_MAX_BODY = 16 * 1024 * 1024
TRACES_PATH = "/v1/traces"
#: GenAI events (log records carrying a span's messages): store/_otlp_logs.py.
LOGS_PATH = "/v1/logs"
#: Requests read, decoded and spooled at once (decoding holds the GIL: more buys nothing).
DEFAULT_MAX_INFLIGHT = 4
#: Open connections (one thread each); more are answered 503 and closed on accept.
DEFAULT_MAX_CONNECTIONS = 256
#: Open connections from one client address; a new one closes that address's slowest.
DEFAULT_MAX_PER_ADDRESS = 64
#: Seconds a connection has, in all, to deliver a request head (idle keep-alive included).
HEAD_TIMEOUT_S = 10.0
#: Bytes a request head may take (an OTLP exporter's takes well under 1 KiB).
MAX_HEAD_BYTES = 64 * 1024
#: Seconds a request has, in all, to deliver its body once its head is in.
BODY_TIMEOUT_S = 30.0
#: Seconds an answer may take to be sent before the connection is dropped.
SEND_TIMEOUT_S = 30.0
#: How long a request waits for an in-flight slot before it is shed with 503. Its body
#: stays unread in the socket meanwhile, so waiting costs no memory; a shed sender
#: waits `RETRY_AFTER_S` and sends the whole body again, so shedding a burst the
#: receiver would have served a moment later only delays it.
QUEUE_WAIT_S = 2.0
#: Seconds a shed sender is asked to wait (``Retry-After``) before it retries.
RETRY_AFTER_S = 1

_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"
# google.rpc.Code values for the Status bodies of error responses
_GRPC_CODES = {400: 3, 401: 16, 404: 5, 405: 12, 411: 3, 413: 8, 415: 3, 500: 13, 503: 14}


@dataclass
class ReceiverStats:
    """What a receiver took in since it started."""

    requests: int = 0
    spans: int = 0
    rejected_spans: int = 0
    #: content records spooled from POST /v1/logs (one per span), and log records refused
    contents: int = 0
    rejected_log_records: int = 0
    failed_requests: int = 0
    #: requests answered 503 with Retry-After because the receiver was at its limits
    shed_requests: int = 0
    #: connections closed before their request head was in: too slow, too large, or
    #: pushed out by a newer connection when the limits were reached
    dropped_connections: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses; any other name counts as exposed."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _rpc_status(code: int, message: str) -> bytes:
    """A protobuf ``google.rpc.Status`` {code, message}, encoded by hand (two fields)."""
    m = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(m)) + m


def _inflate(data: bytes, limit: int, wbits: int) -> bytes | None:
    """Decompress `data`, or None as soon as the output would pass `limit` bytes."""
    out = bytearray()
    while data:
        d = zlib.decompressobj(wbits)
        out += d.decompress(data, limit + 1 - len(out))
        if len(out) > limit or d.unconsumed_tail:
            return None
        if not d.eof:
            raise zlib.error("the compressed body is truncated")
        data = d.unused_data  # another gzip member follows
    return bytes(out)


class _Conn:
    """One open connection: its client address, and since when it waits for a head."""

    __slots__ = ("address", "sock", "waiting_since")

    def __init__(self, sock: socket.socket, address: str, now: float) -> None:
        self.sock = sock
        self.address = address
        #: monotonic time it began waiting for a request head; None while in a request
        self.waiting_since: float | None = now


class _HeadTimeout(TimeoutError):
    """The request head (or body) did not arrive whole in time, or was too large."""


class _DeadlineReader(io.RawIOBase):
    """A socket's reading side with a deadline for a whole head or body, not per read.

    ``socket.settimeout`` bounds each ``recv``, so a client sending one byte every few
    seconds would never time out; here each read gets only what is left of the time
    (and of the byte budget) given for the head or the body it is part of.
    """

    def __init__(self, raw: io.RawIOBase, sock: socket.socket) -> None:
        self._raw = raw
        self._sock = sock
        self.deadline = time.monotonic() + HEAD_TIMEOUT_S
        #: bytes the head may still take; None while a body is read
        self.budget: int | None = MAX_HEAD_BYTES
        self.expired = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.expired = True
            raise _HeadTimeout("the request did not arrive whole in time")
        if self.budget is not None:
            if self.budget <= 0:
                self.expired = True
                raise _HeadTimeout(f"the request head is over {MAX_HEAD_BYTES} bytes")
            b = memoryview(b)[: self.budget]
        self._sock.settimeout(left)
        try:
            n = self._raw.readinto(b)
        except TimeoutError:
            self.expired = True
            raise
        if n and self.budget is not None:
            self.budget -= n
        return n or 0

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._raw.close()
        super().close()


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # stop() waits for requests in flight, then joins
    block_on_close = True
    # socketserver's default backlog of 5 resets connections when many senders start at
    # once; a short one also makes a burst of slow clients push an exporter's connect
    # into the kernel's one-second SYN retry
    request_queue_size = 1024

    def __init__(
        self,
        address: tuple[str, int],
        spooler: Spooler,
        token: str | None,
        max_body: int,
        max_inflight: int = DEFAULT_MAX_INFLIGHT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_per_address: int = DEFAULT_MAX_PER_ADDRESS,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.spooler = spooler
        self.expected_auth = token.encode() if token else None
        self.max_body = max_body
        self.slots = threading.BoundedSemaphore(max_inflight)
        self.queue_wait = QUEUE_WAIT_S
        self.max_connections = max_connections
        self.max_per_address = max_per_address
        self.stats = ReceiverStats()
        self.stopping = False
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._busy = 0
        #: every open connection, in the order they were accepted
        self._conns: dict[socket.socket, _Conn] = {}
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-head is routine under load, not a traceback on stderr."""
        if isinstance(sys.exc_info()[1], OSError):
            log.debug("agentreel serve: connection from %s failed", client_address[0])
            return
        log.exception("agentreel serve: connection from %s failed", client_address[0])

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._conns)

    def _slowest_waiting(self, address: str | None) -> _Conn | None:
        """The connection (from `address`, or any) waiting longest for its head."""
        best: _Conn | None = None
        for c in self._conns.values():
            if c.waiting_since is None or (address is not None and c.address != address):
                continue
            if best is None or c.waiting_since < best.waiting_since:  # type: ignore[operator]
                best = c
        return best

    def process_request(self, request: Any, client_address: Any) -> None:
        """Start a thread for the connection, making room by closing the slowest if need be.

        Refused with 503 only when every connection it would count against is in a
        request (see the module's docstring).
        """
        address = str(client_address[0])
        victim: _Conn | None = None
        with self._lock:
            if sum(c.address == address for c in self._conns.values()) >= self.max_per_address:
                victim = self._slowest_waiting(address)
                full = victim is None
            elif len(self._conns) >= self.max_connections:
                victim = self._slowest_waiting(None)
                full = victim is None
            else:
                full = False
            if victim is not None:
                del self._conns[victim.sock]  # its thread ends as soon as its read fails
                self.stats.dropped_connections += 1
            if not full:
                self._conns[request] = _Conn(request, address, time.monotonic())
        if victim is not None:
            with contextlib.suppress(OSError):
                victim.sock.shutdown(socket.SHUT_RDWR)
        if full:
            self._refuse(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.forget(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.forget(request)

    def forget(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.pop(conn, None)

    def in_request(self, conn: socket.socket, inside: bool) -> bool:
        """Mark `conn` as in a request (or waiting for its next head); False if it was closed."""
        with self._lock:
            c = self._conns.get(conn)
            if c is None:
                return False
            c.waiting_since = None if inside else time.monotonic()
            return True

    def _refuse(self, conn: socket.socket) -> None:
        """Answer 503 with Retry-After on a connection not read from, without blocking."""
        self.count(failed_requests=1, shed_requests=1)
        body = json.dumps(
            {"code": 14, "message": "the receiver has too many connections open; retry later"}
        ).encode()
        head = (
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: {RETRY_AFTER_S}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        with contextlib.suppress(OSError):
            conn.settimeout(0.2)
            conn.sendall(head + body)

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        with self._lock:
            self._busy += 1
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1
                self._idle.notify_all()

    def drain_connections(self, timeout: float) -> None:
        """Let requests in flight finish, then hang up on idle keep-alive connections."""
        with self._lock:
            self._idle.wait_for(lambda: self._busy == 0, timeout)
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)

    def count(self, **deltas: int) -> None:
        with self._lock:
            for k, v in deltas.items():
                setattr(self.stats, k, getattr(self.stats, k) + v)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "agentreel"
    timeout = SEND_TIMEOUT_S  # for sending answers; reads run against _DeadlineReader's clock
    _body_done = False
    _logs = False  # the request is POST /v1/logs

    def setup(self) -> None:
        super().setup()
        # replace the buffered reader with one over a deadline-keeping raw reader
        self.rfile.close()
        self.reader = _DeadlineReader(self.connection.makefile("rb", buffering=0), self.connection)
        self.rfile = io.BufferedReader(self.reader)

    def handle_one_request(self) -> None:
        super().handle_one_request()  # answers nothing, and closes, when the head is late
        if self.reader.expired and self.reader.budget is not None:
            self.server.count(dropped_connections=1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("agentreel serve: %s " + format, self.client_address[0], *args)

    def do_POST(self) -> None:
        self._handle()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_POST

    # -- responses -------------------------------------------------------------

    def _wants_protobuf(self) -> bool:
        ctype = self.headers.get("Content-Type", "")
        return ctype.split(";", 1)[0].strip().lower() == _PROTOBUF

    def _send(
        self,
        code: int,
        body: bytes,
        ctype: str,
        *,
        close: bool = False,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.connection.settimeout(SEND_TIMEOUT_S)  # reads left it at what their deadline had
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        if close or self.server.stopping:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(
        self,
        code: int,
        message: str,
        *,
        close: bool = False,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        """An error with a ``google.rpc.Status`` body, protobuf or JSON like the request.

        A body not yet read is read and dropped first when it is within the size
        limit, so the connection stays usable; otherwise (or with `close`) the
        server hangs up after answering.
        """
        self.server.count(failed_requests=1)
        if not self._body_done:
            close = close or not self._skip_body(self.server.max_body)
        grpc = _GRPC_CODES.get(code, 2)
        if self._wants_protobuf():
            self._send(code, _rpc_status(grpc, message), _PROTOBUF, close=close, headers=headers)
        else:
            body = json.dumps({"code": grpc, "message": message}).encode()
            self._send(code, body, _JSON, close=close, headers=headers)

    def _success(self, protobuf: bool, decoded: Decoded) -> None:
        if self._logs:
            self._logs_success(protobuf, decoded)
            return
        if protobuf:
            from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
                ExportTracePartialSuccess,
                ExportTraceServiceResponse,
            )

            resp = ExportTraceServiceResponse()
            if decoded.rejected:
                resp.partial_success.CopyFrom(
                    ExportTracePartialSuccess(
                        rejected_spans=decoded.rejected, error_message=decoded.error_message
                    )
                )
            self._send(200, resp.SerializeToString(), _PROTOBUF)
            return
        doc: dict[str, Any] = {}
        if decoded.rejected:  # proto3 JSON: int64 as a string
            doc["partialSuccess"] = {
                "rejectedSpans": str(decoded.rejected),
                "errorMessage": decoded.error_message,
            }
        self._send(200, json.dumps(doc).encode(), _JSON)

    def _logs_success(self, protobuf: bool, decoded: Decoded) -> None:
        if protobuf:
            from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
                ExportLogsPartialSuccess,
                ExportLogsServiceResponse,
            )

            resp = ExportLogsServiceResponse()
            if decoded.rejected:
                resp.partial_success.CopyFrom(
                    ExportLogsPartialSuccess(
                        rejected_log_records=decoded.rejected, error_message=decoded.error_message
                    )
                )
            self._send(200, resp.SerializeToString(), _PROTOBUF)
            return
        doc: dict[str, Any] = {}
        if decoded.rejected:
            doc["partialSuccess"] = {
                "rejectedLogRecords": str(decoded.rejected),
                "errorMessage": decoded.error_message,
            }
        self._send(200, json.dumps(doc).encode(), _JSON)

    # -- the request -----------------------------------------------------------

    def _authorized(self) -> bool:
        expected = self.server.expected_auth
        if expected is None:
            return True
        scheme, _, given = self.headers.get("Authorization", "").strip().partition(" ")
        ok = hmac.compare_digest(given.strip().encode("latin-1", "replace"), expected)
        return ok and scheme.lower() == "bearer"

    def _content_length(self) -> int | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return None
        try:
            n = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return None
        return n if n >= 0 else None

    def _skip_body(self, limit: int) -> bool:
        """Read and drop a request body of at most `limit` bytes; False if it was not read."""
        self._body_done = True
        if "Content-Length" not in self.headers and "Transfer-Encoding" not in self.headers:
            return True  # HTTP/1.1: no body
        n = self._content_length()
        if n is None or n > limit:
            return False
        while n > 0:
            chunk = self.rfile.read(min(n, 65536))
            if not chunk:
                return False
            n -= len(chunk)
        return True

    def _handle(self) -> None:
        self._body_done = False
        reader = self.reader
        if not self.server.in_request(self.connection, True):
            self.close_connection = True  # closed to make room just as its head came in
            return
        reader.budget = None
        reader.deadline = time.monotonic() + BODY_TIMEOUT_S
        try:
            self._handle_counted()
        finally:
            # bytes of the next head already buffered are not counted: a few KiB at most
            reader.budget = MAX_HEAD_BYTES
            reader.deadline = time.monotonic() + HEAD_TIMEOUT_S
            self.server.in_request(self.connection, False)

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

    def _read_body(self) -> bytes | None:
        """The request body, decompressed; None once an error has been answered."""
        limit = self.server.max_body
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._error(411, "chunked bodies are not supported; send a Content-Length")
            return None
        length = self._content_length()
        if length is None:
            raw = self.headers.get("Content-Length")
            self._error(
                411 if raw is None else 400,
                "the request has no Content-Length"
                if raw is None
                else f"Content-Length {raw!r} is not a size",
            )
            return None
        if length > limit:
            self._error(413, f"the body is {length} bytes, over the limit of {limit}")
            return None
        self._body_done = True
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True  # the client went away mid-body
            return None
        encoding = self.headers.get("Content-Encoding", "").strip().lower()
        if encoding in ("", "identity"):
            return body
        if encoding not in ("gzip", "deflate"):
            self._error(415, f"Content-Encoding {encoding!r} is not supported; use gzip")
            return None
        try:
            inflated = _inflate(body, limit, 31 if encoding == "gzip" else 15)
        except zlib.error as e:
            self._error(400, f"the {encoding} body cannot be decompressed ({e})")
            return None
        if inflated is None:
            self._error(413, f"the body decompresses to more than the limit of {limit} bytes")
        return inflated


class Receiver:
    """An OTLP/HTTP trace receiver writing into the spool of the store at `store_dir`.

    It listens as soon as it is made (so `port` is known, even for ``port=0``);
    `start` serves in a background thread and `stop` shuts down cleanly. Anything
    but a loopback `host` needs a `token`, which every request must then present
    as ``Authorization: Bearer <token>``. At most `max_inflight` requests are
    handled at once and `max_connections` connections kept open, at most
    `max_per_address` of them from one client address: beyond that the connection
    slowest to send its request head is closed to make room, and requests are shed
    with 503 and ``Retry-After`` only when every connection is in a request (see the
    module's docstring).
    `redact` masks secrets in what arrives before it is spooled, as an agent's
    tracer does (True: the default patterns; False: none; or a `Redactor` or any
    function of a string).

    Example::

        with Receiver(".agentreel", port=0, token="s3cret") as r:
            ...  # point an OTLP exporter at r.url
        print(r.stats)
    """

    def __init__(
        self,
        store_dir: str | os.PathLike[str],
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        token: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        max_inflight: int = DEFAULT_MAX_INFLIGHT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_per_address: int = DEFAULT_MAX_PER_ADDRESS,
        redact: bool | Callable[[str], str] = True,
    ) -> None:
        token = token or None
        redactor = redactor_from(redact)
        if token is None and not is_loopback(host):
            raise ConfigError(
                f"refusing to listen on {host} without a token: anything but a loopback "
                f"address needs --token or AGENTREEL_TOKEN"
            )
        if max_body_bytes < 1:
            raise ConfigError(f"max_body_bytes={max_body_bytes} must be at least 1")
        if max_inflight < 1 or max_connections < max_inflight:
            raise ConfigError(
                f"max_inflight={max_inflight} must be at least 1 and at most "
                f"max_connections={max_connections}"
            )
        if max_per_address < 1:
            raise ConfigError(f"max_per_address={max_per_address} must be at least 1")
        max_per_address = min(max_per_address, max_connections)
        try:
            spooler = Spooler(SpoolPaths(store_dir), heartbeat=True, redact=redactor)
        except OSError as e:
            raise ConfigError(
                f"cannot create the spool in {store_dir}: {e.strerror or e}"
            ) from None
        try:
            self._server = _Server(
                (host, port),
                spooler,
                token,
                max_body_bytes,
                max_inflight,
                max_connections,
                max_per_address,
            )
        except OSError as e:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {e.strerror or e}; pick another --host or --port"
            ) from None
        self.store_dir = Path(store_dir)
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The traces endpoint, e.g. ``http://127.0.0.1:4318/v1/traces``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{TRACES_PATH}"

    @property
    def stats(self) -> ReceiverStats:
        with self._server._lock:
            return ReceiverStats(**self._server.stats.as_dict())

    def start(self) -> Receiver:
        """Serve in a background thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="agentreel-receiver",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, let requests in flight finish (up to `timeout`), close."""
        if self._stopped:
            return
        self._stopped = True
        self._server.stopping = True
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout)
        self._server.drain_connections(timeout)
        self._server.server_close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
