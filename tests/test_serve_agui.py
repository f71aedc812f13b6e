"""``POST /ag-ui``: a run as AG-UI events, every one valid against the official
``ag-ui-protocol`` models, approvals as AG-UI interrupts resumed with ``resume``, and
the whole exchange driven by the official ``@ag-ui/client`` from npm.

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

ag_ui_core = pytest.importorskip("ag_ui.core")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, LocalModelServer]]:
    """The help desk agent served with a SQLite store, and its model server."""
    with served_desk(tmp_path / "chats.db") as both:
        yield both


def run_input(thread: str, text: str | None = None, **extra: Any) -> dict[str, Any]:
    """A ``RunAgentInput`` with one user message (none when ``text`` is None)."""
    messages = [] if text is None else [{"id": "u1", "role": "user", "content": text}]
    return {
        "threadId": thread,
        "runId": f"run-{len(str(extra))}-{text}",
        "messages": messages,
        "state": {},
        "tools": [],
        "context": [],
        "forwardedProps": {},
        **extra,
    }


def post(url: str, body: Any, **headers: str) -> httpx2.Response:
    """POST ``body`` to ``/ag-ui`` as JSON (with ``headers``)."""
    return httpx2.post(url + "/ag-ui", json=body, headers=headers, timeout=60)


def validated(response: httpx2.Response) -> list[dict[str, Any]]:
    """The response's events, each checked against the official AG-UI models: it parses,
    has no field the protocol does not define, and serializes back to what was sent."""
    from pydantic import TypeAdapter

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    adapter: TypeAdapter[Any] = TypeAdapter(ag_ui_core.Event)
    events = []
    for block in response.text.split("\n\n"):
        if not block:
            continue
        assert block.startswith("data: "), block
        data = json.loads(block[6:])
        model = adapter.validate_python(data)
        assert not model.model_extra, f"fields AG-UI does not define: {model.model_extra}"
        assert model.model_dump(mode="json", by_alias=True) == data
        events.append(data)
    return events


def test_a_run_is_valid_agui_events_thinking_tools_and_text(
    served: tuple[str, LocalModelServer],
) -> None:
    """A run with thinking, a tool call and an answer streams as valid AG-UI events, in
    the protocol's order, ending with RUN_FINISHED carrying the output and usage."""
    url, _ = served
    events = validated(post(url, run_input("thread-0001", "What is the weather?")))
    kinds = [e["type"] for e in events]
    collapsed = [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]
    assert collapsed == [
        "RUN_STARTED",
        "REASONING_START",
        "REASONING_MESSAGE_START",
        "REASONING_MESSAGE_CONTENT",
        "REASONING_MESSAGE_END",
        "REASONING_END",
        "TOOL_CALL_START",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_END",
        "TOOL_CALL_RESULT",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    ]
    start, finish = events[0], events[-1]
    assert start["threadId"] == finish["threadId"] == "thread-0001"
    assert start["protocolVersion"] == ag_ui_core.PROTOCOL_VERSION
    thinking = "".join(e["delta"] for e in events if e["type"] == "REASONING_MESSAGE_CONTENT")
    assert thinking == "Look it up."
    call, args, _, result = events[kinds.index("TOOL_CALL_START") :][:4]
    assert call["toolCallName"] == "get_weather"
    assert json.loads(args["delta"]) == {"city": "Paris"}
    assert result["toolCallId"] == call["toolCallId"]
    assert result["content"] == "Paris: 21 C, sunny"
    text = "".join(e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT")
    assert text == finish["result"] == "Done: Paris: 21 C, sunny"
    assert finish["outcome"] == {"type": "success"}
    assert finish["usage"][0]["totalTokens"] > 0


def test_the_thread_is_the_stored_conversation(served: tuple[str, LocalModelServer]) -> None:
    """The second run of a thread sends the model the first turn from the store (the
    client's copy of it is not needed), and context entries go with the new message."""
    url, upstream = served
    validated(post(url, run_input("thread-0002", "Hi there")))
    context = [{"description": "The user's city", "value": "Lyon"}]
    validated(post(url, run_input("thread-0002", "Hi again", context=context)))
    sent = upstream.requests[-1].body["messages"]
    users = [m["content"] for m in sent if m["role"] == "user"]
    assert users[0] == "Hi there"
    assert [p["text"] for p in users[1]] == [
        "Hi again",
        "Context from the application:\n- The user's city: Lyon",
    ]
    assert [m["content"] for m in sent if m["role"] == "assistant"][-1][-1]["text"] == "Hello!"


def test_an_approval_is_an_interrupt_resumed_by_the_next_run(
    served: tuple[str, LocalModelServer],
) -> None:
    """A call that needs approval ends the run with an interrupt outcome (and the waiting
    call in a state snapshot); a run with ``resume`` approving it runs the tool."""
    url, _ = served
    paused = validated(post(url, run_input("thread-0003", "Refund A1", state={"page": 2})))
    snapshot, finish = paused[-2], paused[-1]
    (interrupt,) = finish["outcome"]["interrupts"]
    assert snapshot["type"] == "STATE_SNAPSHOT"
    assert snapshot["snapshot"]["page"] == 2
    (waiting,) = snapshot["snapshot"]["pendingApprovals"]
    assert waiting["toolName"] == "refund" and waiting["arguments"] == {"order_id": "A1"}
    assert finish["outcome"]["type"] == "interrupt"
    assert interrupt["id"] == waiting["id"] and interrupt["reason"] == "tool_approval"
    assert interrupt["toolCallId"] == paused[1]["toolCallId"]
    resume = [{"interruptId": interrupt["id"], "status": "resolved", "payload": {"approved": True}}]
    resumed = validated(post(url, run_input("thread-0003", resume=resume)))
    kinds = [e["type"] for e in resumed]
    assert kinds[:2] == ["RUN_STARTED", "TOOL_CALL_RESULT"]
    assert resumed[1]["content"] == "refunded A1"
    assert resumed[-2]["snapshot"]["pendingApprovals"] == []
    assert resumed[-1]["result"] == "Done: refunded A1"
    again = post(url, run_input("thread-0003", resume=resume))
    assert again.status_code == 409  # nothing waits any more


def test_a_denial_with_a_reason_reaches_the_model(served: tuple[str, LocalModelServer]) -> None:
    """``approved: false`` with a reason denies the call; the model is told the reason;
    a cancelled interrupt denies too."""
    url, _ = served
    cases: list[tuple[str, dict[str, Any], str]] = [
        (
            "thread-0004",
            {"status": "resolved", "payload": {"approved": False, "reason": "No."}},
            "No.",
        ),
        ("thread-0005", {"status": "cancelled"}, "The user cancelled this tool call."),
    ]
    for thread, entry, told in cases:
        paused = validated(post(url, run_input(thread, "Refund B2")))
        (interrupt,) = paused[-1]["outcome"]["interrupts"]
        resume = [{"interruptId": interrupt["id"], **entry}]
        resumed = validated(post(url, run_input(thread, resume=resume)))
        assert resumed[-1]["result"] == f"Done: Denied: {told}"


def test_a_failed_run_ends_with_run_error(served: tuple[str, LocalModelServer]) -> None:
    """A run whose model refuses ends with a valid RUN_ERROR naming the failure, and the
    failed turn is not kept: the thread's next run sends the model only its own prompt."""
    url, upstream = served
    failed = validated(post(url, run_input("thread-0008", "Fail now")))
    assert [e["type"] for e in failed] == ["RUN_STARTED", "RUN_ERROR"]
    assert "The model refused this request." in failed[-1]["message"]
    validated(post(url, run_input("thread-0008", "Hi")))
    users = [m["content"] for m in upstream.requests[-1].body["messages"] if m["role"] == "user"]
    assert users == ["Hi"]


def test_a_new_message_on_a_paused_thread_is_refused(served: tuple[str, LocalModelServer]) -> None:
    """A user message sent while the thread waits for approval ends with RUN_ERROR saying
    so (the waiting calls are decided with ``resume`` first), and the pause is kept."""
    url, _ = served
    paused = validated(post(url, run_input("thread-0009", "Refund F6")))
    refused = validated(post(url, run_input("thread-0009", "Hi")))
    (interrupt,) = paused[-1]["outcome"]["interrupts"]
    resume = [{"interruptId": interrupt["id"], "status": "resolved", "payload": True}]
    resumed = validated(post(url, run_input("thread-0009", resume=resume)))
    assert refused[-1]["type"] == "RUN_ERROR"
    assert resumed[-1]["result"] == "Done: refunded F6"


class Trip(BaseModel):
    """A structured output."""

    city: str
    umbrella: bool


def test_a_structured_output_is_the_result_and_json_text(tmp_path: Path) -> None:
    """An agent with a structured output finishes with it as RUN_FINISHED's ``result``
    (an object) and as the text message's JSON; an image part reaches the model."""
    pixel = (
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
        "AAAABJRU5ErkJggg=="
    )
    content = [
        {"type": "text", "text": "Lyon?"},
        {"type": "image", "source": {"type": "data", "value": pixel, "mimeType": "image/png"}},
    ]
    body = {
        **run_input("thread-0010"),
        "messages": [{"id": "u", "role": "user", "content": content}],
    }
    with LocalModelServer([reply_json({"city": "Lyon", "umbrella": True})], style="mistral") as up:
        agent = Agent(model_on(up), output_type=Trip, name="trip")
        with BackgroundServer(agent, sessions=tmp_path / "chats.db") as server:
            events = validated(post(server.url, body))
    text = "".join(e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT")
    assert json.loads(text) == events[-1]["result"] == {"city": "Lyon", "umbrella": True}
    (sent,) = [m for m in up.requests[0].body["messages"] if m["role"] == "user"]
    assert sent["content"][1]["image_url"]["url"] == f"data:image/png;base64,{pixel}"


def test_bad_run_inputs_are_400s_saying_what_to_fix(served: tuple[str, LocalModelServer]) -> None:
    """Frontend tools, a missing thread id, a last message that is not the user's and a
    malformed resume payload are refused with 400 naming the field; nothing runs."""
    url, upstream = served
    tool_def = {"name": "confirm", "description": "Ask the user.", "parameters": {}}
    cases = {
        "tools": run_input("thread-0006", "Hi", tools=[tool_def]),
        "threadId": {**run_input("x", "Hi")},
        "messages": run_input("thread-0006"),
        "resume[0].payload": run_input(
            "thread-0006", resume=[{"interruptId": "a", "status": "resolved", "payload": 3}]
        ),
    }
    for param, body in cases.items():
        response = post(url, body)
        assert response.status_code == 400, param
        assert response.json()["error"]["param"] == param
    assert upstream.requests == []


def test_the_endpoint_keeps_the_browser_rules(served: tuple[str, LocalModelServer]) -> None:
    """A text/plain body is refused (415) and a page on another origin is refused (403),
    as on every endpoint that runs tools."""
    url, upstream = served
    plain = httpx2.post(
        url + "/ag-ui",
        content=json.dumps(run_input("thread-0007", "Hi")),
        headers={"content-type": "text/plain"},
    )
    foreign = post(url, run_input("thread-0007", "Hi"), origin="http://127.0.0.1:9")
    assert plain.status_code == 415
    assert foreign.status_code == 403
    assert upstream.requests == []


def node_client(url: str, thread: str, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run ``tests/node/agui_client.mjs`` (the official ``@ag-ui/client``) over ``steps``."""
    command = node_script("agui_client.mjs", "@ag-ui/client")
    plan = json.dumps({"url": url + "/ag-ui", "threadId": thread, "steps": steps})
    done = subprocess.run(
        [*command, plan],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_the_official_agui_client_runs_a_thread_with_an_approval(
    served: tuple[str, LocalModelServer],
) -> None:
    """``@ag-ui/client``'s HttpAgent runs a turn with a tool, then one that pauses (it
    records the interrupt), then resumes it approved: its messages hold the whole thread."""
    url, _ = served
    weather, paused, resumed = node_client(
        url,
        "thread-node-0001",
        [
            {"message": "What is the weather?"},
            {"message": "Refund C3"},
            {"decide": {"approved": True}},
        ],
    )
    for step in (weather, paused, resumed):
        assert "error" not in step, step["error"]
    assert weather["result"] == "Done: Paris: 21 C, sunny"
    tool_calls = [m for m in weather["messages"] if m["role"] == "assistant" and m.get("toolCalls")]
    assert tool_calls[0]["toolCalls"][0]["function"]["name"] == "get_weather"
    assert [m["content"] for m in weather["messages"] if m["role"] == "tool"] == [
        "Paris: 21 C, sunny"
    ]
    assert any(m["role"] == "reasoning" for m in weather["messages"])
    (interrupt,) = paused["interrupts"]
    assert interrupt["reason"] == "tool_approval"
    assert paused["state"]["pendingApprovals"][0]["arguments"] == {"order_id": "C3"}
    assert resumed["interrupts"] == []
    assert resumed["result"] == "Done: refunded C3"
    assert resumed["state"]["pendingApprovals"] == []
    assert [m.get("content") for m in resumed["messages"] if m["role"] == "assistant"][-1] == (
        "Done: refunded C3"
    )
    assert [m["content"] for m in resumed["messages"] if m["role"] == "tool"][-1] == "refunded C3"
