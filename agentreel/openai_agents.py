"""The OpenAI Agents SDK's model seam: record each model call as a replayable LLM step.

`ReplayableModel` wraps the `Model` an agent runs on (the SDK's own interface,
no monkey-patching). Each `get_response` is recorded as an ``@agentreel.llm``
step named ``openai-agents`` whose arguments are the system instructions, the
input items, the model settings, the tools (name, description, parameter
schema), the output schema and the handoffs, and whose result is the
`ModelResponse` as JSON. In ``agentreel replay`` the recorded response is served
back and the wrapped model is never called.

Example::

    from agents import Agent, OpenAIResponsesModel
    from agentreel.openai_agents import ReplayableModel

    agent = Agent(name="triage", model=ReplayableModel(OpenAIResponsesModel(...)))

Streamed calls (`stream_response`) pass through unrecorded.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pydantic
from agents.agent_output import AgentOutputSchemaBase
from agents.handoffs import Handoff
from agents.items import ModelResponse, TResponseInputItem, TResponseStreamEvent
from agents.model_settings import ModelSettings
from agents.models.interface import Model, ModelTracing
from agents.tool import Tool

from agentreel.tracer._decorators import llm

__all__ = ["ReplayableModel"]

_RESPONSE = pydantic.TypeAdapter(ModelResponse)
_call: contextvars.ContextVar[Callable[[], Awaitable[ModelResponse]]] = contextvars.ContextVar(
    "agentreel_openai_agents_call"
)


def _tool(t: Tool) -> dict[str, Any]:
    return {
        "name": getattr(t, "name", type(t).__name__),
        "description": getattr(t, "description", None),
        "parameters": getattr(t, "params_json_schema", None),
    }


def _schema(s: AgentOutputSchemaBase | None) -> Any:
    if s is None or s.is_plain_text():
        return None
    return s.json_schema()


@llm(name="openai-agents")
async def _model_call(
    system: str | None,
    input: Any,
    settings: dict[str, Any],
    tools: list[dict[str, Any]],
    output_schema: Any,
    handoffs: list[str],
    previous_response_id: str | None,
    conversation_id: str | None,
) -> dict[str, Any]:
    response = await _call.get()()
    out: dict[str, Any] = _RESPONSE.dump_python(response, mode="json")
    return out


class ReplayableModel(Model):
    """An Agents SDK model whose calls are recorded for, and served by, replay."""

    def __init__(self, wrapped: Model) -> None:
        self.wrapped = wrapped

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: Any = None,
    ) -> ModelResponse:
        def call() -> Awaitable[ModelResponse]:
            return self.wrapped.get_response(
                system_instructions,
                input,
                model_settings,
                tools,
                output_schema,
                handoffs,
                tracing,
                previous_response_id=previous_response_id,
                conversation_id=conversation_id,
                prompt=prompt,
            )

        token = _call.set(call)
        try:
            data = await _model_call(
                system_instructions,
                input,
                model_settings.to_json_dict(),
                [_tool(t) for t in tools],
                _schema(output_schema),
                [h.tool_name for h in handoffs],
                previous_response_id,
                conversation_id,
            )
        finally:
            _call.reset(token)
        return _RESPONSE.validate_python(data)

    def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: Any = None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        return self.wrapped.stream_response(
            system_instructions,
            input,
            model_settings,
            tools,
            output_schema,
            handoffs,
            tracing,
            previous_response_id=previous_response_id,
            conversation_id=conversation_id,
            prompt=prompt,
        )
