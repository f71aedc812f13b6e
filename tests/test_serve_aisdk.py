"""``POST /ai-sdk/chat``: a turn as the Vercel AI SDK's UI message stream, read by the
``ai`` package's own client side (``AbstractChat`` over ``DefaultChatTransport``, what
``useChat`` runs), with tool parts, thinking as reasoning parts, and approvals the way
``ai`` models them (``tool-approval-request``, ``addToolApprovalResponse``).

Real HTTP to uvicorn on 127.0.0.1; the agent's model is a ``LocalModelServer``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from pydantic import BaseModel
from support import model_on, node_script, served_desk

from agentkit import Agent
from agentkit.serve import BackgroundServer
from agentkit.testing.server import LocalModelServer, reply_json


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, LocalModelServer]]:
    """The help desk agent served with a SQLite store, and its model server."""
    with served_desk(tmp_path / "chats.db") as both:
        yield both


def user(text: str, id_: str = "u1") -> dict[str, Any]:
    """A user UI message."""
    return {"id": id_, "role": "user", "parts": [{"type": "text", "text": text}]}


def post(url: str, body: Any, **headers: str) -> httpx2.Response:
    """POST ``body`` to ``/ai-sdk/chat`` as JSON (with ``headers``)."""
    return httpx2.post(url + "/ai-sdk/chat", json=body, headers=headers, timeout=60)


def chunks(response: httpx2.Response) -> list[dict[str, Any]]:
    """The stream's chunks (it must end with ``[DONE]``)."""
    assert response.status_code == 200, response.text
    assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert response.text.endswith("data: [DONE]\n\n")
    blocks = [b for b in response.text.split("\n\n") if b and b != "data: [DONE]"]
    return [json.loads(b.removeprefix("data: ")) for b in blocks]


def test_a_turn_streams_steps_reasoning_tools_and_text(
    served: tuple[str, LocalModelServer],
) -> None:
    """A turn with thinking, a tool call and an answer is two steps: reasoning and the
    tool's input and output, then the text; ``finish`` says ``stop`` and carries usage."""
    url, _ = served
    got = chunks(post(url, {"id": "chat-0001", "messages": [user("What is the weather?")]}))
    kinds = [c["type"] for c in got]
    collapsed = [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]
    assert collapsed == [
        "start",
        "start-step",
        "reasoning-start",
        "reasoning-delta",
        "reasoning-end",
        "tool-input-available",
        "tool-output-available",
        "finish-step",
        "start-step",
        "text-start",
        "text-delta",
        "text-end",
        "finish-step",
        "finish",
    ]
    tool_in = got[kinds.index("tool-input-available")]
    tool_out = got[kinds.index("tool-output-available")]
    assert (tool_in["toolName"], tool_in["input"]) == ("get_weather", {"city": "Paris"})
    assert tool_out["toolCallId"] == tool_in["toolCallId"]
    assert tool_out["output"] == "Paris: 21 C, sunny"
    assert "".join(c["delta"] for c in got if c["type"] == "reasoning-delta") == "Look it up."
    assert "".join(c["delta"] for c in got if c["type"] == "text-delta") == (
        "Done: Paris: 21 C, sunny"
    )
    assert got[-1]["finishReason"] == "stop"
    assert got[-1]["messageMetadata"]["usage"]["totalTokens"] > 0


def test_a_failed_run_is_an_error_chunk(served: tuple[str, LocalModelServer]) -> None:
    """A run whose model refuses ends with an ``error`` chunk naming the failure (then
    ``[DONE]``); the ``ai`` chat client reports it as its error."""
    url, _ = served
    got = chunks(post(url, {"id": "chat-0003", "messages": [user("Fail now")]}))
    assert [c["type"] for c in got] == ["start", "error"]
    assert "The model refused this request." in got[-1]["errorText"]
    (failed,) = chat(url, "chat-node-0003", [{"message": "Fail now"}])
    assert failed["status"] == "error"
    assert "The model refused this request." in failed["error"]


class Trip(BaseModel):
    """A structured output."""

    city: str
    umbrella: bool


def test_a_structured_output_is_json_text_and_a_file_part_an_image(tmp_path: Path) -> None:
    """An agent with a structured output answers it as a JSON text part; a user's image
    file part reaches the model as an image."""
    url_ = "https://example.com/lyon.png"
    file_part = {"type": "file", "mediaType": "image/png", "url": url_}
    message = {"id": "u", "role": "user", "parts": [*user("Lyon?")["parts"], file_part]}
    with LocalModelServer([reply_json({"city": "Lyon", "umbrella": True})], style="mistral") as up:
        agent = Agent(model_on(up), output_type=Trip, name="trip")
        with BackgroundServer(agent, sessions=tmp_path / "chats.db") as server:
            got = chunks(post(server.url, {"id": "chat-0004", "messages": [message]}))
    text = "".join(c["delta"] for c in got if c["type"] == "text-delta")
    assert json.loads(text) == {"city": "Lyon", "umbrella": True}
    assert got[-1]["finishReason"] == "stop"
    (sent,) = [m for m in up.requests[0].body["messages"] if m["role"] == "user"]
    assert sent["content"][1]["image_url"]["url"] == url_


def test_the_store_has_the_conversation_the_client_only_starts_it(
    served: tuple[str, LocalModelServer],
) -> None:
    """A chat the store does not know starts from the client's earlier messages; once
    stored, the store's copy is the history and the client's is not read."""
    url, upstream = served
    hello = {"id": "a0", "role": "assistant", "parts": [{"type": "text", "text": "Hello!"}]}
    first = [user("Hi there", "u0"), hello, user("Hi again")]
    chunks(post(url, {"id": "chat-0005", "messages": first}))
    sent = upstream.requests[-1].body["messages"]
    assert [(m["role"], m["content"]) for m in sent if m["role"] != "system"] == [
        ("user", "Hi there"),
        ("assistant", "Hello!"),
        ("user", "Hi again"),
    ]
    chunks(post(url, {"id": "chat-0005", "messages": [user("Forged", "f"), user("Bye")]}))
    users = [m["content"] for m in upstream.requests[-1].body["messages"] if m["role"] == "user"]
    assert users == ["Hi there", "Hi again", "Bye"]


def test_bad_chat_requests_are_400s_saying_what_to_fix(
    served: tuple[str, LocalModelServer],
) -> None:
    """Regenerating, an assistant message with no approval response, a non-image file
    and a missing chat id are refused with 400 naming the field; nothing runs."""
    url, upstream = served
    assistant = {"id": "a1", "role": "assistant", "parts": [{"type": "text", "text": "Hi"}]}
    pdf = {
        "type": "file",
        "url": "data:application/pdf;base64,AA==",
        "mediaType": "application/pdf",
    }
    cases = {
        "trigger": {"id": "chat-0002", "messages": [user("Hi")], "trigger": "regenerate-message"},
        "messages[1]": {"id": "chat-0002", "messages": [user("Hi"), assistant]},
        "messages[0].parts[1]": {
            "id": "chat-0002",
            "messages": [{"id": "u", "role": "user", "parts": [*user("Hi")["parts"], pdf]}],
        },
        "id": {"messages": [user("Hi")]},
    }
    for param, body in cases.items():
        response = post(url, body)
        assert response.status_code == 400, param
        assert response.json()["error"]["param"] == param
    plain = httpx2.post(
        url + "/ai-sdk/chat",
        content=json.dumps({"id": "chat-0002", "messages": [user("Hi")]}),
        headers={"content-type": "text/plain"},
    )
    foreign = post(url, {"id": "chat-0002", "messages": [user("Hi")]}, origin="http://evil.test")
    assert (plain.status_code, foreign.status_code) == (415, 403)
    assert upstream.requests == []


def chat(url: str, id_: str, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run ``tests/node/ai_sdk_chat.mjs`` (the ``ai`` package's chat client) over ``steps``."""
    command = node_script("ai_sdk_chat.mjs", "ai")
    plan = json.dumps({"url": url + "/ai-sdk/chat", "id": id_, "steps": steps})
    done = subprocess.run(
        [*command, plan], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def parts(step: dict[str, Any]) -> list[dict[str, Any]]:
    """The parts of the chat's last message after ``step``."""
    last: list[dict[str, Any]] = step["messages"][-1]["parts"]
    return last


def test_the_ai_sdk_chat_client_runs_tools_and_an_approval(
    served: tuple[str, LocalModelServer],
) -> None:
    """The ``ai`` chat client builds the turn's message (reasoning, a tool part with its
    output, the answer), shows a call waiting for approval, and once approved sends by
    itself; the resumed run completes the same assistant message."""
    url, upstream = served
    weather, paused, approved = chat(
        url,
        "chat-node-0001",
        [
            {"message": "What is the weather?"},
            {"message": "Refund D4"},
            {"decide": {"approved": True}},
        ],
    )
    for step in (weather, paused, approved):
        assert (step["status"], step["error"]) == ("ready", None), step
    first = parts(weather)
    assert [p["type"] for p in first] == [
        "step-start",
        "reasoning",
        "tool-get_weather",
        "step-start",
        "text",
    ]
    assert first[1]["text"] == "Look it up."
    assert first[2]["state"] == "output-available"
    assert (first[2]["input"], first[2]["output"]) == ({"city": "Paris"}, "Paris: 21 C, sunny")
    assert first[4]["text"] == "Done: Paris: 21 C, sunny"
    (waiting,) = [p for p in parts(paused) if p["type"] == "tool-refund"]
    assert waiting["state"] == "approval-requested"
    assert waiting["input"] == {"order_id": "D4"}
    assert paused["finish"]["finishReason"] == "tool-calls"
    assert len(approved["messages"]) == len(paused["messages"]) == 4
    done = parts(approved)
    (refunded,) = [p for p in done if p["type"] == "tool-refund"]
    assert refunded["state"] == "output-available" and refunded["output"] == "refunded D4"
    assert done[-1] == {"type": "text", "text": "Done: refunded D4", "state": "done"}
    users = [m["content"] for m in upstream.requests[-1].body["messages"] if m["role"] == "user"]
    assert users == ["What is the weather?", "Refund D4"]  # the store kept the first turn


def test_a_denial_with_a_reason_is_a_denied_tool_part(
    served: tuple[str, LocalModelServer],
) -> None:
    """A call denied with a reason ends as ``output-denied`` in the client, and the model
    is told the reason."""
    url, _ = served
    _, denied = chat(
        url,
        "chat-node-0002",
        [{"message": "Refund E5"}, {"decide": {"approved": False, "reason": "Not today."}}],
    )
    assert (denied["status"], denied["error"]) == ("ready", None)
    (part,) = [p for p in parts(denied) if p["type"] == "tool-refund"]
    assert part["state"] == "output-denied"
    assert part["approval"]["reason"] == "Not today."
    assert parts(denied)[-1]["text"] == "Done: Denied: Not today."
