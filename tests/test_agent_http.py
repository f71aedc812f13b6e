"""The whole stack over real HTTP: Agent -> OpenAIChatModel -> openai SDK -> local server."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import BaseModel
from support import model_on, weather_tool

from agentkit import Agent, TextDeltaEvent, ToolCallFinishedEvent
from agentkit.testing.server import LocalModelServer, reply_text, reply_tool_calls


class Report(BaseModel):
    city: str
    temperature_c: float


get_weather = weather_tool("{city}: 21 C")


@pytest.mark.anyio
async def test_structured_run_over_http_speaks_mistral() -> None:
    """A tool call then a native JSON answer: the wire carries Mistral's rules throughout."""
    replies = [
        reply_tool_calls(("get_weather", {"city": "Paris"})),
        reply_text(json.dumps({"city": "Paris", "temperature_c": 21})),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        agent = Agent(
            model_on(server), instructions="Weather desk.", tools=[get_weather], output_type=Report
        )
        result = await agent.run("Paris?")
    assert result.output == Report(city="Paris", temperature_c=21)
    first, second = server.bodies
    assert first["model"] == "mistral-small-2506"
    assert first["max_tokens"] == 8192
    assert "max_completion_tokens" not in first
    assert first["response_format"]["type"] == "json_schema"
    assert first["response_format"]["json_schema"]["name"] == "Report"
    assert first["tools"][0]["function"]["name"] == "get_weather"
    assert first["messages"][0] == {"role": "system", "content": "Weather desk."}
    call = second["messages"][2]["tool_calls"][0]
    answer = second["messages"][3]
    assert re.fullmatch(r"[a-zA-Z0-9]{9}", call["id"])
    assert answer == {"role": "tool", "tool_call_id": call["id"], "content": "Paris: 21 C"}
    assert result.usage.requests == 2
    assert result.usage.cost_usd is not None and result.usage.cost_usd > 0


@pytest.mark.anyio
async def test_streamed_run_over_http() -> None:
    """A streamed run over SSE yields text deltas and tool results, and the same output."""
    replies = [
        reply_tool_calls(("get_weather", {"city": "Oslo"})),
        reply_text("Oslo is at 21 C today."),
    ]
    with LocalModelServer(replies, style="openai") as server:
        agent = Agent(model_on(server), tools=[get_weather])
        async with agent.run_stream("Oslo?") as stream:
            events = [e async for e in stream]
    assert (
        "".join(e.text for e in events if isinstance(e, TextDeltaEvent)) == "Oslo is at 21 C today."
    )
    finished = [e for e in events if isinstance(e, ToolCallFinishedEvent)]
    assert [f.content for f in finished] == ["Oslo: 21 C"]
    assert stream.result.output == "Oslo is at 21 C today."
    assert all(b["stream"] is True for b in server.bodies)
    assert stream.result.usage.requests == 2
