"""The loop's one request point: a model request through the hooks, as run events.

``send`` yields the run events of one request (text and tool-call deltas, partial
outputs, when streamed) and, last, the ``ModelResponse``. Unstreamed, the request goes
through the hook chain to ``complete()``. Streamed with no request hooks, the model's
deltas are translated as they come. Streamed through request hooks, the chain runs in a
child task and hands the request back to be streamed here (see ``_through_hooks``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

import anyio

from agentkit._plan import RunPlan, RunState
from agentkit.events import (
    AgentEvent,
    ModelFallbackEvent,
    PartialOutputEvent,
    TextDeltaEvent,
    ToolCallArgsDeltaEvent,
    ToolCallStartedEvent,
)
from agentkit.hooks import HookSet
from agentkit.models.base import (
    ModelRequest,
    ModelResponse,
    ModelStreamEvent,
    TextDelta,
    ToolCallDelta,
    complete,
    response_deltas,
    stream_events,
)
from agentkit.output import OUTPUT_TOOL_NAME

__all__ = ["send"]


async def send(
    plan: RunPlan, state: RunState, hooks: HookSet, request: ModelRequest
) -> AsyncGenerator[AgentEvent | ModelResponse, None]:
    """One model request: its run events if streamed, then its response (preceded by a
    ``ModelFallbackEvent`` for each model that failed before one answered)."""
    events = _send(plan, state, hooks, request)
    async with aclosing(events):
        async for item in events:
            if isinstance(item, ModelResponse):
                for switch in item.fallbacks:
                    yield ModelFallbackEvent(switch.from_model, switch.to_model, switch.error)
            yield item


async def _send(
    plan: RunPlan, state: RunState, hooks: HookSet, request: ModelRequest
) -> AsyncGenerator[AgentEvent | ModelResponse, None]:
    model = plan.model
    if not request.stream:
        if hooks.requests:
            chain = hooks.request_chain(state, lambda r: complete(model, r))
            yield await chain(request)
        else:
            yield await complete(model, request)
        return
    translate = _Translator(plan)
    if not hooks.requests:
        async with _closing(stream_events(model, request)) as events:
            async for event in events:
                for out in translate(event):
                    yield out
        return
    async for out in _through_hooks(plan, state, hooks, request, translate):
        yield out


async def _through_hooks(
    plan: RunPlan,
    state: RunState,
    hooks: HookSet,
    request: ModelRequest,
    translate: _Translator,
) -> AsyncIterator[AgentEvent | ModelResponse]:
    """A streamed request through the hook chain.

    The chain runs in a child task; when it reaches the model (the innermost handler), it
    hands the request to this generator, which streams it and gives its deltas out as they
    come (no hop between tasks per delta), then hands the response (or the error) back to
    the chain, whose hooks see it as the handler's result.
    """
    to_loop, from_chain = anyio.create_memory_object_stream[tuple[str, Any]](1)
    to_chain, from_loop = anyio.create_memory_object_stream[tuple[str, Any]](1)

    async def innermost(req: ModelRequest) -> ModelResponse:
        await to_loop.send(("send", req))
        kind, value = await from_loop.receive()
        if kind == "error":
            raise value
        response: ModelResponse = value
        return response

    chain = hooks.request_chain(state, innermost)

    async def run_chain() -> None:
        try:
            message: tuple[str, Any] = ("done", await chain(request))
        except Exception as exc:  # re-raised below, not as an exception group
            message = ("failed", exc)
        await to_loop.send(message)

    outcome: tuple[str, Any] = ("failed", None)
    seen_delta = False
    async with to_loop, from_chain, to_chain, from_loop, anyio.create_task_group() as tg:
        tg.start_soon(run_chain)
        while True:
            kind, value = await from_chain.receive()
            if kind != "send":
                outcome = (kind, value)
                break
            answer: tuple[str, Any]
            try:
                async with _closing(stream_events(plan.model, value)) as events:
                    async for event in events:
                        if isinstance(event, ModelResponse):
                            answer = ("ok", event)
                        else:
                            seen_delta = True
                            for out in translate(event):
                                yield out
            except Exception as exc:  # the chain's hooks see the model's error
                answer = ("error", exc)
            await to_chain.send(answer)
    kind, value = outcome
    if kind == "failed":
        raise value
    response: ModelResponse = value
    if not seen_delta:  # a hook answered itself: the deltas come from its answer
        for delta in response_deltas(response):
            for out in translate(delta):
                yield out
    yield response


class _Translator:
    """Model deltas to run events, with partial outputs of a structured answer.

    Validating the output so far costs time proportional to its length, so doing it on
    every delta is quadratic in the output's size. The partial output is validated when
    what arrived since the last validation is at least a quarter of what was validated
    then (so the total work stays linear: a geometric series), and once more when the
    response arrives if deltas came after the last validation, so the last partial output
    is never dropped.
    """

    __slots__ = (
        "args",
        "checked",
        "last_partial",
        "output_index",
        "pending",
        "plan",
        "started",
        "structured",
        "text",
    )

    def __init__(self, plan: RunPlan) -> None:
        self.plan = plan
        self.structured = not plan.config.output.is_text
        self.started: set[int] = set()
        self.text: list[str] = []
        self.args: list[str] = []
        self.output_index: int | None = None
        self.last_partial: Any = None
        self.pending = 0  # characters of output since the last validation
        self.checked = 0  # length of the output at the last validation

    def __call__(self, event: ModelStreamEvent) -> list[AgentEvent | ModelResponse]:
        plan = self.plan
        out: list[AgentEvent | ModelResponse] = []
        if isinstance(event, TextDelta):
            if event.text:
                out.append(TextDeltaEvent(event.text))
                if self.structured and plan.mode != "tool":
                    self.text.append(event.text)
                    self._grew(len(event.text), self.text, out)
        elif isinstance(event, ToolCallDelta):
            if event.index not in self.started and event.name:
                self.started.add(event.index)
                if event.name == OUTPUT_TOOL_NAME and plan.mode == "tool":
                    self.output_index = event.index
                out.append(
                    ToolCallStartedEvent(index=event.index, tool_call_id=event.id, name=event.name)
                )
            if event.arguments:
                out.append(ToolCallArgsDeltaEvent(index=event.index, delta=event.arguments))
                if event.index == self.output_index:
                    self.args.append(event.arguments)
                    self._grew(len(event.arguments), self.args, out)
        else:
            if self.pending:  # the last partial output, before the response
                self._validate(self.args if self.output_index is not None else self.text, out)
            out.append(event)
        return out

    def _grew(self, size: int, parts: list[str], out: list[AgentEvent | ModelResponse]) -> None:
        self.pending += size
        if self.pending * 4 >= self.checked:
            self._validate(parts, out)

    def _validate(self, parts: list[str], out: list[AgentEvent | ModelResponse]) -> None:
        source = "".join(parts)
        if len(parts) > 1:
            parts[:] = [source]
        self.checked = len(source)
        self.pending = 0
        current = self.plan.config.output.validate_partial(source)
        if current is not None and current != self.last_partial:
            self.last_partial = current
            out.append(PartialOutputEvent(current))


class _closing:
    """``aclosing`` for an async iterator that may not have ``aclose``, shielded."""

    __slots__ = ("events",)

    def __init__(self, events: AsyncIterator[ModelStreamEvent]) -> None:
        self.events = events

    async def __aenter__(self) -> AsyncIterator[ModelStreamEvent]:
        return self.events

    async def __aexit__(self, *exc_info: object) -> None:
        aclose = getattr(self.events, "aclose", None)
        if aclose is not None:
            with anyio.CancelScope(shield=True):
                await aclose()
