"""The context window with a FallbackModel, over real HTTP: each model of the chain
receives the request fitted to its own window, trimmed by the same rules as for a single
model, while usage limits keep bounding every model of the chain."""

from __future__ import annotations

from typing import Any

import pytest
from support import model_on, tool_history

from agentkit import (
    Agent,
    AgentEvent,
    ContextTrimmedEvent,
    ContextWindow,
    ContextWindowExceededError,
    Message,
    ModelSettings,
    SystemMessage,
    UsageLimitExceeded,
    UsageLimits,
    UserMessage,
    count_tokens,
)
from agentkit.models import FallbackModel, ModelProfile, OpenAIChatModel, RetryPolicy
from agentkit.models.dialect import convert_messages
from agentkit.models.profiles import GENERIC_PROFILE, MISTRAL_SMALL_PROFILE
from agentkit.testing.server import LocalModelServer, reply_error, reply_text

SMALL_WINDOW = 3_000
MAX_TOKENS = 500
INSTRUCTIONS = "Answer from the tool results."
PROMPT = "What about the newest topic?"
NO_RETRY = RetryPolicy(max_retries=0)


def _model(server: LocalModelServer, name: str, profile: ModelProfile) -> OpenAIChatModel:
    return model_on(server, name, profile=profile, retry=NO_RETRY)


HISTORY = tool_history(60)  # about 20 KB: far more than SMALL_WINDOW, far less than 128k


def _sent(body: dict[str, Any], profile: ModelProfile) -> list[Message]:
    """The messages a wire body carries: the system message, the newest whole turns of
    HISTORY, the prompt (checked against the body itself)."""
    kept = len(body["messages"]) - 2
    messages: list[Message] = [
        SystemMessage(content=INSTRUCTIONS),
        *HISTORY[len(HISTORY) - kept :],
        UserMessage(content=PROMPT),
    ]
    assert convert_messages(messages, profile) == body["messages"]
    return messages


def _agent(model: FallbackModel, **kwargs: Any) -> Agent[None, str]:
    return Agent(
        model, instructions=INSTRUCTIONS, settings=ModelSettings(max_tokens=MAX_TOKENS), **kwargs
    )


@pytest.mark.anyio
async def test_the_fallback_receives_the_request_fitted_to_its_own_window() -> None:
    """The 128k primary gets the whole request and answers 500; the backup with a
    3,000-token window gets the same request without its oldest whole turns, within its
    window by count_tokens, and one ContextTrimmedEvent reports that trim."""
    small = MISTRAL_SMALL_PROFILE.with_changes(context_window=SMALL_WINDOW)
    with (
        LocalModelServer([reply_error(500, "down")], style="mistral") as primary,
        LocalModelServer([reply_text("Here is what I found.")], style="mistral") as backup,
    ):
        model = FallbackModel(
            _model(primary, "mistral-small-2506", MISTRAL_SMALL_PROFILE),
            _model(backup, "mistral-small-small", small),
        )
        async with _agent(model).run_stream(PROMPT, message_history=HISTORY) as stream:
            events: list[AgentEvent] = [e async for e in stream]
        first, second = primary.bodies[0], backup.bodies[0]
    assert stream.result.output == "Here is what I found."
    assert _sent(first, MISTRAL_SMALL_PROFILE) == [
        SystemMessage(content=INSTRUCTIONS),
        *HISTORY,
        UserMessage(content=PROMPT),
    ]
    fitted = _sent(second, small)
    assert len(fitted) < len(HISTORY) + 2 and (len(fitted) - 2) % 4 == 0
    assert second["max_tokens"] == MAX_TOKENS
    assert count_tokens(fitted, model=small) + MAX_TOKENS <= SMALL_WINDOW
    trims = [e for e in events if isinstance(e, ContextTrimmedEvent)]
    assert trims == [
        ContextTrimmedEvent(
            dropped=len(HISTORY) + 2 - len(fitted),
            input_tokens=count_tokens(fitted, model=small),
            limit=SMALL_WINDOW - MAX_TOKENS,
        )
    ]
    assert len(stream.result.messages) == 1 + len(HISTORY) + 2


@pytest.mark.anyio
async def test_each_model_of_a_chain_is_fitted_to_its_own_window() -> None:
    """A 429 from a primary of 6,000 tokens, then a backup of 3,000 counted as bytes (a
    generic profile): each request fits its own model's window, each trim is reported."""
    medium = MISTRAL_SMALL_PROFILE.with_changes(context_window=2 * SMALL_WINDOW)
    generic = GENERIC_PROFILE.with_changes(context_window=SMALL_WINDOW)
    with (
        LocalModelServer([reply_error(429, "slow down")], style="mistral") as primary,
        LocalModelServer([reply_text("Found it.")]) as backup,
    ):
        model = FallbackModel(
            _model(primary, "mistral-small-2506", medium), _model(backup, "local", generic)
        )
        async with _agent(model).run_stream(PROMPT, message_history=HISTORY) as stream:
            events: list[AgentEvent] = [e async for e in stream]
        first, second = primary.bodies[0], backup.bodies[0]
    assert stream.result.output == "Found it."
    to_first, to_second = _sent(first, medium), _sent(second, generic)
    assert count_tokens(to_first, model=medium) + MAX_TOKENS <= 2 * SMALL_WINDOW
    assert count_tokens(to_second, model=generic) + MAX_TOKENS <= SMALL_WINDOW
    assert len(HISTORY) + 2 > len(to_first) > len(to_second)
    trims = [e for e in events if isinstance(e, ContextTrimmedEvent)]
    assert [t.limit for t in trims] == [2 * SMALL_WINDOW - MAX_TOKENS, SMALL_WINDOW - MAX_TOKENS]


@pytest.mark.anyio
async def test_a_fallback_too_small_under_the_error_policy_raises() -> None:
    """With policy='error', the primary gets the whole request and answers 500; the
    request does not fit the backup, so ContextWindowExceededError names the backup and
    the primary's failure, and nothing reaches the backup."""
    small = MISTRAL_SMALL_PROFILE.with_changes(context_window=SMALL_WINDOW)
    with (
        LocalModelServer([reply_error(500, "down")], style="mistral") as primary,
        LocalModelServer([reply_text("never")], style="mistral") as backup,
    ):
        model = FallbackModel(
            _model(primary, "mistral-small-2506", MISTRAL_SMALL_PROFILE),
            _model(backup, "mistral-small-small", small),
        )
        agent = _agent(model, hooks=[ContextWindow(policy="error")])
        with pytest.raises(ContextWindowExceededError, match="policy is 'error'") as caught:
            await agent.run(PROMPT, message_history=HISTORY)
        assert len(_sent(primary.bodies[0], MISTRAL_SMALL_PROFILE)) == len(HISTORY) + 2
        assert backup.requests == []
    assert "'mistral-small-small'" in str(caught.value)
    assert caught.value.limit == SMALL_WINDOW - MAX_TOKENS
    assert any("mistral-small-2506 (ServerError)" in note for note in caught.value.__notes__)


@pytest.mark.anyio
async def test_a_primary_that_answers_gets_the_whole_request() -> None:
    """When the 128k primary answers, it gets the whole request, untrimmed, and no trim
    is reported, though the backup's window is small."""
    small = MISTRAL_SMALL_PROFILE.with_changes(context_window=SMALL_WINDOW)
    with (
        LocalModelServer([reply_text("From the primary.")], style="mistral") as primary,
        LocalModelServer([reply_text("never")], style="mistral") as backup,
    ):
        model = FallbackModel(
            _model(primary, "mistral-small-2506", MISTRAL_SMALL_PROFILE),
            _model(backup, "mistral-small-small", small),
        )
        async with _agent(model).run_stream(PROMPT, message_history=HISTORY) as stream:
            events: list[AgentEvent] = [e async for e in stream]
        assert len(_sent(primary.bodies[0], MISTRAL_SMALL_PROFILE)) == len(HISTORY) + 2
        assert backup.requests == []
    assert stream.result.output == "From the primary."
    assert not any(isinstance(e, ContextTrimmedEvent) for e in events)


@pytest.mark.anyio
async def test_a_backup_with_a_window_is_fitted_behind_a_primary_without_one() -> None:
    """A primary whose profile knows no window leaves the chain's window unknown, yet
    the small backup still gets a request that fits its own."""
    small = MISTRAL_SMALL_PROFILE.with_changes(context_window=SMALL_WINDOW)
    unknown = MISTRAL_SMALL_PROFILE.with_changes(context_window=None)
    with (
        LocalModelServer([reply_error(503, "overloaded")], style="mistral") as primary,
        LocalModelServer([reply_text("Found it.")], style="mistral") as backup,
    ):
        model = FallbackModel(
            _model(primary, "mistral-small-2506", unknown),
            _model(backup, "mistral-small-small", small),
        )
        assert model.profile.context_window is None
        result = await _agent(model).run(PROMPT, message_history=HISTORY)
        assert len(_sent(primary.bodies[0], unknown)) == len(HISTORY) + 2
        fitted = _sent(backup.bodies[0], small)
    assert result.output == "Found it."
    assert count_tokens(fitted, model=small) + MAX_TOKENS <= SMALL_WINDOW


@pytest.mark.anyio
async def test_a_nested_chain_fits_each_of_its_models() -> None:
    """A FallbackModel inside a FallbackModel: the innermost small model that answers
    still gets a request that fits its own window."""
    small = MISTRAL_SMALL_PROFILE.with_changes(context_window=SMALL_WINDOW)
    with (
        LocalModelServer([reply_error(500, "down")], style="mistral") as primary,
        LocalModelServer([reply_error(500, "down")], style="mistral") as middle,
        LocalModelServer([reply_text("Found it.")], style="mistral") as backup,
    ):
        model = FallbackModel(
            _model(primary, "mistral-small-2506", MISTRAL_SMALL_PROFILE),
            FallbackModel(
                _model(middle, "mistral-small-middle", MISTRAL_SMALL_PROFILE),
                _model(backup, "mistral-small-small", small),
            ),
        )
        result = await _agent(model).run(PROMPT, message_history=HISTORY)
        assert len(_sent(middle.bodies[0], MISTRAL_SMALL_PROFILE)) == len(HISTORY) + 2
        fitted = _sent(backup.bodies[0], small)
    assert result.output == "Found it."
    assert count_tokens(fitted, model=small) + MAX_TOKENS <= SMALL_WINDOW


@pytest.mark.anyio
async def test_usage_limits_still_bound_the_whole_chain() -> None:
    """The limits check a FallbackModel's request at the chain's bound (the whole
    request, the largest window, the dearest price), not at what its smallest model would
    get: a budget the backup's fitted request fits but the primary's would not is refused
    before anything is sent."""
    small = MISTRAL_SMALL_PROFILE.with_changes(context_window=SMALL_WINDOW)
    with (
        LocalModelServer([reply_text("never")], style="mistral") as primary,
        LocalModelServer([reply_text("never")], style="mistral") as backup,
    ):
        model = FallbackModel(
            _model(primary, "mistral-small-2506", MISTRAL_SMALL_PROFILE),
            _model(backup, "mistral-small-small", small),
        )
        agent = _agent(model)
        with pytest.raises(UsageLimitExceeded, match="input_tokens"):
            await agent.run(
                PROMPT,
                message_history=HISTORY,
                usage_limits=UsageLimits(input_tokens=2 * SMALL_WINDOW),
            )
        assert primary.requests == [] and backup.requests == []
