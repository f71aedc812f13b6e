"""Structured output: the three ways to ask, the types it takes, and how it is validated."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from pydantic import BaseModel
from typing_extensions import TypedDict

from agentkit import Agent, SystemMessage, ToolMessage, UserMessage
from agentkit.testing.scripted import SCRIPTED_PROFILE, ScriptedModel, output_call, text

NATIVE = SCRIPTED_PROFILE.with_changes(output_mode="native")
PROMPTED = SCRIPTED_PROFILE.with_changes(
    output_mode="prompted", supports_json_schema=False, supports_tools=False
)


class Cat(BaseModel):
    """A cat."""

    name: str
    lives: int = 9


class Dog(BaseModel):
    name: str
    good: bool


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Movie(TypedDict):
    title: str
    year: int


@pytest.mark.anyio
async def test_native_mode_sends_the_schema_and_parses_the_text() -> None:
    """In native mode the request carries the json_schema spec and the text is the output."""
    model = ScriptedModel([text('{"name": "Tom"}')], profile=NATIVE)
    result = await Agent(model, output_type=Cat).run("a cat")
    assert result.output == Cat(name="Tom", lives=9)
    spec = model.requests[0].output
    assert spec is not None
    assert (spec.mode, spec.name, spec.description) == ("native", "Cat", "A cat.")
    assert spec.schema["properties"]["name"] == {"type": "string"}
    assert model.requests[0].tools == ()
    assert model.requests[0].tool_choice is None


@pytest.mark.anyio
async def test_native_output_in_code_fences_is_accepted() -> None:
    """A JSON answer wrapped in a markdown code fence still validates."""
    model = ScriptedModel([text('```json\n{"name": "Tom", "lives": 3}\n```')], profile=NATIVE)
    assert (await Agent(model, output_type=Cat).run("a cat")).output == Cat(name="Tom", lives=3)


@pytest.mark.anyio
async def test_native_output_that_is_not_json_gets_feedback() -> None:
    """Text that is not JSON is sent back as a user message saying to send only JSON."""
    model = ScriptedModel([text("Tom the cat"), text('{"name": "Tom"}')], profile=NATIVE)
    result = await Agent(model, output_type=Cat).run("a cat")
    feedback = model.requests[1].messages[-1]
    assert isinstance(feedback, UserMessage)
    assert isinstance(feedback.content, str)
    assert feedback.content.startswith("The output was not valid JSON (")
    assert feedback.content.endswith("Send only the JSON object, with no text around it.")
    assert result.output.name == "Tom"


@pytest.mark.anyio
async def test_prompted_mode_puts_the_schema_in_the_instructions() -> None:
    """Without tools or json_schema, the schema goes into the system message."""
    model = ScriptedModel([text('{"name": "Rex", "good": true}')], profile=PROMPTED)
    result = await Agent(model, instructions="Be a vet.", output_type=Dog).run("a dog")
    assert result.output == Dog(name="Rex", good=True)
    system = model.requests[0].messages[0]
    assert isinstance(system, SystemMessage)
    assert system.content.startswith("Be a vet.\n\nAnswer with a single JSON object")
    schema_text = system.content.split("JSON schema:\n", 1)[1]
    assert json.loads(schema_text)["required"] == ["name", "good"]
    spec = model.requests[0].output
    assert spec is not None and spec.mode == "prompted"


@pytest.mark.anyio
async def test_native_falls_back_to_tool_when_the_server_lacks_json_schema() -> None:
    """A profile without json_schema support gets the final-result tool instead."""
    profile = SCRIPTED_PROFILE.with_changes(output_mode="native", supports_json_schema=False)
    model = ScriptedModel([output_call({"name": "Tom"})], profile=profile)
    result = await Agent(model, output_type=Cat).run("a cat")
    assert result.output == Cat(name="Tom")
    assert [t.name for t in model.requests[0].tools] == ["final_result"]


@pytest.mark.anyio
async def test_agent_output_mode_overrides_the_profile() -> None:
    """output_mode on the agent wins over the profile's preference."""
    model = ScriptedModel([text('{"name": "Tom"}')], profile=SCRIPTED_PROFILE)
    agent = Agent(model, output_type=Cat, output_mode="native")
    assert (await agent.run("a cat")).output == Cat(name="Tom")


@pytest.mark.parametrize(
    ("output_type", "args", "expected"),
    [
        (int, {"result": 42}, 42),
        (list[int], {"result": [1, 2]}, [1, 2]),
        (Cat | Dog, {"result": {"name": "Rex", "good": True}}, Dog(name="Rex", good=True)),
        (Point, {"x": 1, "y": 2}, Point(1, 2)),
        (Movie, {"title": "Heat", "year": 1995}, {"title": "Heat", "year": 1995}),
        (bool, {"result": True}, True),
    ],
)
@pytest.mark.anyio
async def test_output_types(output_type: Any, args: dict[str, Any], expected: Any) -> None:
    """Scalars, lists and unions are wrapped in {"result": ...}; objects are sent as they are."""
    model = ScriptedModel([output_call(args)])
    result = await Agent(model, output_type=output_type).run("go")
    assert result.output == expected
    schema = model.requests[0].tools[-1].parameters
    assert schema["type"] == "object"
    assert ("result" in schema["properties"]) == ("result" in args)


@pytest.mark.anyio
async def test_wrapped_output_without_result_key_gets_feedback() -> None:
    """A wrapped output sent without its "result" key is told the shape to use."""
    model = ScriptedModel([output_call({"value": 1}), output_call({"result": 1})])
    result = await Agent(model, output_type=int).run("go")
    assert result.output == 1
    feedback = result.messages[2]
    assert isinstance(feedback, ToolMessage)
    assert 'one key, "result"' in feedback.content


@pytest.mark.anyio
async def test_async_output_validator_with_context_can_change_the_output() -> None:
    """An async validator taking (ctx, output) sees the deps and may return a new output."""
    model = ScriptedModel([output_call({"name": "tom"})])
    agent = Agent(model, output_type=Cat)

    @agent.output_validator
    async def capitalize(ctx: Any, output: Cat) -> Cat:
        return output.model_copy(update={"name": f"{output.name.title()} of {ctx.deps}"})

    result = await agent.run("go", deps="Ann")
    assert result.output.name == "Tom of Ann"
