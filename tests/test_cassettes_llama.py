"""Committed cassettes recorded for real against the embedded llama.cpp server (Gemma 3 270M).

Replaying (the default) needs neither llama-cpp-python nor the model: the client
points at a loopback port where nothing listens. Recording starts the real
server (``agentkit.local.LocalLlamaServer``), about 5 s a request on 2 cores::

    python tools/record_cassettes.py --no-key tests/test_cassettes_llama.py
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Literal

import pytest
from pydantic import BaseModel

from agentkit.agent import Agent
from agentkit.local import LOCAL_MODEL_NAME, LocalLlamaServer
from agentkit.messages import AssistantMessage, Message, SystemMessage, ToolMessage, UserMessage
from agentkit.models.base import ModelRequest, ModelSettings, TextDelta, ToolDefinition, complete
from agentkit.models.openai import OpenAIChatModel
from agentkit.models.profiles import LLAMA_CPP_PROFILE
from agentkit.testing.replay import check_mistral_conversation

DEAD_URL = "http://127.0.0.1:9/v1"  # nothing listens there: a replay never needs it
SETTINGS = ModelSettings(temperature=0.0, seed=7, max_tokens=48)
WEATHER_TOOL = ToolDefinition(
    name="get_weather",
    description="The current weather in a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)


class Greeting(BaseModel):
    """A structured answer, small enough for a 270M model within ``max_tokens``."""

    language: Literal["French", "English", "German"]
    formal: bool


@pytest.fixture(scope="module")
def base_url(record_mode: str) -> Iterator[str]:
    """The real llama.cpp server while recording; a dead address while replaying."""
    if record_mode == "none":
        yield DEAD_URL
        return
    with LocalLlamaServer() as server:
        yield server.base_url


@pytest.fixture
def model(base_url: str) -> OpenAIChatModel:
    """The embedded model's client, exactly as ``LocalLlamaServer.model()`` builds it."""
    return OpenAIChatModel(
        LOCAL_MODEL_NAME,
        base_url=base_url,
        api_key="local",
        profile=LLAMA_CPP_PROFILE,
        settings=SETTINGS,
    )


@pytest.mark.vcr
@pytest.mark.anyio
async def test_llama_tool_call_and_follow_up(model: OpenAIChatModel) -> None:
    """A named tool call (llama.cpp's long ids), its result as user text, and the model's
    next answer with the tools offered under "auto"."""
    messages: list[Message] = [
        SystemMessage(content="You are a weather assistant. Use the tools."),
        UserMessage(content="What is the weather in Paris?"),
    ]
    first = await complete(
        model, ModelRequest(messages=messages, tools=[WEATHER_TOOL], tool_choice="get_weather")
    )
    (call,) = first.message.tool_calls
    assert call.name == "get_weather"
    assert isinstance(json.loads(call.arguments), dict)
    assert len(call.id) > 9  # llama.cpp's ids, not Mistral's
    messages += [
        first.message,
        ToolMessage(tool_call_id=call.id, name=call.name, content="Sunny, 24 C"),
    ]
    # No tool_choice: the profile sends "auto", without which llama.cpp hides the tools.
    second = await complete(model, ModelRequest(messages=messages, tools=[WEATHER_TOOL]))
    assert isinstance(second.message, AssistantMessage)
    assert second.usage.requests == 1
    # The tools were visible: this tiny model calls the same tool again (recorded as it is).
    (again,) = second.message.tool_calls
    assert again.name == "get_weather" and json.loads(again.arguments) == {"city": "Paris"}
    # The conversation made on llama.cpp is one agentkit can send to Mistral.
    check_mistral_conversation([*messages, second.message])


@pytest.mark.vcr
@pytest.mark.anyio
async def test_llama_streamed_text(model: OpenAIChatModel) -> None:
    """A streamed text answer from llama.cpp replays as the same deltas."""
    request = ModelRequest(messages=[UserMessage(content="Write one sentence about Paris.")])
    events = [event async for event in model.stream(replace(request, stream=True))]
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    response = events[-1]
    assert len(deltas) > 3
    assert "".join(deltas) == response.message.content  # type: ignore[union-attr]


@pytest.mark.vcr
@pytest.mark.anyio
async def test_llama_structured_output(model: OpenAIChatModel) -> None:
    """Structured output through the grammar-constrained final-result tool validates."""
    agent: Agent[None, Greeting] = Agent(
        model, instructions="Answer with a greeting.", output_type=Greeting
    )
    result = await agent.run("Greet me in French.")
    assert isinstance(result.output, Greeting)
    assert result.usage.requests >= 1
