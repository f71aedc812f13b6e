"""Histories a provider would refuse, as each dialect sends them: invalid tool names, a
history trimmed to start with a call, unanswered calls, duplicate call ids, orphan results."""

from __future__ import annotations

import re
from typing import Any

import pytest
from support import get_weather, model_on

from agentkit import Agent
from agentkit.messages import AssistantMessage, Message, ToolCall, ToolMessage, UserMessage
from agentkit.models import dialect
from agentkit.models.dialect import MISSING_RESULT_TEXT, convert_messages
from agentkit.models.profiles import GENERIC_PROFILE, MISTRAL_SMALL_PROFILE, OPENAI_PROFILE
from agentkit.testing import check_mistral_conversation
from agentkit.testing.server import LocalModelServer, reply_text, reply_tool_calls

MISTRAL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def _call(id_: str, name: str = "get_weather") -> ToolCall:
    return ToolCall(id=id_, name=name, arguments='{"city": "Paris"}')


@pytest.mark.parametrize(
    "bad_name", ["functions.get_weather", "", "get weather", "x" * 80, "wéather"]
)
@pytest.mark.anyio
async def test_invalid_tool_names_are_sanitized_on_the_wire(bad_name: str) -> None:
    """A tool name Mistral would refuse is told "unknown tool" and resent in a valid form."""
    replies = [reply_tool_calls((bad_name, {"city": "Paris"})), reply_text("Sorry.")]
    with LocalModelServer(replies, style="mistral") as server:
        result = await Agent(model_on(server), tools=[get_weather]).run("Weather?")
    sent = server.bodies[1]["messages"]
    name = sent[1]["tool_calls"][0]["function"]["name"]
    assert MISTRAL_NAME.fullmatch(name)
    assert "Unknown tool" in sent[2]["content"] and repr(bad_name) in sent[2]["content"]
    said = result.messages[1]
    assert isinstance(said, AssistantMessage)
    assert said.tool_calls[0].name == bad_name  # the record keeps what the model said
    check_mistral_conversation(result.messages)


def test_sanitized_names_are_valid_for_every_profile() -> None:
    """OpenAI's rule for names is Mistral's: no profile sends ``functions.x`` back."""
    messages: list[Message] = [
        UserMessage(content="u"),
        AssistantMessage(tool_calls=(_call("c1", "functions.get_weather"),)),
        ToolMessage(tool_call_id="c1", name="functions.get_weather", content="Unknown tool"),
    ]
    for profile in (OPENAI_PROFILE, GENERIC_PROFILE):
        wire = convert_messages(messages, profile)
        assert wire[1]["tool_calls"][0]["function"]["name"] == "functions_get_weather"


def _trimmed() -> list[Message]:
    return [
        AssistantMessage(tool_calls=(_call("aaaaaaaa1"),)),
        ToolMessage(tool_call_id="aaaaaaaa1", name="get_weather", content="Paris: 21 C"),
        AssistantMessage(content="It is 21 C."),
        UserMessage(content="And tomorrow?"),
    ]


def test_history_starting_with_a_tool_call_gets_a_user_message_first() -> None:
    """A trimmed history (``messages[-12:]``) that starts with a call is valid for Mistral."""
    wire = convert_messages(_trimmed(), MISTRAL_SMALL_PROFILE)
    assert wire[0] == {"role": "user", "content": dialect.TRIMMED_HISTORY_TEXT}
    assert [m["role"] for m in wire[1:]] == ["assistant", "tool", "assistant", "user"]
    check_mistral_conversation(_trimmed())


def test_trimmed_history_with_a_system_message_keeps_it_first() -> None:
    """Instructions stay first; the user message goes between them and the first call."""
    from agentkit.messages import SystemMessage

    wire = convert_messages([SystemMessage(content="S"), *_trimmed()], MISTRAL_SMALL_PROFILE)
    assert [m["role"] for m in wire[:3]] == ["system", "user", "assistant"]


def _roles(wire: list[dict[str, Any]]) -> list[str]:
    return [m["role"] for m in wire]


@pytest.mark.parametrize("profile", [OPENAI_PROFILE, GENERIC_PROFILE], ids=lambda p: p.name)
def test_other_profiles_answer_unanswered_calls(profile: Any) -> None:
    """An unanswered call followed by a user message is answered before the user speaks."""
    messages: list[Message] = [
        UserMessage(content="u1"),
        AssistantMessage(tool_calls=(_call("c1"), _call("c2"))),
        ToolMessage(tool_call_id="c1", name="get_weather", content="r1"),
        UserMessage(content="u2"),
    ]
    wire = convert_messages(messages, profile)
    assert _roles(wire) == ["user", "assistant", "tool", "tool", "user"]
    assert wire[3] == {"role": "tool", "tool_call_id": "c2", "content": MISSING_RESULT_TEXT}


@pytest.mark.parametrize("profile", [OPENAI_PROFILE, GENERIC_PROFILE], ids=lambda p: p.name)
def test_other_profiles_make_duplicate_call_ids_distinct(profile: Any) -> None:
    """Two calls with one id go out with distinct ids, each answered by its own result."""
    messages: list[Message] = [
        UserMessage(content="u1"),
        AssistantMessage(tool_calls=(_call("dup"), _call("dup"))),
        ToolMessage(tool_call_id="dup", name="get_weather", content="r1"),
        ToolMessage(tool_call_id="dup", name="get_weather", content="r2"),
        AssistantMessage(tool_calls=(_call("dup"),)),
        ToolMessage(tool_call_id="dup", name="get_weather", content="r3"),
    ]
    wire = convert_messages(messages, profile)
    ids = [c["id"] for m in wire if m["role"] == "assistant" for c in m["tool_calls"]]
    assert len(set(ids)) == 3
    answered = [m["tool_call_id"] for m in wire if m["role"] == "tool"]
    assert answered == ids
    assert [m["content"] for m in wire if m["role"] == "tool"] == ["r1", "r2", "r3"]


@pytest.mark.parametrize("profile", [OPENAI_PROFILE, GENERIC_PROFILE], ids=lambda p: p.name)
def test_other_profiles_send_an_orphan_tool_result_as_text(profile: Any) -> None:
    """A tool message answering no call is sent as user text (OpenAI refuses it as a tool)."""
    messages: list[Message] = [
        UserMessage(content="u1"),
        ToolMessage(tool_call_id="nobody", name="get_time", content="orphan"),
    ]
    wire = convert_messages(messages, profile)
    assert wire[1] == {"role": "user", "content": "Result of tool 'get_time':\norphan"}
