"""Cassette format, scrubbing and secret detection, and chunked stream replay.

The stream tests record real exchanges with a ``LocalModelServer`` through
``use_cassette`` (no pytest plugin involved) and replay them with the server stopped.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx2
import pytest

from agentkit.messages import UserMessage
from agentkit.models.base import ModelRequest, TextDelta, complete
from agentkit.models.openai import OpenAIChatModel
from agentkit.testing._cassette_format import ReadableSerializer
from agentkit.testing.cassettes import (
    DEFAULT_IGNORED_FIELDS,
    SCRUBBED,
    CassetteMismatchError,
    CassetteOptions,
    CassetteSecretError,
    UnplayedInteractionsError,
    _body_diff,
    _scrub_response,
    check_cassette,
    find_secrets,
    load_cassette_data,
    use_cassette,
)
from agentkit.testing.server import LocalModelServer, reply_text

KEY = "sk-proj-" + "Qx7bK2mZ9vR4tY8wN3cF6hJ1pL5sD0gA" + "e4Uo9Wi2Ty7Rq"
DEAD_URL = "http://127.0.0.1:9/v1"  # nothing listens there: replay must not need it
_yaml_load = importlib.import_module("yaml").safe_load


def _interaction(body: Any, headers: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {
        "request": {
            "method": "POST",
            "uri": "https://api.mistral.ai/v1/chat/completions",
            "headers": headers or {},
            "body": body,
        },
        "response": {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {}},
    }


# --------------------------------------------------------------------------- secrets


def test_find_secrets_names_the_field_of_each_kind_of_key() -> None:
    """Keys are found by header name, by shape, by field name and in query parameters."""
    data = {
        "interactions": [
            _interaction(None, {"authorization": ["Bearer abc"], "cookie": ["s=1"]}),
            {
                "request": {
                    "uri": "https://example.com/v1/chat?api-key=abc123def456",
                    "body": {"json": {"messages": [{"content": f"my key is {KEY}"}]}},
                },
                "response": {"body": {"json": {"x_session_token": "f9Q2kL7xM3pW8rT1vB6nZ4cY0"}}},
            },
        ]
    }
    found = dict(find_secrets(data))
    assert "the authorization header" in found["interactions[0].request.headers.authorization[0]"]
    assert "the cookie header" in found["interactions[0].request.headers.cookie[0]"]
    assert found["interactions[1].request.body.json.messages[0].content"] == "an API key (sk-...)"
    assert "x_session_token" in found["interactions[1].response.body.json.x_session_token"]
    assert "'api-key' query parameter" in found["interactions[1].request.uri?api-key"]


def test_find_secrets_leaves_ordinary_model_traffic_alone() -> None:
    """Token counts, rate-limit headers, ids and scrubbed values are not taken for keys."""
    data = {
        "interactions": [
            {
                "request": {
                    "headers": {
                        "authorization": [SCRUBBED],
                        "x-ratelimit-remaining-tokens": ["99"],
                    },
                    "body": {"json": {"max_tokens": 8192, "messages": [{"content": "task-force"}]}},
                },
                "response": {
                    "headers": {"x-ratelimit-reset-tokens": ["6ms"]},
                    "body": {
                        "json": {
                            "id": "chatcmpl-9fK2xQ7mL3pW8rT1vB6nZ4cY0aE5",
                            "usage": {"prompt_tokens": 12, "total_tokens": 20},
                            "choices": [{"message": {"tool_calls": [{"id": "call__0_get_w"}]}}],
                        }
                    },
                },
            }
        ]
    }
    assert find_secrets(data) == []


def test_values_of_key_variables_are_secrets_wherever_they_appear() -> None:
    """The value of a key environment variable is found even in a field of any name."""
    options = CassetteOptions(environ={"MISTRAL_API_KEY": "plainlookingvalue"})
    data = {"interactions": [{"response": {"body": {"json": {"note": "x plainlookingvalue"}}}}]}
    assert find_secrets(data, options) == [
        (
            "interactions[0].response.body.json.note",
            "a value named as a secret (a key variable or a listed secret)",
        )
    ]


def test_scrub_response_replaces_cookies_org_ids_and_named_values() -> None:
    """Response scrubbing covers set-cookie, organisation ids and listed values in the body."""
    response: dict[str, Any] = {
        "status": {"code": 200, "message": "OK"},
        "headers": {
            "Set-Cookie": ["a=1", "b=2"],
            "openai-organization": ["org-1"],
            "x-stainless-os": ["Linux"],
            "content-type": ["application/json"],
        },
        "body": {"string": b'{"echo": "acct-123456789"}'},
    }
    scrubbed = _scrub_response(response, CassetteOptions(secrets=("acct-123456789",)))
    assert scrubbed["headers"] == {
        "Set-Cookie": [SCRUBBED],
        "openai-organization": [SCRUBBED],
        "content-type": ["application/json"],
    }
    assert json.loads(scrubbed["body"]["string"]) == {"echo": SCRUBBED}
    assert response["headers"]["Set-Cookie"] == ["a=1", "b=2"]  # the original is untouched


# --------------------------------------------------------------------------- format


def test_serializer_round_trips_json_and_sse_bodies() -> None:
    """JSON becomes YAML data and SSE a list of events; loading gives equivalent bytes back."""
    sse = 'data: {"choices":[{"delta":{"content":"Hi"}}]}\r\n\r\n: ping\r\n\r\ndata: [DONE]\r\n\r\n'
    cassette: dict[str, Any] = {
        "version": 1,
        "interactions": [
            {
                "request": {
                    "method": "POST",
                    "uri": "http://127.0.0.1:8000/v1/chat/completions",
                    "headers": {"content-type": ["application/json"]},
                    "body": '{"messages": [{"role": "user", "content": "line 1\\nline 2"}]}',
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {"content-type": ["text/event-stream"], "content-length": ["99"]},
                    "body": {"string": sse},
                },
            }
        ],
    }
    text_ = ReadableSerializer.serialize(json.loads(json.dumps(cassette)))
    stored = _yaml_load(text_)["interactions"][0]
    assert stored["request"]["body"] == {
        "json": {"messages": [{"role": "user", "content": "line 1\nline 2"}]}
    }
    assert stored["response"]["body"] == {
        "sse": [
            {"data": {"choices": [{"delta": {"content": "Hi"}}]}},
            {"comment": " ping"},
            {"data": "[DONE]"},
        ]
    }
    assert "content: |-\n" in text_  # multi-line text as a YAML block, not an escaped string
    loaded = ReadableSerializer.deserialize(text_)["interactions"][0]
    assert json.loads(loaded["request"]["body"]) == json.loads(
        cassette["interactions"][0]["request"]["body"]
    )
    body = loaded["response"]["body"]["string"]
    assert body.split("\n\n")[:3] == [
        'data: {"choices":[{"delta":{"content":"Hi"}}]}',
        ": ping",
        "data: [DONE]",
    ]
    assert loaded["response"]["headers"]["content-length"] == [str(len(body.encode()))]


def test_an_unterminated_stream_is_kept_verbatim() -> None:
    """A stream that would not survive the event-list form is stored as the exact string."""
    cassette: dict[str, Any] = {
        "interactions": [
            {
                "request": {"method": "GET", "uri": "http://x/", "headers": {}, "body": None},
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {"content-type": ["text/event-stream"]},
                    "body": {"string": "data: {}\n\ndata: cut"},
                },
            }
        ]
    }
    stored = _yaml_load(ReadableSerializer.serialize(cassette))["interactions"][0]
    assert stored["response"]["body"] == {"string": "data: {}\n\ndata: cut"}


# --------------------------------------------------------------------------- streams


async def _stream_text(model: OpenAIChatModel, prompt: str) -> list[str]:
    request = ModelRequest(messages=[UserMessage(content=prompt)])
    return [
        e.text
        async for e in model.stream(replace(request, stream=True))
        if isinstance(e, TextDelta)
    ]


@pytest.mark.anyio
async def test_stream_replays_chunk_by_chunk(tmp_path: Path) -> None:
    """A recorded stream reaches the client one event per chunk, and the model sees the deltas."""
    path = tmp_path / "stream.yaml"
    answer = "Paris is the sunny capital of France."
    with LocalModelServer([reply_text(answer)], style="mistral") as server:
        model = OpenAIChatModel("mistral-small-2506", base_url=server.base_url, api_key=KEY)
        with use_cassette(path, record_mode="once"):
            recorded = await _stream_text(model, "Describe Paris.")
        await model.aclose()
    assert "".join(recorded) == answer
    stored = load_cassette_data(path)["interactions"][0]
    events = stored["response"]["body"]["sse"]
    assert events[-1] == {"data": "[DONE]"}

    # Replay with the server gone: the same deltas, and on the wire one chunk per event.
    model = OpenAIChatModel("mistral-small-2506", base_url=DEAD_URL, api_key=KEY)
    with use_cassette(path):
        assert await _stream_text(model, "Describe Paris.") == recorded
    await model.aclose()
    with use_cassette(path):
        async with httpx2.AsyncClient() as client:
            request_body = stored["request"]["body"]["json"]
            url = f"{DEAD_URL}/chat/completions"
            async with client.stream("POST", url, json=request_body) as response:
                chunks = [chunk async for chunk in response.aiter_raw()]
    assert len(chunks) == len(events)
    assert all(chunk.endswith(b"\n\n") and chunk.count(b"\n\n") == 1 for chunk in chunks)
    assert chunks[-1] == b"data: [DONE]\n\n"


@pytest.mark.anyio
async def test_use_cassette_fails_on_a_changed_prompt_and_on_unplayed_exchanges(
    tmp_path: Path,
) -> None:
    """Outside pytest, use_cassette gives the same diff and the same unplayed check."""
    path = tmp_path / "two.yaml"
    with LocalModelServer([reply_text("One."), reply_text("Two.")]) as server:
        model = OpenAIChatModel("local-model", base_url=server.base_url)
        with use_cassette(path, record_mode="once"):
            for prompt in ("First?", "Second?"):
                await complete(model, ModelRequest(messages=[UserMessage(content=prompt)]))
        await model.aclose()
    model = OpenAIChatModel("local-model", base_url=DEAD_URL)
    with pytest.raises(CassetteMismatchError) as mismatch, use_cassette(path):
        await complete(model, ModelRequest(messages=[UserMessage(content="Third?")]))
    assert '-      "content": "First?",' in str(mismatch.value)
    assert '+      "content": "Third?",' in str(mismatch.value)
    with pytest.raises(UnplayedInteractionsError, match=r"1 of 2 recorded exchanges"):
        with use_cassette(path):
            await complete(model, ModelRequest(messages=[UserMessage(content="First?")]))
    await model.aclose()


@pytest.mark.anyio
async def test_recording_refuses_a_secret_it_cannot_scrub(tmp_path: Path) -> None:
    """A key the server echoes in an unnamed field is refused as it is recorded, never written."""
    path = tmp_path / "echo.yaml"
    unpatched = httpx2.AsyncHTTPTransport.handle_async_request
    with LocalModelServer([reply_text("Hello."), reply_text(f"Your key is {KEY}.")]) as server:
        model = OpenAIChatModel("local-model", base_url=server.base_url)
        with pytest.raises(CassetteSecretError) as info:
            with use_cassette(path, record_mode="once"):
                await complete(model, ModelRequest(messages=[UserMessage(content="Hi")]))
                await complete(model, ModelRequest(messages=[UserMessage(content="Key?")]))
        await model.aclose()
    assert "refusing to record a response: its field " in str(info.value)
    assert info.value.field == "response.body.json.choices[0].message.content"
    assert KEY not in path.read_text()  # the clean first exchange alone was saved
    assert len(load_cassette_data(path)["interactions"]) == 1
    assert httpx2.AsyncHTTPTransport.handle_async_request is unpatched


def test_check_cassette_reports_file_and_field(tmp_path: Path) -> None:
    """check_cassette raises CassetteSecretError with the path and the field."""
    path = tmp_path / "bad.yaml"
    path.write_text(
        json.dumps({"interactions": [_interaction({"json": {"k": KEY}})]})
    )  # JSON is YAML
    with pytest.raises(CassetteSecretError) as info:
        check_cassette(path)
    assert info.value.path == str(path)
    assert info.value.field == "interactions[0].request.body.json.k"
    assert str(path) in str(info.value)


def _request(body: dict[str, Any]) -> Any:
    vcr_request = importlib.import_module("vcr.request")
    return vcr_request.Request("POST", "http://127.0.0.1/v1/chat/completions", json.dumps(body), {})


def _conversation(first_id: str, second_id: str, answered: str, **extra: Any) -> dict[str, Any]:
    calls = [
        {"id": first_id, "function": {"name": "a", "arguments": "{}"}},
        {"id": second_id, "function": {"name": "b", "arguments": "{}"}},
    ]
    return {
        "messages": [
            {"role": "assistant", "content": "", "tool_calls": calls},
            {"role": "tool", "tool_call_id": answered, "content": "result of a"},
        ],
        **extra,
    }


def test_body_matching_ignores_tool_call_ids_but_not_which_call_is_answered() -> None:
    """Server-made ids may differ between recordings; the pairing of call and result may not."""
    recorded = _request(_conversation("abc123XYZ", "def456UVW", "abc123XYZ"))
    assert _body_diff(recorded, _request(_conversation("k1", "k2", "k1"))) is None
    diff = _body_diff(recorded, _request(_conversation("k1", "k2", "k2")))
    assert diff is not None
    assert '-      "tool_call_id": "<call 1>"' in diff
    assert '+      "tool_call_id": "<call 2>"' in diff


def test_body_matching_ignores_only_the_named_volatile_fields() -> None:
    """Fields named in ignore_fields do not take part in matching; others do."""
    recorded = _request(_conversation("x", "y", "x", user="run-1", metadata={"t": 1}))
    sent = _request(_conversation("x", "y", "x", user="run-2", metadata={"t": 2}))
    assert _body_diff(recorded, sent, (*DEFAULT_IGNORED_FIELDS, "user")) is None
    diff = _body_diff(recorded, sent, DEFAULT_IGNORED_FIELDS)
    assert diff is not None and '+  "user": "run-2"' in diff and "metadata" not in diff
