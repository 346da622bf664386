"""LangChain's chat-model seam: record each chat call as a replayable LLM step.

`ReplayableChatModel` is a LangChain `BaseChatModel` that wraps another (the
framework's own interface, no monkey-patching), so it works wherever a chat
model does, LangGraph graphs included. Each call is recorded as an
``@agentreel.llm`` step named ``langchain`` whose arguments are the messages
(without their ids, which LangGraph makes up afresh) and the call's options
(bound tools, stop words), and whose result is the `ChatResult` as JSON, with
the token usage and model name the wrapped model reported (LangChain's
``usage_metadata`` and ``model_name``) beside it, so the call is counted and
priced. In
``agentreel replay`` the recorded result is served back and the wrapped model is
never called.

Example::

    from langchain_openai import ChatOpenAI
    from langgraph.prebuilt import create_react_agent
    from agentreel.langchain import ReplayableChatModel

    graph = create_react_agent(ReplayableChatModel(wrapped=ChatOpenAI()), tools=[search])

`propagate_context` is for programs that set up OpenInference's LangChain
instrumentation themselves (exporting OTLP to ``agentreel serve``, say):
LangChain's spans are never made current, so without it an OpenAI client or a
decorated tool called in a graph node starts a trace (a run) of its own.
``agentreel.instrument()`` and ``agentreel record`` do this already.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, messages_from_dict, messages_to_dict
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool

from agentreel.tracer.seams import bridge_langchain_context, llm

__all__ = ["ReplayableChatModel", "propagate_context"]


def propagate_context() -> None:
    """Nest what LangChain runnables call under their OpenInference spans (call once).

    Example::

        from openinference.instrumentation.langchain import LangChainInstrumentor
        from agentreel.langchain import propagate_context

        LangChainInstrumentor().instrument(tracer_provider=provider)
        propagate_context()
    """
    bridge_langchain_context()


_call: contextvars.ContextVar[Callable[[], Any]] = contextvars.ContextVar("agentreel_lc_call")


def _messages(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    out = []
    for m in messages_to_dict(messages):
        data = {k: v for k, v in m["data"].items() if k != "id"}
        out.append({"type": m["type"], "data": data})
    return out


def _usage_and_model(result: ChatResult) -> dict[str, Any]:
    """The call's usage and model, where the wrapped model reported them, as `@llm` reads them."""
    out: dict[str, Any] = {}
    tokens = [
        u
        for g in result.generations
        if isinstance(u := getattr(g.message, "usage_metadata", None), dict)
    ]
    if tokens:
        out["usage"] = {
            "input_tokens": sum(int(u.get("input_tokens") or 0) for u in tokens),
            "output_tokens": sum(int(u.get("output_tokens") or 0) for u in tokens),
        }
    for meta in [result.llm_output or {}] + [
        getattr(g.message, "response_metadata", None) or {} for g in result.generations
    ]:
        model = meta.get("model_name") or meta.get("model")
        if isinstance(model, str):
            out["model"] = model
            break
    return out


def _dump(result: ChatResult) -> dict[str, Any]:
    return {
        "generations": [
            {
                "message": messages_to_dict([g.message])[0],
                "generation_info": g.generation_info,
            }
            for g in result.generations
        ],
        "llm_output": result.llm_output,
        **_usage_and_model(result),
    }


def _load(data: dict[str, Any]) -> ChatResult:
    return ChatResult(
        generations=[
            ChatGeneration(
                message=messages_from_dict([g["message"]])[0],
                generation_info=g.get("generation_info"),
            )
            for g in data["generations"]
        ],
        llm_output=data.get("llm_output"),
    )


@contextlib.contextmanager
def _inside_run_span(run_manager: Any) -> Iterator[None]:
    """Make OpenInference's span of this chat call, when it records one, the current span.

    LangChain's OpenInference tracer opens a span per chat-model call but never makes
    it current, so the step recorded here would stand beside it: two records of one
    call, side by side, that neither the usage rule nor a replay plan could tell are
    one. Made current, the step nests inside it.
    """
    module = sys.modules.get("openinference.instrumentation.langchain")
    span = None
    if module is not None and run_manager is not None:
        inst = module.LangChainInstrumentor()
        if inst.is_instrumented_by_opentelemetry:
            span = inst.get_span(run_manager.run_id)
    if span is None:
        yield
        return
    from opentelemetry import context, trace

    token = context.attach(trace.set_span_in_context(span))
    try:
        yield
    finally:
        context.detach(token)


@llm(name="langchain")
def _chat(messages: list[dict[str, Any]], options: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = _dump(_call.get()())
    return result


@llm(name="langchain")
async def _achat(messages: list[dict[str, Any]], options: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = _dump(await _call.get()())
    return result


class ReplayableChatModel(BaseChatModel):
    """A LangChain chat model whose calls are recorded for, and served by, replay."""

    wrapped: BaseChatModel

    @property
    def _llm_type(self) -> str:
        return f"agentreel-replayable-{self.wrapped._llm_type}"

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (as OpenAI-format tool schemas, which the wrapped model receives)."""
        formatted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        token = _call.set(lambda: self.wrapped._generate(messages, stop=stop, **kwargs))
        try:
            with _inside_run_span(run_manager):
                data = _chat(_messages(messages), {"stop": stop, **kwargs})
        finally:
            _call.reset(token)
        return _load(data)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        token = _call.set(lambda: self.wrapped._agenerate(messages, stop=stop, **kwargs))
        try:
            with _inside_run_span(run_manager):
                data = await _achat(_messages(messages), {"stop": stop, **kwargs})
        finally:
            _call.reset(token)
        return _load(data)
