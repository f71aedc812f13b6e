"""``agentkit serve`` is safe by default: browsers cannot use it behind their user's back,
input it cannot process is a 400 (never a 500), and upstream failures keep their meaning.

Requests go over real HTTP to uvicorn on 127.0.0.1 (``BackgroundServer``); the agent's
model is a ``LocalModelServer``, whose request log shows whether the agent ran at all.
The same attacks from a real browser are in ``test_serve_browser.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
from pydantic import BaseModel
from support import get_weather, model_on

from agentkit import Agent
from agentkit.models import RetryPolicy
from agentkit.serve import BackgroundServer
from agentkit.testing.server import LocalModelServer, reply_error, reply_json, reply_text

JSON = {"content-type": "application/json"}
ASK = {"model": "weather", "messages": [{"role": "user", "content": "Weather in Paris?"}]}
PAGE_ASK = {"conversation": "c0nversation-1", "prompt": "Weather in Paris?"}


@pytest.fixture
def model_server() -> Iterator[LocalModelServer]:
    with LocalModelServer(style="mistral") as server:
        yield server


def weather_agent(server: LocalModelServer, **kwargs: Any) -> Agent[Any, Any]:
    model = model_on(server, api_key="sk-test", retry=RetryPolicy(max_retries=0))
    return Agent(model, tools=[get_weather], name="weather", **kwargs)


def post(url: str, body: Any, headers: dict[str, str] | None = None) -> httpx2.Response:
    return httpx2.post(url, content=json.dumps(body).encode(), headers=headers or JSON)


# -- cross-site callers ---------------------------------------------------------------------


@pytest.mark.parametrize("path, body", [("/v1/chat/completions", ASK), ("/api/chat", PAGE_ASK)])
def test_a_text_plain_post_is_refused_and_runs_nothing(
    model_server: LocalModelServer, path: str, body: Any
) -> None:
    """A POST a cross-site page could send without a preflight (``text/plain``) is refused
    with 415, and the agent never runs."""
    with BackgroundServer(weather_agent(model_server)) as served:
        answer = post(served.url + path, body, {"content-type": "text/plain;charset=UTF-8"})
    assert answer.status_code == 415
    assert "application/json" in answer.json()["error"]["message"]
    assert model_server.requests == []


@pytest.mark.parametrize("path, body", [("/v1/chat/completions", ASK), ("/api/chat", PAGE_ASK)])
def test_a_request_from_another_origin_is_refused(
    model_server: LocalModelServer, path: str, body: Any
) -> None:
    """A request whose ``Origin`` is another site (another port of 127.0.0.1 included), or
    that the browser marks ``Sec-Fetch-Site: cross-site``, gets 403 and runs nothing."""
    with BackgroundServer(weather_agent(model_server)) as served:
        other_port = post(served.url + path, body, {**JSON, "origin": "http://127.0.0.1:1"})
        other_site = post(served.url + path, body, {**JSON, "origin": "https://evil.example"})
        null = post(served.url + path, body, {**JSON, "origin": "null"})
        fetched = post(served.url + path, body, {**JSON, "sec-fetch-site": "cross-site"})
    for answer in (other_port, other_site, null, fetched):
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "origin_not_allowed"
        assert "--allow-origin" in answer.json()["error"]["message"]
    assert model_server.requests == []


def test_the_servers_own_pages_and_plain_clients_are_served(
    model_server: LocalModelServer,
) -> None:
    """The page's own origin, a same-origin fetch and a client sending no ``Origin`` (curl,
    the openai SDK) are answered as before."""
    model_server.add(reply_text("Sunny."), reply_text("Sunny."), reply_text("Sunny."))
    with BackgroundServer(weather_agent(model_server)) as served:
        url = served.url + "/v1/chat/completions"
        own = post(url, ASK, {**JSON, "origin": served.url})
        same = post(url, ASK, {**JSON, "sec-fetch-site": "same-origin"})
        plain = post(url, ASK)
    assert [a.status_code for a in (own, same, plain)] == [200, 200, 200]
    assert len(model_server.requests) == 3


def test_an_allowed_origin_gets_cors_and_its_preflight_answered(
    model_server: LocalModelServer,
) -> None:
    """An origin given in ``allow_origins`` is served with CORS headers, its preflight is
    answered (without the token it cannot carry), and other origins are still refused."""
    model_server.add(reply_text("Sunny."))
    app_origin = "https://app.example.com"
    agent = weather_agent(model_server)
    with BackgroundServer(agent, token="s3cret", allow_origins=[app_origin]) as served:
        url = served.url + "/v1/chat/completions"
        preflight = httpx2.options(
            url,
            headers={
                "origin": app_origin,
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type",
            },
        )
        auth = {**JSON, "authorization": "Bearer s3cret"}
        allowed = post(url, ASK, {**auth, "origin": app_origin})
        other = post(url, ASK, {**auth, "origin": "https://evil.example"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == app_origin
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == app_origin
    assert other.status_code == 403
    assert len(model_server.requests) == 1


# -- DNS rebinding --------------------------------------------------------------------------


def test_a_request_for_another_host_name_is_refused_without_a_token(
    model_server: LocalModelServer,
) -> None:
    """Without a token, a request addressed to a name that is not loopback (what a DNS
    rebinding page sends) gets 403, reads no conversation and runs nothing; loopback
    names and ``allow_hosts`` are answered."""
    model_server.add(reply_text("Sunny."), reply_text("Sunny."))
    agent = weather_agent(model_server)
    with BackgroundServer(agent, allow_hosts=["agent.internal"]) as served:
        port = served.port
        evil = {"host": f"evil.example:{port}"}
        chat = post(served.url + "/api/chat", PAGE_ASK, {**JSON, **evil})
        api = post(served.url + "/v1/chat/completions", ASK, {**JSON, **evil})
        read = httpx2.get(served.url + "/api/conversations/c0nversation-1", headers=evil)
        page = httpx2.get(served.url + "/", headers=evil)
        local = post(
            served.url + "/v1/chat/completions", ASK, {**JSON, "host": f"localhost:{port}"}
        )
        named = post(
            served.url + "/v1/chat/completions", ASK, {**JSON, "host": f"agent.internal:{port}"}
        )
    for answer in (chat, api, read, page):
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "host_not_allowed"
        assert "--allow-host" in answer.json()["error"]["message"]
    assert local.status_code == 200
    assert named.status_code == 200
    assert len(model_server.requests) == 2


def test_with_a_token_any_host_name_is_answered(model_server: LocalModelServer) -> None:
    """A server with a token does not check ``Host`` (a rebinding page cannot know the
    token), so it can sit behind a proxy under any name."""
    model_server.add(reply_text("Sunny."))
    with BackgroundServer(weather_agent(model_server), token="s3cret") as served:
        answer = post(
            served.url + "/v1/chat/completions",
            ASK,
            {**JSON, "host": "agent.example.com", "authorization": "Bearer s3cret"},
        )
    assert answer.status_code == 200


# -- input that cannot be processed ---------------------------------------------------------


def test_a_lone_surrogate_is_a_400_on_both_endpoints(model_server: LocalModelServer) -> None:
    """A prompt holding a lone surrogate (valid JSON, invalid text) is a 400 naming where it
    is, on the API and on the page's endpoint, and the agent never runs."""
    raw_api = b'{"model": "w", "messages": [{"role": "user", "content": "hi \\ud800"}]}'
    raw_page = b'{"conversation": "c0nversation-1", "prompt": "hi \\ud800"}'
    with BackgroundServer(weather_agent(model_server)) as served:
        api = httpx2.post(served.url + "/v1/chat/completions", content=raw_api, headers=JSON)
        page = httpx2.post(served.url + "/api/chat", content=raw_page, headers=JSON)
    assert api.status_code == 400
    assert api.json()["error"]["param"] == "messages[0].content"
    assert "surrogate" in api.json()["error"]["message"]
    assert page.status_code == 400
    assert page.json()["error"]["param"] == "prompt"
    assert model_server.requests == []


@pytest.mark.parametrize("depth", [100, 5_000])
def test_a_deeply_nested_body_is_a_json_400(model_server: LocalModelServer, depth: int) -> None:
    """A body nested past the limit (5,000 levels used to be a plain-text 500) is a 400 in
    OpenAI's error shape."""
    raw = b'{"model": "w", "messages": ' + b"[" * depth + b"]" * depth + b"}"
    with BackgroundServer(weather_agent(model_server)) as served:
        answer = httpx2.post(served.url + "/v1/chat/completions", content=raw, headers=JSON)
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert "nested" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    "extra, param",
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"temperature": "hot"}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"stream_options": {"include_usage": "yes"}}, "stream_options.include_usage"),
    ],
)
def test_parameters_that_cannot_be_honoured_are_refused(
    model_server: LocalModelServer, extra: dict[str, Any], param: str
) -> None:
    """``n > 1``, ``logprobs``, a ``response_format`` the text agent cannot give, a client
    ``tool_choice`` and wrongly typed values are 400s naming the parameter, never ignored."""
    with BackgroundServer(weather_agent(model_server)) as served:
        answer = post(served.url + "/v1/chat/completions", {**ASK, **extra})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == param
    assert model_server.requests == []


class Forecast(BaseModel):
    city: str
    summary: str


def test_sampling_parameters_reach_the_model_and_json_fits_a_structured_agent(
    model_server: LocalModelServer,
) -> None:
    """``max_tokens``, ``temperature``, ``top_p``, ``seed`` and ``stop`` are sent on the
    agent's model requests, and ``response_format`` JSON is accepted from a structured agent."""
    model_server.add(reply_json({"city": "Paris", "summary": "Sunny"}))
    agent = weather_agent(model_server, output_type=Forecast)
    with BackgroundServer(agent) as served:
        with openai.OpenAI(base_url=served.url + "/v1", api_key="x", max_retries=0) as api:
            answer = api.chat.completions.create(
                model="weather",
                messages=[{"role": "user", "content": "Weather in Paris?"}],
                max_tokens=300,
                temperature=0.2,
                top_p=0.9,
                seed=7,
                stop=["END"],
                response_format={"type": "json_object"},
            )
    assert json.loads(answer.choices[0].message.content or "") == {
        "city": "Paris",
        "summary": "Sunny",
    }
    sent = model_server.requests[0].body
    assert (sent["max_tokens"], sent["temperature"], sent["top_p"]) == (300, 0.2, 0.9)
    assert sent["random_seed" if "random_seed" in sent else "seed"] == 7
    assert sent["stop"] == ["END"]


# -- upstream failures keep their meaning ---------------------------------------------------


def test_an_upstream_rate_limit_is_a_429_with_retry_after(model_server: LocalModelServer) -> None:
    """The model's 429 is answered as a 429 with its ``Retry-After`` (not a 500 the SDK
    retries as a server failure), and the model's key is not in it."""
    model_server.add(reply_error(429, "Rate limit exceeded", retry_after=30, style="mistral"))
    with BackgroundServer(weather_agent(model_server)) as served:
        answer = post(served.url + "/v1/chat/completions", ASK)
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "30"
    assert answer.json()["error"]["code"] == "rate_limit_exceeded"
    assert "sk-test" not in answer.text


def test_upstream_failures_are_502_and_agent_failures_are_not_retried(
    model_server: LocalModelServer,
) -> None:
    """The model's own failure is a 502; a run that fails on its own (here, its turn
    limit) is a 500 the openai SDK does not retry, so the agent runs once, not three times."""
    model_server.add(reply_error(503, "overloaded", style="mistral"))
    agent = weather_agent(model_server)
    with BackgroundServer(agent) as served:
        upstream = post(served.url + "/v1/chat/completions", ASK)
    assert upstream.status_code == 502

    looping = LocalModelServer(style="mistral")
    from agentkit.testing.server import reply_tool_calls

    with looping:
        looping.add(*[reply_tool_calls(("get_weather", {"city": "Paris"})) for _ in range(9)])
        agent = weather_agent(looping, max_turns=2)
        with BackgroundServer(agent) as served:
            with openai.OpenAI(base_url=served.url + "/v1", api_key="x", max_retries=2) as api:
                with pytest.raises(openai.InternalServerError) as caught:
                    api.chat.completions.create(
                        model="weather", messages=[{"role": "user", "content": "Paris?"}]
                    )
        assert caught.value.status_code == 500
        assert caught.value.response.headers["x-should-retry"] == "false"
        assert len(looping.requests) == 2
