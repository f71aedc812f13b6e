"""The 2026 model line: Mistral Small 4 / Medium 3.5 / Large 4 and OpenAI's reasoning models
(``o*``, ``gpt-5*``), their profiles, and the one ``reasoning`` setting, over a local server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support import model_on, validate_request

from agentkit import Agent, ConfigurationError, ModelSettings
from agentkit._errors import BadRequestError
from agentkit.messages import SystemMessage, UserMessage
from agentkit.models import (
    MISTRAL_LARGE_4_PROFILE,
    MISTRAL_MEDIUM_3_5_PROFILE,
    MISTRAL_SMALL_4_PROFILE,
    MISTRAL_SMALL_PROFILE,
    OPENAI_PROFILE,
    ModelRequest,
    complete,
    profile_for,
)
from agentkit.testing.server import (
    LocalModelServer,
    RecordedRequest,
    Reply,
    reply_error,
    reply_text,
)

ASK = ModelRequest(
    messages=[SystemMessage(content="Be brief."), UserMessage(content="What is 17 * 23?")]
)

MAX_TOKENS_REFUSED = {
    "error": {
        "message": (
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead."
        ),
        "type": "invalid_request_error",
        "param": "max_tokens",
        "code": "unsupported_parameter",
    }
}
"""OpenAI's answer to ``max_tokens`` sent to a reasoning model: the shape of the real 400
(github-issues/openai_error_bodies.json in the shared recordings), written out here."""


def openai_reasoning_server(request: RecordedRequest) -> Reply:
    """A server that answers like OpenAI's reasoning models: 400 to ``max_tokens`` and to a
    non-default temperature, an answer otherwise."""
    body = request.body
    if "max_tokens" in body:
        return reply_error(400, body=MAX_TOKENS_REFUSED)
    if body.get("temperature", 1) != 1:
        return reply_error(400, "Unsupported value: 'temperature' does not support 0.2.")
    return reply_text("391")


# --------------------------------------------------------------------------- profiles


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mistral-small-2603", MISTRAL_SMALL_4_PROFILE),
        ("mistral-small-latest", MISTRAL_SMALL_4_PROFILE),
        ("mistral/mistral-small-latest", MISTRAL_SMALL_4_PROFILE),
        ("mistral-small-2506", MISTRAL_SMALL_PROFILE),
        ("mistral-medium-2604", MISTRAL_MEDIUM_3_5_PROFILE),
        ("mistral-medium-latest", MISTRAL_MEDIUM_3_5_PROFILE),
        ("mistral-large-4", MISTRAL_LARGE_4_PROFILE),
    ],
)
def test_mistral_names_get_their_profiles(name: str, expected: Any) -> None:
    """Each Mistral name, directly or behind a gateway, gets its model's profile."""
    assert profile_for(name) is expected


def test_small_4_profile_has_the_published_numbers() -> None:
    """Small 4: 256K context, vision, tools, none/high reasoning, $0.15/$0.60, cached 10%."""
    profile = profile_for("mistral-small-latest")
    assert profile.context_window == 256_000
    assert profile.supports_vision and profile.supports_tools
    assert profile.reasoning_levels == ("none", "high")
    assert profile.price is not None
    assert (profile.price.input_per_mtok, profile.price.output_per_mtok) == (0.15, 0.60)
    assert profile.price.cached_input_per_mtok == pytest.approx(0.015)
    assert profile.max_tokens_field == "max_tokens"  # Mistral answers 422 to the other
    assert profile.max_output_tokens < profile.context_window  # room left for the input


@pytest.mark.parametrize(
    "profile", [MISTRAL_SMALL_PROFILE, MISTRAL_SMALL_4_PROFILE, MISTRAL_MEDIUM_3_5_PROFILE]
)
def test_every_priced_mistral_profile_prices_cached_tokens_at_a_tenth(profile: Any) -> None:
    """Mistral bills cached prompt tokens at 10% of the input price."""
    price = profile.price
    assert price.cached_input_per_mtok == pytest.approx(price.input_per_mtok / 10)


@pytest.mark.parametrize(
    ("name", "levels"),
    [
        ("o3-mini", ("low", "medium", "high")),
        ("openai/o4-mini", ("low", "medium", "high")),
        ("o1", ("low", "medium", "high")),
        ("gpt-5-mini", ("minimal", "low", "medium", "high")),
        ("gpt-5", ("minimal", "low", "medium", "high")),
        ("gpt-5.1", ("none", "low", "medium", "high")),
        ("gpt-5.2", ("none", "low", "medium", "high", "xhigh")),
    ],
)
def test_openai_reasoning_names_get_a_reasoning_profile(name: str, levels: tuple[str, ...]) -> None:
    """``o*`` and ``gpt-5*`` models send max_completion_tokens, developer messages, no
    temperature, and list their reasoning levels."""
    profile = profile_for(name)
    assert profile.max_tokens_field == "max_completion_tokens"
    assert profile.system_role == "developer"
    assert "temperature" in profile.rejected_fields
    assert profile.reasoning_levels == levels


@pytest.mark.parametrize("name", ["gpt-4o", "gpt-5-chat-latest", "ollama-llama3", "olmo-2-7b"])
def test_other_names_do_not_get_the_reasoning_profile(name: str) -> None:
    """Non-reasoning OpenAI models and names that merely start with ``o`` keep max_tokens."""
    profile = profile_for(name)
    assert profile.max_tokens_field == "max_tokens"
    assert profile.reasoning_levels == ()


# ------------------------------------------------------------------ OpenAI's reasoning models


@pytest.mark.anyio
async def test_max_tokens_to_a_reasoning_model_fails_as_before() -> None:
    """Sent with the old profile (max_tokens), gpt-5-mini's 400 names the parameter."""
    with LocalModelServer(openai_reasoning_server) as server:
        model = model_on(server, "gpt-5-mini", profile=OPENAI_PROFILE)
        with pytest.raises(BadRequestError, match="Use 'max_completion_tokens'"):
            await complete(model, ASK)
    assert "max_tokens" in server.bodies[0]


@pytest.mark.anyio
async def test_gpt_5_mini_is_spoken_to_correctly() -> None:
    """``OpenAIChatModel("gpt-5-mini")`` sends max_completion_tokens, developer
    instructions and no temperature (the user's is dropped), and gets its answer."""
    with LocalModelServer(openai_reasoning_server) as server:
        model = model_on(server, "gpt-5-mini")
        settings = ModelSettings(temperature=0.2, max_tokens=2_000, reasoning="low")
        response = await complete(model, ModelRequest(messages=ASK.messages, settings=settings))
    assert response.message.content == "391"
    body = server.bodies[0]
    assert body["max_completion_tokens"] == 2_000
    assert "max_tokens" not in body and "temperature" not in body
    assert body["messages"][0] == {"role": "developer", "content": "Be brief."}
    assert body["reasoning_effort"] == "low"


@pytest.mark.anyio
async def test_an_agent_on_o3_mini_runs() -> None:
    """A whole agent run on o3-mini goes through a server that refuses max_tokens."""
    with LocalModelServer(openai_reasoning_server) as server:
        agent = Agent(model_on(server, "o3-mini"), instructions="Be brief.")
        result = await agent.run("What is 17 * 23?")
    assert result.output == "391"
    assert server.bodies[0]["max_completion_tokens"] == 32_768


# --------------------------------------------------------------------------- the reasoning setting


@pytest.mark.anyio
async def test_reasoning_is_sent_as_mistral_reasoning_effort_and_passes_mistral_rules() -> None:
    """``reasoning="high"`` on Small 4 is sent as ``reasoning_effort: "high"``, with
    ``max_tokens`` and no ``prompt_mode``; the request passes mistral-common's validator."""
    with LocalModelServer([reply_text("391")], style="mistral") as server:
        agent = Agent(
            model_on(server, "mistral-small-latest"),
            instructions="Be brief.",
            settings=ModelSettings(reasoning="high"),
        )
        await agent.run("What is 17 * 23?")
    body = server.bodies[0]
    assert body["reasoning_effort"] == "high"
    assert body["max_tokens"] == MISTRAL_SMALL_4_PROFILE.max_output_tokens
    assert "prompt_mode" not in body
    assert "temperature" not in body
    validate_request(body)


@pytest.mark.anyio
async def test_reasoning_none_is_a_level_too() -> None:
    """``reasoning="none"`` switches Small 4's thinking off explicitly."""
    with LocalModelServer([reply_text("391")], style="mistral") as server:
        request = ModelRequest(messages=ASK.messages, settings=ModelSettings(reasoning="none"))
        await complete(model_on(server, "mistral-small-2603"), request)
    assert server.bodies[0]["reasoning_effort"] == "none"


@pytest.mark.anyio
async def test_a_level_the_model_lacks_is_refused_before_sending() -> None:
    """Small 4 has no ``medium``: a clear ConfigurationError, and nothing is sent."""
    with LocalModelServer([reply_text("391")], style="mistral") as server:
        agent = Agent(model_on(server, "mistral-small-latest"))
        with pytest.raises(ConfigurationError) as info:
            await agent.run("hi", settings=ModelSettings(reasoning="medium"))
    assert server.requests == []
    message = str(info.value)
    assert "'medium'" in message and "'none', 'high'" in message
    assert "mistral-small-latest" in message


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["mistral-small-2506", "local-model"])
async def test_reasoning_is_left_out_for_models_that_do_not_reason(name: str) -> None:
    """Small 3.2 and unknown servers do not reason: the setting is not sent (so the same
    settings work across a FallbackModel's models)."""
    with LocalModelServer([reply_text("391")], style="mistral") as server:
        request = ModelRequest(messages=ASK.messages, settings=ModelSettings(reasoning="high"))
        await complete(model_on(server, name), request)
    assert "reasoning_effort" not in server.bodies[0]
    assert "prompt_mode" not in server.bodies[0]


@pytest.mark.anyio
async def test_no_reasoning_setting_sends_no_reasoning_field() -> None:
    """Unset, nothing is sent: the model's own default applies."""
    with LocalModelServer([reply_text("391")], style="mistral") as server:
        await complete(model_on(server, "mistral-small-latest"), ASK)
    body = server.bodies[0]
    assert "reasoning_effort" not in body and "prompt_mode" not in body
    assert json.dumps(body).count("reasoning") == 0
