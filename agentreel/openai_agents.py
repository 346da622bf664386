"""The OpenAI Agents SDK's model seam: record each model call as a replayable LLM step.

`ReplayableModel` wraps the `Model` an agent runs on (the SDK's own interface,
no monkey-patching). Each `get_response` is recorded as an ``@agentreel.llm``
step named ``openai-agents`` whose arguments are the system instructions, the
input items, the model settings, the tools (name, description, parameter
schema), the output schema and the handoffs, and whose result is the
`ModelResponse` as JSON, with the wrapped model's name beside it (``model``, so
the call is priced). In ``agentreel replay`` the recorded response is served
back and the wrapped model is never called.

The seam sees model calls only: which agent made each, and the handoffs between
agents, are the SDK's tracing's to tell. So a `ReplayableModel` made while agentreel
records switches agentreel's ``openai-agents`` integration on (as
``agentreel.instrument("openai-agents")`` does), and the run reads as a tree of
agents, turns and handoffs with the model calls in it; such runs replay too. With the SDK's
tracing on, the seam opens the call's ``generation`` span itself, around its
step, and the wrapped model runs with tracing off: the SDK's span of the call
then holds the step, instead of standing beside it as a second record of the
same call.

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
from agents.tracing import SpanError, generation_span

from agentreel.tracer.seams import ensure_instrumented, llm

__all__ = ["ReplayableModel"]

_RESPONSE = pydantic.TypeAdapter(ModelResponse)
_call: contextvars.ContextVar[tuple[Callable[[], Awaitable[ModelResponse]], Any]] = (
    contextvars.ContextVar("agentreel_openai_agents_call")
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
    call, model = _call.get()
    out: dict[str, Any] = _RESPONSE.dump_python(await call(), mode="json")
    if isinstance(model, str):  # read back as the response model; replay ignores it
        out["model"] = model
    return out


class ReplayableModel(Model):
    """An Agents SDK model whose calls are recorded for, and served by, replay."""

    def __init__(self, wrapped: Model) -> None:
        self.wrapped = wrapped
        ensure_instrumented("openai-agents")  # the agents and handoffs around the calls

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
                ModelTracing.DISABLED,  # the generation span below is the call's
                previous_response_id=previous_response_id,
                conversation_id=conversation_id,
                prompt=prompt,
            )

        model = getattr(self.wrapped, "model", None)
        token = _call.set((call, model))
        try:
            with generation_span(
                model=str(model) if model is not None else None,
                disabled=tracing.is_disabled(),
            ) as span:
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
                except Exception as e:
                    span.set_error(SpanError(message=f"{type(e).__name__}: {e}", data=None))
                    raise
                usage = data.get("usage") or {}
                span.span_data.usage = {
                    "input_tokens": usage.get("input_tokens", 0),
                    "output_tokens": usage.get("output_tokens", 0),
                }
                if tracing.include_data():
                    span.span_data.output = data.get("output")
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
