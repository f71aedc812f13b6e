"""The loop's one request point: a model request through the hooks, as run events.

``send_whole`` sends an unstreamed request through the hook chain to ``complete()``
and returns its ``ModelResponse``; ``response_events`` are the events that go out
before it. ``send`` yields the run events of a streamed request (text and tool-call
deltas, partial outputs), then those events, then the ``ModelResponse``. With no
request hooks, the model's deltas are translated as they come. Through request hooks,
the chain's coroutine is driven from here and hands the request back to be streamed
here, in the same task (see ``_through_hooks``).
"""

from __future__ import annotations

import types
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Coroutine,
    Generator,
    Iterator,
)
from typing import Any

import anyio

from agentkit._run.plan import RunPlan
from agentkit._run.state import Run
from agentkit.events import (
    AgentEvent,
    ModelFallbackEvent,
    ModelWarningEvent,
    PartialOutputEvent,
    TextDeltaEvent,
    ThinkingDeltaEvent,
    ToolCallArgsDeltaEvent,
    ToolCallStartedEvent,
)
from agentkit.models.base import (
    ModelRequest,
    ModelResponse,
    ModelStreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    _close,
    _response_deltas,
    complete,
    stream_events,
)
from agentkit.output import OUTPUT_TOOL_NAME

__all__ = ["response_events", "send", "send_whole"]


async def send_whole(run: Run, request: ModelRequest) -> ModelResponse:
    """One unstreamed model request, through the hook chain to ``complete()``: its
    response (no generator per request: the events before it are ``response_events``)."""
    model, hooks = run.model, run.hooks
    if hooks.requests:
        return await hooks.request_chain(run, lambda r: complete(model, r))(request)
    return await complete(model, request)


def response_events(run: Run, response: ModelResponse) -> Iterator[AgentEvent]:
    """The events that go out before ``response``: a ``ModelFallbackEvent`` for each
    model that failed before one answered, its warnings, then what request hooks
    reported (taken once the events before have been handed out)."""
    for switch in response.fallbacks:
        yield ModelFallbackEvent(switch.from_model, switch.to_model, switch.error)
    for warning in response.warnings:
        yield ModelWarningEvent(warning)
    yield from run.take_reported()


def send(run: Run, request: ModelRequest) -> AsyncGenerator[AgentEvent | ModelResponse, None]:
    """One streamed model request: its run events, then its response (preceded by its
    ``response_events``). (A plain function returning the generator that does the work:
    no generator in between for every delta to pass through.)"""
    translate = _Translator(run.plan)
    if run.hooks.requests:
        return _through_hooks(run, request, translate)
    return _direct(run, request, translate)


async def _direct(
    run: Run, request: ModelRequest, translate: _Translator
) -> AsyncGenerator[AgentEvent | ModelResponse, None]:
    """A streamed request with no request hooks: the model's deltas translated as they come."""
    async with _closing(stream_events(run.model, request)) as events:
        async for event in events:
            for out in translate(event):
                if isinstance(out, ModelResponse):
                    for before in response_events(run, out):
                        yield before
                yield out


async def _through_hooks(
    run: Run, request: ModelRequest, translate: _Translator
) -> AsyncGenerator[AgentEvent | ModelResponse, None]:
    """A streamed request through the hook chain, in this task, deltas given out live.

    The hooks are coroutines that await a handler, while the deltas must leave through
    this generator. So the chain's coroutine is driven here, step by step: whatever it
    waits on (an event-loop trap: a socket, a sleep, a lock) is passed up unchanged to
    the task running this generator, and its answer (or exception, cancellation
    included) is passed back down. When the chain reaches the model, the innermost
    handler hands the request over (``_Handoff``); it is streamed here, its deltas go
    out as they come, and the response (or the model's error) goes back to the chain,
    whose hooks see it as the handler's result. No extra task, no channel.
    """

    async def innermost(req: ModelRequest) -> ModelResponse:
        response: ModelResponse = await _Handoff(req)
        return response

    chain = _as_coroutine(run.hooks.request_chain(run, innermost)(request))
    step = _Step()
    seen_delta = closing = False
    try:
        while True:
            trap = step.advance(chain)  # raises what the chain ends with
            if step.done:
                break
            if not isinstance(trap, _Handoff):
                try:
                    step.value = await _pass_up(trap)
                except BaseException as exc:  # cancellation too: the chain must see it
                    step.error = exc
            elif closing:  # the stream is being closed: no more requests
                step.error = GeneratorExit()
            else:
                try:
                    async with _closing(stream_events(run.model, trap.request)) as events:
                        async for event in events:
                            if isinstance(event, ModelResponse):
                                step.value = event
                                for out in translate.flush():  # the last partial output
                                    yield out
                            else:
                                seen_delta = True
                                for out in translate(event):
                                    yield out
                except GeneratorExit as exc:  # the consumer closed the stream
                    closing, step.error = True, exc
                except BaseException as exc:  # the model's error, or a cancel: hooks see it
                    step.error = exc
    finally:
        if not step.done:  # an error of our own: unwind the chain's hooks
            await _unwind(chain, step)
    if closing:
        return
    response: ModelResponse = step.value
    if not seen_delta:  # a hook answered itself: the deltas come from its answer
        for delta in _response_deltas(response):
            for out in translate(delta):
                yield out
        for out in translate.flush():
            yield out
    for before in response_events(run, response):
        yield before
    yield response


def _as_coroutine(awaitable: Awaitable[ModelResponse]) -> Coroutine[Any, Any, ModelResponse]:
    if isinstance(awaitable, Coroutine):
        return awaitable

    async def wrapper() -> ModelResponse:
        return await awaitable

    return wrapper()


class _Handoff:
    """Awaited by the innermost handler: hands the request to ``_through_hooks``."""

    __slots__ = ("request",)

    def __init__(self, request: ModelRequest) -> None:
        self.request = request

    def __await__(self) -> Generator[Any, Any, Any]:
        return (yield self)


@types.coroutine
def _pass_up(trap: Any) -> Generator[Any, Any, Any]:
    """Yield what the chain waits on to the task's runner; return its answer."""
    return (yield trap)


class _Step:
    """Where the driven chain is: the value or error to resume it with, or its result."""

    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None

    def advance(self, chain: Coroutine[Any, Any, Any]) -> Any:
        """Resume the chain; what it waits on next (``done`` and ``value`` when it ended)."""
        error, value = self.error, self.value
        self.error = self.value = None
        try:
            return chain.throw(error) if error is not None else chain.send(value)
        except StopIteration as stop:
            self.done, self.value = True, stop.value
            return None
        except BaseException:  # the chain ended with this error: it propagates
            self.done = True
            raise


async def _unwind(chain: Coroutine[Any, Any, Any], step: _Step) -> None:
    """Let the chain's hooks run their cleanup (awaits included) after an early exit.

    Not shielded: a hook's own cancel scopes are still open in this task, and a scope
    opened here would break their order; a cancel during cleanup reaches the hooks, then
    goes on out (it is not swallowed for the error that ended the stream early).
    """
    step.error = GeneratorExit()
    while not step.done:
        try:
            trap = step.advance(chain)
        except anyio.get_cancelled_exc_class():  # a cancel during the cleanup goes on
            raise
        except BaseException:  # the chain ended (GeneratorExit, or its cleanup failed)
            return
        if isinstance(trap, _Handoff):  # a hook asked the model again: refuse
            step.error = GeneratorExit()
        elif not step.done:
            try:
                step.value = await _pass_up(trap)
            except BaseException as exc:
                step.error = exc


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
        elif isinstance(event, ThinkingDelta):
            if event.text:
                out.append(ThinkingDeltaEvent(event.text))
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
            out.extend(self.flush())  # the last partial output, before the response
            out.append(event)
        return out

    def flush(self) -> list[AgentEvent | ModelResponse]:
        """The last partial output, if deltas came after the last validation; called when
        the response arrives (here, or by ``_through_hooks``, whose responses go to the
        hook chain rather than through ``__call__``)."""
        out: list[AgentEvent | ModelResponse] = []
        if self.pending:
            self._validate(self.args if self.output_index is not None else self.text, out)
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
    """``aclosing`` for an async iterator that may not have ``aclose``, shielded (``_close``)."""

    __slots__ = ("events",)

    def __init__(self, events: AsyncIterator[ModelStreamEvent]) -> None:
        self.events = events

    async def __aenter__(self) -> AsyncIterator[ModelStreamEvent]:
        return self.events

    async def __aexit__(self, *exc_info: object) -> None:
        await _close(self.events)  # (not at all when it ran to its end)
