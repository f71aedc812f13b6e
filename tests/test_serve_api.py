"""``agentkit serve``'s OpenAI-compatible API, called by the ``openai`` SDK itself over HTTP.

The agent inside runs on a ``LocalModelServer`` (a real chat-completions server on
127.0.0.1), served by uvicorn on 127.0.0.1 through ``BackgroundServer``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx2
import openai
import pytest
from pydantic import BaseModel
from support import get_weather, model_on

from agentkit import Agent, tool
from agentkit._errors import ConfigurationError
from agentkit.messages import AssistantMessage
from agentkit.models import OpenAIChatModel
from agentkit.models.base import (
    ModelLifecycle,
    ModelProfile,
    ModelRequest,
    ModelResponse,
    ModelStreamEvent,
    TextDelta,
)
from agentkit.serve import BackgroundServer, check_bind
from agentkit.testing.server import (
    LocalModelServer,
    reply_json,
    reply_text,
    reply_tool_calls,
    usage,
)
from agentkit.usage import Usage

INSTRUCTIONS = "You are the weather desk."


def weather_agent(server: LocalModelServer, **kwargs: Any) -> Agent[Any, Any]:
    model = model_on(server, api_key="sk-test")
    return Agent(model, instructions=INSTRUCTIONS, tools=[get_weather], name="weather", **kwargs)


@pytest.fixture
def model_server() -> Iterator[LocalModelServer]:
    with LocalModelServer(style="mistral") as server:
        yield server


def client(url: str, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)


def test_plain_completion_runs_the_agent_with_its_tool(model_server: LocalModelServer) -> None:
    """A plain completion runs the whole agent (tool call included) and answers its output
    with the run's total usage; the client's system message adds to the instructions."""
    model_server.add(
        reply_tool_calls(("get_weather", {"city": "Paris"}), usage=usage(30, 7)),
        reply_text("Sunny in Paris, 21 C.", usage=usage(50, 9)),
    )
    with BackgroundServer(weather_agent(model_server)) as served, client(served.url) as api:
        answer = api.chat.completions.create(
            model="weather",
            messages=[
                {"role": "system", "content": "Answer in one line."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello! Ask me about the weather."},
                {"role": "user", "content": "Weather in Paris?"},
            ],
        )
    assert answer.choices[0].message.content == "Sunny in Paris, 21 C."
    assert answer.choices[0].finish_reason == "stop"
    assert answer.model == "weather"
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (80, 16)
    assert answer.usage.total_tokens == 96
    first, second = model_server.bodies
    assert first["messages"][0] == {
        "role": "system",
        "content": INSTRUCTIONS + "\n\nAnswer in one line.",
    }
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant", "user"]
    assert second["messages"][-1]["role"] == "tool"
    assert second["messages"][-1]["content"] == "Paris: 21 C, sunny"


def test_streamed_completion_sends_text_deltas_and_usage(model_server: LocalModelServer) -> None:
    """A streamed completion runs the tool inside, sends the answer as several content
    chunks, the run's total usage, and ends (the SDK sees ``[DONE]``)."""
    model_server.add(
        reply_tool_calls(("get_weather", {"city": "Oslo"}), usage=usage(20, 4)),
        reply_text("Oslo is sunny today, 21 degrees, enjoy it.", usage=usage(40, 12)),
    )
    with BackgroundServer(weather_agent(model_server)) as served, client(served.url) as api:
        stream = api.chat.completions.create(
            model="weather",
            messages=[{"role": "user", "content": "Weather in Oslo?"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert "".join(pieces) == "Oslo is sunny today, 21 degrees, enjoy it."
    assert len(pieces) > 1
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (60, 16)
    assert model_server.bodies[1]["messages"][-1]["content"] == "Oslo: 21 C, sunny"


class GatedModel(ModelLifecycle):
    """Streams one delta, then waits for the test to say it saw it before the rest."""

    name = "gated"
    profile = ModelProfile(name="gated")

    def __init__(self) -> None:
        super().__init__()
        self.seen_first = threading.Event()

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        """The first half, a wait for the client, the second half, then the response."""
        yield TextDelta("first half, ")
        await anyio.to_thread.run_sync(self.seen_first.wait, abandon_on_cancel=True)
        yield TextDelta("second half")
        message = AssistantMessage(content="first half, second half", finish_reason="stop")
        yield ModelResponse(message=message, usage=Usage(requests=1), finish_reason="stop")


def test_streamed_deltas_leave_as_the_model_makes_them() -> None:
    """The first delta reaches the client while the model has not produced the second yet."""
    model = GatedModel()
    agent: Agent[Any, str] = Agent(model, name="gated")
    with BackgroundServer(agent) as served, client(served.url) as api:
        stream = api.chat.completions.create(
            model="gated", messages=[{"role": "user", "content": "go"}], stream=True
        )
        received: list[str] = []
        for c in stream:
            if c.choices and c.choices[0].delta.content:
                received.append(c.choices[0].delta.content)
                model.seen_first.set()  # only now may the model go on
    assert received == ["first half, ", "second half"]


class Trip(BaseModel):
    """A structured answer."""

    city: str
    umbrella: bool


def test_structured_output_is_answered_as_json(model_server: LocalModelServer) -> None:
    """An agent with a structured output answers with its output as JSON, plain and streamed."""
    model_server.add(reply_json({"city": "Lyon", "umbrella": True}))
    model_server.add(reply_json({"city": "Lyon", "umbrella": True}))
    agent = weather_agent(model_server, output_type=Trip)
    with BackgroundServer(agent) as served, client(served.url) as api:
        messages: Any = [{"role": "user", "content": "Lyon?"}]
        plain = api.chat.completions.create(model="weather", messages=messages)
        streamed = api.chat.completions.create(model="weather", messages=messages, stream=True)
        text_ = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert json.loads(plain.choices[0].message.content or "") == {"city": "Lyon", "umbrella": True}
    assert json.loads(text_) == {"city": "Lyon", "umbrella": True}


def test_models_lists_the_served_agent(model_server: LocalModelServer) -> None:
    """``GET /v1/models`` lists the agent, by name, as the one model."""
    with BackgroundServer(weather_agent(model_server)) as served, client(served.url) as api:
        assert [m.id for m in api.models.list()] == ["weather"]


@pytest.mark.parametrize(
    ("messages", "words"),
    [
        ([{"role": "system", "content": "Be brief."}], "no user message"),
        ([{"role": "tool", "content": "x", "tool_call_id": "a"}], "role 'tool'"),
        ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "last"),
        ([], "non-empty"),
    ],
)
def test_client_mistakes_get_openai_shaped_errors(
    model_server: LocalModelServer, messages: Any, words: str
) -> None:
    """A missing user message, an unsupported role, a misplaced prompt or no messages at
    all are 400s the SDK raises as ``BadRequestError``, saying what to fix."""
    with BackgroundServer(weather_agent(model_server)) as served, client(served.url) as api:
        with pytest.raises(openai.BadRequestError) as caught:
            api.chat.completions.create(model="weather", messages=messages)
    assert words in caught.value.message
    assert caught.value.type == "invalid_request_error"
    assert model_server.requests == []


def test_malformed_and_oversized_bodies_are_refused(model_server: LocalModelServer) -> None:
    """A body that is not JSON gets a 400 and one past the size bound a 413, both with an
    OpenAI-shaped error, and the agent never runs."""
    with BackgroundServer(weather_agent(model_server)) as served:
        url = served.url + "/v1/chat/completions"
        headers = {"content-type": "application/json"}
        bad = httpx2.post(url, content=b'{"messages": [', headers=headers)
        big = b'{"messages": [{"role": "user", "content": "' + b"a" * 1_100_000 + b'"}]}'
        huge = httpx2.post(url, content=big, headers=headers)
    assert bad.status_code == 400
    assert "not valid JSON" in bad.json()["error"]["message"]
    assert huge.status_code == 413
    assert huge.json()["error"]["code"] == "request_too_large"
    assert model_server.requests == []


def test_a_failed_run_is_a_server_error_saying_why(model_server: LocalModelServer) -> None:
    """When the agent's model keeps failing, the client gets a 500 naming the run's error."""
    from agentkit.testing.server import reply_error

    model_server.add(*[reply_error(400, "bad things") for _ in range(3)])
    with BackgroundServer(weather_agent(model_server)) as served, client(served.url) as api:
        with pytest.raises(openai.InternalServerError) as caught:
            api.chat.completions.create(
                model="weather", messages=[{"role": "user", "content": "x"}]
            )
    assert "BadRequestError" in caught.value.message
    assert "sk-test" not in caught.value.message


def test_a_client_that_leaves_mid_stream_cancels_the_run(model_server: LocalModelServer) -> None:
    """Closing a streamed response while a tool runs cancels that tool (the run ends)."""
    started, cancelled = threading.Event(), threading.Event()

    @tool
    async def slow_lookup(city: str) -> str:
        """A lookup that never finishes.

        Args:
            city: The city.
        """
        started.set()
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()
        return "never"

    model_server.add(reply_tool_calls(("slow_lookup", {"city": "Rome"})))
    model = OpenAIChatModel("mistral-small-2506", base_url=model_server.base_url, api_key="k")
    agent: Agent[Any, str] = Agent(model, tools=[slow_lookup], name="slow")
    with BackgroundServer(agent) as served, client(served.url) as api:
        stream = api.chat.completions.create(
            model="slow", messages=[{"role": "user", "content": "Rome?"}], stream=True
        )
        next(iter(stream))  # the role chunk: the run is under way
        assert started.wait(30)
        stream.close()
        assert cancelled.wait(30), "the run went on after its client left"
    assert len(model_server.requests) == 1


def test_a_token_is_checked_on_every_request(model_server: LocalModelServer) -> None:
    """With a token set, a request without it (or with another) gets 401, with it 200."""
    with BackgroundServer(weather_agent(model_server), token="s3cret-token") as served:
        with client(served.url) as api, pytest.raises(openai.AuthenticationError):
            api.models.list()
        with client(served.url, key="wrong") as api, pytest.raises(openai.AuthenticationError):
            api.models.list()
        assert httpx2.get(served.url + "/").status_code == 401
        assert httpx2.get(served.url + "/?token=s3cret-token").status_code == 200
        with client(served.url, key="s3cret-token") as api:
            assert [m.id for m in api.models.list()] == ["weather"]


def test_a_non_loopback_bind_without_a_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serving on an address other machines reach needs a token; loopback does not."""
    monkeypatch.delenv("AGENTKIT_SERVE_TOKEN", raising=False)
    with pytest.raises(ConfigurationError, match="--token or AGENTKIT_SERVE_TOKEN"):
        check_bind("0.0.0.0", None)
    assert check_bind("127.0.0.1", None) is None
    assert check_bind("::1", None) is None
    assert check_bind("0.0.0.0", "t") == "t"
    monkeypatch.setenv("AGENTKIT_SERVE_TOKEN", "from-env")
    assert check_bind("192.168.1.20", None) == "from-env"


def test_the_model_key_never_reaches_the_browser(model_server: LocalModelServer) -> None:
    """The page and its event stream carry nothing of the model's API key."""
    model_server.add(reply_text("Hello."))
    key = "sk-very-secret-key-123"
    model = OpenAIChatModel("mistral-small-2506", base_url=model_server.base_url, api_key=key)
    agent: Agent[Any, str] = Agent(model, name="keyed")
    with BackgroundServer(agent) as served:
        page = httpx2.get(served.url + "/").text
        events = httpx2.post(
            served.url + "/api/chat", json={"conversation": "tab-12345678", "prompt": "hi"}
        ).text
    assert "Hello." in events
    assert key not in page and key not in events
    assert model_server.requests[0].headers["authorization"] == f"Bearer {key}"


def _page_events(stream: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in stream.splitlines() if line.startswith("data: {")]


def test_the_page_approves_a_child_agents_call_by_its_key() -> None:
    """A child agent's call needing approval reaches the page with its key and agent (also
    when the page reloads the conversation); the decision sent with that key resumes the
    child, and the approved call runs once."""
    ran: list[str] = []

    @tool(needs_approval=True)
    def refund(order_id: str) -> str:
        """Refund an order.

        Args:
            order_id: The order.
        """
        ran.append(order_id)
        return f"refunded {order_id}"

    replies = [
        reply_tool_calls(("billing", {"prompt": "Refund A1"})),
        reply_tool_calls(("refund", {"order_id": "A1"})),
        reply_text("Refunded A1."),
        reply_text("Done."),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        model = OpenAIChatModel("mistral-small-2506", base_url=server.base_url, api_key="k")
        billing = Agent(model, name="billing", tools=[refund])
        desk: Agent[Any, str] = Agent(model, name="desk", tools=[billing.as_tool()])
        with BackgroundServer(desk) as served:
            body = {"conversation": "tab-12345678", "prompt": "Refund A1"}
            paused = _page_events(httpx2.post(served.url + "/api/chat", json=body).text)
            (asked,) = [e for e in paused if e["type"] == "approval_required"]
            (request,) = asked["requests"]
            assert (request["agent"], request["name"]) == ("billing", "refund")
            assert request["id"].count("/") == 1 and ran == []
            reloaded = httpx2.get(served.url + "/api/conversations/tab-12345678").json()
            assert reloaded["pending"] == [request]
            decision = {"conversation": "tab-12345678", "approvals": {request["id"]: True}}
            done = httpx2.post(served.url + "/api/chat", json=decision).text
    assert "Done." in done and ran == ["A1"]
