"""``agentkit serve`` keeps conversations in a session store: they survive restarts, are
shared by workers (SQLite on one machine, PostgreSQL on many), a failed turn is never
kept, and a run paused for approval through the OpenAI API is decided by any client
(``POST /v1/approvals``) or in the page, which see the same conversation.

Real HTTP to uvicorn on 127.0.0.1; the agent's model is a ``LocalModelServer``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import openai
import pytest
from support import model_on

from agentkit import Agent, tool
from agentkit.serve import BackgroundServer
from agentkit.serve._store import Conversations
from agentkit.testing.server import (
    LocalModelServer,
    RecordedRequest,
    Reply,
    reply_error,
    reply_text,
    reply_tool_calls,
)

JSON = {"content-type": "application/json"}
DESK_APP = str(Path(__file__).resolve().parent / "serve_desk_app.py") + ":agent"


@tool(needs_approval=True)
def refund(order_id: str) -> str:
    """Refund an order (needs approval).

    Args:
        order_id: The order to refund.
    """
    return f"refunded {order_id}"


def _refund_desk(request: RecordedRequest) -> Reply:
    """Asks to refund the order a "Refund X" prompt names (greets any other prompt); once
    the tool answered, says how it went."""
    last = request.body["messages"][-1]
    if last["role"] == "tool":
        return reply_text(f"Done: {last['content']}")
    if not str(last["content"]).startswith("Refund"):
        return reply_text("Hello, how can I help?")
    return reply_tool_calls(("refund", {"order_id": str(last["content"]).split()[-1]}))


def _events(body: str) -> list[dict[str, Any]]:
    return [
        json.loads(line[6:])
        for line in body.splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


def _ask(url: str, **body: Any) -> httpx2.Response:
    return httpx2.post(url + "/v1/chat/completions", json={"model": "desk", **body}, timeout=60)


def test_an_api_run_paused_for_approval_is_decided_over_the_api(tmp_path: Path) -> None:
    """A run that pauses answers 409 with its conversation id and the waiting calls; the
    page sees that conversation; ``POST /v1/approvals`` approves and answers the output."""
    with LocalModelServer(_refund_desk, style="mistral") as upstream:
        agent = Agent(model_on(upstream), tools=[refund], name="desk")
        with BackgroundServer(agent, sessions=tmp_path / "chats.db") as served:
            paused = _ask(served.url, messages=[{"role": "user", "content": "Refund A1"}])
            error = paused.json()["error"]
            page = httpx2.get(f"{served.url}/api/conversations/{error['conversation']}").json()
            decided = httpx2.post(
                served.url + "/v1/approvals",
                json={"conversation": error["conversation"], "decisions": {"bogus": True}},
            )
            call = error["pending"][0]["id"]
            done = httpx2.post(
                served.url + "/v1/approvals",
                json={"conversation": error["conversation"], "decisions": {call: True}},
                timeout=60,
            )
            again = httpx2.post(
                served.url + "/v1/approvals",
                json={"conversation": error["conversation"], "decisions": {call: True}},
            )
    assert paused.status_code == 409
    assert paused.headers["x-should-retry"] == "false"
    assert error["code"] == "approval_required"
    assert [(p["name"], json.loads(p["arguments"])) for p in error["pending"]] == [
        ("refund", {"order_id": "A1"})
    ]
    assert page["pending"] == error["pending"]
    assert decided.status_code == 400 and call in decided.json()["error"]["message"]
    assert done.status_code == 200
    assert done.json()["choices"][0]["message"]["content"] == "Done: refunded A1"
    assert again.status_code == 404  # nothing waits any more


def test_a_streamed_pause_and_a_streamed_denial_with_a_reason(tmp_path: Path) -> None:
    """A streamed run that pauses ends with the 409's error event (conversation, waiting
    calls); a streamed denial with a reason resumes it, and the model is told the reason."""
    with LocalModelServer(_refund_desk, style="mistral") as upstream:
        agent = Agent(model_on(upstream), tools=[refund], name="desk")
        with BackgroundServer(agent) as served:
            first = _ask(
                served.url, messages=[{"role": "user", "content": "Refund B2"}], stream=True
            )
            (error,) = [e["error"] for e in _events(first.text) if "error" in e]
            call = error["pending"][0]["id"]
            reason = {"approve": False, "reason": "Order B2 was already refunded."}
            resumed = httpx2.post(
                served.url + "/v1/approvals",
                json={
                    "conversation": error["conversation"],
                    "decisions": {call: reason},
                    "stream": True,
                },
                timeout=60,
            )
    assert first.status_code == 200 and first.text.endswith("data: [DONE]\n\n")
    assert error["code"] == "approval_required"
    chunks = _events(resumed.text)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Done: Denied: Order B2 was already refunded."
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_a_failed_page_turn_is_not_kept_as_the_conversation() -> None:
    """After a turn that fails (the model errs), a reload shows the conversation as it was
    before that turn: the failed prompt and any partial output are not stored."""
    replies = [reply_text("Hello!"), *[reply_error(400, "broken") for _ in range(3)]]
    with LocalModelServer(replies, style="mistral") as upstream:
        with BackgroundServer(Agent(model_on(upstream), name="desk")) as served:
            chat = served.url + "/api/chat"
            ok = httpx2.post(chat, json={"conversation": "c0nversation-9", "prompt": "Hi"})
            failed = httpx2.post(chat, json={"conversation": "c0nversation-9", "prompt": "Now?"})
            after = httpx2.get(served.url + "/api/conversations/c0nversation-9").json()
    assert _events(ok.text)[-1]["type"] == "run_finished"
    assert _events(failed.text)[-1]["type"] == "run_error"
    assert [(i["type"], i["text"]) for i in after["items"]] == [
        ("user", "Hi"),
        ("assistant", "Hello!"),
    ]


def test_a_sqlite_store_keeps_conversations_across_a_restart(tmp_path: Path) -> None:
    """A conversation stored in the SQLite file is there after the server restarts, and the
    next turn's request carries it."""
    store = tmp_path / "chats.db"
    with LocalModelServer([reply_text("Hello Ada."), reply_text("Ada.")], style="mistral") as up:
        turn = {"conversation": "c0nversation-7"}
        with BackgroundServer(Agent(model_on(up), name="desk"), sessions=store) as served:
            httpx2.post(served.url + "/api/chat", json={**turn, "prompt": "I am Ada."})
        with BackgroundServer(Agent(model_on(up), name="desk"), sessions=store) as served:
            before = httpx2.get(served.url + "/api/conversations/c0nversation-7").json()
            httpx2.post(served.url + "/api/chat", json={**turn, "prompt": "Who am I?"})
        sent = [m["content"] for m in up.requests[1].body["messages"]]
    assert [i["text"] for i in before["items"]] == ["I am Ada.", "Hello Ada."]
    assert sent == ["I am Ada.", "Hello Ada.", "Who am I?"]


def test_the_memory_store_evicts_the_oldest_idle_conversation_only() -> None:
    """Past its limit, the in-memory store forgets the least recently used conversation,
    never one a turn is running in."""

    async def scenario() -> tuple[list[str], list[str]]:
        store = Conversations(None, max_conversations=2)
        for cid in ("one", "two"):
            await store.session(cid).save_turn([], paused=False, resumed=False)
        store.busy.add("one")
        store.session("three")
        kept_while_busy = list(store._memory or {})
        store.busy.discard("one")
        store.session("four")
        return kept_while_busy, list(store._memory or {})

    busy_kept, later = anyio.run(scenario)
    assert busy_kept == ["one", "three"]
    assert later == ["three", "four"]


# -- two workers on one PostgreSQL ------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _worker(db: str, model_url: str) -> Iterator[str]:
    """``agentkit serve`` in its own process on ``db``; yields its URL, stops it with Ctrl-C."""
    port = _free_port()
    env = {**os.environ, "AGENTKIT_TEST_MODEL_URL": model_url, "PYTHONUNBUFFERED": "1"}
    env.pop("AGENTKIT_SERVE_TOKEN", None)
    argv = ["--plain", "serve", DESK_APP, "--port", str(port), "--sessions", db]
    process = subprocess.Popen(
        [sys.executable, "-m", "agentkit.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):  # the process starts (a hang guard, not a timing check)
            try:
                if httpx2.get(url + "/v1/models").status_code == 200:
                    break
            except httpx2.TransportError:
                time.sleep(0.05)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0, out.decode()


@pytest.mark.slow  # two server processes and a real PostgreSQL
def test_two_workers_on_postgresql_share_a_conversation(postgres_db: str) -> None:
    """Two ``agentkit serve`` processes on one PostgreSQL: a turn on one, the next on the
    other (which sends the first turn to the model), a run paused on the first approved
    on the second, and after a restart of the first the whole conversation is there."""
    with LocalModelServer(_refund_desk, style="mistral") as upstream:
        base = upstream.base_url
        cid = {"conversation": "shared-conversation-1"}
        with _worker(postgres_db, base) as a, _worker(postgres_db, base) as b:
            first = httpx2.post(a + "/api/chat", json={**cid, "prompt": "Hi"}, timeout=60)
            paused = httpx2.post(b + "/api/chat", json={**cid, "prompt": "Refund C3"}, timeout=60)
            waiting = httpx2.get(a + "/api/conversations/shared-conversation-1").json()
            call = waiting["pending"][0]["id"]
            done = httpx2.post(
                a + "/v1/approvals", json={**cid, "decisions": {call: True}}, timeout=60
            )
        with _worker(postgres_db, base) as restarted:
            after = httpx2.get(restarted + "/api/conversations/shared-conversation-1").json()
        second_request = [m["content"] for m in upstream.requests[1].body["messages"]]
    assert _events(first.text)[-1]["type"] == "run_finished"
    assert _events(paused.text)[-1].get("paused") is True, paused.text
    assert second_request[:3] == ["Hi", "Hello, how can I help?", "Refund C3"]
    assert done.status_code == 200
    assert done.json()["choices"][0]["message"]["content"].startswith("Done: refunded C3")
    kinds = [i["type"] for i in after["items"]]
    assert kinds == ["user", "assistant", "user", "tool", "assistant"]
    assert after["pending"] == []


def test_the_openai_sdk_sees_the_pause_and_its_conversation(tmp_path: Path) -> None:
    """The openai SDK raises the 409 as ``ConflictError`` (not retried) whose body names
    the conversation and the waiting calls."""
    with LocalModelServer(_refund_desk, style="mistral") as upstream:
        agent = Agent(model_on(upstream), tools=[refund], name="desk")
        with BackgroundServer(agent) as served:
            with openai.OpenAI(base_url=served.url + "/v1", api_key="x", max_retries=2) as api:
                with pytest.raises(openai.ConflictError) as caught:
                    api.chat.completions.create(
                        model="desk", messages=[{"role": "user", "content": "Refund D4"}]
                    )
    body: Any = caught.value.body
    assert body["conversation"].startswith("conv-")
    assert body["pending"][0]["name"] == "refund"
    assert len(upstream.requests) == 1  # not retried: the agent ran once


def _age(path: Path, conversation: str, days: float) -> None:
    """Make ``conversation``'s last turn in the SQLite file ``days`` days older."""
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(path)) as db, db:
        db.execute(
            "UPDATE agentkit_activity SET used_at = used_at - ? WHERE session_id = ?",
            (days * 86_400, conversation),
        )


def test_idle_conversations_are_forgotten_by_an_explicit_age(tmp_path: Path) -> None:
    """With ``forget_after``, a server forgets at start the conversations idle longer than
    that, and keeps the recent ones; without it, it forgets nothing."""
    store = tmp_path / "chats.db"
    with LocalModelServer([reply_text("Hi old."), reply_text("Hi new.")], style="mistral") as up:
        with BackgroundServer(Agent(model_on(up), name="desk"), sessions=store) as served:
            for cid in ("old-conversation", "new-conversation"):
                httpx2.post(served.url + "/api/chat", json={"conversation": cid, "prompt": "Hi"})
        _age(store, "old-conversation", days=10)

        def items(url: str, cid: str) -> int:
            return len(httpx2.get(f"{url}/api/conversations/{cid}").json()["items"])

        with BackgroundServer(Agent(model_on(up)), sessions=store) as served:
            kept = items(served.url, "old-conversation")
        week = 7 * 86_400.0
        with BackgroundServer(Agent(model_on(up)), sessions=store, forget_after=week) as served:
            old, new = items(served.url, "old-conversation"), items(served.url, "new-conversation")
    assert kept == 2
    assert (old, new) == (0, 2)


@pytest.mark.slow  # a real PostgreSQL
def test_postgres_forgets_idle_conversations_but_not_kept_ones(postgres_db: str) -> None:
    """``PostgresSession.forget_idle`` forgets the whole database's conversations idle past
    the age, except those it is told to keep (one a turn is running in)."""
    import psycopg

    from agentkit.sessions import PostgresSession

    async def scenario() -> tuple[list[str], list[str]]:
        for cid in ("a", "b", "c"):
            await PostgresSession(postgres_db, cid).save_turn([], paused=False, resumed=False)
        with psycopg.connect(postgres_db, autocommit=True) as db:
            db.execute(
                "UPDATE agentkit_activity SET used_at = used_at - 864000 "
                "WHERE session_id IN ('a', 'c')"
            )
        gone = await PostgresSession(postgres_db, "x").forget_idle(86_400, keep={"c"})
        again = await PostgresSession(postgres_db, "x").forget_idle(86_400, keep={"c"})
        return gone, again

    gone, again = anyio.run(scenario)
    assert gone == ["a"]
    assert again == []  # "b" is recent, "c" kept, "a" already gone
