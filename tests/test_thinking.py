"""Thinking (a reasoning model's reasoning) as a first-class part of a conversation.

Replies in the shapes real reasoning servers send (Mistral's ``thinking`` chunks, whole
and streamed; the ``reasoning_content`` / ``reasoning`` fields of other OpenAI-compatible
servers) are served by a ``LocalModelServer``; the fixtures below are our own bodies of
those shapes, not copies of recordings.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel
from support import get_weather, model_on

from agentkit import (
    Agent,
    AssistantMessage,
    Message,
    RunContext,
    TextDeltaEvent,
    TextPart,
    ThinkingDeltaEvent,
    ThinkingPart,
    ToolCall,
    ToolMessage,
    UserMessage,
    dump_messages,
    load_messages,
    tool,
)
from agentkit.models import MISTRAL_PROFILE, OPENAI_PROFILE, ModelRequest, complete
from agentkit.models.dialect import convert_messages
from agentkit.sessions import SQLiteSession
from agentkit.testing import check_mistral_conversation, check_mistral_request
from agentkit.testing.server import (
    LocalModelServer,
    Reply,
    reply_events,
    reply_json,
    reply_text,
    reply_tool_calls,
    usage,
)
from agentkit.usage import ModelPrice

pytestmark = pytest.mark.anyio

PRICED = MISTRAL_PROFILE.with_changes(name="reasoning-test", price=ModelPrice(1.0, 2.0))
"""The Mistral dialect with round prices, so costs are easy to check."""


def _whole_mistral_reply() -> bytes:
    """A whole Mistral reasoning reply: a thinking chunk of two text parts, then text."""
    return json.dumps(
        {
            "id": "0f3a6c9e2b7d4e18a5c1f9b3d7e2a4c6",
            "object": "chat.completion",
            "created": 1767000000,
            "model": "magistral-medium-2509",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {
                        "role": "assistant",
                        "tool_calls": None,
                        "content": [
                            {
                                "type": "thinking",
                                "thinking": [
                                    {"type": "text", "text": "Rivers differ from streets. "},
                                    {"type": "text", "text": "Look for a bridge first."},
                                ],
                            },
                            {"type": "text", "text": "Use a bridge or a ford."},
                        ],
                    },
                }
            ],
            "usage": {"prompt_tokens": 664, "completion_tokens": 747, "total_tokens": 1411},
        }
    ).encode()


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "7c1e9a3f5b2d4c6e8a0b1d3f5e7a9c2b",
        "object": "chat.completion.chunk",
        "created": 1784000000,
        "model": "mistral-small-latest",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


def _think(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "thinking", "thinking": [{"type": "text", "text": text}], **extra}


STREAMED_MISTRAL = reply_events(
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"content": ""}, p="abcdefghij"),  # live padding fields: ignored
    _chunk({"content": [_think("Twelve times", closed=True)]}, p="abc"),
    _chunk({"content": [_think(" eleven")]}, p="abcdefgh"),
    _chunk({"content": [_think(" is 132.", closed=True), {"type": "text", "text": "13"}]}),
    _chunk(
        {"content": "2"},
        "stop",
        usage={
            "prompt_tokens": 28,
            "completion_tokens": 139,
            "total_tokens": 167,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
        p="abcd",
    ),
    "[DONE]",
)
"""A streamed Mistral reasoning reply: thinking chunks (some ``closed``), then a chunk
holding the last thinking and the first text together, then text as a string."""


async def test_whole_mistral_thinking_reply_gives_thinking_and_text_parts() -> None:
    """A whole reply's thinking chunk becomes one ThinkingPart, its text the answer."""
    with LocalModelServer([Reply(body=_whole_mistral_reply())]) as server:
        agent = Agent(model_on(server, "magistral-medium-latest", profile=PRICED))
        result = await agent.run("How do I cross a river?")
    message = result.messages[-1]
    assert isinstance(message, AssistantMessage)
    assert result.output == "Use a bridge or a ford."
    assert message.thinking == (
        ThinkingPart(
            text="Rivers differ from streets. Look for a bridge first.", provider="mistral_ai"
        ),
    )
    assert message.parts == (*message.thinking, TextPart(text="Use a bridge or a ford."))
    assert (result.usage.input_tokens, result.usage.output_tokens) == (664, 747)
    assert result.usage.cost_usd == pytest.approx((664 * 1.0 + 747 * 2.0) / 1e6)


async def test_streamed_mistral_thinking_comes_as_its_own_events() -> None:
    """Streamed thinking chunks come as ThinkingDeltaEvents, never as answer text."""
    with LocalModelServer([STREAMED_MISTRAL]) as server:
        agent = Agent(model_on(server, "mistral-small-latest"))  # Small 4: $0.15 / $0.60
        async with agent.run_stream("What is 12 times 11?") as stream:
            events = [e async for e in stream]
            result = stream.result
    thinking = [e.text for e in events if isinstance(e, ThinkingDeltaEvent)]
    text = [e.text for e in events if isinstance(e, TextDeltaEvent)]
    assert thinking == ["Twelve times", " eleven", " is 132."]
    assert text == ["13", "2"]
    assert result.output == "132"
    message = result.messages[-1]
    assert isinstance(message, AssistantMessage)
    assert [p.text for p in message.thinking] == ["Twelve times eleven is 132."]
    assert (result.usage.input_tokens, result.usage.output_tokens) == (28, 139)
    assert result.usage.cost_usd == pytest.approx((28 * 0.15 + 139 * 0.60) / 1e6)


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
@pytest.mark.parametrize("stream", [False, True])
async def test_reasoning_fields_of_openai_compatible_servers_are_thinking(
    field: str, stream: bool
) -> None:
    """``reasoning_content`` (DeepSeek, vLLM) and ``reasoning`` (OpenRouter, Ollama) are
    read as thinking, whole and streamed, and their usage's reasoning tokens counted."""
    spent = usage(20, 30, reasoning_tokens=12)
    if stream:
        reply = reply_events(
            _chunk({"role": "assistant", "content": ""}),
            _chunk({field: "Think "}),
            _chunk({field: "hard.", "content": None}),
            _chunk({"content": "Done."}),
            _chunk({}, "stop", usage=spent),
            "[DONE]",
        )
    else:
        answer = {"role": "assistant", "content": "Done.", field: "Think hard."}
        body = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "deepseek-reasoner",
            "choices": [{"index": 0, "message": answer, "finish_reason": "stop"}],
            "usage": spent,
        }
        reply = Reply(body=json.dumps(body).encode())
    with LocalModelServer([reply], style="openai") as server:
        agent = Agent(model_on(server, "deepseek-reasoner"))
        if stream:
            async with agent.run_stream("Go") as run:
                deltas = [e.text async for e in run if isinstance(e, ThinkingDeltaEvent)]
                result = run.result
            assert "".join(deltas) == "Think hard."
        else:
            result = await agent.run("Go")
    message = result.messages[-1]
    assert isinstance(message, AssistantMessage)
    assert [p.text for p in message.thinking] == ["Think hard."]
    assert result.output == "Done."
    assert result.usage.reasoning_tokens == 12


async def test_streamed_deltas_are_made_from_a_whole_answers_thinking() -> None:
    """A streamed run on a server that answers whole still shows the thinking first."""
    reply = reply_tool_calls(("get_weather", {"city": "Paris"}), thinking="Check Paris.")
    with LocalModelServer([reply, reply_text("Sunny.")], style="mistral") as server:
        profile = MISTRAL_PROFILE.with_changes(stream_tool_requests=False)
        agent = Agent(model_on(server, profile=profile), tools=[get_weather])
        async with agent.run_stream("Weather?") as stream:
            kinds = [type(e).__name__ async for e in stream]
    assert kinds.index("ThinkingDeltaEvent") < kinds.index("ToolCallStartedEvent")


def _three_turn_script() -> list[Reply]:
    return [
        reply_tool_calls(
            ("get_weather", {"city": "Paris"}),
            thinking="The user wants Paris. I will call the tool.",
            usage=usage(40, 30, reasoning_tokens=20),
        ),
        reply_text(
            "Paris is sunny, 21 C.",
            thinking="The tool said sunny.",
            usage=usage(60, 20, reasoning_tokens=8),
        ),
        reply_tool_calls(
            ("get_weather", {"city": "Oslo"}),
            thinking="Now Oslo.",
            usage=usage(80, 25, reasoning_tokens=6),
        ),
        reply_text("Oslo is sunny too.", thinking="Same report.", usage=usage(100, 15)),
        reply_tool_calls(
            ("get_weather", {"city": "Paris"}),
            ("get_weather", {"city": "Oslo"}),
            thinking="Compare both again.",
            usage=usage(120, 30, reasoning_tokens=10),
        ),
        reply_text(
            "Both are at 21 C.",
            thinking="Equal temperatures.",
            usage=usage(150, 10, reasoning_tokens=4),
        ),
    ]


PROMPTS = ("Weather in Paris?", "And in Oslo?", "Which is warmer?")


async def _turn(agent: Agent[None, str], prompt: str, stream: bool, **kwargs: Any) -> Any:
    if not stream:
        return await agent.run(prompt, **kwargs), []
    async with agent.run_stream(prompt, **kwargs) as run:
        deltas = [e.text async for e in run if isinstance(e, ThinkingDeltaEvent)]
        return run.result, deltas


@pytest.mark.parametrize("stream", [False, True])
async def test_three_turn_reasoning_conversation_keeps_its_thinking(
    stream: bool, tmp_path: Path
) -> None:
    """Three turns with tool calls keep every thinking part through dump/load and a
    SQLite session, send it back as Mistral thinking chunks, and every request passes
    mistral-common's validator."""
    with LocalModelServer(_three_turn_script(), style="mistral") as server:
        agent = Agent(model_on(server), instructions="Answer briefly.", tools=[get_weather])
        # turn 1 from nothing; turn 2 from a dump; turn 3 from a SQLite session
        first, deltas1 = await _turn(agent, PROMPTS[0], stream)
        history = load_messages(dump_messages(first.messages))
        assert history == first.messages
        second, deltas2 = await _turn(agent, PROMPTS[1], stream, message_history=history)
        session = SQLiteSession(tmp_path / "chats.db", "ada")
        kept = [m for m in second.messages if m.role != "system"]
        await session.save_turn(kept, paused=False, resumed=False)
        third, deltas3 = await _turn(agent, PROMPTS[2], stream, session=session)
        stored = (await SQLiteSession(tmp_path / "chats.db", "ada").load()).messages
        bodies = server.bodies
    thoughts = [
        p.text for m in third.messages if isinstance(m, AssistantMessage) for p in m.thinking
    ]
    assert thoughts == [
        "The user wants Paris. I will call the tool.",
        "The tool said sunny.",
        "Now Oslo.",
        "Same report.",
        "Compare both again.",
        "Equal temperatures.",
    ]
    assert stored == [m for m in third.messages if m.role != "system"]
    assert load_messages(dump_messages(third.messages)) == third.messages
    if stream:
        assert "".join(deltas1 + deltas2 + deltas3) == "".join(thoughts)
    assert len(bodies) == 6
    for body in bodies:
        check_mistral_request(body)
    # every earlier answer's thinking goes back, as thinking chunks leading its content
    sent = [
        chunk["thinking"][0]["text"]
        for message in bodies[-1]["messages"]
        if message["role"] == "assistant" and isinstance(message["content"], list)
        for chunk in message["content"]
        if chunk["type"] == "thinking"
    ]
    assert sent == thoughts[:5]
    assert all(
        isinstance(m["content"], str) or m["content"][0]["type"] == "thinking"
        for m in bodies[-1]["messages"]
        if m["role"] == "assistant"
    )
    check_mistral_conversation([*third.messages, UserMessage(content="again")])
    assert third.output == "Both are at 21 C."
    assert third.usage.reasoning_tokens == 14


HISTORY_WITH_THINKING: list[Message] = [
    UserMessage(content="Weather in Paris?"),
    AssistantMessage(
        tool_calls=(ToolCall(id="abcDEF123", name="get_weather", arguments='{"city":"Paris"}'),),
        thinking=(ThinkingPart(text="SECRET-REASONING", provider="mistral_ai"),),
    ),
    ToolMessage(tool_call_id="abcDEF123", name="get_weather", content="Sunny"),
    AssistantMessage(
        content="Sunny.",
        thinking=(ThinkingPart(text="MORE-REASONING", provider="mistral_ai"),),
    ),
    UserMessage(content="Thanks"),
]


@pytest.mark.parametrize("style", ["openai", "mistral"])
async def test_thinking_is_dropped_for_a_server_that_cannot_take_it(
    style: Literal["openai", "mistral"],
) -> None:
    """A server whose profile takes no thinking (or thinking from another provider)
    gets the conversation without it: never as text."""
    profile = OPENAI_PROFILE if style == "openai" else MISTRAL_PROFILE
    history = HISTORY_WITH_THINKING
    if style == "mistral":  # thinking made by another provider
        history = [
            m.model_copy(
                update={
                    "thinking": tuple(
                        p.model_copy(update={"provider": "openai"}) for p in m.thinking
                    )
                }
            )
            if isinstance(m, AssistantMessage)
            else m
            for m in history
        ]
    with LocalModelServer([reply_text("You're welcome.")], style=style) as server:
        await complete(model_on(server, profile=profile), ModelRequest(messages=history))
        raw = server.requests[0].raw
    assert b"SECRET-REASONING" not in raw and b"MORE-REASONING" not in raw
    assert b'"thinking"' not in raw


def test_thinking_goes_back_as_reasoning_content_where_the_profile_says() -> None:
    """``send_thinking="reasoning_content"`` puts the thinking in that field, not the text."""
    profile = OPENAI_PROFILE.with_changes(send_thinking="reasoning_content", provider="mistral_ai")
    wire = convert_messages(HISTORY_WITH_THINKING, profile)
    assert wire[1]["reasoning_content"] == "SECRET-REASONING"
    assert wire[3] == {
        "role": "assistant",
        "content": "Sunny.",
        "reasoning_content": "MORE-REASONING",
    }


def test_thinking_of_unknown_origin_goes_to_mistral_after_its_text() -> None:
    """Thinking with no provider is sent to Mistral, before the text in the content list."""
    message = AssistantMessage(content="Hi.", thinking=(ThinkingPart(text="Greet."),))
    wire = convert_messages([UserMessage(content="Hello"), message], MISTRAL_PROFILE)
    assert wire[1]["content"] == [
        {"type": "thinking", "thinking": [{"type": "text", "text": "Greet."}]},
        {"type": "text", "text": "Hi."},
    ]


class Forecast(BaseModel):
    """A structured answer."""

    city: str
    temperature_c: int


async def test_structured_output_ignores_the_thinking() -> None:
    """The output is validated from the answer alone: thinking holding other JSON is not read."""
    reply = replace(reply_json({"city": "Paris", "temperature_c": 21}), thinking='{"city": 1}')
    with LocalModelServer([reply], style="mistral") as server:
        agent = Agent(model_on(server), output_type=Forecast)
        result = await agent.run("Forecast?")
    assert result.output == Forecast(city="Paris", temperature_c=21)


async def test_a_thinking_only_answer_is_not_an_answer() -> None:
    """An answer with thinking and no text is sent back as empty, then answered again."""
    script = [reply_text("", thinking="Hmm."), reply_text("Here.")]
    with LocalModelServer(script, style="mistral") as server:
        result = await Agent(model_on(server)).run("Hi")
        bodies = server.bodies
    assert result.output == "Here."
    for body in bodies:
        check_mistral_request(body)


async def test_tools_never_see_the_thinking() -> None:
    """A tool's RunContext holds the conversation without the model's thinking."""
    seen: list[Any] = []

    @tool
    def look(ctx: RunContext[None], city: str) -> str:
        """Look a city up."""
        seen.extend(ctx.messages)
        return "ok"

    script = [reply_tool_calls(("look", {"city": "Oslo"}), thinking="PRIVATE"), reply_text("ok")]
    with LocalModelServer(script, style="mistral") as server:
        result = await Agent(model_on(server), tools=[look]).run("Go")
    assert seen and "PRIVATE" not in json.dumps([m.model_dump() for m in seen])
    assert any(isinstance(m, AssistantMessage) and m.thinking for m in result.messages)


def test_thinking_part_dumps_and_loads() -> None:
    """A ThinkingPart with a signature survives JSON; messages without thinking dump as before."""
    message = AssistantMessage(
        content="x", thinking=(ThinkingPart(text="t", signature="sig", provider="p"),)
    )
    data = dump_messages([message])
    assert load_messages(data) == [message]
    assert b"thinking" not in dump_messages([AssistantMessage(content="x")])
    assert b"signature" not in dump_messages(
        [AssistantMessage(content="x", thinking=(ThinkingPart(text="t"),))]
    )


async def test_a_reasoning_field_that_is_not_text_is_not_thinking() -> None:
    """A gateway's own structure under ``reasoning`` (not text) is left alone: no thinking,
    no error, the answer as usual."""
    answer = {
        "role": "assistant",
        "content": "Done.",
        "reasoning": {"effort": "high"},
        "reasoning_details": [{"type": "reasoning.encrypted", "data": "opaque"}],
    }
    body = {
        "id": "gen-1",
        "object": "chat.completion",
        "model": "some/model",
        "choices": [{"index": 0, "message": answer, "finish_reason": "stop"}],
    }
    with LocalModelServer([Reply(body=json.dumps(body).encode())], style="openai") as server:
        result = await Agent(model_on(server, "some/model")).run("Go")
    message = result.messages[-1]
    assert isinstance(message, AssistantMessage)
    assert result.output == "Done." and message.thinking == ()
