"""Hooks: the one place a feature wraps a run, a model request or a tool call.

Subclass ``Hooks`` and override what you need; pass instances as
``Agent(..., hooks=[...])`` or per run as ``agent.run(..., hooks=[...])`` (the agent's
hooks first, then the run's; the first hook is the outermost)::

    class PrintUsage(Hooks):
        async def wrap_model_request(self, run, request, handler):
            response = await handler(request)
            print(f"turn {run.turn}: {response.usage.input_tokens} in, "
                  f"{response.usage.output_tokens} out")
            return response

- ``wrap_run(run)``: an async context manager around the whole run (it sees the error
  that ends a run; ``run.result`` is set when it succeeds).
- ``wrap_model_request(run, request, handler)``: around each model request. Call
  ``await handler(request)`` to send it (a changed copy if you like), raise to refuse it
  (an ``AgentkitError`` ends the run and carries the conversation), or return a
  ``ModelResponse`` of your own without calling the handler.
- ``wrap_tool_call(run, invocation, handler)``: around each tool call, with the
  arguments already validated (``invocation.args`` is exactly what runs). Call
  ``await handler(invocation)``, pass a changed copy, return a ``ToolResult`` yourself,
  raise ``ModelRetry`` to send feedback to the model, or raise anything else to end
  the run. An exception from the tool itself comes back as an error ``ToolResult``.
- ``on_event(run, event)``: every run event, in order, streamed or not.

Only the methods a hook overrides are called; a run with no hooks pays nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from agentkit.events import AgentEvent, RunResult
from agentkit.messages import Attachment, ImagePart, MediaPart, Message, PausedRun, ToolCall
from agentkit.models.base import Model, ModelRequest, ModelResponse
from agentkit.tools import ResumedRun, Tool
from agentkit.usage import Usage

__all__ = [
    "Hooks",
    "RequestHandler",
    "RunInfo",
    "ToolHandler",
    "ToolInvocation",
    "ToolResult",
]


@dataclass(slots=True)
class RunInfo:
    """What a hook knows about the run: live views, updated as the run goes.

    Read them; do not change ``messages`` in place (change what is sent in
    ``wrap_model_request`` instead): the loop keeps the conversation valid to send again.
    """

    agent_name: str
    model: Model
    deps: Any
    messages: list[Message]
    """The conversation so far, history included."""
    new_message_index: int
    """Where this run's messages start in ``messages``."""
    usage: Usage = field(default_factory=Usage)
    """Usage of the run so far."""
    turn: int = 0
    """The number of model requests sent so far (the current one included)."""
    result: RunResult[Any] | None = None
    """The run's result, once it has one."""
    reported: list[AgentEvent] = field(default_factory=list)
    """Events hooks reported and not given out yet (see ``report``)."""
    session: Any = None
    """The session the run loads its history from and stores its turn in (an
    ``agentkit.Session``), or ``None``."""

    def report(self, event: AgentEvent) -> None:
        """Give an event of a hook out in the run's events. Reported by a request hook, it
        comes after the request's answer (and its streamed deltas), before its
        ``ModelResponseEvent``; by a tool hook, after the turn's tools ran, before their
        ``ToolCallFinishedEvent``; by ``on_event`` of the ``FinalResultEvent``, just before
        that event. When a hook then ends the run with an error, what it reported is given
        out before the error."""
        self.reported.append(event)

    def take_reported(self) -> list[AgentEvent]:
        """The events reported and not given out yet, in order (the list is emptied)."""
        reported = self.reported
        if not reported:  # most requests and turns: no hook reported anything
            return []
        taken = reported.copy()
        reported.clear()
        return taken


@dataclass(frozen=True, slots=True)
class ToolInvocation:
    """A tool call about to run: the call as the model sent it, the tool, and the
    validated arguments that will be passed to it."""

    call: ToolCall
    tool: Tool[Any]
    args: dict[str, Any]
    resumed: ResumedRun | None = None
    """Set when the call resumes a paused agent-as-tool run (``Agent.as_tool``)."""


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool call gave: the content sent back to the model, and where it came from."""

    content: str
    images: tuple[ImagePart, ...] = ()
    is_error: bool = False
    value: Any = None
    """The tool's return value (``None`` when it failed or a hook answered)."""
    error: Exception | None = None
    """The exception the tool raised (``ModelRetry`` included), if it failed."""
    paused: PausedRun | None = None
    """Set when the call did not finish: an agent used as a tool paused for approvals.
    The call stays unanswered and the run pauses with the agent's requests."""
    attachments: tuple[Attachment, ...] = ()
    """Documents and audio clips the tool returned (they follow the tool messages, as
    images do)."""

    @classmethod
    def with_media(cls, content: str, media: Sequence[MediaPart], **fields: Any) -> ToolResult:
        """A result whose media (images, documents, audio) are sorted into their fields."""
        if not media:  # most tools return text or data
            return cls(content, **fields)
        images = tuple(m for m in media if isinstance(m, ImagePart))
        attachments = tuple(m for m in media if not isinstance(m, ImagePart))
        return cls(content, images, attachments=attachments, **fields)


RequestHandler = Callable[[ModelRequest], Awaitable[ModelResponse]]
"""Sends a model request on (to the next hook, then the model)."""
ToolHandler = Callable[[ToolInvocation], Awaitable[ToolResult]]
"""Runs a tool call on (through the next hook, then the tool)."""


class Hooks:
    """Extension points of a run; override any of the methods (see the module docs)."""

    def wrap_run(self, run: RunInfo) -> AbstractAsyncContextManager[None]:
        """An async context manager entered before the run's first request, exited at its end."""
        raise NotImplementedError  # never called unless overridden

    async def wrap_model_request(
        self, run: RunInfo, request: ModelRequest, handler: RequestHandler
    ) -> ModelResponse:
        """Around one model request: by default, send it unchanged."""
        return await handler(request)

    async def wrap_tool_call(
        self, run: RunInfo, invocation: ToolInvocation, handler: ToolHandler
    ) -> ToolResult:
        """Around one tool call: by default, run it unchanged."""
        return await handler(invocation)

    async def on_event(self, run: RunInfo, event: AgentEvent) -> None:
        """Observe one run event: by default, nothing."""
