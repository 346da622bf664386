"""The receiver's rules as an ASGI app under uvicorn: the candidate `bench_receiver.py` measures.

Only what the load and the attack exercise: ``POST /v1/traces`` in protobuf, the
token checked from the head, the body capped, at most `max_inflight` requests
decoded and spooled at once (in worker threads, as decoding holds the GIL), a
request that waits `QUEUE_WAIT_S` for a slot shed with 503 and ``Retry-After``.
Not part of agentreel: uvicorn is not one of its dependencies.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import uvicorn

from agentreel._redact import redactor_from
from agentreel._spool import SpoolPaths
from agentreel.store._otlp import OTLPDecodeError
from agentreel.store._otlp_protobuf import decode_protobuf
from agentreel.store._receiver import DEFAULT_MAX_BODY
from agentreel.store._receiver_conn import DEFAULT_MAX_INFLIGHT, QUEUE_WAIT_S, RETRY_AFTER_S
from agentreel.store._spooler import Spooler


def app_for(store_dir: Path, token: str | None, max_inflight: int) -> Any:
    spooler = Spooler(SpoolPaths(store_dir), heartbeat=True, redact=redactor_from(True))
    pool = ThreadPoolExecutor(max_inflight, thread_name_prefix="decode")
    slots: asyncio.Semaphore | None = None
    expected = f"Bearer {token}".encode() if token else None

    def take(body: bytes) -> bytes:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceResponse,
        )

        spooler.write(decode_protobuf(body))
        return ExportTraceServiceResponse().SerializeToString()

    async def answer(send: Any, status: int, body: bytes, extra: list[Any] | None = None) -> None:
        headers = [(b"content-type", b"application/x-protobuf"), *(extra or [])]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal slots
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if slots is None:
            slots = asyncio.Semaphore(max_inflight)
        headers = dict(scope["headers"])
        if expected is not None and not hmac.compare_digest(
            headers.get(b"authorization", b""), expected
        ):
            await answer(send, 401, b"")  # before any of the body is read
            return
        if scope["path"] != "/v1/traces" or scope["method"] != "POST":
            await answer(send, 404, b"")
            return
        size = int(headers.get(b"content-length", b"0") or 0)
        if size > DEFAULT_MAX_BODY:
            await answer(send, 413, b"")
            return
        chunks = []
        more = True
        while more:
            msg = await receive()
            chunks.append(msg.get("body", b""))
            more = msg.get("more_body", False)
        try:
            await asyncio.wait_for(slots.acquire(), QUEUE_WAIT_S)
        except TimeoutError:
            await answer(send, 503, b"", [(b"retry-after", str(RETRY_AFTER_S).encode())])
            return
        try:
            loop = asyncio.get_running_loop()
            body = await loop.run_in_executor(pool, take, b"".join(chunks))
        except OTLPDecodeError:
            await answer(send, 400, b"")
            return
        finally:
            slots.release()
        await answer(send, 200, body)

    return app


@contextlib.contextmanager
def serving(
    store_dir: Path,
    *,
    token: str | None = None,
    max_inflight: int = DEFAULT_MAX_INFLIGHT,
    limit_concurrency: int | None = None,
) -> Iterator[int]:
    """Serve on a free loopback port in a thread; yields the port."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app_for(store_dir, token, max_inflight),
        log_level="warning",
        limit_concurrency=limit_concurrency,
        backlog=1024,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.01)
    try:
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(30)
