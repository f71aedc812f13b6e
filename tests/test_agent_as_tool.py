"""Agents as tools: ``Agent.as_tool`` nests a child run's usage, events and cancellation."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from agentkit import (
    Agent,
    AgentToolEvent,
    FinalResultEvent,
    ModelResponseEvent,
    TextDeltaEvent,
    tool,
)
from agentkit.messages import ToolMessage
from agentkit.testing import ScriptedModel, ScriptedResponse, output_call, tool_calls

pytestmark = pytest.mark.anyio


class Report(BaseModel):
    city: str
    temperature_c: int


def _tool_answers(model: ScriptedModel, turn: int) -> list[ToolMessage]:
    return [m for m in model.requests[turn].messages if isinstance(m, ToolMessage)]


async def test_child_output_usage_and_events_nest_in_the_parent() -> None:
    """The child's text is the tool result, its usage is added to the parent's, and its
    events reach the parent's stream wrapped with its name and the parent's call id."""
    child_model = ScriptedModel(["Paris is sunny."])
    child = Agent(child_model, name="weather")
    parent_model = ScriptedModel(
        [tool_calls(("weather", {"prompt": "Weather in Paris?"}, "call1")), "Sunny."]
    )
    parent = Agent(parent_model, tools=[child.as_tool(description="Ask about the weather.")])
    events: list[Any] = []
    async with parent.run_stream("Paris?") as stream:
        async for event in stream:
            events.append(event)
    assert _tool_answers(parent_model, 1)[0].content == "Paris is sunny."
    assert child_model.requests[0].messages[-1].content == "Weather in Paris?"
    result = stream.result
    assert result.usage.requests == 3
    nested = [e for e in events if isinstance(e, AgentToolEvent)]
    assert {(e.agent, e.tool_call_id) for e in nested} == {("weather", "call1")}
    kinds = [type(e.event) for e in nested]
    assert TextDeltaEvent in kinds and ModelResponseEvent in kinds
    assert kinds[-1] is FinalResultEvent
    definition = parent_model.requests[0].tools[0]
    assert definition.name == "weather"
    assert definition.description == "Ask about the weather."
    assert list(definition.parameters["properties"]) == ["prompt"]


async def test_structured_child_output_is_json() -> None:
    """A child with a structured output answers the parent's call with its JSON."""
    child = Agent(
        ScriptedModel([output_call({"city": "Paris", "temperature_c": 21})]),
        name="reporter",
        output_type=Report,
    )
    parent_model = ScriptedModel([tool_calls(("reporter", {"prompt": "Paris"})), "ok"])
    result = await Agent(parent_model, tools=[child.as_tool()]).run("go")
    answer = _tool_answers(parent_model, 1)[0]
    assert json.loads(answer.content) == {"city": "Paris", "temperature_c": 21}
    assert result.usage.requests == 3


async def test_cancelling_the_parent_cancels_the_child() -> None:
    """A parent run cancelled while its child waits on the model ends the child too."""
    started = anyio.Event()
    child_cancelled = anyio.Event()

    @tool
    async def hang() -> str:
        """Wait forever."""
        started.set()
        try:
            await anyio.sleep_forever()
        finally:
            child_cancelled.set()
        return "never"  # pragma: no cover

    child = Agent(ScriptedModel([tool_calls(("hang", {})), "x"]), name="slow", tools=[hang])
    parent_model = ScriptedModel([tool_calls(("slow", {"prompt": "wait"})), "ok"])
    parent = Agent(parent_model, tools=[child.as_tool()])
    async with anyio.create_task_group() as tg:
        tg.start_soon(parent.run, "go")
        await started.wait()
        tg.cancel_scope.cancel()
    assert child_cancelled.is_set()


async def test_a_child_without_a_model_runs_on_the_parents_model() -> None:
    """A child built with no model runs on the model of the parent's run (an override such
    as ``agentkit run --model`` included); a child with its own model keeps it."""
    own = ScriptedModel(["Rome is sunny."])
    shared = Agent(None, name="weather")
    keeps = Agent(own, name="rome")
    parent = Agent(None, tools=[shared.as_tool(), keeps.as_tool()])
    paris: list[ScriptedResponse | str] = [
        tool_calls(("weather", {"prompt": "Paris?"})),
        "Paris is cloudy.",
        "Cloudy.",
    ]
    model = ScriptedModel([*paris, tool_calls(("rome", {"prompt": "Rome?"})), "Sunny."])
    first = await parent.run("Paris?", model=model)
    assert first.output == "Cloudy."
    assert _tool_answers(model, 2)[0].content == "Paris is cloudy."
    second = await parent.run("Rome?", model=model)
    assert second.output == "Sunny." and len(own.requests) == 1
    assert _tool_answers(model, 4)[0].content == "Rome is sunny."
