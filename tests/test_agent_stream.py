"""Streamed runs: the events, partial output, and cancelling a run midway."""

from __future__ import annotations

import anyio
import pytest
from pydantic import BaseModel
from support import weather_tool

from agentkit import (
    Agent,
    AgentRunError,
    FinalResultEvent,
    ModelResponseEvent,
    PartialOutputEvent,
    RetryEvent,
    TextDeltaEvent,
    ToolCallArgsDeltaEvent,
    ToolCallFinishedEvent,
    ToolCallStartedEvent,
    ToolMessage,
    tool,
)
from agentkit.messages import AssistantMessage
from agentkit.testing.scripted import ScriptedModel, output_call, text, tool_calls

pytestmark = pytest.mark.anyio_backends("asyncio", "trio")


class Report(BaseModel):
    city: str
    summary: str


get_weather = weather_tool("{city}: sunny")


@pytest.mark.anyio
async def test_stream_yields_text_tool_and_final_events_in_order() -> None:
    """A streamed run shows tool calls starting, their arguments, results, then text."""
    model = ScriptedModel([tool_calls(("get_weather", {"city": "Paris"})), text("It is sunny")])
    agent = Agent(model, tools=[get_weather])
    async with agent.run_stream("weather?") as stream:
        events = [event async for event in stream]
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "ToolCallStartedEvent"
    assert kinds[-1] == "FinalResultEvent"
    started = events[0]
    assert isinstance(started, ToolCallStartedEvent) and started.name == "get_weather"
    args = "".join(e.delta for e in events if isinstance(e, ToolCallArgsDeltaEvent))
    assert args == '{"city": "Paris"}'
    finished = [e for e in events if isinstance(e, ToolCallFinishedEvent)]
    assert [(f.name, f.content, f.is_error) for f in finished] == [
        ("get_weather", "Paris: sunny", False)
    ]
    assert "".join(e.text for e in events if isinstance(e, TextDeltaEvent)) == "It is sunny"
    assert sum(isinstance(e, ModelResponseEvent) for e in events) == 2
    assert stream.result.output == "It is sunny"
    final = events[-1]
    assert isinstance(final, FinalResultEvent) and final.result is stream.result


@pytest.mark.anyio
async def test_streamed_and_plain_runs_give_the_same_result() -> None:
    """run() and run_stream() are one loop: same messages, same usage."""
    script = [tool_calls(("get_weather", {"city": "Oslo"})), text("Cold")]
    plain = await Agent(ScriptedModel(script), tools=[get_weather]).run("go")
    async with Agent(ScriptedModel(script), tools=[get_weather]).run_stream("go") as stream:
        async for _ in stream:
            pass
    assert stream.result.messages == plain.messages
    assert stream.result.usage == plain.usage


@pytest.mark.anyio
async def test_partial_structured_output_grows() -> None:
    """The final-result arguments stream as partial outputs that grow to the final one."""
    model = ScriptedModel([output_call({"city": "Paris", "summary": "Sunny and warm all day"})])
    async with Agent(model, output_type=Report).run_stream("go") as stream:
        partials = [e.output async for e in stream if isinstance(e, PartialOutputEvent)]
    assert len(partials) >= 2
    assert all(isinstance(p, BaseModel) for p in partials)
    assert partials[-1].city == "Paris"
    assert stream.result.output == Report(city="Paris", summary="Sunny and warm all day")


@pytest.mark.anyio
async def test_retry_events_say_why() -> None:
    """A fixable mistake shows up as a RetryEvent with the feedback and retries left."""
    model = ScriptedModel(
        [output_call({"city": "Paris"}), output_call({"city": "P", "summary": "s"})]
    )
    async with Agent(model, output_type=Report).run_stream("go") as stream:
        retries = [e async for e in stream if isinstance(e, RetryEvent)]
    assert len(retries) == 1
    assert "summary: Field required" in retries[0].reason
    assert retries[0].retries_left == 2


@pytest.mark.anyio
async def test_result_before_the_end_is_a_clear_error() -> None:
    """Asking a stream for its result before iterating it says what to do."""
    async with Agent(ScriptedModel(["hi"])).run_stream("go") as stream:
        with pytest.raises(AgentRunError, match="iterate it to the end"):
            _ = stream.result


@pytest.mark.anyio
async def test_cancelling_the_consumer_leaves_the_conversation_valid() -> None:
    """Cancelling while a tool runs stops the run; the saved conversation has no open call."""
    tool_started = anyio.Event()

    @tool
    async def slow_lookup(key: str) -> str:
        """Takes forever."""
        tool_started.set()
        await anyio.sleep_forever()
        return key

    model = ScriptedModel([tool_calls(("slow_lookup", {"key": "a"})), text("never")])
    agent = Agent(model, tools=[slow_lookup])
    async with anyio.create_task_group() as tg:

        async def cancel_when_started() -> None:
            await tool_started.wait()
            tg.cancel_scope.cancel()

        tg.start_soon(cancel_when_started)
        async with agent.run_stream("go") as stream:
            async for _ in stream:
                pass
    scope = tg.cancel_scope
    assert scope.cancelled_caught
    messages = stream.messages
    assert [m.role for m in messages] == ["user"]
    assert not any(isinstance(m, (AssistantMessage, ToolMessage)) for m in messages)
    # The saved conversation can be sent again as is.
    result = await Agent(ScriptedModel(["fine"])).run("again", message_history=messages)
    assert result.output == "fine"
