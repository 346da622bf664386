"""httpx's transport seam: record each HTTP exchange with a model API as a replayable LLM step.

The OpenAI and Anthropic Python clients send every request through an httpx
client, and both take one (``http_client=``). Newer releases of both are built on
``httpx2``, httpx's successor with the same interface (Anthropic's accepts only an
``httpx2`` client); the transports serve either: each answers a request with a
response of the request's own package. `ReplayableTransport` and
`AsyncReplayableTransport` wrap the transport underneath (httpx's own seam, no
monkey-patching): each request is recorded as an ``@agentreel.llm`` step named
``http`` whose arguments are the method, URL and body (parsed JSON when it is
JSON; headers are left out, so API keys never reach the store), and whose result
is the status, content type and body. In ``agentreel replay`` the recorded
response is served back and the wrapped transport is never called.

Example::

    import httpx, openai
    from agentreel.httpx import ReplayableTransport

    client = openai.OpenAI(http_client=httpx.Client(transport=ReplayableTransport()))

    import anthropic, httpx2

    client = anthropic.Anthropic(http_client=httpx2.Client(transport=ReplayableTransport()))

Streamed (server-sent events) responses are read whole before they are returned.
"""

from __future__ import annotations

import contextvars
import json
import sys
from collections.abc import Callable
from typing import Any

import httpx

from agentreel.tracer.seams import current_span, extract_llm_response, llm

__all__ = ["AsyncReplayableTransport", "ReplayableTransport"]

_send: contextvars.ContextVar[Callable[[], Any]] = contextvars.ContextVar("agentreel_httpx_send")


def _body(content: bytes, content_type: str) -> Any:
    if "json" in content_type:
        try:
            return json.loads(content)
        except ValueError:
            pass
    return content.decode("utf-8", errors="replace")


def _request_args(request: httpx.Request) -> dict[str, Any]:
    return {
        "method": request.method,
        "url": str(request.url),
        "body": _body(request.read(), request.headers.get("content-type", "")),
    }


def _recorded(response: httpx.Response, content: bytes) -> dict[str, Any]:
    ctype = response.headers.get("content-type", "")
    return {"status": response.status_code, "content_type": ctype, "body": _body(content, ctype)}


def _package(request: Any) -> Any:
    """The httpx-like package a request comes from (``httpx`` or ``httpx2``)."""
    return sys.modules[type(request).__module__.partition(".")[0]]


def _response(data: dict[str, Any], request: httpx.Request) -> httpx.Response:
    body = data.get("body")
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    headers = {"content-type": data.get("content_type") or "application/json"}
    response: httpx.Response = _package(request).Response(
        int(data["status"]), headers=headers, content=content, request=request
    )
    return response


@llm(name="http")
def _exchange(method: str, url: str, body: Any) -> dict[str, Any]:
    result: dict[str, Any] = _send.get()()
    current_span().set_attributes(extract_llm_response(result["body"]))  # tokens, model
    return result


@llm(name="http")
async def _async_exchange(method: str, url: str, body: Any) -> dict[str, Any]:
    result: dict[str, Any] = await _send.get()()
    current_span().set_attributes(extract_llm_response(result["body"]))
    return result


class ReplayableTransport(httpx.BaseTransport):
    """An httpx transport that records each exchange for, and serves it in, replay."""

    def __init__(self, wrapped: httpx.BaseTransport | None = None) -> None:
        # Without one, the transport underneath is made at the first request, from the
        # request's own package: an httpx2 client needs an httpx2 transport.
        self.wrapped = wrapped

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        def send() -> dict[str, Any]:
            if self.wrapped is None:
                self.wrapped = _package(request).HTTPTransport()
            response = self.wrapped.handle_request(request)
            try:
                return _recorded(response, response.read())
            finally:
                response.close()

        token = _send.set(send)
        try:
            data = _exchange(**_request_args(request))
        finally:
            _send.reset(token)
        return _response(data, request)

    def close(self) -> None:
        if self.wrapped is not None:
            self.wrapped.close()


class AsyncReplayableTransport(httpx.AsyncBaseTransport):
    """The `ReplayableTransport` of `httpx.AsyncClient` (``openai.AsyncOpenAI`` and the like)."""

    def __init__(self, wrapped: httpx.AsyncBaseTransport | None = None) -> None:
        self.wrapped = wrapped

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async def send() -> dict[str, Any]:
            if self.wrapped is None:
                self.wrapped = _package(request).AsyncHTTPTransport()
            response = await self.wrapped.handle_async_request(request)
            try:
                return _recorded(response, await response.aread())
            finally:
                await response.aclose()

        token = _send.set(send)
        try:
            data = await _async_exchange(**_request_args(request))
        finally:
            _send.reset(token)
        return _response(data, request)

    async def aclose(self) -> None:
        if self.wrapped is not None:
            await self.wrapped.aclose()
