"""Committed cassettes, recorded for real against the local test server, replayed offline.

These tests are what a user's suite looks like: ``@pytest.mark.vcr`` tests whose
cassettes live in ``tests/cassettes/test_cassettes_recorded/``. Replaying (the
default) needs no server: the model points at a loopback port where nothing
listens. To record them again (the server starts only while recording)::

    python tools/record_cassettes.py --no-key tests/test_cassettes_recorded.py
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from agentkit.agent import Agent
from agentkit.events import RunResult, TextDeltaEvent
from agentkit.messages import AssistantMessage, SystemMessage, dump_messages, load_messages
from agentkit.models.openai import OpenAIChatModel
from agentkit.sessions import SQLiteSession
from agentkit.testing.cassettes import check_cassette, load_cassette_data
from agentkit.testing.replay import check_mistral_cassette, check_mistral_request
from agentkit.testing.server import (
    LocalModelServer,
    Reply,
    reply_json,
    reply_text,
    reply_tool_calls,
    usage,
)
from agentkit.tools import tool

CASSETTES = Path(__file__).parent / "cassettes"
DEAD_URL = "http://127.0.0.1:9/v1"  # nothing listens there: a replay never needs it

CALLS: list[str] = []


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    CALLS.append(city)
    return {"Paris": "Sunny, 24 C", "Oslo": "Snow, -3 C"}.get(city, "Unknown")


class Forecast(BaseModel):
    """A structured answer."""

    city: str
    temperature_c: int
    summary: str


SCRIPTS: dict[str, list[Reply]] = {
    "test_agent_with_a_tool": [
        reply_tool_calls(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"})),
        reply_text("Paris is sunny at 24 C; Oslo has snow at -3 C."),
    ],
    "test_streamed_answer": [
        reply_text("Bonjour! Paris is lovely in spring, with mild sunny days.")
    ],
    "test_structured_output": [
        reply_json({"city": "Paris", "temperature_c": 24, "summary": "Sunny"}),
    ],
}


def _reasoning_script() -> list[Reply]:
    """Three turns of a reasoning model, each thinking before its tool call and answer."""
    spent = usage(40, 30, reasoning_tokens=12)
    return [
        reply_tool_calls(
            ("get_weather", {"city": "Paris"}), thinking="Paris first: ask the tool.", usage=spent
        ),
        reply_text("Sunny, 24 C.", thinking="The tool says sunny.", usage=spent),
        reply_tool_calls(
            ("get_weather", {"city": "Oslo"}), thinking="Now Oslo, same tool.", usage=spent
        ),
        reply_text("Snow, -3 C.", thinking="Oslo has snow.", usage=spent),
        reply_tool_calls(
            ("get_weather", {"city": "Paris"}),
            ("get_weather", {"city": "Oslo"}),
            thinking="Compare: check both again.",
            usage=spent,
        ),
        reply_text("Paris is warmer.", thinking="24 beats -3.", usage=spent),
    ]


SCRIPTS["test_reasoning_conversation"] = _reasoning_script()
SCRIPTS["test_reasoning_conversation_streamed"] = _reasoning_script()
REASONING_THOUGHTS = [
    "Paris first: ask the tool.",
    "The tool says sunny.",
    "Now Oslo, same tool.",
    "Oslo has snow.",
    "Compare: check both again.",
    "24 beats -3.",
]


@pytest.fixture
def model(request: pytest.FixtureRequest, record_mode: str) -> Iterator[OpenAIChatModel]:
    """Mistral Small on the local server while recording; on a dead address while replaying."""
    CALLS.clear()
    if record_mode == "none":
        yield OpenAIChatModel("mistral-small-2506", base_url=DEAD_URL, api_key="test")
        return
    script = SCRIPTS[request.node.name]
    with LocalModelServer(script, style="mistral", model="mistral-small-2506") as server:
        yield OpenAIChatModel("mistral-small-2506", base_url=server.base_url, api_key="test")


@pytest.mark.vcr
@pytest.mark.anyio
async def test_agent_with_a_tool(model: OpenAIChatModel) -> None:
    """Two parallel tool calls run for real, and the recorded final answer comes back."""
    agent: Agent[None, str] = Agent(model, instructions="Answer briefly.", tools=[get_weather])
    result = await agent.run("Compare the weather in Paris and Oslo.")
    assert result.output == "Paris is sunny at 24 C; Oslo has snow at -3 C."
    assert sorted(CALLS) == ["Oslo", "Paris"]
    assert result.usage.requests == 2


@pytest.mark.vcr
@pytest.mark.anyio
async def test_streamed_answer(model: OpenAIChatModel) -> None:
    """A streamed answer replays as the same sequence of text deltas."""
    agent: Agent[None, str] = Agent(model, instructions="Answer briefly.")
    async with agent.run_stream("Say hello from Paris.") as stream:
        deltas = [e.text async for e in stream if isinstance(e, TextDeltaEvent)]
    assert "".join(deltas) == "Bonjour! Paris is lovely in spring, with mild sunny days."
    assert len(deltas) > 3


@pytest.mark.vcr
@pytest.mark.anyio
async def test_structured_output(model: OpenAIChatModel) -> None:
    """Structured output recorded as a json_schema request validates into the type."""
    agent: Agent[None, Forecast] = Agent(
        model, instructions="Give the forecast.", output_type=Forecast
    )
    result = await agent.run("Forecast for Paris?")
    assert result.output == Forecast(city="Paris", temperature_c=24, summary="Sunny")


async def _reasoning_turns(model: OpenAIChatModel, db: Path, *, stream: bool) -> list[Any]:
    """Three turns: the first from nothing, the second from a dump of the first, the
    third from a SQLite session holding the second; the messages of the last."""
    agent: Agent[None, str] = Agent(model, instructions="Answer briefly.", tools=[get_weather])

    async def turn(prompt: str, **kwargs: Any) -> RunResult[str]:
        if not stream:
            return await agent.run(prompt, **kwargs)
        async with agent.run_stream(prompt, **kwargs) as run:
            async for _ in run:
                pass
            return run.result

    first = await turn("Weather in Paris?")
    second = await turn("And Oslo?", message_history=load_messages(dump_messages(first.messages)))
    session = SQLiteSession(db, "reasoning")
    kept = [m for m in second.messages if not isinstance(m, SystemMessage)]
    await session.save_turn(kept, paused=False, resumed=False)
    third = await turn("Which is warmer?", session=session)
    assert third.output == "Paris is warmer."
    assert third.usage.reasoning_tokens == 24
    stored = (await SQLiteSession(db, "reasoning").load()).messages
    assert stored == [m for m in third.messages if not isinstance(m, SystemMessage)]
    return list(third.messages)


def _thoughts(messages: list[Any]) -> list[str]:
    return [p.text for m in messages if isinstance(m, AssistantMessage) for p in m.thinking]


@pytest.mark.vcr
@pytest.mark.anyio
async def test_reasoning_conversation(model: OpenAIChatModel, tmp_path: Path) -> None:
    """A three-turn reasoning conversation with tool calls replays with every thinking
    part, through a dump and a SQLite session, and each request sent it back."""
    messages = await _reasoning_turns(model, tmp_path / "chats.db", stream=False)
    assert _thoughts(messages) == REASONING_THOUGHTS
    assert load_messages(dump_messages(messages)) == messages


@pytest.mark.vcr
@pytest.mark.anyio
async def test_reasoning_conversation_streamed(model: OpenAIChatModel, tmp_path: Path) -> None:
    """The same conversation streamed replays its thinking chunks into the same parts."""
    messages = await _reasoning_turns(model, tmp_path / "chats.db", stream=True)
    assert _thoughts(messages) == REASONING_THOUGHTS


def test_reasoning_cassettes_send_thinking_back_as_mistral_chunks() -> None:
    """The recorded requests carry earlier thinking as thinking chunks (5 in the last),
    and each passes mistral-common's validator as it was sent."""
    for name in ("test_reasoning_conversation", "test_reasoning_conversation_streamed"):
        path = CASSETTES / "test_cassettes_recorded" / f"{name}.yaml"
        interactions = load_cassette_data(path)["interactions"]
        assert len(interactions) == 6
        for interaction in interactions:
            check_mistral_request(interaction["request"]["body"]["json"])
        last = interactions[-1]["request"]["body"]["json"]["messages"]
        chunks = [
            c["thinking"][0]["text"]
            for m in last
            if m["role"] == "assistant" and isinstance(m["content"], list)
            for c in m["content"]
            if c["type"] == "thinking"
        ]
        assert chunks == REASONING_THOUGHTS[:5]


def _committed() -> list[Path]:
    return sorted(CASSETTES.rglob("*.yaml"))


def test_committed_cassettes_hold_no_secret() -> None:
    """Every committed cassette passes the secret check and keeps the scrubbed headers."""
    files = _committed()
    assert len(files) >= 3
    for path in files:
        check_cassette(path)
        for interaction in load_cassette_data(path)["interactions"]:
            headers = interaction["request"]["headers"]
            assert headers.get("authorization", ["<scrubbed>"]) == ["<scrubbed>"], path


def test_committed_cassettes_follow_mistral_rules() -> None:
    """Every request recorded in a committed cassette is one Mistral would accept."""
    checked = sum(check_mistral_cassette(path) for path in _committed())
    assert checked >= 4
