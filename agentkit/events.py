"""What a run produces: stream events as it goes, and the ``RunResult`` at the end.

``Agent.run_stream()`` yields these events; ``Agent.run()`` consumes the same
events and returns the ``RunResult`` carried by the last one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from agentkit._errors import ModelAPIError, RunPausedError
from agentkit.approval import ApprovalRequest
from agentkit.messages import Message
from agentkit.models.base import ModelResponse
from agentkit.usage import Usage

__all__ = [
    "AgentEvent",
    "AgentToolEvent",
    "ApprovalRequiredEvent",
    "ContextCompactedEvent",
    "ContextSummaryFailedEvent",
    "ContextTrimmedEvent",
    "FinalResultEvent",
    "GuardrailEvent",
    "HistoryRepairedEvent",
    "ModelFallbackEvent",
    "ModelResponseEvent",
    "ModelWarningEvent",
    "PartialOutputEvent",
    "RetryEvent",
    "RunResult",
    "TextDeltaEvent",
    "ThinkingDeltaEvent",
    "ToolCallArgsDeltaEvent",
    "ToolCallFinishedEvent",
    "ToolCallStartedEvent",
]

OutputT = TypeVar("OutputT")


_NO_OUTPUT: Any = object()


@dataclass(slots=True, init=False)
class RunResult(Generic[OutputT]):
    """The outcome of a run: its output, or the tool calls it paused for.

    A run paused for approvals has ``approvals_needed`` (``is_paused`` is true) and no
    output: ``output`` raises ``RunPausedError``. Resume it with
    ``agent.run(message_history=result.messages, approvals={...})``.
    """

    _output: OutputT
    messages: list[Message]
    """The whole conversation, history included; pass it as ``message_history`` to continue."""
    new_message_index: int
    """Where this run's messages start in ``messages`` (a resumed run starts at the
    paused turn, whose answers it rewrites in call order)."""
    usage: Usage
    """Requests, tokens and cost summed over this run (retries included)."""
    approvals_needed: tuple[ApprovalRequest, ...]
    """The tool calls waiting for a decision, when the run paused (else empty)."""

    def __init__(
        self,
        output: OutputT = _NO_OUTPUT,
        messages: list[Message] | None = None,
        new_message_index: int = 0,
        usage: Usage | None = None,
        approvals_needed: tuple[ApprovalRequest, ...] = (),
    ) -> None:
        self._output = output
        self.messages = messages if messages is not None else []
        self.new_message_index = new_message_index
        self.usage = usage if usage is not None else Usage()
        self.approvals_needed = tuple(approvals_needed)

    @property
    def output(self) -> OutputT:
        """The final output, validated against the agent's ``output_type``; raises
        ``RunPausedError`` when the run paused for approvals."""
        if self.approvals_needed:
            names = ", ".join(f"{r.tool_name} ({r.tool_call_id})" for r in self.approvals_needed)
            raise RunPausedError(
                f"The run paused before {names}: those calls need approval, so there is no "
                "output yet. Decide them and resume: agent.run(message_history="
                "result.messages, approvals={request: True or Denied('why'), ...}).",
                approvals_needed=self.approvals_needed,
                messages=self.messages,
            )
        return self._output

    @property
    def is_paused(self) -> bool:
        """Whether the run paused for approvals (``approvals_needed`` is not empty)."""
        return bool(self.approvals_needed)

    @property
    def new_messages(self) -> list[Message]:
        """The messages this run added."""
        return self.messages[self.new_message_index :]


@dataclass(frozen=True, slots=True)
class TextDeltaEvent:
    """Assistant text as it streams."""

    text: str


@dataclass(frozen=True, slots=True)
class ThinkingDeltaEvent:
    """A piece of the model's thinking as it streams: not part of the answer (shown
    apart, e.g. dimmed); the whole of it ends up in the answer's ``ThinkingPart``."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStartedEvent:
    """The model started a tool call (its name is known, its arguments may still stream)."""

    index: int
    tool_call_id: str | None
    name: str


@dataclass(frozen=True, slots=True)
class ToolCallArgsDeltaEvent:
    """A piece of a tool call's JSON arguments, as it streams."""

    index: int
    delta: str


@dataclass(frozen=True, slots=True)
class ModelResponseEvent:
    """A complete model answer (one per turn), before its tool calls run."""

    response: ModelResponse


@dataclass(frozen=True, slots=True)
class ToolCallFinishedEvent:
    """A tool call returned (or failed): ``content`` is what goes back to the model."""

    tool_call_id: str
    name: str
    arguments: str
    content: str
    is_error: bool


@dataclass(frozen=True, slots=True)
class RetryEvent:
    """The model made a fixable mistake; ``reason`` is the feedback sent back to it."""

    reason: str
    retries_left: int


@dataclass(frozen=True, slots=True)
class PartialOutputEvent:
    """The structured output so far, validated against a partial version of the output type."""

    output: Any


@dataclass(frozen=True, slots=True)
class FinalResultEvent:
    """The run is done; ``result`` is what ``Agent.run()`` returns."""

    result: RunResult[Any]


@dataclass(frozen=True, slots=True)
class AgentToolEvent:
    """An event of an agent run as a tool (``Agent.as_tool``), nested in its parent's stream.

    ``agent`` is the child agent's name, ``tool_call_id`` the parent's call that runs it,
    ``event`` the child's event (itself an ``AgentToolEvent`` when agents nest deeper).
    """

    agent: str
    tool_call_id: str
    event: AgentEvent


@dataclass(frozen=True, slots=True)
class ApprovalRequiredEvent:
    """The run pauses: these tool calls wait for a decision (the calls of the turn that
    needed none have run). The next event is the ``FinalResultEvent`` of the paused run."""

    requests: tuple[ApprovalRequest, ...]


@dataclass(frozen=True, slots=True)
class ModelFallbackEvent:
    """A ``FallbackModel`` switched models: ``from_model`` failed with ``error`` (after
    its own retries, before sending any delta) and the request went on to ``to_model``.

    It is reported with the answer (``ModelResponse.fallbacks``): after a streamed
    answer's deltas, before its ``ModelResponseEvent``."""

    from_model: str
    to_model: str
    error: ModelAPIError


@dataclass(frozen=True, slots=True)
class ContextTrimmedEvent:
    """The request did not fit the model's context window, so the oldest ``dropped``
    messages (whole turns) were left out of what was sent; ``result.messages`` and the
    session keep them. Given out after the request's answer, before its
    ``ModelResponseEvent``. Token counts are agentkit's (see ``count_tokens``)."""

    dropped: int
    input_tokens: int
    """The counted input of the request as sent (after trimming)."""
    limit: int
    """What fits: the context window less the request's ``max_tokens``."""


@dataclass(frozen=True, slots=True)
class ContextCompactedEvent:
    """The request did not fit the model's context window, so a summary was written: the
    oldest ``covered`` messages (whole turns) were replaced, in what was sent, by one
    summary message, and later requests reuse it until the window overflows again.
    ``summarized`` of them were new (the rest were covered by the previous summary,
    folded in). ``result.messages`` and the session keep every message; the session
    keeps the summary too. Given out after the request's answer, before its
    ``ModelResponseEvent``."""

    covered: int
    summarized: int
    summary: str
    input_tokens: int
    """The counted input of the request as sent (with the summary)."""
    limit: int
    """What fits: the context window less the request's ``max_tokens``."""


@dataclass(frozen=True, slots=True)
class ContextSummaryFailedEvent:
    """The summarizer of ``ContextWindow(policy="compact")`` failed (``error`` says how),
    so this request was trimmed instead (a ``ContextTrimmedEvent`` follows); the next
    request that overflows asks for a summary again."""

    error: str


@dataclass(frozen=True, slots=True)
class HistoryRepairedEvent:
    """The run's history could not be sent as it was, and was repaired before the first
    request: ``notes`` says what was done (tool calls left without answers by a crash or
    a cancel are answered "interrupted")."""

    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ModelWarningEvent:
    """Something in a model's answer was odd but usable, and what agentkit did about it
    (usage counts that were negative or fractional, clamped); given out before the
    answer's ``ModelResponseEvent``."""

    message: str


@dataclass(frozen=True, slots=True)
class GuardrailEvent:
    """A guardrail (``agentkit.guardrails``) checked something.

    ``kind`` is what it checked: ``"input"`` (the run's prompt), ``"output"`` (the final
    output), ``"tool_arguments"`` or ``"tool_result"`` (of the call ``tool_call_id`` to
    ``tool_name``). ``action`` is what came of it: ``"passed"``; ``"replaced"`` (the value
    goes on changed, e.g. redacted); ``"refused"`` (a tool call answered with a refusal the
    model sees); ``"tripped"`` (the run ends with ``GuardrailTripped``, given out right
    after this event). ``reason`` says why (``None`` when it passed), ``output`` is what the
    guardrail gave (a classifier agent's output), ``duration`` the seconds the check took.

    An input guardrail's event comes with the first answer (before its
    ``ModelResponseEvent``), a tool guardrail's before its call's ``ToolCallFinishedEvent``,
    an output guardrail's just before the ``FinalResultEvent`` (hooks' ``on_event`` sees it
    just after: the check runs when that event is observed).
    """

    guardrail: str
    kind: str
    action: str
    reason: str | None = None
    output: Any = None
    tool_name: str | None = None
    tool_call_id: str | None = None
    duration: float = 0.0

    @property
    def tripped(self) -> bool:
        """Whether the check failed (the run ended, or a tool call was refused)."""
        return self.action in ("tripped", "refused")


AgentEvent = (
    TextDeltaEvent
    | ThinkingDeltaEvent
    | ToolCallStartedEvent
    | ToolCallArgsDeltaEvent
    | ModelResponseEvent
    | ToolCallFinishedEvent
    | RetryEvent
    | PartialOutputEvent
    | FinalResultEvent
    | AgentToolEvent
    | ApprovalRequiredEvent
    | ModelFallbackEvent
    | ModelWarningEvent
    | ContextTrimmedEvent
    | ContextCompactedEvent
    | ContextSummaryFailedEvent
    | HistoryRepairedEvent
    | GuardrailEvent
)
