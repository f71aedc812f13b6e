"""ReplayModel: a saved run replays as a model, tools run for real, differences fail with a diff.

Every recording here comes from a real run: an agent driving ``OpenAIChatModel``
against a ``LocalModelServer`` on 127.0.0.1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support import weather_tool

from agentkit._errors import ConfigurationError
from agentkit.agent import Agent
from agentkit.events import TextDeltaEvent, ToolCallArgsDeltaEvent, ToolCallStartedEvent
from agentkit.messages import AssistantMessage, Message, dump_messages, load_messages
from agentkit.models import Model
from agentkit.models.openai import OpenAIChatModel
from agentkit.testing.cassettes import use_cassette
from agentkit.testing.replay import (
    MistralRuleError,
    ReplayMismatchError,
    ReplayModel,
    check_mistral_cassette,
    check_mistral_conversation,
)
from agentkit.testing.server import LocalModelServer, Style, reply_text, reply_tool_calls

CALLS: list[str] = []
WEATHER = {"Paris": "Sunny, 24 C", "Lyon": "Rain, 12 C"}


get_weather = weather_tool(WEATHER, calls=CALLS)


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


def _agent(model: Model) -> Agent[None, str]:
    return Agent(model, instructions="Answer briefly.", tools=[get_weather])


async def _record(style: Style = "mistral", model_name: str = "mistral-small-2506") -> bytes:
    """Run the agent for real against a local server; return the saved conversation."""
    script = [
        reply_tool_calls(("get_weather", {"city": "Paris"})),
        reply_text("It is sunny in Paris, 24 C."),
    ]
    with LocalModelServer(script, style=style) as server:
        model = OpenAIChatModel(model_name, base_url=server.base_url)
        result = await _agent(model).run("What is the weather in Paris?")
        await model.aclose()
    CALLS.clear()
    return dump_messages(result.messages)


@pytest.mark.anyio
async def test_replay_plays_the_recorded_turns_while_tools_run_for_real() -> None:
    """The saved run replays offline: same output, the tool really called, every turn played."""
    saved = await _record()
    replay = ReplayModel(saved)
    result = await _agent(replay).run("What is the weather in Paris?")
    assert result.output == "It is sunny in Paris, 24 C."
    assert CALLS == ["Paris"]
    assert replay.all_played and replay.played == 2
    replay.assert_all_played()
    assert [m.model_dump() for m in result.messages] == [
        m.model_dump() for m in load_messages(saved)
    ]


@pytest.mark.anyio
async def test_a_changed_prompt_fails_with_a_diff() -> None:
    """A different prompt fails on the first request, with the changed line in a diff."""
    replay = ReplayModel(await _record())
    with pytest.raises(ReplayMismatchError) as info:
        await _agent(replay).run("What is the weather in Lyon?")
    message = str(info.value)
    assert "model request #1 differs from the recording" in message
    assert '-    "content": "What is the weather in Paris?"' in message
    assert '+    "content": "What is the weather in Lyon?"' in message
    assert CALLS == []


@pytest.mark.anyio
async def test_a_tool_that_now_answers_differently_fails_on_the_next_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When a tool's result changed, the request that carries it fails with that diff."""
    replay = ReplayModel(await _record())
    monkeypatch.setitem(WEATHER, "Paris", "Snow, -2 C")
    with pytest.raises(ReplayMismatchError) as info:
        await _agent(replay).run("What is the weather in Paris?")
    message = str(info.value)
    assert "model request #2 differs" in message
    assert '-    "content": "Sunny, 24 C",' in message
    assert '+    "content": "Snow, -2 C",' in message


@pytest.mark.anyio
async def test_a_request_past_the_recording_fails() -> None:
    """An agent that asks for more turns than were recorded gets a clear error."""
    messages = load_messages(await _record())
    first_turn_only = messages[:3]  # system, user, assistant tool call
    with pytest.raises(ReplayMismatchError, match=r"request #2, but the recording has only 1"):
        await _agent(ReplayModel(first_turn_only)).run("What is the weather in Paris?")


@pytest.mark.anyio
async def test_turns_left_unplayed_are_reported() -> None:
    """assert_all_played names the recorded turns the agent never asked for."""
    saved = load_messages(await _record())
    follow_up: list[Message] = [
        *saved,
        *load_messages(
            [
                {"role": "user", "content": "And tomorrow?"},
                {"role": "assistant", "content": "Also sunny."},
            ]
        ),
    ]
    replay = ReplayModel(follow_up)
    await _agent(replay).run("What is the weather in Paris?")
    assert not replay.all_played
    with pytest.raises(
        ReplayMismatchError, match=r"2 model requests but the recording has 3"
    ) as info:
        replay.assert_all_played()
    assert "turn 3: assistant: 'Also sunny.'" in str(info.value)


@pytest.mark.anyio
async def test_streamed_replay_emits_text_and_tool_call_deltas() -> None:
    """Streaming a replay yields the tool call and the answer as deltas, like a live model."""
    replay = ReplayModel(await _record())
    async with _agent(replay).run_stream("What is the weather in Paris?") as stream:
        events = [event async for event in stream]
    started = [e for e in events if isinstance(e, ToolCallStartedEvent)]
    assert [e.name for e in started] == ["get_weather"]
    args = "".join(e.delta for e in events if isinstance(e, ToolCallArgsDeltaEvent))
    assert args == '{"city": "Paris"}'
    deltas = [e.text for e in events if isinstance(e, TextDeltaEvent)]
    assert len(deltas) > 1
    assert "".join(deltas) == "It is sunny in Paris, 24 C."
    assert stream.result.output == "It is sunny in Paris, 24 C."
    assert CALLS == ["Paris"]


@pytest.mark.anyio
async def test_replay_from_a_file(tmp_path: Path) -> None:
    """from_file loads the JSON that dump_messages wrote."""
    path = tmp_path / "run.json"
    path.write_bytes(await _record())
    result = await _agent(ReplayModel.from_file(path)).run("What is the weather in Paris?")
    assert result.output == "It is sunny in Paris, 24 C."


def test_a_recording_without_assistant_turns_is_refused() -> None:
    """A recording with nothing to replay fails at construction, saying what to pass."""
    with pytest.raises(ConfigurationError, match=r"no assistant message"):
        ReplayModel([{"role": "user", "content": "Hi"}])


# --------------------------------------------------------------------------- Mistral's rules


@pytest.mark.anyio
async def test_a_conversation_from_another_server_passes_mistral_rules_through_the_dialect() -> (
    None
):
    """OpenAI-style ids recorded elsewhere are fine once agentkit's Mistral dialect maps them."""
    saved = await _record(style="openai", model_name="local-model")
    calls = [m for m in load_messages(saved) if isinstance(m, AssistantMessage) and m.tool_calls]
    assert calls[0].tool_calls[0].id.startswith("call_")
    check_mistral_conversation(saved)


@pytest.mark.anyio
async def test_a_conversation_sent_raw_breaks_mistral_rules() -> None:
    """Sent in a generic dialect, the same conversation breaks Mistral's id rule, on request #2."""
    saved = await _record(style="openai", model_name="local-model")
    with pytest.raises(MistralRuleError) as info:
        check_mistral_conversation(saved, model="local-model")
    assert info.value.request_index == 2
    assert "Tool call id" in info.value.rule
    assert "must be a-z, A-Z, 0-9, with a length of 9" in str(info.value)


@pytest.mark.anyio
async def test_a_recorded_cassette_passes_mistral_rules(tmp_path: Path) -> None:
    """Every chat request in a cassette recorded from a real run is checked (tools included)."""
    path = tmp_path / "run.yaml"
    script = [reply_tool_calls(("get_weather", {"city": "Paris"})), reply_text("Sunny.")]
    with LocalModelServer(script, style="openai") as server:
        model = OpenAIChatModel("local-model", base_url=server.base_url)
        with use_cassette(path, record_mode="once"):
            await _agent(model).run("What is the weather in Paris?")
        await model.aclose()
    assert check_mistral_cassette(path) == 2
    with pytest.raises(MistralRuleError, match=rf"cassette {path}: request #2"):
        check_mistral_cassette(path, model="local-model")


def test_mistral_checks_without_mistral_common_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without mistral-common the check fails with the extra to install."""
    monkeypatch.setitem(sys.modules, "mistral_common.protocol.instruct.request", None)
    with pytest.raises(
        ConfigurationError, match=r"pip install -e '\.\[mistral\]' in the agentkit clone"
    ):
        check_mistral_conversation([{"role": "user", "content": "Hi"}])
