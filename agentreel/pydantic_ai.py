"""pydantic-ai's model seam: record each model request as a replayable LLM step.

`ReplayableModel` wraps an agent's model (pydantic-ai's own `WrapperModel`, no
monkey-patching). Each request is recorded as an ``@agentreel.llm`` step named
``pydantic-ai`` whose arguments are the messages, settings and request
parameters as JSON (timestamps and run ids dropped, so the same conversation
asks the same thing twice), and whose result is the `ModelResponse` as JSON. In
``agentreel replay`` the recorded response is served back and the wrapped
model is never called.

Example::

    from pydantic_ai import Agent
    from agentreel.pydantic_ai import ReplayableModel

    agent = Agent(ReplayableModel("openai:gpt-4.1"), name="support")

Streamed requests (`run_stream`, `request_stream`) are recorded as an LLM span
with their usage and model, but not for replay: a replay plan of such a run says
that it cannot be replayed, and why.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pydantic
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, ModelResponse
from pydantic_ai.models import ModelRequestParameters, StreamedResponse
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

from agentreel.tracer.seams import NOT_REPLAYABLE, llm, span

__all__ = ["ReplayableModel"]

_VOLATILE = frozenset({"timestamp", "run_id", "conversation_id", "provider_response_id"})
_RESPONSE = pydantic.TypeAdapter(ModelResponse)
_PARAMETERS = pydantic.TypeAdapter(ModelRequestParameters)
_call: contextvars.ContextVar[Callable[[], Awaitable[ModelResponse]]] = contextvars.ContextVar(
    "agentreel_pydantic_ai_call"
)


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


@llm(name="pydantic-ai")
async def _model_request(
    messages: list[Any], settings: Any, parameters: Any, model: str
) -> dict[str, Any]:
    response = await _call.get()()
    out: dict[str, Any] = _RESPONSE.dump_python(response, mode="json")
    return out


class ReplayableModel(WrapperModel):
    """A pydantic-ai model whose requests are recorded for, and served by, replay.

    Wrap the agent's model (a `Model` or a model name such as ``"openai:gpt-4.1"``).
    """

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        wrapped = self.wrapped

        def call() -> Awaitable[ModelResponse]:
            return wrapped.request(messages, model_settings, model_request_parameters)

        token = _call.set(call)
        try:
            data = await _model_request(
                _strip(ModelMessagesTypeAdapter.dump_python(messages, mode="json")),
                _strip(dict(model_settings or {})),
                _strip(_PARAMETERS.dump_python(model_request_parameters, mode="json")),
                model=self.model_name,
            )
        finally:
            _call.reset(token)
        return _RESPONSE.validate_python(data)

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: Any = None,
    ) -> AsyncIterator[StreamedResponse]:
        """A streamed request: recorded with its usage and model, not served by replay."""
        reason = (
            "pydantic-ai streamed requests (run_stream) are not recorded for replay; "
            "run the agent with run() or run_sync() to replay it"
        )
        with span(
            f"chat {self.model_name}",
            kind="llm",
            attributes={NOT_REPLAYABLE: reason, "gen_ai.request.model": self.model_name},
        ) as handle:
            async with self.wrapped.request_stream(
                messages, model_settings, model_request_parameters, run_context
            ) as stream:
                yield stream
            usage: Any = stream.usage  # a property in pydantic-ai 2, a method before
            usage = usage() if callable(usage) else usage
            handle.set_tokens(usage.input_tokens, usage.output_tokens)
            handle.set_model(response=stream.model_name)
