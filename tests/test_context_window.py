"""The context window over real HTTP: every request sent fits the window by
mistral-common's own count and passes its request validator, trimming drops the oldest
whole turns (never a tool call without its result), and what cannot fit is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import lookup, mistral_count, model_on, tool_history

from agentkit import (
    Agent,
    AssistantMessage,
    ContextTrimmedEvent,
    ContextWindow,
    ContextWindowExceededError,
    Message,
    ModelSettings,
    SystemMessage,
    ToolCall,
    ToolMessage,
    UserMessage,
    count_tokens,
)
from agentkit.models import OpenAIChatModel
from agentkit.models.profiles import MISTRAL_SMALL_PROFILE
from agentkit.sessions import SQLiteSession
from agentkit.testing.server import (
    LocalModelServer,
    RecordedRequest,
    Reply,
    reply_text,
    reply_tool_calls,
)

WINDOW = 6_000
MAX_TOKENS = 500


def _model(server: LocalModelServer, window: int = WINDOW) -> OpenAIChatModel:
    return model_on(server, profile=MISTRAL_SMALL_PROFILE.with_changes(context_window=window))


def test_count_tokens_is_never_below_mistral_commons_count() -> None:
    """For histories of every size up to 60 turns with tool calls, with tools,
    count_tokens counts at least as many tokens as mistral-common encodes."""
    from agentkit.models.dialect import convert_messages, encode_tools

    tools = [lookup.definition]
    for turns in (0, 1, 5, 20, 60):
        messages = [
            SystemMessage(content="Be brief."),
            *tool_history(turns),
            UserMessage(content="Now?"),
        ]
        body = {
            "messages": convert_messages(messages, MISTRAL_SMALL_PROFILE),
            "tools": encode_tools(tools, MISTRAL_SMALL_PROFILE),
        }
        counted = count_tokens(messages, tools, model="mistral-small-2506")
        real = mistral_count(body)
        assert real <= counted <= real * 1.5 + 100, (turns, real, counted)


def test_the_estimate_for_other_models_errs_high() -> None:
    """Without a tokenizer (an OpenAI profile), the count is at least the Tekken count."""
    from agentkit.models.dialect import convert_messages

    messages = [*tool_history(10), UserMessage(content="Now?")]
    body = {"messages": convert_messages(messages, MISTRAL_SMALL_PROFILE)}
    assert count_tokens(messages, model="gpt-4o") >= mistral_count(body)


@pytest.mark.anyio
async def test_a_sixty_turn_session_is_trimmed_to_fit_every_request(tmp_path: Path) -> None:
    """A 60-turn session with tool calls, a 6,000-token window: every request fits by
    mistral-common's count and passes its validator, keeps the system message and the
    current turn, drops whole old turns (reported as events), while the result and the
    session keep everything."""
    session = SQLiteSession(tmp_path / "chats.db", "long")
    await session.save_turn(tool_history(60), paused=False, resumed=False)
    counted: list[int] = []

    def server_side(request: RecordedRequest) -> Reply:
        body = request.body
        counted.append(mistral_count(body) + body["max_tokens"])
        if body["messages"][-1]["role"] == "user":
            return reply_tool_calls(("lookup", {"query": "the newest topic"}))
        return reply_text("Here is what I found.")

    with LocalModelServer(server_side, style="mistral") as server:
        agent = Agent(
            _model(server),
            instructions="Answer from the tool results.",
            tools=[lookup],
            settings=ModelSettings(max_tokens=MAX_TOKENS),
        )
        async with agent.run_stream("What about the newest topic?", session=session) as stream:
            events = [e async for e in stream]
        result = stream.result
        bodies = server.bodies
    assert len(counted) == 2 and max(counted) <= WINDOW
    trims = [e for e in events if isinstance(e, ContextTrimmedEvent)]
    assert len(trims) == 2 and all(t.dropped > 0 and t.dropped % 4 == 0 for t in trims)
    assert all(t.input_tokens + MAX_TOKENS <= t.limit + MAX_TOKENS <= WINDOW for t in trims)
    for body in bodies:
        sent = body["messages"]
        assert sent[0] == {"role": "system", "content": "Answer from the tool results."}
        assert sent[1]["role"] == "user" and sent[1]["content"].startswith("Question ")
        assert any(m.get("content") == "What about the newest topic?" for m in sent)
        assert "Question 59" in json.dumps(sent)  # the newest old turn is kept
    assert len(bodies[1]["messages"]) == len(bodies[0]["messages"]) + 2 - (
        trims[1].dropped - trims[0].dropped
    )
    assert len(result.messages) == 1 + 240 + 4
    stored = await session.messages()
    assert len(stored) == 240 + 4 and stored[:240] == tool_history(60)


@pytest.mark.anyio
async def test_a_current_turn_too_long_is_refused_before_sending() -> None:
    """A prompt that alone passes the window raises ContextWindowExceededError, nothing
    sent, the conversation on the error."""
    with LocalModelServer([reply_text("never")], style="mistral") as server:
        agent = Agent(_model(server, window=1_000), settings=ModelSettings(max_tokens=100))
        with pytest.raises(ContextWindowExceededError) as caught:
            await agent.run("lorem ipsum " * 1_000, message_history=tool_history(3))
        assert server.requests == []
    error = caught.value
    assert error.limit == 900 and error.input_tokens > 900
    assert "Nothing was sent" in str(error)
    assert error.messages is not None and len(error.messages) == 13


@pytest.mark.anyio
async def test_the_error_policy_refuses_instead_of_trimming() -> None:
    """ContextWindow(policy='error') raises where the default would trim."""
    with LocalModelServer([reply_text("never")], style="mistral") as server:
        agent = Agent(
            _model(server),
            hooks=[ContextWindow(policy="error")],
            settings=ModelSettings(max_tokens=MAX_TOKENS),
        )
        with pytest.raises(ContextWindowExceededError, match="policy is 'error'"):
            await agent.run("Now?", message_history=tool_history(60))
        assert server.requests == []


@pytest.mark.anyio
async def test_a_request_that_fits_is_sent_unchanged() -> None:
    """A short history within the window is sent whole, with no trim event."""
    with LocalModelServer([reply_text("ok")], style="mistral") as server:
        agent = Agent(_model(server), settings=ModelSettings(max_tokens=MAX_TOKENS))
        async with agent.run_stream("Now?", message_history=tool_history(2)) as stream:
            events = [e async for e in stream]
        assert len(server.requests[0].body["messages"]) == 9
    assert not any(isinstance(e, ContextTrimmedEvent) for e in events)


def test_the_length_bound_is_never_below_the_count() -> None:
    """The quick check that lets most requests skip the tokenizer bounds the exact count
    from above, for plain, accented, CJK and emoji text in messages, arguments and results."""
    from agentkit.models import ModelRequest

    hook = ContextWindow()
    for sample in (
        "plain words",
        "déjà vu à Zürich",
        "東京の天気は晴れ",
        "🌧️🌈☀️ and \U0001d518\U0001d52b",
    ):
        args = json.dumps({"query": sample * 3}, ensure_ascii=False)
        messages: list[Message] = [
            SystemMessage(content=f"Be brief. {sample}"),
            UserMessage(content=sample * 5),
            AssistantMessage(
                content=sample, tool_calls=(ToolCall(id="c1", name="lookup", arguments=args),)
            ),
            ToolMessage(tool_call_id="c1", name="lookup", content=sample * 7),
        ]
        request = ModelRequest(messages=messages, tools=(lookup.definition,))
        exact = count_tokens(messages, (lookup.definition,), model="mistral-small-2506")
        assert not hook._surely_fits(request, exact - 1), sample
        assert hook._surely_fits(request, 100_000)


@pytest.mark.anyio
async def test_a_short_request_is_not_tokenized() -> None:
    """A request far inside the window is sent without counting its tokens (no tokenizer
    cost on ordinary runs); the default window still guards every Mistral run."""
    import agentkit.context as window
    import agentkit.tokens as tokens

    calls: list[str] = []
    original = tokens._counter_for

    def counting(profile: Any) -> Any:
        calls.append("counted")
        return original(profile)

    with LocalModelServer([reply_text("Hi.")], style="mistral") as server:
        model = OpenAIChatModel("mistral-small-2506", base_url=server.base_url, api_key="k")
        setattr(window, "_counter_for", counting)  # noqa: B010 (the window's own name)
        try:
            assert (await Agent(model).run("Hello")).output == "Hi."
        finally:
            setattr(window, "_counter_for", original)  # noqa: B010
    assert calls == []
