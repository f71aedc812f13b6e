"""MCP sampling inside the run whose tool call asked for it (see ``agentkit.mcp``'s docs).

A server's sampling request becomes a ``ModelRequest`` (``sampling_request``), is sent by
``sampler`` (the SDK's callback) through the run's request hooks, checked against the
run's budget and counted in its usage (``_sample_in_run``); with no run, straight to the
sampling model.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp_types

from agentkit._errors import UsageLimitExceeded
from agentkit._run.state import Run
from agentkit.context import ContextWindow
from agentkit.limits import Ledger, UsageLimitsHook
from agentkit.messages import (
    AssistantMessage,
    ContentPart,
    ImagePart,
    Message,
    SystemMessage,
    TextPart,
    UserMessage,
)
from agentkit.models.base import Model, ModelRequest, ModelResponse, ModelSettings, complete

__all__ = ["CURRENT_CALL", "Call", "sampler", "sampling_request"]


@dataclass(eq=False)
class Call:
    """One tool call in flight on a server's connection: the run it is part of (``None``:
    called by hand), a budget refusal of a sampling request made for it, and the cancel
    scopes of the sampling requests made for it in the connection's task."""

    run: Run | None
    refused: UsageLimitExceeded | None = None
    scopes: set[anyio.CancelScope] = field(default_factory=set)


CURRENT_CALL: ContextVar[Call | None] = ContextVar("agentkit_mcp_call", default=None)
"""The MCP tool call this task runs (a 2026-era server's sampling requests are answered in
child tasks of the call, so they see it)."""


def sampler(label: str, model: Model, calls: list[Call]) -> Any:
    """The SDK's sampling callback for MCP server ``label``: each request the server makes
    goes to ``model``, as part of the run whose tool call made it; ``calls`` are the
    connection's calls in flight, oldest first."""

    async def sample(
        context: Any, params: mcp_types.CreateMessageRequestParams
    ) -> mcp_types.CreateMessageResult | mcp_types.ErrorData:
        request = sampling_request(params)
        call = CURRENT_CALL.get()
        if call is None or call not in calls:  # a 2025-era server: the oldest call
            call = calls[0] if calls else None
        try:
            if call is None or call.run is None:
                response = await complete(model, request)
            else:
                with anyio.CancelScope() as scope:
                    call.scopes.add(scope)
                    try:
                        response = await _sample_in_run(call.run, model, request, label)
                    finally:
                        call.scopes.discard(scope)
                if scope.cancelled_caught:
                    return mcp_types.ErrorData(
                        code=mcp_types.INTERNAL_ERROR,
                        message="The tool call this sampling request was made for has ended.",
                    )
        except UsageLimitExceeded as exc:  # the run ends with it when the call returns
            assert call is not None
            call.refused = call.refused or exc
            return mcp_types.ErrorData(
                code=mcp_types.INTERNAL_ERROR,
                message=f"The client refused the sampling request: the run's usage budget "
                f"({exc.limit}) does not allow it.",
            )
        except Exception as exc:  # the server gets an error answer; cancellation propagates
            return mcp_types.ErrorData(
                code=mcp_types.INTERNAL_ERROR,
                message=f"The client's model {model.name!r} could not answer the sampling "
                f"request of MCP server {label}: {type(exc).__name__}: {exc}",
            )
        stop = {"stop": "endTurn", "length": "maxTokens", "tool_calls": "toolUse"}
        finish = response.finish_reason
        return mcp_types.CreateMessageResult(
            role="assistant",
            content=mcp_types.TextContent(type="text", text=response.message.content or ""),
            model=response.model_name or model.name,
            stop_reason=stop.get(finish, finish) if finish is not None else "endTurn",
        )

    return sample


async def _sample_in_run(
    run: Run, model: Model, request: ModelRequest, label: str
) -> ModelResponse:
    """A sampling request as a request of ``run``: through its request hooks (but its
    budget and context-window hooks, which are about the agent's model), checked against
    its budget with ``model``'s worst case, and counted in its usage.

    The request gets a ledger of its own, chained to the run's (as a nested run's is):
    every budget above it is checked and charged, and a concurrent request of the run
    cannot take its worst case (``Ledger.sent``)."""
    ledger = Ledger(parent=run.ledger)

    async def send(sent: ModelRequest) -> ModelResponse:
        if ledger.limited:
            ledger.check_prices(model)  # a cost limit and an unpriced model: never sent
            try:
                sent, ledger.sent = ledger.admit(model, sent, run)
            except UsageLimitExceeded as exc:
                raise _refusal(exc, label, model) from None
        response = await complete(model, sent)
        ledger.record(response.usage)
        return response

    chain = run.hooks.request_chain(run, send, leave_out=(UsageLimitsHook, ContextWindow))
    return await chain(request)


def _refusal(exc: UsageLimitExceeded, label: str, model: Model) -> UsageLimitExceeded:
    """The budget's refusal, told as a refused sampling request."""
    case = exc.worst_case
    cost = "unpriced" if case.cost_usd is None else f"${case.cost_usd:.6f}"
    return UsageLimitExceeded(
        f"MCP server {label} asked the client's model {model.name!r} for a sampling request "
        f"that could pass a usage limit of the run ({exc.limit}): its worst case is "
        f"{case.input_tokens} input tokens + {case.output_tokens} output tokens (max_tokens, "
        f"set by the server), {cost}. It was not sent; the server got an error and the run "
        "ends here. Raise the limit, or leave the tool out (MCPServer.filtered(...)).",
        limit=exc.limit,
        usage=exc.usage,
        worst_case=case,
    )


def sampling_request(params: mcp_types.CreateMessageRequestParams) -> ModelRequest:
    """A server's sampling request as a model request (text and images; no tools)."""
    messages: list[Message] = []
    if params.system_prompt:
        messages.append(SystemMessage(content=params.system_prompt))
    for message in params.messages:
        blocks = message.content if isinstance(message.content, list) else [message.content]
        parts: list[ContentPart] = []
        for block in blocks:
            if isinstance(block, mcp_types.TextContent):
                parts.append(TextPart(text=block.text))
            elif isinstance(block, mcp_types.ImageContent) and message.role == "user":
                parts.append(ImagePart(url=f"data:{block.mime_type};base64,{block.data}"))
            else:
                parts.append(TextPart(text=f"[{block.type} content omitted]"))
        if message.role == "user":
            only_text = all(isinstance(p, TextPart) for p in parts)
            messages.append(
                UserMessage(
                    content="\n".join(p.text for p in parts if isinstance(p, TextPart))
                    if only_text
                    else tuple(parts)
                )
            )
        else:
            text = "\n".join(p.text for p in parts if isinstance(p, TextPart))
            messages.append(AssistantMessage(content=text))
    stop = tuple(params.stop_sequences) if params.stop_sequences else None
    settings = ModelSettings(
        max_tokens=params.max_tokens, temperature=params.temperature, stop=stop
    )
    return ModelRequest(messages=messages, settings=settings)
