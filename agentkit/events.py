"""What a run produces: stream events as it goes, and the ``RunResult`` at the end.

``Agent.run_stream()`` yields these events; ``Agent.run()`` consumes the same
events and returns the ``RunResult`` carried by the last one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from agentkit.messages import Message
from agentkit.models.base import ModelResponse
from agentkit.usage import Usage

__all__ = [
    "AgentEvent",
    "AgentToolEvent",
    "FinalResultEvent",
    "ModelResponseEvent",
    "PartialOutputEvent",
    "RetryEvent",
    "RunResult",
    "TextDeltaEvent",
    "ToolCallArgsDeltaEvent",
    "ToolCallFinishedEvent",
    "ToolCallStartedEvent",
]

OutputT = TypeVar("OutputT")


@dataclass(slots=True)
class RunResult(Generic[OutputT]):
    """The outcome of a run."""

    output: OutputT
    """The final output, validated against the agent's ``output_type``."""
    messages: list[Message]
    """The whole conversation, history included; pass it as ``message_history`` to continue."""
    new_message_index: int
    """Where this run's messages start in ``messages``."""
    usage: Usage
    """Requests, tokens and cost summed over this run (retries included)."""

    @property
    def new_messages(self) -> list[Message]:
        """The messages this run added."""
        return self.messages[self.new_message_index :]


@dataclass(frozen=True, slots=True)
class TextDeltaEvent:
    """Assistant text as it streams."""

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


AgentEvent = (
    TextDeltaEvent
    | ToolCallStartedEvent
    | ToolCallArgsDeltaEvent
    | ModelResponseEvent
    | ToolCallFinishedEvent
    | RetryEvent
    | PartialOutputEvent
    | FinalResultEvent
    | AgentToolEvent
)
