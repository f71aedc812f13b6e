"""LocalModelServer: real HTTP, both response styles, SSE framing, scripts, recording, faults."""

from __future__ import annotations

import json
import re
from typing import Any

import anyio
import httpx2
import pytest

from agentkit.testing.server import (
    LocalModelServer,
    RecordedRequest,
    Reply,
    reply_error,
    reply_json,
    reply_text,
    reply_tool_calls,
    usage,
)

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


CUT_OFF = (httpx2.RemoteProtocolError, httpx2.ReadError)
"""How a client sees a connection closed mid-answer: an incomplete message, or (when the
close reaches it as a reset, which timing decides) a read error."""


def post(server: LocalModelServer, body: dict[str, Any] = CHAT, **kwargs: Any) -> httpx2.Response:
    """POST a chat request with a plain HTTP client."""
    return httpx2.post(f"{server.base_url}/chat/completions", json=body, timeout=5, **kwargs)


def sse_events(response: httpx2.Response) -> list[str]:
    """The data payloads of an SSE body, checking the framing."""
    assert response.headers["content-type"] == "text/event-stream"
    blocks = response.text.split("\n\n")
    assert blocks[-1] == ""
    events = []
    for block in blocks[:-1]:
        assert block.startswith("data: "), block
        events.append(block[len("data: ") :])
    return events


def test_mistral_style_tool_call_shape() -> None:
    """Mistral style: 32-hex id, content "", 9-char ids with an index and no type."""
    with LocalModelServer(
        [reply_tool_calls(("get_weather", {"city": "Paris"}))], style="mistral"
    ) as srv:
        data = post(srv).json()
    assert re.fullmatch(r"[0-9a-f]{32}", data["id"])
    message = data["choices"][0]["message"]
    assert message["content"] == ""
    (call,) = message["tool_calls"]
    assert re.fullmatch(r"[a-zA-Z0-9]{9}", call["id"])
    assert "type" not in call
    assert call["index"] == 0
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert data["choices"][0]["finish_reason"] == "tool_calls"
    assert data["model"] == "m"


def test_openai_style_tool_call_shape() -> None:
    """OpenAI style: chatcmpl id, null content, call_ ids with type function."""
    with LocalModelServer([reply_tool_calls(("f", {}))], style="openai") as srv:
        data = post(srv).json()
    assert data["id"].startswith("chatcmpl-")
    message = data["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"][0]["id"].startswith("call_")
    assert message["tool_calls"][0]["type"] == "function"


def test_text_json_output_and_usage_control() -> None:
    """reply_text(), reply_json(), finish_reason and usage numbers are answered as given."""
    script = [
        reply_text("hello", finish_reason="length", usage=usage(7, 3, cached_tokens=2)),
        reply_json({"city": "Paris"}),
    ]
    with LocalModelServer(script) as srv:
        first = post(srv).json()
        second = post(srv).json()
    assert first["choices"][0]["message"]["content"] == "hello"
    assert first["choices"][0]["finish_reason"] == "length"
    assert first["usage"] == {
        "prompt_tokens": 7,
        "completion_tokens": 3,
        "total_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 2},
    }
    assert json.loads(second["choices"][0]["message"]["content"]) == {"city": "Paris"}


def test_requests_are_recorded_with_body_and_headers() -> None:
    """Every request is recorded: path, lower-cased headers, parsed JSON body."""
    with LocalModelServer([reply_text("a"), reply_text("b")]) as srv:
        post(srv, headers={"Authorization": "Bearer k"})
        post(srv, {**CHAT, "temperature": 0.1})
    assert [r.path for r in srv.requests] == ["/v1/chat/completions"] * 2
    assert srv.requests[0].headers["authorization"] == "Bearer k"
    assert srv.requests[1].body["temperature"] == 0.1
    assert srv.bodies[0] == CHAT


def test_script_as_function_of_the_request() -> None:
    """A function script answers from the request it gets."""

    def respond(request: RecordedRequest) -> Reply:
        return reply_text(f"you said {request.body['messages'][-1]['content']}")

    with LocalModelServer(respond) as srv:
        data = post(srv).json()
    assert data["choices"][0]["message"]["content"] == "you said hi"


def test_exhausted_script_answers_500_saying_so() -> None:
    """A request past the end of the script gets a 500 explaining the script ran out."""
    with LocalModelServer([reply_text("only")]) as srv:
        post(srv)
        response = post(srv)
        srv.add(reply_text("more"))
        again = post(srv)
    assert response.status_code == 500
    assert "no reply left" in response.json()["error"]["message"]
    assert again.json()["choices"][0]["message"]["content"] == "more"
    assert srv.remaining == 0


def test_error_reply_status_body_and_retry_after() -> None:
    """reply_error() answers its status with the style's error object and Retry-After."""
    with LocalModelServer([reply_error(429, "slow down", retry_after=2, style="mistral")]) as srv:
        response = post(srv)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.json()["message"] == "slow down"
    assert response.json()["object"] == "error"


def test_stream_openai_style_framing_and_usage() -> None:
    """An OpenAI-style stream: role chunk, text pieces, finish chunk, usage chunk, [DONE]."""
    reply = reply_text("Hello there, world!", usage=usage(5, 4))
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    with LocalModelServer([reply]) as srv:
        events = sse_events(post(srv, body))
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text_pieces = [c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]]
    assert "".join(text_pieces) == "Hello there, world!"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == 5


def test_stream_openai_without_include_usage_sends_no_usage() -> None:
    """Like OpenAI, usage is streamed only when stream_options.include_usage asks for it."""
    with LocalModelServer([reply_text("hi")]) as srv:
        events = sse_events(post(srv, {**CHAT, "stream": True}))
    assert all("usage" not in json.loads(e) for e in events[:-1])


def test_stream_mistral_style_usage_on_the_final_chunk() -> None:
    """A Mistral-style stream sends each tool call whole and usage with the finish chunk."""
    reply = reply_tool_calls(("get_weather", {"city": "Paris"}), usage=usage(9, 2))
    with LocalModelServer([reply], style="mistral") as srv:
        events = sse_events(post(srv, {**CHAT, "stream": True}))
    chunks = [json.loads(e) for e in events[:-1]]
    call_chunks = [c for c in chunks if c["choices"][0]["delta"].get("tool_calls")]
    assert len(call_chunks) == 1
    (call,) = call_chunks[0]["choices"][0]["delta"]["tool_calls"]
    assert call["function"]["arguments"] == '{"city": "Paris"}'
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["prompt_tokens"] == 9


def test_truncated_stream_is_cut_mid_body() -> None:
    """truncate_after cuts a stream after that many events: the client sees a broken body."""
    with LocalModelServer([Reply(content="x" * 100, truncate_after=2)]) as srv:
        with pytest.raises(CUT_OFF):
            post(srv, {**CHAT, "stream": True})


def test_dropped_connection_sends_nothing() -> None:
    """drop_connection() closes the connection without a response."""
    with LocalModelServer([Reply(drop=True)]) as srv:
        with pytest.raises(CUT_OFF):
            post(srv)
    assert len(srv.requests) == 1


def test_unknown_path_is_404() -> None:
    """Anything but /v1/chat/completions is a 404 (and still recorded)."""
    with LocalModelServer([reply_text("x")]) as srv:
        response = httpx2.post(f"{srv.base_url}/embeddings", json={}, timeout=5)
    assert response.status_code == 404
    assert srv.requests[0].path == "/v1/embeddings"
    assert srv.remaining == 1


def test_base_url_needs_a_running_server() -> None:
    """Asking a stopped server for its URL says how to start it."""
    with pytest.raises(RuntimeError, match="context manager"):
        _ = LocalModelServer().base_url


@pytest.mark.anyio
async def test_two_hundred_concurrent_requests() -> None:
    """200 requests in flight at once are all answered (one thread per connection)."""
    with LocalModelServer(lambda request: reply_text("ok")) as srv:
        results: list[int] = []
        limits = httpx2.Limits(max_connections=300)
        async with httpx2.AsyncClient(limits=limits, timeout=30) as client:

            async def one() -> None:
                response = await client.post(f"{srv.base_url}/chat/completions", json=CHAT)
                results.append(response.status_code)

            async with anyio.create_task_group() as tg:
                for _ in range(200):
                    tg.start_soon(one)
    assert results == [200] * 200
    assert len(srv.requests) == 200


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("text", reply_text),
        ("tool_calls", reply_tool_calls),
        ("json_output", reply_json),
        ("error", reply_error),
    ],
)
def test_the_old_reply_names_still_work_with_a_deprecation_warning(old: str, new: Any) -> None:
    """The reply builders' names before the rename import as the new ones, with a warning."""
    namespace: dict[str, Any] = {}
    with pytest.warns(DeprecationWarning, match=f"server.{old} is deprecated.*{new.__name__}"):
        exec(f"from agentkit.testing.server import {old}", namespace)
    assert namespace[old] is new


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    """A name the server module never had raises AttributeError, without a warning."""
    import agentkit.testing.server as server

    with pytest.raises(AttributeError, match="has no attribute 'reply_nothing'"):
        _ = server.reply_nothing
