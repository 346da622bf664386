"""An OTLP/HTTP trace receiver on the standard library.

`Receiver` answers ``POST /v1/traces`` (protobuf or JSON, optionally gzip) as the
OTLP/HTTP specification asks, and writes each request's spans to the spool as one
segment; ``POST /v1/logs`` takes GenAI events (log records carrying a span's
messages, store/_otlp_logs.py) the same way. Its request threads never open DuckDB: draining the spool into the
store is `agentreel.store._serve.serve`'s job (or any reader's).

This module owns the `Receiver` (its settings, start and stop). Its parts:
store/_receiver_conn.py (connections: admission, making room, shedding with 503),
store/_receiver_http.py (HTTP/1.1: head and body deadlines, reading the body, error
answers), store/_receiver_routes.py (the two paths, decoding and spooling, success
answers) and store/_receiver_stats.py (`ReceiverStats`).
A token is checked as soon as the head is in; the body of a request without the
right one is never read.

Example::

    with Receiver(".agentreel", port=0) as r:   # port 0: any free port
        print(r.url)                            # http://127.0.0.1:PORT/v1/traces
"""

from __future__ import annotations

import ipaddress
import os
import threading
from collections.abc import Callable
from pathlib import Path

from agentreel._errors import ConfigError
from agentreel._redact import redactor_from
from agentreel._spool import SpoolPaths
from agentreel.store._receiver_conn import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_INFLIGHT,
    DEFAULT_MAX_PER_ADDRESS,
    _Server,
)
from agentreel.store._receiver_routes import TRACES_PATH, _Handler
from agentreel.store._receiver_stats import ReceiverStats
from agentreel.store._spooler import Spooler

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MAX_BODY",
    "DEFAULT_PORT",
    "Receiver",
    "is_loopback",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4318
DEFAULT_MAX_BODY = 16 * 1024 * 1024


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses; any other name counts as exposed."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Receiver:
    """An OTLP/HTTP trace receiver writing into the spool of the store at `store_dir`.

    It listens as soon as it is made (so `port` is known, even for ``port=0``);
    `start` serves in a background thread and `stop` shuts down cleanly. Anything
    but a loopback `host` needs a `token`, which every request must then present
    as ``Authorization: Bearer <token>``. At most `max_inflight` requests are
    handled at once and `max_connections` connections kept open, at most
    `max_per_address` of them from one client address: beyond that the connection
    slowest to send its request head is closed to make room, and requests are shed
    with 503 and ``Retry-After`` only when every connection is in a request (see
    store/_receiver_conn.py).
    `redact` masks secrets in what arrives before it is spooled, as an agent's
    tracer does (True: the default patterns; False: none; or a `Redactor` or any
    function of a string). With `journal`, the spans of every request are appended
    to one open segment instead of a segment each, and reach the drain when `seal`
    is called (`serve` seals before each drain): a drain then reads a few large
    segments, not a file per request.

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
        journal: bool = False,
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
            spooler = Spooler(
                SpoolPaths(store_dir), heartbeat=True, redact=redactor, journal=journal
            )
        except OSError as e:
            raise ConfigError(
                f"cannot create the spool in {store_dir}: {e.strerror or e}"
            ) from None
        try:
            self._server = _Server(
                (host, port),
                _Handler,
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

    def seal(self) -> int:
        """With `journal`: hand the spans received so far to the drain; returns how many.

        Raises OSError when the spool refuses the segment; the spans wait for the next
        `seal` (a request answered is never dropped).
        """
        return self._server.spooler.seal()

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
