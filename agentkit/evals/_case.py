"""A case: what to ask, what was recorded for it, and what to check."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_serializer,
    model_validator,
)

from agentkit.evals._evaluators import (
    Contains,
    Equals,
    Function,
    IsInstance,
    MatchesExpected,
    NoError,
    ToolCalled,
    WithinLimits,
)
from agentkit.evals._judge import Judge
from agentkit.messages import Message, UserMessage

__all__ = [
    "Case",
    "Evaluator",
    "RecordedTool",
    "ToolMode",
    "arguments_data",
    "functions_wrapped",
]


def functions_wrapped(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [
            Function.of(v) if callable(v) and not isinstance(v, BaseModel) else v for v in value
        ]
    return value


Evaluator = Annotated[
    MatchesExpected
    | Equals
    | Contains
    | IsInstance
    | ToolCalled
    | WithinLimits
    | NoError
    | Function
    | Judge,
    Field(discriminator="type"),
]
"""Any built-in evaluator (a plain function given in code becomes a ``Function``)."""

_Evaluators = Annotated[list[Evaluator], BeforeValidator(functions_wrapped)]

ToolMode = Literal["recorded", "live"]
"""How tools run under evaluation: answered from the case's recording, or for real."""


_DECODER = json.JSONDecoder()


def arguments_data(text: str) -> Any:
    """A tool call's arguments as JSON data, or the text itself when it is not JSON: how a
    recording's calls are stored (``RecordedTool.args``) and how a replayed call is matched
    with them, so both sides read arguments alike. As ``json.loads``, without its two
    regular-expression passes (a replayed call is hot)."""
    document = text.strip(" \t\n\r")  # JSON's whitespace, and only it
    try:
        value, end = _DECODER.raw_decode(document)
    except ValueError:
        return text
    return value if end == len(document) else text


class RecordedTool(BaseModel):
    """One recorded tool call and what it answered."""

    model_config = ConfigDict(extra="forbid")

    tool: str
    args: Any = None
    """The arguments as JSON data (a dict, or the raw text when it was not JSON)."""
    content: str
    is_error: bool = False


class Case(BaseModel):
    """One thing to evaluate: a prompt (after an optional ``history``), what is expected,
    what to check, and the tool results recorded for it.

    ``history`` holds the conversation before the prompt (a case built from a recording of
    several turns evaluates one turn with the turns before it). ``tool_results`` answer the
    run's tool calls when tools are replayed (the default): a call that is not among them
    gets a "not recorded" error and is counted.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    prompt: str | None = None
    history: list[Message] = Field(default_factory=list)
    expected_output: Any = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    evaluators: _Evaluators = Field(default_factory=list)
    tool_results: list[RecordedTool] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_input(self) -> Case:
        if self.prompt is None and not any(isinstance(m, UserMessage) for m in self.history):
            raise ValueError(f"case {self.name!r} has neither a prompt nor a user message")
        return self

    @field_serializer("history")
    def _dump_history(self, history: list[Message]) -> list[dict[str, Any]]:
        return [m.model_dump(mode="json", exclude_none=True) for m in history]
