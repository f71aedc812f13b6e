"""The agent loop, driven end to end by the scripted model (no network)."""

from __future__ import annotations

import threading
from typing import Any, Literal

import anyio
import pytest
from pydantic import BaseModel

from agentkit import (
    Agent,
    ModelPrice,
    ModelRetry,
    RunContext,
    Tool,
    ToolMessage,
    UserMessage,
    dump_messages,
    load_messages,
    tool,
)
from agentkit.messages import AssistantMessage, SystemMessage
from agentkit.testing.scripted import SCRIPTED_PROFILE, ScriptedModel, output_call, tool_calls

pytestmark = pytest.mark.anyio_backends("asyncio", "trio")


class Report(BaseModel):
    city: str
    temperature_c: float
    summary: str


PRICED = SCRIPTED_PROFILE.with_changes(price=ModelPrice(input_per_mtok=0.10, output_per_mtok=0.30))


def _weather_tools() -> tuple[list[Tool[Any]], list[str]]:
    """Two tools that can only finish if they run at the same time, and one that retries."""
    log: list[str] = []
    both_started = anyio.Event()
    started: set[str] = set()

    @tool
    async def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
        """Get the current weather for a city.

        Args:
            city: City name, for example "Paris".
            unit: Temperature unit.
        """
        started.add("weather")
        if len(started) == 2:
            both_started.set()
        with anyio.fail_after(5):  # a deadlock guard, not a timing assertion
            await both_started.wait()
        log.append(f"weather:{city}:{unit}")
        return f"{city}: 21 degrees {unit}, sunny"

    @tool
    async def get_air_quality(city: str) -> dict[str, object]:
        """Get the air quality index of a city."""
        started.add("air")
        if len(started) == 2:
            both_started.set()
        with anyio.fail_after(5):
            await both_started.wait()
        log.append(f"air:{city}")
        return {"city": city, "aqi": 42}

    @tool
    def get_forecast(ctx: RunContext[str], city: str, days: int) -> str:
        """Get the forecast for the next days."""
        log.append(f"forecast:{ctx.deps}:{days}:retry={ctx.retry}")
        if days > 2:
            raise ModelRetry("days must be 1 or 2")
        return "rain tomorrow"

    return [get_weather, get_air_quality, get_forecast], log


@pytest.mark.anyio
async def test_whole_run_with_every_kind_of_fixable_mistake() -> None:
    """Parallel tools, ModelRetry, bad arguments and bad output each go back to the model,
    then a valid Report ends the run, with usage summed over all five requests."""
    tools, log = _weather_tools()
    model = ScriptedModel(
        [
            tool_calls(("get_weather", {"city": "Paris"}), ("get_air_quality", {"city": "Paris"})),
            tool_calls(("get_forecast", {"city": "Paris", "days": 3})),
            tool_calls(("get_weather", {"city": "Paris", "unit": "kelvin"})),
            output_call({"city": "Paris", "temperature_c": "warm", "summary": "sunny"}),
            output_call({"city": "Paris", "temperature_c": 21, "summary": "Sunny, rain tomorrow"}),
        ],
        profile=PRICED,
    )
    agent = Agent(
        model,
        instructions="You are a weather assistant.",
        tools=tools,
        output_type=Report,
    )

    result = await agent.run("What's the weather in Paris?", deps="acme")

    assert result.output == Report(city="Paris", temperature_c=21, summary="Sunny, rain tomorrow")
    assert sorted(log) == ["air:Paris", "forecast:acme:3:retry=0", "weather:Paris:celsius"]
    answers = [m for m in result.messages if isinstance(m, ToolMessage)]
    assert [(a.name, a.content, a.is_error) for a in answers] == [
        ("get_weather", "Paris: 21 degrees celsius, sunny", False),
        ("get_air_quality", '{"city":"Paris","aqi":42}', False),
        ("get_forecast", "days must be 1 or 2", True),
        (
            "get_weather",
            "Invalid arguments for tool get_weather: 1 error:\n"
            "- unit: Input should be 'celsius' or 'fahrenheit' (got 'kelvin')\n"
            "Fix these arguments and call the tool again.",
            True,
        ),
        (
            "final_result",
            "The output failed validation:\n"
            "- temperature_c: Input should be a valid number, unable to parse string as a "
            "number (got 'warm')\n"
            "Fix these fields and send the whole output again.",
            True,
        ),
        ("final_result", "Final result received.", False),
    ]
    # What the model was sent back each turn: exactly the answers to its previous calls.
    assert model.requests[1].messages[-2:] == answers[0:2]
    assert model.requests[2].messages[-1] == answers[2]
    assert model.requests[3].messages[-1] == answers[3]
    assert model.requests[4].messages[-1] == answers[4]
    assert model.requests[0].messages == [
        SystemMessage(content="You are a weather assistant."),
        UserMessage(content="What's the weather in Paris?"),
    ]
    # The output tool is offered and required; the user's tools come first.
    assert [t.name for t in model.requests[0].tools] == [
        "get_weather",
        "get_air_quality",
        "get_forecast",
        "final_result",
    ]
    assert model.requests[0].tool_choice == "required"
    assert result.usage.requests == 5
    assert result.usage.input_tokens == 50
    assert result.usage.output_tokens == 25
    assert result.usage.cost_usd == pytest.approx((50 * 0.10 + 25 * 0.30) / 1e6)
    assert result.new_messages == result.messages
    assert load_messages(dump_messages(result.messages)) == result.messages


@pytest.mark.anyio
async def test_tool_results_come_back_in_call_order() -> None:
    """Tool answers follow the order of the calls even when later calls finish first
    (each call waits for the next one to finish, so they finish 2, 1, 0)."""
    finished: list[int] = []
    done = [anyio.Event() for _ in range(3)]

    @tool
    async def slow(n: int) -> int:
        """Return n after the later calls."""
        if n < 2:
            with anyio.fail_after(30):  # a hang guard (calls run one by one), not a timing check
                await done[n + 1].wait()
        finished.append(n)
        done[n].set()
        return n

    model = ScriptedModel(
        [tool_calls(("slow", {"n": 0}), ("slow", {"n": 1}), ("slow", {"n": 2})), "done"]
    )
    result = await Agent(model, tools=[slow]).run("go")
    answers = [m.content for m in result.messages if isinstance(m, ToolMessage)]
    assert answers == ["0", "1", "2"]
    assert finished == [2, 1, 0]


@pytest.mark.anyio
async def test_sync_tools_run_in_worker_threads() -> None:
    """A sync tool runs off the event loop's thread."""
    main = threading.get_ident()
    seen: list[int] = []

    @tool
    def where() -> str:
        """Say where it ran."""
        seen.append(threading.get_ident())
        return "ok"

    await Agent(ScriptedModel([tool_calls(("where", {})), "done"]), tools=[where]).run("go")
    assert seen and seen[0] != main


def test_run_sync_is_the_same_loop() -> None:
    """run_sync returns what run returns, from plain synchronous code."""
    model = ScriptedModel(["hello"])
    result = Agent(model).run_sync("hi")
    assert result.output == "hello"
    assert result.usage.requests == 1
    assert result.usage.cost_usd is None


@pytest.mark.anyio
async def test_message_history_continues_a_conversation() -> None:
    """A second run sends the first run's messages first and reports only its own as new."""
    model = ScriptedModel(["first", "second"])
    agent = Agent(model, instructions="Be brief.")
    first = await agent.run("one")
    second = await agent.run("two", message_history=first.messages)
    assert model.requests[1].messages == [
        SystemMessage(content="Be brief."),
        UserMessage(content="one"),
        AssistantMessage(content="first", finish_reason="stop", model_name="scripted"),
        UserMessage(content="two"),
    ]
    assert [type(m).__name__ for m in second.new_messages] == ["UserMessage", "AssistantMessage"]
    assert second.output == "second"


@pytest.mark.anyio
async def test_unknown_tool_lists_the_real_ones() -> None:
    """A call to a tool that does not exist is answered with the names that do."""

    @tool
    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    model = ScriptedModel([tool_calls(("multiply", {"a": 2, "b": 3})), "sorry"])
    result = await Agent(model, tools=[add]).run("2*3?")
    answer = result.messages[2]
    assert isinstance(answer, ToolMessage) and answer.is_error
    assert answer.content == "Unknown tool 'multiply'. The tools you can call are: add."


@pytest.mark.anyio
async def test_arguments_that_are_not_json_are_reported() -> None:
    """Broken JSON arguments are answered with the parser's reason and what to send."""

    @tool
    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    model = ScriptedModel(
        [tool_calls(("add", '{"a": 1, "b":')), tool_calls(("add", {"a": 1, "b": 2})), "3"]
    )
    result = await Agent(model, tools=[add]).run("1+2?")
    answer = result.messages[2]
    assert isinstance(answer, ToolMessage) and answer.is_error
    assert answer.content.startswith(
        "Invalid arguments for tool add: the arguments are not valid JSON ("
    )
    assert answer.content.endswith(
        "Send the arguments as one JSON object matching the tool's parameters."
    )
    assert result.output == "3"


@pytest.mark.anyio
async def test_text_when_structured_output_is_required() -> None:
    """Plain text where a final-result call was required is sent back with what to do."""
    model = ScriptedModel(
        ["It is sunny.", output_call({"city": "Paris", "temperature_c": 20, "summary": "sunny"})]
    )
    result = await Agent(model, output_type=Report).run("Paris?")
    assert model.requests[1].messages[-1] == UserMessage(
        content="You answered in plain text, but a structured answer is required: call the "
        "final_result tool with the answer as its arguments."
    )
    assert result.output.city == "Paris"


@pytest.mark.anyio
async def test_per_run_model_strings_are_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model string given per run is turned into a model once and reused by later runs."""
    import agentkit._run.start

    built: list[str] = []

    def infer(spec: str | None) -> ScriptedModel:
        built.append(str(spec))
        return ScriptedModel(["a", "b"])

    monkeypatch.setattr(agentkit._run.start, "_infer", infer)
    agent = Agent(ScriptedModel([]))
    first = await agent.run("one", model="mistral:mistral-small-2506")
    second = await agent.run("two", model="mistral:mistral-small-2506")
    assert (first.output, second.output) == ("a", "b")
    assert built == ["mistral:mistral-small-2506"]
