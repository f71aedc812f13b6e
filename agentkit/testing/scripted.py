"""A scripted model: answers from a list, records every request. No network at all.

::

    model = ScriptedModel([
        tool_calls(("get_weather", {"city": "Paris"})),
        text('{"city": "Paris", "temperature_c": 21, "summary": "sunny"}'),
    ])
    result = await Agent(model, tools=[get_weather], output_type=Report).run("Paris?")
    assert model.requests[1].messages[-1].content == "..."

A script item is a ``ScriptedResponse`` (from ``text``, ``tool_calls``,
``output_call``), a plain string (text), or a function of the ``ModelRequest``
returning one of those.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentkit.messages import AssistantMessage, ThinkingPart, ToolCall
from agentkit.models.base import (
    ModelLifecycle,
    ModelProfile,
    ModelRequest,
    ModelResponse,
    ModelStreamEvent,
)
from agentkit.usage import Usage

__all__ = [
    "SCRIPTED_PROFILE",
    "ScriptExhaustedError",
    "ScriptItem",
    "ScriptedModel",
    "ScriptedResponse",
    "output_call",
    "text",
    "tool_calls",
]

SCRIPTED_PROFILE = ModelProfile(name="scripted", provider="scripted", output_mode="tool")


class ScriptExhaustedError(AssertionError):
    """The agent sent more requests than the script has answers."""


@dataclass(frozen=True, slots=True)
class ScriptedResponse:
    """One scripted answer: text and/or tool calls, with usage and a finish reason."""

    content: str | None = None
    calls: tuple[tuple[str, str, str | None], ...] = ()
    """(name, arguments JSON text, id or None for a generated id)."""
    input_tokens: int = 10
    output_tokens: int = 5
    cached_tokens: int = 0
    finish_reason: str | None = None
    thinking: str | None = None
    """The model's thinking before the answer (a ``ThinkingPart``; streamed first)."""
    reasoning_tokens: int = 0
    """Of ``output_tokens``, how many were spent thinking (``Usage.reasoning_tokens``)."""


def text(
    content: str,
    *,
    input_tokens: int = 10,
    output_tokens: int = 5,
    thinking: str | None = None,
    reasoning_tokens: int = 0,
) -> ScriptedResponse:
    """An answer in plain text (also how native/prompted JSON outputs are scripted), after
    ``thinking`` when given."""
    return ScriptedResponse(
        content=content,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        thinking=thinking,
        reasoning_tokens=reasoning_tokens,
    )


def tool_calls(
    *calls: tuple[str, dict[str, Any] | str] | tuple[str, dict[str, Any] | str, str],
    content: str | None = None,
    input_tokens: int = 10,
    output_tokens: int = 5,
    thinking: str | None = None,
    reasoning_tokens: int = 0,
) -> ScriptedResponse:
    """An answer with tool calls: ``(name, args)`` or ``(name, args, id)``; ``args`` may be
    a dict or raw JSON text (raw text lets a test send broken JSON); after ``thinking``,
    when given."""
    items: list[tuple[str, str, str | None]] = []
    for call in calls:
        name, args = call[0], call[1]
        call_id = call[2] if len(call) > 2 else None
        items.append((name, args if isinstance(args, str) else json.dumps(args), call_id))
    return ScriptedResponse(
        content=content,
        calls=tuple(items),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        thinking=thinking,
        reasoning_tokens=reasoning_tokens,
    )


def output_call(args: dict[str, Any] | str, *, name: str = "final_result") -> ScriptedResponse:
    """A call of the final-result tool (for agents whose output mode is ``tool``)."""
    return tool_calls((name, args))


ScriptItem = ScriptedResponse | str | Callable[[ModelRequest], "ScriptedResponse | str"]


@dataclass
class ScriptedModel(ModelLifecycle):
    """A ``Model`` that plays a script of answers in order and records every request."""

    script: Sequence[ScriptItem]
    profile: ModelProfile = SCRIPTED_PROFILE
    name: str = "scripted"
    requests: list[ModelRequest] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def remaining(self) -> int:
        """How many scripted answers have not been played."""
        return len(self.script) - len(self.requests)

    def _next(self, request: ModelRequest) -> ModelResponse:
        index = len(self.requests)
        self.requests.append(request)
        if index >= len(self.script):
            last = request.messages[-1] if request.messages else None
            raise ScriptExhaustedError(
                f"ScriptedModel has {len(self.script)} answers but got request {index + 1}; "
                f"its last message was {last!r}. Add an answer to the script."
            )
        item = self.script[index]
        if callable(item):
            item = item(request)
        if isinstance(item, str):
            item = text(item)
        calls = tuple(
            ToolCall(id=call_id or f"call{next(self._ids):05d}", name=name, arguments=args)
            for name, args, call_id in item.calls
        )
        finish = item.finish_reason or ("tool_calls" if calls else "stop")
        message = AssistantMessage(
            content=item.content,
            tool_calls=calls,
            finish_reason=finish,
            model_name=self.name,
            thinking=(ThinkingPart(text=item.thinking),) if item.thinking else (),
        )
        price = self.profile.price
        usage = Usage(
            requests=1,
            input_tokens=item.input_tokens,
            output_tokens=item.output_tokens,
            cached_tokens=item.cached_tokens,
            cost_usd=price.cost(item.input_tokens, item.output_tokens, item.cached_tokens)
            if price
            else None,
            reasoning_tokens=item.reasoning_tokens,
        )
        return ModelResponse(
            message=message, usage=usage, finish_reason=finish, model_name=self.name
        )

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        """Answer with the next scripted response (streamed, its deltas are made from it)."""
        yield self._next(request)
