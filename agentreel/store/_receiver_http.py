"""HTTP/1.1 for the receiver: deadlines for a request's head and body, reading and
inflating the body, and answers (errors as a ``google.rpc.Status``).

A client that opens connections and sends nothing, or its request head a byte at a
time, must not lock out the exporters that send theirs at once. So a connection
has `HEAD_TIMEOUT_S` in all to deliver a whole request head (counted from when it
was accepted, or from the end of its previous answer), at most `MAX_HEAD_BYTES` of
it, and `BODY_TIMEOUT_S` in all for the body. What a request is routed to, and
what a successful one is answered, is store/_receiver_routes.py's.
"""

from __future__ import annotations

import contextlib
import hmac
import io
import json
import logging
import socket
import time
import zlib
from http.server import BaseHTTPRequestHandler
from typing import Any

from agentreel.store._receiver_conn import _Server

__all__ = ["BODY_TIMEOUT_S", "HEAD_TIMEOUT_S", "MAX_HEAD_BYTES", "SEND_TIMEOUT_S"]

log = logging.getLogger("agentreel")

#: Seconds a connection has, in all, to deliver a request head (idle keep-alive included).
HEAD_TIMEOUT_S = 10.0
#: Bytes a request head may take (an OTLP exporter's takes well under 1 KiB).
MAX_HEAD_BYTES = 64 * 1024
#: Seconds a request has, in all, to deliver its body once its head is in.
BODY_TIMEOUT_S = 30.0
#: Seconds an answer may take to be sent before the connection is dropped.
SEND_TIMEOUT_S = 30.0

_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"
# google.rpc.Code values for the Status bodies of error responses
_GRPC_CODES = {400: 3, 401: 16, 404: 5, 405: 12, 411: 3, 413: 8, 415: 3, 500: 13, 503: 14}


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


class _HTTPHandler(BaseHTTPRequestHandler):
    """A connection's requests: `_handle` times the body, `_handle_counted` answers it."""

    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "agentreel"
    timeout = SEND_TIMEOUT_S  # for sending answers; reads run against _DeadlineReader's clock
    # An answer is written as its head, then its body: with Nagle's algorithm the body
    # waited for the client's delayed acknowledgement of the head, 40 ms on Linux, so
    # a sender posting one request at a time got 23 answers a second at most.
    disable_nagle_algorithm = True
    _body_done = False

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
        """Route and answer the request whose head is in: store/_receiver_routes.py."""
        raise NotImplementedError

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
