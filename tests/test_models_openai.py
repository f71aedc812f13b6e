"""OpenAIChatModel over a real local HTTP server: answers, usage, streaming, and every fault."""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import anyio
import anyio.to_thread
import openai
import pytest
from support import wait_closed

from agentkit import Agent
from agentkit._errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ModelAPIError,
    ModelConnectionError,
    ModelHTTPError,
    ModelNotFoundError,
    ModelStreamCutError,
    ModelTimeoutError,
    RateLimitError,
    ServerError,
    explain_error,
)
from agentkit.messages import UserMessage
from agentkit.models._transport import Endpoint, transport_error
from agentkit.models.base import (
    ModelRequest,
    ModelResponse,
    ModelSettings,
    ModelStreamEvent,
    TextDelta,
    ToolCallDelta,
    ToolDefinition,
    complete,
)
from agentkit.models.openai import OpenAIChatModel, RetryPolicy
from agentkit.models.profiles import MISTRAL_SMALL_PROFILE
from agentkit.testing.server import (
    LocalModelServer,
    Reply,
    drop_connection,
    malformed,
    reply_error,
    reply_text,
    reply_tool_calls,
    usage,
)
from agentkit.usage import Usage

FAST = RetryPolicy(max_retries=2, initial_delay=0.0)
HI = ModelRequest(messages=[UserMessage(content="hi")])
WEATHER = ToolDefinition(
    name="get_weather",
    description="Weather for a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)


def model_for(
    server: LocalModelServer,
    name: str = "mistral-small-2506",
    *,
    retry: RetryPolicy = FAST,
    **kwargs: Any,
) -> OpenAIChatModel:
    """A model pointed at the local server, with fast retries."""
    kwargs.setdefault("api_key", "test-key")
    return OpenAIChatModel(name, base_url=server.base_url, retry=retry, **kwargs)


async def failure(
    script: Sequence[Reply], *, retry: RetryPolicy = FAST, **kwargs: Any
) -> tuple[ModelAPIError, int]:
    """The error a request raises against this script, and how many requests the server saw."""
    with LocalModelServer(script, style="mistral") as server:
        model = model_for(server, retry=retry, **kwargs)
        with pytest.raises(ModelAPIError) as info:
            await complete(model, HI)
        assert not isinstance(info.value, openai.OpenAIError)
        return info.value, len(server.requests)


async def collect(model: OpenAIChatModel, request: ModelRequest) -> list[ModelStreamEvent]:
    """All events of one streamed request."""
    return [event async for event in model.stream(replace(request, stream=True))]


# --------------------------------------------------------------------------- answers


@pytest.mark.anyio
async def test_text_answer_with_usage_cached_tokens_and_cost() -> None:
    """A text answer is parsed with its usage, cached tokens and the profile's cost, the
    cached tokens at Mistral's cached rate (10% of input)."""
    reply = reply_text("Bonjour.", usage=usage(1000, 500, cached_tokens=200))
    with LocalModelServer([reply], style="mistral") as server:
        response = await complete(model_for(server), HI)
    assert response.message.content == "Bonjour."
    assert response.finish_reason == "stop"
    assert response.model_name == "mistral-small-2506"
    assert response.response_id is not None and len(response.response_id) == 32
    assert response.usage == Usage(
        requests=1,
        input_tokens=1000,
        output_tokens=500,
        cached_tokens=200,
        cost_usd=MISTRAL_SMALL_PROFILE.price.cost(1000, 500, 200),  # type: ignore[union-attr]
    )
    expected = (800 * 0.10 + 200 * 0.01 + 500 * 0.30) / 1_000_000
    assert response.usage.cost_usd == pytest.approx(expected)


@pytest.mark.anyio
async def test_unknown_price_gives_no_cost() -> None:
    """A model without a price reports cost None, never a made-up zero."""
    with LocalModelServer([reply_text("x", usage=usage(10, 2))]) as server:
        response = await complete(model_for(server, "some-local-model"), HI)
    assert response.usage.input_tokens == 10
    assert response.usage.cost_usd is None


@pytest.mark.anyio
async def test_missing_usage_counts_the_request_with_unknown_cost() -> None:
    """A response without usage still counts one request, its tokens unreported (unknown,
    not 0) and its cost unknown."""
    with LocalModelServer([Reply(content="x", usage=None)]) as server:
        response = await complete(model_for(server), HI)
    assert response.usage == Usage(requests=1, cost_usd=None, unreported=1)


@pytest.mark.anyio
async def test_mistral_tool_calls_are_parsed_with_their_ids() -> None:
    """Mistral's tool-call shape (no type, content "") becomes ToolCalls with the server's ids."""
    reply = reply_tool_calls(
        ("get_weather", {"city": "Paris"}, "abcDEF123"), ("get_weather", {"city": "Rome"})
    )
    with LocalModelServer([reply], style="mistral") as server:
        response = await complete(model_for(server), HI)
    calls = response.message.tool_calls
    assert response.message.content is None
    assert [c.name for c in calls] == ["get_weather", "get_weather"]
    assert calls[0].id == "abcDEF123"
    assert len(calls[1].id) == 9
    assert calls[0].arguments == '{"city": "Paris"}'
    assert response.finish_reason == "tool_calls"


@pytest.mark.anyio
async def test_finish_reason_length_is_reported() -> None:
    """finish_reason 'length' reaches the caller (the loop treats it as a failure)."""
    with LocalModelServer([reply_text("cut", finish_reason="length")]) as server:
        response = await complete(model_for(server), HI)
    assert response.finish_reason == "length"
    assert response.message.finish_reason == "length"


@pytest.mark.anyio
async def test_key_is_sent_as_bearer_token() -> None:
    """The API key goes out as a Bearer token."""
    with LocalModelServer([reply_text("x")]) as server:
        await complete(model_for(server, api_key="sk-123"), HI)
    assert server.requests[0].headers["authorization"] == "Bearer sk-123"


@pytest.mark.anyio
async def test_key_read_from_api_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without api_key, the key is read from the variable named by api_key_env."""
    monkeypatch.setenv("MY_GATEWAY_KEY", "sk-env")
    with LocalModelServer([reply_text("x")]) as server:
        await complete(model_for(server, api_key=None, api_key_env="MY_GATEWAY_KEY"), HI)
    assert server.requests[0].headers["authorization"] == "Bearer sk-env"


@pytest.mark.anyio
async def test_missing_key_is_a_configuration_error_at_first_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No key: the first request, not construction, fails with ConfigurationError naming it."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = OpenAIChatModel("gpt-4o-mini")
    with pytest.raises(ConfigurationError, match="set the environment variable OPENAI_API_KEY"):
        await complete(model, HI)


@pytest.mark.anyio
async def test_local_base_url_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A custom base_url with no key configured is called without one (local servers)."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with LocalModelServer([reply_text("x")]) as server:
        response = await complete(model_for(server, api_key=None), HI)
    assert response.message.content == "x"


@pytest.mark.anyio
async def test_user_client_is_used_and_sdk_retries_stay_off() -> None:
    """A passed-in AsyncOpenAI is used; its own retries are off, agentkit's policy counts."""
    with LocalModelServer([reply_error(500, "boom")] * 5) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="mine", max_retries=5)
        model = OpenAIChatModel(
            "gpt-4o", client=client, retry=RetryPolicy(max_retries=1, initial_delay=0.0)
        )
        with pytest.raises(ServerError):
            await complete(model, HI)
        await client.close()
    assert len(server.requests) == 2
    assert server.requests[0].headers["authorization"] == "Bearer mine"


@pytest.mark.anyio
async def test_own_client_and_user_client_put_the_same_request_on_the_wire() -> None:
    """The fast path (straight to the pool of the client agentkit made) sends exactly what
    the SDK's post sends for a passed-in client: same body, auth, content type, user agent."""
    with LocalModelServer([reply_text("a"), reply_text("b")]) as server:
        await complete(model_for(server, "gpt-4o", api_key="same-key"), HI)
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="same-key")
        await complete(OpenAIChatModel("gpt-4o", client=client), HI)
        await client.close()
    ours, sdk = server.requests
    assert ours.body == sdk.body
    assert ours.path == sdk.path
    for header in ("authorization", "content-type", "accept", "user-agent"):
        assert ours.headers[header] == sdk.headers[header], header
    assert ours.headers["authorization"] == "Bearer same-key"


def test_model_reopens_in_each_event_loop() -> None:
    """A model closed at the end of one event loop (as every run does) opens a new pool in
    the next one."""
    with LocalModelServer([reply_text("one"), reply_text("two")]) as server:
        model = model_for(server)

        async def ask() -> str | None:
            async with model:
                return (await complete(model, HI)).message.content

        assert (anyio.run(ask), anyio.run(ask)) == ("one", "two")


def test_a_model_sends_from_a_second_event_loop_on_a_pool_of_its_own() -> None:
    """While a model's pool is open in one event loop, another loop (another thread) using
    the same model gets a pool of its own; each is closed when its loop ends."""
    answers: list[str | None] = []

    def other_loop(model: OpenAIChatModel) -> None:
        answers.append(anyio.run(complete, model, HI).message.content)

    async def main(server: LocalModelServer) -> str | None:
        model = model_for(server)
        first = await complete(model, HI)
        thread = threading.Thread(target=other_loop, args=(model,))
        thread.start()
        await anyio.to_thread.run_sync(thread.join)
        assert server.connections == 2  # one pool per loop
        return first.message.content

    with LocalModelServer([reply_text("one"), reply_text("two")]) as server:
        assert anyio.run(main, server) == "one"
        wait_closed(server)
        assert len(server.requests) == 2
    assert answers == ["two"]


# --------------------------------------------------------------------------- HTTP errors


@pytest.mark.anyio
async def test_400_is_bad_request_with_the_server_reason() -> None:
    """400: BadRequestError with the status, the body and Mistral's own message; not retried."""
    reason = "Tool call id was call_abc but must be a-z, A-Z, 0-9, with a length of 9."
    exc, count = await failure([reply_error(400, reason, style="mistral")])
    assert isinstance(exc, BadRequestError)
    assert exc.status_code == 400
    assert reason in str(exc)
    assert exc.body["message"] == reason
    assert count == 1


@pytest.mark.anyio
async def test_422_lists_the_rejected_fields() -> None:
    """422 with pydantic details: BadRequestError naming each rejected field."""
    body = {
        "object": "error",
        "message": {
            "detail": [
                {
                    "type": "extra_forbidden",
                    "loc": ["body", "store"],
                    "msg": "Extra inputs are not permitted",
                }
            ]
        },
        "type": "invalid_request_error",
    }
    exc, count = await failure([reply_error(422, body=body)])
    assert isinstance(exc, BadRequestError)
    assert exc.status_code == 422
    assert "rejected the request (422): body.store: Extra inputs are not permitted" in str(exc)
    assert count == 1


@pytest.mark.anyio
@pytest.mark.parametrize("status", [401, 403])
async def test_auth_errors_name_the_key_variable(status: int) -> None:
    """401/403: AuthenticationError naming the variable the key comes from; not retried."""
    exc, count = await failure([reply_error(status, "Unauthorized")], api_key_env="MISTRAL_API_KEY")
    assert isinstance(exc, AuthenticationError)
    assert exc.status_code == status
    assert "Unauthorized" in str(exc)
    assert "MISTRAL_API_KEY" in str(exc)
    assert count == 1


@pytest.mark.anyio
async def test_404_names_the_model_and_base_url() -> None:
    """404: ModelNotFoundError naming the model and the base URL; not retried."""
    with LocalModelServer([reply_error(404, "Invalid model: mistral-smol")]) as server:
        model = model_for(server, "mistral-smol")
        with pytest.raises(ModelNotFoundError) as info:
            await complete(model, HI)
        base_url = server.base_url
    message = str(info.value)
    assert "'mistral-smol'" in message
    assert base_url in message
    assert "Invalid model: mistral-smol" in message
    assert info.value.status_code == 404
    assert len(server.requests) == 1


@pytest.mark.anyio
async def test_429_is_retried_then_succeeds() -> None:
    """429 with Retry-After is retried and the request succeeds."""
    with LocalModelServer(
        [reply_error(429, "slow down", retry_after=0), reply_text("ok")]
    ) as server:
        response = await complete(model_for(server), HI)
    assert response.message.content == "ok"
    assert len(server.requests) == 2


@pytest.mark.anyio
async def test_429_after_the_retries_is_rate_limit_error() -> None:
    """429 every time: RateLimitError after max_retries + 1 requests, with the server's message."""
    exc, count = await failure(
        [reply_error(429, "Requests rate limit exceeded", retry_after=0)] * 5
    )
    assert isinstance(exc, RateLimitError)
    assert exc.status_code == 429
    assert "Requests rate limit exceeded" in str(exc)
    assert "after 3 attempts" in str(exc)
    assert count == 3


@pytest.mark.anyio
async def test_retry_after_is_honoured_over_backoff() -> None:
    """The server's Retry-After (here 0 s and 10 ms) replaces the policy's long backoff."""
    patient = RetryPolicy(
        max_retries=3, initial_delay=1000.0, max_delay=1000.0, max_total_wait=1000.0
    )
    script = [
        reply_error(429, "wait", retry_after=0),
        reply_error(503, "wait", headers={"retry-after-ms": "10"}),
        reply_text("ok"),
    ]
    with LocalModelServer(script) as server:
        response = await complete(model_for(server, retry=patient), HI)
    assert response.message.content == "ok"
    assert len(server.requests) == 3


@pytest.mark.anyio
async def test_retry_after_longer_than_max_delay_is_not_waited() -> None:
    """A Retry-After beyond RetryPolicy.max_delay ends the retries at once, saying why."""
    exc, count = await failure(
        [reply_error(429, "quota", retry_after=3600), reply_text("never")],
        retry=RetryPolicy(max_retries=3, max_delay=5.0),
    )
    assert isinstance(exc, RateLimitError)
    assert "retry after 3600 s" in str(exc)
    assert count == 1


@pytest.mark.anyio
async def test_total_wait_is_bounded() -> None:
    """Retries stop when the next wait would pass max_total_wait (0.04 + 0.04 > 0.05)."""
    exc, count = await failure(
        [reply_error(503, "busy", retry_after=0.04)] * 5,
        retry=RetryPolicy(max_retries=10, max_total_wait=0.05),
    )
    assert isinstance(exc, ServerError)
    assert count == 2


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_after_the_retries_is_server_error(status: int) -> None:
    """5xx every time: ServerError with the status after max_retries + 1 requests."""
    exc, count = await failure([reply_error(status, "upstream failed")] * 5)
    assert isinstance(exc, ServerError)
    assert exc.status_code == status
    assert "upstream failed" in str(exc)
    assert count == 3


@pytest.mark.anyio
async def test_5xx_then_success() -> None:
    """A passing 5xx is retried and the answer returned."""
    with LocalModelServer([reply_error(502, "bad gateway"), reply_text("ok")]) as server:
        response = await complete(model_for(server), HI)
    assert response.message.content == "ok"
    assert len(server.requests) == 2


@pytest.mark.anyio
async def test_other_status_is_model_http_error() -> None:
    """Another 4xx (here 418) is a ModelHTTPError with the status and message, not retried."""
    exc, count = await failure([reply_error(418, "I am a teapot")])
    assert type(exc) is ModelHTTPError
    assert exc.status_code == 418
    assert "I am a teapot" in str(exc)
    assert count == 1


@pytest.mark.anyio
async def test_non_json_error_body_is_quoted() -> None:
    """An HTML error page from a proxy is quoted in the message."""
    exc, _ = await failure([reply_error(400, body="<html>Bad gateway config</html>")])
    assert isinstance(exc, BadRequestError)
    assert "<html>Bad gateway config</html>" in str(exc)


# --------------------------------------------------------------------------- transport faults


@pytest.mark.anyio
async def test_dropped_connection_is_retried_then_succeeds() -> None:
    """A connection closed without an answer is retried."""
    with LocalModelServer([drop_connection(), reply_text("ok")]) as server:
        response = await complete(model_for(server), HI)
    assert response.message.content == "ok"
    assert len(server.requests) == 2


@pytest.mark.anyio
async def test_dropped_connections_end_in_connection_error() -> None:
    """Connections dropped every time: ModelConnectionError after max_retries + 1 tries."""
    exc, count = await failure([drop_connection()] * 5)
    assert isinstance(exc, ModelConnectionError)
    assert exc.status_code is None
    assert "after 3 attempts" in str(exc)
    assert count == 3


@pytest.mark.anyio
async def test_truncated_body_is_retried_as_a_connection_failure() -> None:
    """A body cut short (Content-Length not reached) is retried like a dropped connection."""
    with LocalModelServer(
        [Reply(content="long answer", truncate_after=20), reply_text("ok")]
    ) as server:
        response = await complete(model_for(server), HI)
    assert response.message.content == "ok"
    assert len(server.requests) == 2


@pytest.mark.anyio
async def test_nothing_listening_is_connection_error() -> None:
    """No server at the base URL: ModelConnectionError naming the endpoint."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/v1"
    model = OpenAIChatModel(
        "m", base_url=base_url, api_key="k", retry=RetryPolicy(max_retries=1, initial_delay=0.0)
    )
    with pytest.raises(ModelConnectionError) as info:
        await complete(model, HI)
    assert base_url in str(info.value)
    assert "server is running" in str(info.value)
    assert explain_error(info.value).summary == (
        f"Could not reach the model server at 127.0.0.1:{port} (model m); check that it runs "
        "and that the base URL is right."
    )


@pytest.mark.anyio
async def test_slow_server_is_timeout_error() -> None:
    """An answer slower than ModelSettings.timeout: ModelTimeoutError naming the timeout."""
    with LocalModelServer([reply_text("late", delay=1.0)]) as server:
        model = model_for(server, settings=ModelSettings(timeout=0.2))
        with pytest.raises(ModelTimeoutError, match=r"timeout of 0\.2 s"):
            await complete(model, HI)
    assert len(server.requests) == 1


@pytest.mark.anyio
async def test_malformed_json_is_model_api_error() -> None:
    """A 200 whose body is not JSON: ModelAPIError with the status and the body; not retried."""
    exc, count = await failure([malformed(), reply_text("never")])
    assert type(exc) is ModelAPIError
    assert exc.status_code == 200
    assert "not valid JSON" in str(exc)
    assert exc.body is not None and exc.body.startswith('{"id": "x"')
    assert count == 1


@pytest.mark.anyio
async def test_json_without_choices_is_model_api_error() -> None:
    """A 200 JSON body that is no chat completion says what is missing."""
    exc, _ = await failure([malformed(body=b'{"object": "list", "data": []}')])
    assert "no choices[0].message" in str(exc)


# --------------------------------------------------------------------------- streaming


@pytest.mark.anyio
async def test_stream_text_deltas_and_final_response() -> None:
    """A streamed text answer yields TextDeltas that add up to the final response's text."""
    reply = reply_text("The weather in Paris is sunny.", usage=usage(30, 8, cached_tokens=10))
    with LocalModelServer([reply], style="mistral") as server:
        events = await collect(model_for(server), HI)
    deltas = [e for e in events if isinstance(e, TextDelta)]
    final = events[-1]
    assert isinstance(final, ModelResponse)
    assert len(deltas) > 1
    assert "".join(d.text for d in deltas) == "The weather in Paris is sunny."
    assert final.message.content == "The weather in Paris is sunny."
    assert final.finish_reason == "stop"
    assert (final.usage.input_tokens, final.usage.output_tokens, final.usage.cached_tokens) == (
        30,
        8,
        10,
    )
    assert final.usage.cost_usd == MISTRAL_SMALL_PROFILE.price.cost(30, 8, 10)  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_stream_openai_tool_call_fragments() -> None:
    """OpenAI-style fragments (id and name first, then argument pieces) make whole calls."""
    reply = reply_tool_calls(
        ("get_weather", {"city": "Paris, France"}, "call_1"),
        ("get_time", {"tz": "Europe/Rome"}, "call_2"),
    )
    with LocalModelServer([reply], style="openai") as server:
        events = await collect(
            model_for(server, "gpt-4o"), ModelRequest(messages=HI.messages, tools=(WEATHER,))
        )
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    final = events[-1]
    assert isinstance(final, ModelResponse)
    assert deltas[0] == ToolCallDelta(index=0, id="call_1", name="get_weather", arguments="")
    assert sum(1 for d in deltas if d.index == 0 and d.arguments) > 1
    assert [(c.id, c.name, c.arguments) for c in final.message.tool_calls] == [
        ("call_1", "get_weather", '{"city": "Paris, France"}'),
        ("call_2", "get_time", '{"tz": "Europe/Rome"}'),
    ]
    assert final.usage.input_tokens == 10  # usage chunk asked with stream_options


@pytest.mark.anyio
async def test_stream_mistral_whole_tool_calls() -> None:
    """Mistral sends each call whole in one chunk: one delta per call, usage on the last chunk."""
    reply = reply_tool_calls(("get_weather", {"city": "Paris"}), usage=usage(50, 20))
    with LocalModelServer([reply], style="mistral") as server:
        events = await collect(model_for(server), HI)
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    final = events[-1]
    assert isinstance(final, ModelResponse)
    assert len(deltas) == 1
    assert deltas[0].name == "get_weather" and deltas[0].arguments == '{"city": "Paris"}'
    assert final.message.tool_calls[0].id == deltas[0].id
    assert final.finish_reason == "tool_calls"
    assert final.usage.input_tokens == 50


@pytest.mark.anyio
async def test_stream_cut_off_is_connection_error() -> None:
    """A stream cut after some events: the deltas arrive, then a ModelStreamCutError (a
    ModelConnectionError) that a person reads as a cut-off answer, not an unreachable
    server."""
    reply = Reply(content="A long answer that will be cut off.", truncate_after=3)
    with LocalModelServer([reply]) as server:
        received: list[ModelStreamEvent] = []
        with pytest.raises(ModelConnectionError, match=r"cut off|ended after") as info:
            async for event in model_for(server).stream(replace(HI, stream=True)):
                received.append(event)
    assert any(isinstance(e, TextDelta) for e in received)
    assert not any(isinstance(e, ModelResponse) for e in received)
    assert len(server.requests) == 1
    assert isinstance(info.value, ModelStreamCutError)
    summary = explain_error(info.value).summary
    assert summary.startswith("The answer from ") and "was cut off partway" in summary
    assert "Could not reach" not in summary


@pytest.mark.anyio
async def test_stream_malformed_event_is_model_api_error() -> None:
    """A stream event that is not JSON: ModelAPIError saying so."""
    with LocalModelServer([malformed(body=b"{not json")]) as server:
        with pytest.raises(ModelAPIError, match="stream chunk is not valid JSON"):
            await collect(model_for(server), HI)


@pytest.mark.anyio
async def test_stream_http_error_is_retried_before_the_first_event() -> None:
    """Errors before the stream starts are retried like plain requests."""
    with LocalModelServer([reply_error(503, "busy", retry_after=0), reply_text("ok")]) as server:
        events = await collect(model_for(server), HI)
    final = events[-1]
    assert isinstance(final, ModelResponse) and final.message.content == "ok"
    assert len(server.requests) == 2


@pytest.mark.anyio
async def test_stream_error_status_is_mapped() -> None:
    """A 400 on a stream request is a BadRequestError like any other."""
    with LocalModelServer([reply_error(400, "bad tool schema")]) as server:
        with pytest.raises(BadRequestError, match="bad tool schema"):
            await collect(model_for(server), HI)


def test_unwrapped_transport_errors_are_connection_errors() -> None:
    """A transport error no layer wrapped (a patched transport's own) is a ModelConnectionError."""
    import httpcore2

    endpoint = Endpoint("m", "http://127.0.0.1:9/v1", "Check the key")
    error_ = transport_error(endpoint, httpcore2.RemoteProtocolError("peer closed"), 2)
    assert isinstance(error_, ModelConnectionError)
    assert "peer closed" in str(error_) and "after 2 attempts" in str(error_)
    assert transport_error(endpoint, ValueError("not a transport error"), 1) is None


def test_a_cookie_the_server_set_is_sent_back() -> None:
    """A cookie the server sets (a load balancer's, say) goes back on the next request,
    as the SDK's client would send it: the once-merged request headers do not drop it."""
    replies = [reply_text("one", headers={"Set-Cookie": "lb=node7; Path=/"}), reply_text("two")]

    async def main() -> None:
        with LocalModelServer(replies, style="mistral") as server:
            model = OpenAIChatModel("mistral-small-2506", base_url=server.base_url, api_key="k")
            agent = Agent(model)
            async with agent:
                await agent.run("a")
                await agent.run("b")
            assert [r.headers.get("cookie") for r in server.requests] == [None, "lb=node7"]

    anyio.run(main)
