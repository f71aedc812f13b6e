"""Profile flags for servers with gaps (llama.cpp's), each on its own on a generic profile.

Each flag is applied by the one OpenAI-compatible client and its dialect, so any
profile can turn it on; the bodies are checked as the JSON a real local server got.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest
from pydantic import BaseModel
from support import model_on

from agentkit import Agent, MaxTurnsExceededError, ModelResponseEvent, TextDeltaEvent, tool
from agentkit.messages import (
    AssistantMessage,
    ImagePart,
    Message,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from agentkit.models.base import (
    ModelProfile,
    ModelRequest,
    ModelResponse,
    ModelStreamEvent,
    OutputSpec,
    TextDelta,
    ToolCallDelta,
    ToolDefinition,
    complete,
    stream_events,
)
from agentkit.models.dialect import convert_messages, tool_choice_value
from agentkit.models.openai import OpenAIChatModel
from agentkit.models.profiles import GENERIC_PROFILE, MISTRAL_SMALL_PROFILE, OPENAI_PROFILE
from agentkit.testing.server import LocalModelServer, Reply, reply_text, reply_tool_calls

PNG = "data:image/png;base64,iVBORw0KGgo="
WEATHER = ToolDefinition("get_weather", "Weather.", {"type": "object", "properties": {}})
FINAL = ToolDefinition("final_result", "The answer.", {"type": "object", "properties": {}})
OUTPUT = OutputSpec(mode="tool", name="final_result", schema=FINAL.parameters)
HI: list[Message] = [UserMessage(content="hi")]
WIRE_HI = [{"role": "user", "content": "hi"}]
WIRE_WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather.",
        "parameters": {"type": "object", "properties": {}},
    },
}
WIRE_FINAL = {
    "type": "function",
    "function": {
        "name": "final_result",
        "description": "The answer.",
        "parameters": {"type": "object", "properties": {}},
    },
}
NAMED_FINAL = {"type": "function", "function": {"name": "final_result"}}
RETRYING = GENERIC_PROFILE.with_changes(
    tool_choice_required=None,
    default_tool_choice="auto",
    retry_text_without_tools=True,
    retry_required_with_output_tool=True,
)
"""A server that cannot force "some tool" and answers empty text under "auto"."""


def _body(messages: Sequence[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": list(messages), "max_tokens": 4096, **extra}


async def _stream(model: OpenAIChatModel, request: ModelRequest) -> list[ModelStreamEvent]:
    return [event async for event in model.stream(replace(request, stream=True))]


def _bodies(server: LocalModelServer) -> list[dict[str, Any]]:
    return [r.body for r in server.requests]


# --------------------------------------------------------------- the defaults change nothing


@pytest.mark.parametrize("profile", [GENERIC_PROFILE, OPENAI_PROFILE, MISTRAL_SMALL_PROFILE])
def test_the_new_flags_are_off_for_other_profiles(profile: ModelProfile) -> None:
    """Only the llama.cpp profile turns the workarounds on; every other keeps the plain wire."""
    assert not profile.tool_results_as_user_text
    assert profile.default_tool_choice is None
    assert profile.stream_tool_requests
    assert not profile.retry_text_without_tools
    assert not profile.retry_required_with_output_tool


@pytest.mark.anyio
async def test_without_the_flags_an_empty_answer_is_returned_as_is() -> None:
    """A generic server's empty answer under tools is one request, returned unchanged."""
    with LocalModelServer([reply_text("")]) as srv:
        model = model_on(srv, "m", profile=GENERIC_PROFILE)
        response = await complete(model, ModelRequest(messages=HI, tools=(WEATHER,)))
        assert _bodies(srv) == [_body(WIRE_HI, tools=[WIRE_WEATHER])]
    assert response.message.content == "" and response.usage.requests == 1


# --------------------------------------------------------------- tool_results_as_user_text


def test_tool_results_as_user_text_names_the_tool_and_marks_errors() -> None:
    """Each tool result becomes a user message naming the tool; a failure says "Error from"."""
    profile = GENERIC_PROFILE.with_changes(tool_results_as_user_text=True)
    messages: list[Message] = [
        UserMessage(content="Lyon?"),
        AssistantMessage(
            tool_calls=(
                ToolCall(id="c1", name="get_weather", arguments="{}"),
                ToolCall(id="c2", name="get_time", arguments="{}"),
            )
        ),
        ToolMessage(tool_call_id="c1", name="get_weather", content="rain"),
        ToolMessage(tool_call_id="c2", name="get_time", content="bad city", is_error=True),
        UserMessage(content="thanks"),
    ]
    wire = convert_messages(messages, profile)
    assert wire[2:] == [
        {"role": "user", "content": "Result of get_weather: rain"},
        {"role": "user", "content": "Error from get_time: bad city"},
        {"role": "user", "content": "thanks"},
    ]
    assert wire[1]["tool_calls"][1]["id"] == "c2"  # the calls themselves are kept


def test_tool_results_as_user_text_keeps_images_next_to_their_result() -> None:
    """Images a tool returned follow its own result text, before the next tool's result."""
    profile = OPENAI_PROFILE.with_changes(tool_results_as_user_text=True)
    messages: list[Message] = [
        UserMessage(content="Show me."),
        AssistantMessage(
            tool_calls=(
                ToolCall(id="c1", name="snap", arguments="{}"),
                ToolCall(id="c2", name="get_weather", arguments="{}"),
            )
        ),
        ToolMessage(
            tool_call_id="c1", name="snap", content="photo taken", images=(ImagePart(url=PNG),)
        ),
        ToolMessage(tool_call_id="c2", name="get_weather", content="sunny"),
    ]
    assert convert_messages(messages, profile)[2:] == [
        {"role": "user", "content": "Result of snap: photo taken"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Images returned by tool 'snap' (call c1):"},
                {"type": "image_url", "image_url": {"url": PNG}},
            ],
        },
        {"role": "user", "content": "Result of get_weather: sunny"},
    ]


# --------------------------------------------------------------- default_tool_choice


@pytest.mark.parametrize(
    ("choice", "tools", "expected"),
    [
        (None, (WEATHER,), "auto"),
        ("none", (WEATHER,), "none"),
        ("get_weather", (WEATHER,), {"type": "function", "function": {"name": "get_weather"}}),
        (None, (), None),
    ],
)
def test_default_tool_choice_fills_in_only_a_missing_choice(
    choice: str | None, tools: tuple[ToolDefinition, ...], expected: object
) -> None:
    """The default goes with tools when the request names no choice; never without tools."""
    profile = GENERIC_PROFILE.with_changes(default_tool_choice="auto")
    assert tool_choice_value(choice, tools, profile) == expected
    assert tool_choice_value(None, tools, GENERIC_PROFILE) is None


@pytest.mark.anyio
async def test_default_tool_choice_is_on_the_wire() -> None:
    """A request with tools and no choice is sent with the profile's default tool_choice."""
    profile = GENERIC_PROFILE.with_changes(default_tool_choice="auto")
    with LocalModelServer([reply_text("ok")]) as srv:
        await complete(
            model_on(srv, "m", profile=profile), ModelRequest(messages=HI, tools=(WEATHER,))
        )
        assert _bodies(srv) == [_body(WIRE_HI, tool_choice="auto", tools=[WIRE_WEATHER])]


# --------------------------------------------------------------- stream_tool_requests


@pytest.mark.anyio
async def test_unstreamed_tool_requests_are_replayed_as_deltas() -> None:
    """With stream_tool_requests off, a request with tools goes unstreamed; the model gives
    the whole answer and stream_events makes the deltas a stream would have given."""
    profile = GENERIC_PROFILE.with_changes(stream_tool_requests=False)
    reply = reply_tool_calls(("get_weather", {"city": "Lyon"}), content="Looking.")
    with LocalModelServer([reply, reply]) as srv:
        model = model_on(srv, "m", profile=profile)
        request = ModelRequest(messages=HI, tools=(WEATHER,), stream=True)
        async with model:
            raw = [event async for event in model.stream(request)]
            events = [event async for event in stream_events(model, request)]
        assert _bodies(srv) == [_body(WIRE_HI, tools=[WIRE_WEATHER])] * 2
    assert len(raw) == 1 and isinstance(raw[0], ModelResponse)
    response = events[-1]
    assert isinstance(response, ModelResponse)
    (call,) = response.message.tool_calls
    assert events[0] == TextDelta("Looking.")
    assert events[1] == ToolCallDelta(index=0, id=call.id, name="get_weather")
    pieces = events[2:-1]
    assert all(isinstance(d, ToolCallDelta) and d.index == 0 and d.name is None for d in pieces)
    assert "".join(d.arguments for d in pieces if isinstance(d, ToolCallDelta)) == (
        '{"city": "Lyon"}'
    )


@pytest.mark.anyio
async def test_unstreamed_tool_requests_still_stream_without_tools() -> None:
    """With stream_tool_requests off, a request without tools streams as usual."""
    profile = GENERIC_PROFILE.with_changes(stream_tool_requests=False)
    with LocalModelServer([reply_text("Hello there, friend.")]) as srv:
        events = await _stream(model_on(srv, "m", profile=profile), ModelRequest(messages=HI))
        assert _bodies(srv) == [_body(WIRE_HI, stream=True, stream_options={"include_usage": True})]
    assert len([e for e in events if isinstance(e, TextDelta)]) > 1


# --------------------------------------------------------------- asking again


@pytest.mark.anyio
async def test_an_empty_answer_under_auto_asks_for_a_follow_up_without_tools() -> None:
    """retry_text_without_tools: the model sends nothing more itself; the empty answer
    carries the follow-up request, the same one without tools."""
    request = ModelRequest(messages=HI, tools=(WEATHER,))
    with LocalModelServer([reply_text("")]) as srv:
        response = await complete(model_on(srv, "m", profile=RETRYING), request)
        assert _bodies(srv) == [_body(WIRE_HI, tool_choice="auto", tools=[WIRE_WEATHER])]
    assert response.follow_up == replace(request, tools=(), tool_choice=None)
    assert response.usage.requests == 1


@pytest.mark.parametrize(
    "reply",
    [reply_text("Hello."), reply_tool_calls(("get_weather", {}))],
    ids=["text", "tool-call"],
)
@pytest.mark.anyio
async def test_an_answer_with_text_or_a_call_has_no_follow_up(reply: Reply) -> None:
    """Only an empty answer asks for a follow-up: text or a tool call is the answer."""
    with LocalModelServer([reply]) as srv:
        response = await complete(
            model_on(srv, "m", profile=RETRYING), ModelRequest(messages=HI, tools=(WEATHER,))
        )
        assert len(srv.requests) == 1
    assert response.follow_up is None


@pytest.mark.anyio
async def test_a_declined_required_call_follows_up_naming_the_output_tool() -> None:
    """retry_required_with_output_tool: "required" went as "auto" and the answer came back
    empty, so the follow-up names the final-result tool of the output spec."""
    request = ModelRequest(
        messages=HI, tools=(WEATHER, FINAL), output=OUTPUT, tool_choice="required"
    )
    with LocalModelServer([reply_text("")]) as srv:
        response = await complete(model_on(srv, "m", profile=RETRYING), request)
        assert _bodies(srv) == [
            _body(WIRE_HI, tool_choice="auto", tools=[WIRE_WEATHER, WIRE_FINAL]),
        ]
    assert response.follow_up == replace(request, tool_choice="final_result")


@pytest.mark.parametrize(
    ("tools", "output", "choice"),
    [
        ((WEATHER, FINAL), None, "required"),  # no output tool in the spec
        ((WEATHER, FINAL), OUTPUT, "none"),  # no tools on the wire
        ((WEATHER, FINAL), OUTPUT, "get_weather"),  # a named tool, not "auto"
        ((FINAL,), OUTPUT, "required"),  # one tool: already named on the wire
    ],
    ids=["no-output-tool", "none", "named", "single-tool"],
)
@pytest.mark.anyio
async def test_an_empty_answer_has_no_follow_up_unless_auto_went_on_the_wire(
    tools: tuple[ToolDefinition, ...], output: OutputSpec | None, choice: str
) -> None:
    """A follow-up is only for "auto" on the wire (and, for a required call, an output tool)."""
    request = ModelRequest(messages=HI, tools=tools, output=output, tool_choice=choice)
    with LocalModelServer([reply_text("")]) as srv:
        response = await complete(model_on(srv, "m", profile=RETRYING), request)
        assert len(srv.requests) == 1
    assert response.message.content == ""
    assert response.follow_up is None


@tool
def get_weather() -> str:
    """Weather."""
    return "sunny"


@pytest.mark.anyio
async def test_the_loop_sends_the_follow_up_as_a_request_of_its_own() -> None:
    """The loop sends the follow-up through its one request point: it is in the run's
    events, in usage, and each request is one the server saw."""
    agent = Agent(_model_named(RETRYING), tools=[get_weather])
    with LocalModelServer([reply_text(""), reply_text("Hello there, friend.")]) as srv:
        with agent.override(model=model_on(srv, "m", profile=RETRYING)):
            async with agent.run_stream("hi") as stream:
                events = [event async for event in stream]
        streamed = {"stream": True, "stream_options": {"include_usage": True}}
        bodies = _bodies(srv)
    assert [b.get("tools") is not None for b in bodies] == [True, False]
    assert bodies[0]["tool_choice"] == "auto" and bodies[1].items() >= streamed.items()
    responses = [e.response for e in events if isinstance(e, ModelResponseEvent)]
    assert [r.message.content or "" for r in responses] == ["", "Hello there, friend."]
    assert responses[0].follow_up is not None
    text_deltas = [e.text for e in events if isinstance(e, TextDeltaEvent)]
    assert "".join(text_deltas) == "Hello there, friend."
    assert stream.result.output == "Hello there, friend."
    assert stream.result.usage.requests == 2
    # the empty answer is not part of the conversation: it was replaced by the follow-up
    assert [m.role for m in stream.result.messages] == ["user", "assistant"]


@pytest.mark.anyio
async def test_a_follow_up_counts_toward_max_turns() -> None:
    """With max_turns=1 the follow-up is a second request the run may not send."""
    with LocalModelServer([reply_text(""), reply_text("Hello.")]) as srv:
        agent = Agent(model_on(srv, "m", profile=RETRYING), tools=[get_weather], max_turns=1)
        with pytest.raises(MaxTurnsExceededError) as caught:
            await agent.run("hi")
        assert len(srv.requests) == 1
    assert caught.value.messages is not None
    assert [m.role for m in caught.value.messages] == ["user"]


@pytest.mark.anyio
async def test_a_declined_output_call_is_followed_up_by_the_loop() -> None:
    """Tool-mode output on a server that cannot force a call: the empty answer's follow-up
    names final_result, and the run ends with the validated output after two requests."""
    reply = reply_tool_calls(("final_result", {"city": "Lyon"}))
    with LocalModelServer([reply_text(""), reply]) as srv:
        agent = Agent(
            model_on(srv, "m", profile=RETRYING),
            tools=[get_weather],
            output_type=City,
            output_mode="tool",
        )
        result = await agent.run("Which city?")
        bodies = _bodies(srv)
    assert bodies[0]["tool_choice"] == "auto"
    assert bodies[1]["tool_choice"] == NAMED_FINAL
    assert result.output == City(city="Lyon")
    assert result.usage.requests == 2


class City(BaseModel):
    city: str


def _model_named(profile: ModelProfile) -> OpenAIChatModel:
    """A model on an address nothing listens on: only ever used under an override."""
    return OpenAIChatModel("m", base_url="http://127.0.0.1:9/v1", api_key="k", profile=profile)
