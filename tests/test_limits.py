"""Usage limits over real HTTP: each request's worst case is checked before it is sent,
so the server's own count shows no budget is ever overshot."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from support import model_on

from agentkit import (
    Agent,
    ConfigurationError,
    MaxTurnsExceededError,
    ModelPrice,
    ModelSettings,
    UsageLimitExceeded,
    UsageLimits,
    tool,
)
from agentkit.limits import _max_tokens, worst_case
from agentkit.messages import AssistantMessage, Message, ToolCall, ToolMessage, UserMessage
from agentkit.models import FallbackModel, ModelRequest, OpenAIChatModel
from agentkit.models.dialect import convert_messages
from agentkit.models.profiles import MISTRAL_SMALL_PROFILE
from agentkit.testing.replay import check_mistral_conversation
from agentkit.testing.server import (
    LocalModelServer,
    RecordedRequest,
    Reply,
    reply_text,
    reply_tool_calls,
    usage,
)
from agentkit.tools import ToolDefinition

calls_run: list[str] = []


@tool
def lookup(query: str) -> str:
    """Look something up.

    Args:
        query: What to look up.
    """
    calls_run.append(query)
    return f"Results for {query}: " + "lorem ipsum dolor sit amet, " * 8


@functools.cache
def _tekken() -> Any:
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    return MistralTokenizer.v3(is_tekken=True)


def _tekken_tokens(body: dict[str, Any]) -> int:
    """The prompt's tokens under Mistral's Tekken vocabulary, as Mistral would bill them."""
    from mistral_common.protocol.instruct.request import ChatCompletionRequest

    request = ChatCompletionRequest.from_openai(body["messages"], body.get("tools"))
    return len(_tekken().encode_chat_completion(request).tokens)


def _billing_server(request: RecordedRequest) -> Reply:
    """Calls ``lookup`` every turn, billing the prompt's real Tekken tokens and the whole
    ``max_tokens`` of output (the worst a model can do)."""
    body = request.body
    billed = usage(_tekken_tokens(body), body["max_tokens"])
    return reply_tool_calls(("lookup", {"query": f"turn {len(body['messages'])}"}), usage=billed)


@pytest.mark.anyio
async def test_token_budget_is_never_overshot_by_what_the_server_bills() -> None:
    """Against a server billing real Tekken prompt tokens and full max_tokens, the run
    stops before the request that could pass total_tokens: the billed sum stays within."""
    limit = 9_000
    with LocalModelServer(_billing_server, style="mistral") as server:
        agent = Agent(
            model_on(server),
            tools=[lookup],
            settings=ModelSettings(max_tokens=300),
            usage_limits=UsageLimits(total_tokens=limit),
            max_turns=100,
        )
        with pytest.raises(UsageLimitExceeded) as caught:
            await agent.run("Research the topic.")
    billed = [_tekken_tokens(r.body) + r.body["max_tokens"] for r in server.requests]
    assert len(billed) >= 3, "the budget allowed several requests"
    assert sum(billed) <= limit
    error = caught.value
    assert error.limit == "total_tokens"
    assert error.usage.total_tokens == sum(billed)
    assert error.usage.total_tokens + error.worst_case.total_tokens > limit
    assert "total_tokens limit (9000)" in str(error) and "was not sent" in str(error)


@pytest.mark.anyio
async def test_cost_budget_is_never_overshot_and_the_conversation_can_be_sent_again() -> None:
    """A cost_usd budget stops the run before an overshooting request; the error's
    conversation obeys Mistral's rules and a fresh run sends it again as it is."""
    limit = 0.0005
    with LocalModelServer(_billing_server, style="mistral") as server:
        agent = Agent(
            model_on(server),
            tools=[lookup],
            settings=ModelSettings(max_tokens=400),
            max_turns=100,
        )
        with pytest.raises(UsageLimitExceeded) as caught:
            await agent.run("Research.", usage_limits=UsageLimits(cost_usd=limit))
        price = MISTRAL_SMALL_PROFILE.price
        assert price is not None
        billed = sum(
            price.cost(_tekken_tokens(r.body), r.body["max_tokens"]) for r in server.requests
        )
        sent = len(server.requests)
        assert sent >= 2 and billed <= limit
        messages = caught.value.messages
        assert messages is not None
        check_mistral_conversation(messages)
        assert isinstance(messages[-1], ToolMessage)
        again = Agent(model_on(server), tools=[lookup], max_turns=1)
        with pytest.raises(MaxTurnsExceededError):  # one turn is all this test needs
            await again.run("Go on.", message_history=messages)
    assert len(server.requests) == sent + 1
    expected = convert_messages([*messages, UserMessage(content="Go on.")], MISTRAL_SMALL_PROFILE)
    assert server.requests[-1].body["messages"] == expected


@pytest.mark.anyio
async def test_output_budget_refuses_before_sending_and_names_the_worst_case() -> None:
    """output_tokens: after 500 of 1000 are used, a request with max_tokens=600 is not
    sent; the error names the limit, the usage so far and the refused worst case."""
    replies = [
        reply_tool_calls(("lookup", {"query": "a"}), usage=usage(40, 500)),
        reply_text("never"),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        agent = Agent(model_on(server), tools=[lookup], settings=ModelSettings(max_tokens=600))
        with pytest.raises(UsageLimitExceeded) as caught:
            await agent.run("Q", usage_limits=UsageLimits(output_tokens=1000))
    assert len(server.requests) == 1
    error = caught.value
    assert (error.limit, error.usage.output_tokens, error.worst_case.output_tokens) == (
        "output_tokens",
        500,
        600,
    )
    assert "600 output tokens (max_tokens)" in str(error)


@pytest.mark.anyio
async def test_requests_limit_and_run_override() -> None:
    """requests=1 on the run replaces the agent's looser limit: one request, then refusal."""
    replies = [reply_tool_calls(("lookup", {"query": "a"})), reply_text("never")]
    with LocalModelServer(replies, style="mistral") as server:
        agent = Agent(model_on(server), tools=[lookup], usage_limits=UsageLimits(requests=10))
        with pytest.raises(UsageLimitExceeded) as caught:
            await agent.run("Q", usage_limits=UsageLimits(requests=1))
    assert len(server.requests) == 1
    assert caught.value.limit == "requests"


@pytest.mark.anyio
async def test_tool_calls_limit_is_checked_before_any_tool_runs() -> None:
    """Three calls in a turn with tool_calls=2 left: none of them runs, nothing more is sent."""
    calls_run.clear()
    replies = [
        reply_tool_calls(
            ("lookup", {"query": "a"}), ("lookup", {"query": "b"}), ("lookup", {"query": "c"})
        ),
        reply_text("never"),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        agent = Agent(model_on(server), tools=[lookup], usage_limits=UsageLimits(tool_calls=2))
        with pytest.raises(UsageLimitExceeded) as caught:
            await agent.run("Q")
    assert calls_run == []
    assert len(server.requests) == 1
    error = caught.value
    assert (error.limit, error.worst_case) == ("tool_calls", 3)
    assert error.messages is not None and isinstance(error.messages[-1], UserMessage)


@pytest.mark.anyio
async def test_tool_calls_are_counted_in_usage() -> None:
    """Usage counts the tool calls that ran; a budget that fits them lets the run finish."""
    replies = [
        reply_tool_calls(("lookup", {"query": "a"}), ("lookup", {"query": "b"})),
        reply_text("done"),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        agent = Agent(model_on(server), tools=[lookup], usage_limits=UsageLimits(tool_calls=2))
        result = await agent.run("Q")
    assert result.output == "done"
    assert result.usage.tool_calls == 2


@pytest.mark.anyio
async def test_on_limit_answer_sends_one_last_request_without_tools_within_what_is_left() -> None:
    """on_limit="answer": the request that could overshoot becomes a last one without
    tools, max_tokens lowered to what is left, asking for the final answer."""
    replies = [
        reply_tool_calls(("lookup", {"query": "a"}), usage=usage(40, 500)),
        reply_text("Short answer."),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        agent = Agent(model_on(server), tools=[lookup], settings=ModelSettings(max_tokens=600))
        limits = UsageLimits(output_tokens=1000, on_limit="answer")
        result = await agent.run("Q", usage_limits=limits)
    assert result.output == "Short answer."
    last = server.bodies[-1]
    assert last["max_tokens"] == 500
    assert "tools" not in last
    assert last["messages"][-1]["role"] == "user"
    assert "final answer" in last["messages"][-1]["content"]
    assert result.usage.output_tokens <= 1000


@pytest.mark.anyio
async def test_on_limit_answer_raises_when_even_a_last_answer_cannot_fit() -> None:
    """With no room for a last answer (the requests budget is spent) the run raises."""
    replies = [reply_tool_calls(("lookup", {"query": "a"})), reply_text("never")]
    with LocalModelServer(replies, style="mistral") as server:
        agent = Agent(model_on(server), tools=[lookup])
        with pytest.raises(UsageLimitExceeded):
            await agent.run("Q", usage_limits=UsageLimits(requests=1, on_limit="answer"))
    assert len(server.requests) == 1


@pytest.mark.anyio
async def test_cost_limit_with_an_unpriced_model_is_a_configuration_error() -> None:
    """cost_usd on a model without a price (also any model of a FallbackModel) fails at
    run start: nothing is sent."""
    with LocalModelServer([reply_text("never")]) as server:
        unpriced = model_on(server, "some-local-model")
        for model in (unpriced, FallbackModel(model_on(server), unpriced)):
            agent = Agent(model, usage_limits=UsageLimits(cost_usd=1.0))
            with pytest.raises(ConfigurationError, match="needs the model's price"):
                await agent.run("Q")
    assert server.requests == []


def test_fallback_worst_case_uses_the_most_expensive_model() -> None:
    """A FallbackModel's worst case is priced at the dearest model of its chain."""
    cheap = OpenAIChatModel("mistral-small-2506", base_url="http://127.0.0.1:9/v1", api_key="k")
    dear_profile = MISTRAL_SMALL_PROFILE.with_changes(
        price=ModelPrice(input_per_mtok=2.0, output_per_mtok=6.0)
    )
    dear = OpenAIChatModel("mistral-large", base_url="http://127.0.0.1:9/v1", profile=dear_profile)
    request = ModelRequest(
        messages=[UserMessage(content="hi")], settings=ModelSettings(max_tokens=100)
    )
    chain = worst_case(FallbackModel(cheap, dear), request)
    alone = worst_case(dear, request)
    assert chain.cost_usd is not None and alone.cost_usd is not None
    assert chain.cost_usd >= alone.cost_usd
    assert chain.cost_usd > (worst_case(cheap, request).cost_usd or 0.0)


SAMPLES = [
    "plain English text, with punctuation; and numbers 12345.",
    "héllo wörld — naïve café, 世界你好, こんにちは, 🎉🚀👍🏽 " * 20,
    '{"nested": {"json": [1, 2, 3], "keys": "values"}} ' * 30,
    "    indented\n\tcode()\n" * 40,
    "x" * 2000,
]


@pytest.mark.parametrize("sample", SAMPLES)
def test_worst_case_input_is_an_upper_bound_on_tekken_tokens(sample: str) -> None:
    """For text of every kind, with tools and tool calls, the estimate is never below
    the Tekken tokenizer's count of the prompt as Mistral renders it."""
    from agentkit.models.dialect import RequestEncoder

    model = OpenAIChatModel("mistral-small-2506", base_url="http://127.0.0.1:9/v1", api_key="k")
    messages: list[Message] = [
        UserMessage(content=sample),
        AssistantMessage(
            content="",
            tool_calls=(ToolCall(id="abcABC123", name="lookup", arguments='{"query": "q"}'),),
        ),
        ToolMessage(tool_call_id="abcABC123", name="lookup", content=sample),
        UserMessage(content="And now? " + sample[:50]),
    ]
    tools = (ToolDefinition("lookup", "Look " + sample[:100], lookup.parameters),)
    request = ModelRequest(messages=messages, tools=tools)
    import json

    body = json.loads(RequestEncoder(model.name, model.profile, ModelSettings()).encode(request))
    assert worst_case(model, request).input_tokens >= _tekken_tokens(body)


@pytest.mark.anyio
async def test_a_streamed_run_is_refused_the_same_way() -> None:
    """Streamed, the limit hook refuses the overshooting request just the same."""
    replies = [
        reply_tool_calls(("lookup", {"query": "a"}), usage=usage(40, 500)),
        reply_text("never"),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        agent = Agent(model_on(server), tools=[lookup], settings=ModelSettings(max_tokens=600))
        with pytest.raises(UsageLimitExceeded):
            async with agent.run_stream("Q", usage_limits=UsageLimits(output_tokens=1000)) as s:
                async for _ in s:
                    pass
    assert len(server.requests) == 1
    assert server.bodies[0]["stream"] is True


@pytest.mark.parametrize("own", [None, 0, 300])
@pytest.mark.parametrize("asked", [None, 0, 40])
def test_max_tokens_is_the_merged_settings_max_tokens(own: int | None, asked: int | None) -> None:
    """The max_tokens a request is checked with is the one merging the model's settings
    with the request's gives (the request's, else the model's, else the profile's)."""
    model = OpenAIChatModel(
        "mistral-small-2506",
        base_url="http://127.0.0.1:9/v1",
        api_key="k",
        settings=ModelSettings(max_tokens=own),
    )
    request = ModelRequest(
        messages=[UserMessage(content="hi")], settings=ModelSettings(max_tokens=asked)
    )
    merged = model.settings.merged(request.settings).max_tokens
    assert _max_tokens(model, request) == (merged or model.profile.max_output_tokens)
