"""The receiver's connections: who gets in, who is closed to make room, who is shed.

Under load the receiver sheds rather than queues without bound, as the OTLP/HTTP
specification's throttling section asks: at most `max_inflight` requests are read,
decoded and spooled at once; one that finds every slot taken waits up to
`QUEUE_WAIT_S` for one, then gets ``503 Service Unavailable`` with
``Retry-After: 1`` (OTLP exporters retry it after that delay). So memory stays
bounded by about `max_inflight` request bodies, whatever the number of senders.

When a new connection would pass `max_connections`, or `max_per_address` from one
client address, the connection that has waited longest for a head it has not
finished (from that address first) is closed to make room: a well-behaved exporter
sends its head in one piece, so the room always goes to the newcomer, while a slow
client loses its oldest connections. Only when every connection is inside a request
is a new one answered 503 with ``Retry-After`` at once. The deadlines each
connection has for its head and body are store/_receiver_http.py's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from agentreel.store._receiver_stats import ReceiverStats
from agentreel.store._spooler import Spooler

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_INFLIGHT",
    "DEFAULT_MAX_PER_ADDRESS",
    "QUEUE_WAIT_S",
    "RETRY_AFTER_S",
]

log = logging.getLogger("agentreel")

#: Requests read, decoded and spooled at once (decoding holds the GIL: more buys nothing).
DEFAULT_MAX_INFLIGHT = 4
#: Open connections (one thread each); more are answered 503 and closed on accept.
DEFAULT_MAX_CONNECTIONS = 256
#: Open connections from one client address; a new one closes that address's slowest.
DEFAULT_MAX_PER_ADDRESS = 64
#: How long a request waits for an in-flight slot before it is shed with 503. Its body
#: stays unread in the socket meanwhile, so waiting costs no memory; a shed sender
#: waits `RETRY_AFTER_S` and sends the whole body again, so shedding a burst the
#: receiver would have served a moment later only delays it.
QUEUE_WAIT_S = 2.0
#: Seconds a shed sender is asked to wait (``Retry-After``) before it retries.
RETRY_AFTER_S = 1


class _Conn:
    """One open connection: its client address, and since when it waits for a head."""

    __slots__ = ("address", "sock", "waiting_since")

    def __init__(self, sock: socket.socket, address: str, now: float) -> None:
        self.sock = sock
        self.address = address
        #: monotonic time it began waiting for a request head; None while in a request
        self.waiting_since: float | None = now


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
        handler: type[BaseHTTPRequestHandler],
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
        super().__init__(address, handler)

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
