"""Sessions over real SQLite files and real HTTP: turns survive runs and processes, a
failed run stores nothing, concurrent runs never lose or interleave a turn, a paused run
resumes from its session, and the agent's instructions are never stored."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
from support import model_on

from agentkit import (
    Agent,
    AssistantMessage,
    HistoryError,
    HistoryRepairedEvent,
    Message,
    ModelAPIError,
    SessionConflictError,
    SessionHistory,
    SystemMessage,
    ToolMessage,
    UserMessage,
    tool,
)
from agentkit.sessions import SQLiteSession
from agentkit.testing import ScriptedModel
from agentkit.testing.replay import check_mistral_conversation
from agentkit.testing.scripted import text as scripted_text
from agentkit.testing.server import (
    LocalModelServer,
    RecordedRequest,
    Reply,
    reply_error,
    reply_text,
    reply_tool_calls,
)

ROOT = Path(__file__).resolve().parent.parent


@tool
def lookup(query: str) -> str:
    """Look something up.

    Args:
        query: What to look up.
    """
    return f"found {query}"


def _last_user(request: RecordedRequest) -> str:
    users = [m for m in request.body["messages"] if m["role"] == "user"]
    return str(users[-1]["content"])


def _echo_with_a_tool(request: RecordedRequest) -> Reply:
    """Calls ``lookup`` with the prompt, then answers with it: a turn of four messages."""
    last = request.body["messages"][-1]
    prompt = _last_user(request)
    if last["role"] == "user":
        return reply_tool_calls(("lookup", {"query": prompt}))
    return reply_text(f"answer to {prompt}")


def _turns(messages: list[Message]) -> list[list[Message]]:
    """The conversation cut at its user messages."""
    turns: list[list[Message]] = []
    for message in messages:
        if isinstance(message, UserMessage) or not turns:
            turns.append([])
        turns[-1].append(message)
    return turns


def _assert_whole_turns(messages: list[Message]) -> list[str]:
    """Every turn is [user, assistant calling lookup, its answer, the text answer] for one
    prompt; returns the prompts in stored order."""
    prompts = []
    for turn in _turns(messages):
        user, call, answer, final = turn
        assert isinstance(user, UserMessage) and isinstance(user.content, str)
        assert isinstance(call, AssistantMessage)
        assert json.loads(call.tool_calls[0].arguments) == {"query": user.content}
        assert isinstance(answer, ToolMessage)
        assert answer.tool_call_id == call.tool_calls[0].id
        assert answer.content == f"found {user.content}"
        assert isinstance(final, AssistantMessage) and final.content == f"answer to {user.content}"
        prompts.append(user.content)
    return prompts


@pytest.mark.anyio
async def test_a_session_carries_the_conversation_across_runs(tmp_path: Path) -> None:
    """The second run sends the first run's turn; the file holds both turns, without the
    agent's system message."""
    session = SQLiteSession(tmp_path / "deep" / "chats.db", "ada")
    with LocalModelServer(_echo_with_a_tool, style="mistral") as server:
        agent = Agent(model_on(server), instructions="Be brief.", tools=[lookup])
        await agent.run("first", session=session)
        result = await agent.run("second", session=session)
    second = server.requests[2].body["messages"]
    assert [m["role"] for m in second] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]
    assert second[0]["content"] == "Be brief."
    stored = await session.messages()
    assert _assert_whole_turns(stored) == ["first", "second"]
    assert not any(isinstance(m, SystemMessage) for m in stored)
    assert result.messages[1:] == stored


@pytest.mark.anyio
async def test_sessions_are_separated_by_id_in_one_file(tmp_path: Path) -> None:
    """Two session ids in one file keep two conversations."""
    path = tmp_path / "chats.db"
    agent = Agent(ScriptedModel(["one", "two"]))
    await agent.run("for a", session=SQLiteSession(path, "a"))
    await agent.run("for b", session=SQLiteSession(path, "b"))
    a = await SQLiteSession(path, "a").messages()
    b = await SQLiteSession(path, "b").messages()
    assert [m.content for m in a] == ["for a", "one"]
    assert [m.content for m in b] == ["for b", "two"]


@pytest.mark.anyio
async def test_changed_instructions_apply_to_an_old_session(tmp_path: Path) -> None:
    """A session stores no instructions: a new agent's instructions lead the next request."""
    session = SQLiteSession(tmp_path / "chats.db", "s")
    old = ScriptedModel(["hi"])
    await Agent(old, instructions="Old rules.").run("hello", session=session)
    new = ScriptedModel(["again"])
    await Agent(new, instructions="New rules.").run("hello again", session=session)
    sent = new.requests[0].messages
    assert sent[0] == SystemMessage(content="New rules.")
    assert [m.role for m in sent] == ["system", "user", "assistant", "user"]


@pytest.mark.anyio
async def test_a_history_with_its_own_system_message_keeps_it() -> None:
    """A message_history that starts with a system message is sent with it, not the
    agent's; one without gets the agent's instructions first."""
    model = ScriptedModel(["a", "b"])
    agent = Agent(model, instructions="Agent rules.")
    own: list[Message] = [
        SystemMessage(content="History rules."),
        UserMessage(content="q"),
        AssistantMessage(content="r"),
    ]
    await agent.run("next", message_history=own)
    await agent.run("next", message_history=own[1:])
    assert model.requests[0].messages[0] == SystemMessage(content="History rules.")
    assert model.requests[1].messages[0] == SystemMessage(content="Agent rules.")
    assert sum(isinstance(m, SystemMessage) for m in model.requests[1].messages) == 1


@pytest.mark.anyio
async def test_a_failed_run_stores_nothing(tmp_path: Path) -> None:
    """A run whose model fails after a tool call leaves the session as it was."""
    session = SQLiteSession(tmp_path / "chats.db", "s")
    replies = [
        reply_tool_calls(("lookup", {"query": "x"})),
        reply_text("ok"),
        reply_tool_calls(("lookup", {"query": "y"})),
    ]
    with LocalModelServer([*replies, reply_error(400, "bad request")], style="mistral") as server:
        agent = Agent(model_on(server), tools=[lookup])
        await agent.run("x", session=session)
        before = await session.messages()
        with pytest.raises(ModelAPIError) as caught:
            await agent.run("y", session=session)
    assert await session.messages() == before
    assert caught.value.messages is not None and len(caught.value.messages) == len(before) + 3


@pytest.mark.anyio
async def test_a_cancelled_run_stores_nothing(tmp_path: Path) -> None:
    """A run cancelled while its tool runs stores no part of its turn."""
    session = SQLiteSession(tmp_path / "chats.db", "s")
    started = anyio.Event()

    @tool
    async def slow(query: str) -> str:
        """Take long.

        Args:
            query: What to wait for.
        """
        started.set()
        await anyio.sleep_forever()
        return query

    agent = Agent(ScriptedModel([tool_calls_scripted("slow")]), tools=[slow])
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: agent.run("wait", session=session))
        await started.wait()
        tg.cancel_scope.cancel()
    assert await session.messages() == []


def tool_calls_scripted(name: str) -> Any:
    from agentkit.testing.scripted import tool_calls as scripted_calls

    return scripted_calls((name, {"query": "q"}))


@pytest.mark.anyio
async def test_ten_concurrent_runs_store_every_turn_whole(tmp_path: Path) -> None:
    """Ten runs on one session at once (real HTTP): ten whole turns, none lost, none
    interleaved, stored in commit order."""
    session = SQLiteSession(tmp_path / "chats.db", "busy")
    with LocalModelServer(_echo_with_a_tool, style="mistral") as server:
        agent = Agent(model_on(server), tools=[lookup])
        async with agent, anyio.create_task_group() as tg:
            for i in range(10):
                tg.start_soon(partial(agent.run, f"prompt {i}", session=session))
    prompts = _assert_whole_turns(await session.messages())
    assert sorted(prompts) == sorted(f"prompt {i}" for i in range(10))


_WRITER = textwrap.dedent(
    """
    import sys
    import anyio
    from agentkit import Agent, tool
    from agentkit.models import OpenAIChatModel
    from agentkit.sessions import SQLiteSession

    @tool
    def lookup(query: str) -> str:
        \"\"\"Look something up.

        Args:
            query: What to look up.
        \"\"\"
        return f"found {query}"

    async def main(path, sid, base_url, tag, runs):
        model = OpenAIChatModel("mistral-small-2506", base_url=base_url, api_key="test-key")
        agent = Agent(model, tools=[lookup])
        session = SQLiteSession(path, sid)
        async with agent:
            for i in range(int(runs)):
                await agent.run(f"{tag} {i}", session=session)

    anyio.run(main, *sys.argv[1:])
    """
)


def _writer(path: Path, base_url: str, tag: str, runs: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), "shared", base_url, tag, str(runs)],
        cwd=ROOT,
    )


def test_two_processes_writing_one_session_lose_no_turn(tmp_path: Path) -> None:
    """Two Python processes run eight turns each on one session file at once: all sixteen
    turns are stored whole, each process's in its own order."""
    path = tmp_path / "chats.db"
    with LocalModelServer(_echo_with_a_tool, style="mistral") as server:
        writers = [_writer(path, server.base_url, tag, 8) for tag in ("left", "right")]
        assert [w.wait(timeout=120) for w in writers] == [0, 0]
    prompts = _assert_whole_turns(anyio.run(SQLiteSession(path, "shared").messages))
    for tag in ("left", "right"):
        assert [p for p in prompts if p.startswith(tag)] == [f"{tag} {i}" for i in range(8)]


def test_a_second_process_continues_the_session(tmp_path: Path) -> None:
    """A session written here is read and continued by another process, and read back."""
    path = tmp_path / "chats.db"
    with LocalModelServer(_echo_with_a_tool, style="mistral") as server:
        agent = Agent(model_on(server), tools=[lookup])
        anyio.run(lambda: agent.run("here", session=SQLiteSession(path, "shared")))
        assert _writer(path, server.base_url, "there", 1).wait(timeout=60) == 0
        sent = server.requests[-2].body["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == ["here", "there 0"]
    prompts = _assert_whole_turns(anyio.run(SQLiteSession(path, "shared").messages))
    assert prompts == ["here", "there 0"]


@tool(needs_approval=True)
def refund(order_id: str) -> str:
    """Refund an order.

    Args:
        order_id: The order to refund.
    """
    return f"refunded {order_id}"


@pytest.mark.anyio
async def test_a_paused_run_resumes_from_its_session(tmp_path: Path) -> None:
    """A run paused for approval stores its pending turn; a fresh agent resumes it from the
    session alone; the session then holds the whole turn once, valid for Mistral."""
    path = tmp_path / "chats.db"
    replies = [reply_tool_calls(("refund", {"order_id": "A1"})), reply_text("Refunded A1.")]
    with LocalModelServer(replies, style="mistral") as server:
        paused = await Agent(model_on(server), tools=[refund]).run(
            "Refund A1", session=SQLiteSession(path, "s")
        )
        assert paused.is_paused
        history = await SQLiteSession(path, "s").load()
        assert history.messages == [] and len(history.paused) == 2
        fresh = Agent(model_on(server), tools=[refund])
        decisions = {paused.approvals_needed[0]: True}
        done = await fresh.run(approvals=decisions, session=SQLiteSession(path, "s"))
    assert done.output == "Refunded A1."
    stored = await SQLiteSession(path, "s").load()
    assert stored.paused == []
    assert [m.role for m in stored.messages] == ["user", "assistant", "tool", "assistant"]
    check_mistral_conversation(stored.messages)
    with pytest.raises(SessionConflictError):
        await SQLiteSession(path, "s").save_turn([], paused=False, resumed=True)


@pytest.mark.anyio
async def test_an_interrupted_history_is_repaired_with_a_note(tmp_path: Path) -> None:
    """A history ending in tool calls without answers (a crash mid-tool) is answered
    "interrupted" before the first request, with an event saying so; the request obeys
    Mistral's rules."""
    broken: list[Message] = [
        UserMessage(content="look x and y"),
        AssistantMessage(
            tool_calls=(
                _call("a1", "lookup", {"query": "x"}),
                _call("a2", "lookup", {"query": "y"}),
            )
        ),
        ToolMessage(tool_call_id="a1", name="lookup", content="found x"),
    ]
    with LocalModelServer([reply_text("Sorry, y was interrupted.")], style="mistral") as server:
        agent = Agent(model_on(server), tools=[lookup])
        events = []
        async with agent.run_stream("and now?", message_history=broken) as stream:
            events = [e async for e in stream]
        sent = server.requests[0].body["messages"]
    notes = [e for e in events if isinstance(e, HistoryRepairedEvent)]
    assert len(notes) == 1 and "interrupted" in notes[0].notes[0]
    assert [m["role"] for m in sent][:4] == ["user", "assistant", "tool", "tool"]
    assert sent[-1] == {"role": "user", "content": "and now?"}
    assert sent[2]["content"] == "found x"
    assert "Interrupted" in sent[3]["content"]
    check_mistral_conversation(stream.messages)


def _call(call_id: str, name: str, args: dict[str, Any]) -> Any:
    from agentkit import ToolCall

    return ToolCall(id=call_id, name=name, arguments=json.dumps(args))


@pytest.mark.anyio
async def test_a_malformed_history_names_the_message() -> None:
    """A tool message that answers no call raises HistoryError naming its index; nothing
    is sent."""
    model = ScriptedModel(["never"])
    bad: list[Message] = [
        UserMessage(content="q"),
        AssistantMessage(content="r"),
        ToolMessage(tool_call_id="zz", name="lookup", content="stray"),
    ]
    with pytest.raises(HistoryError) as caught:
        await Agent(model).run("next", message_history=bad)
    assert caught.value.index == 2
    assert "message_history[2]" in str(caught.value)
    assert model.requests == []


@pytest.mark.anyio
async def test_pop_turn_and_clear(tmp_path: Path) -> None:
    """pop_turn removes the last user message and what follows; clear empties the session."""
    session = SQLiteSession(tmp_path / "chats.db", "s")
    agent = Agent(ScriptedModel(["one", "two"]))
    await agent.run("first", session=session)
    await agent.run("second", session=session)
    popped = await session.pop_turn()
    assert [m.content for m in popped] == ["second", "two"]
    assert [m.content for m in await session.messages()] == ["first", "one"]
    await session.clear()
    assert await session.messages() == []
    assert await session.pop_turn() == []


@pytest.mark.anyio
async def test_another_backend_is_three_methods() -> None:
    """The protocol in the sessions module docs works as written: a dict-backed session
    carries a conversation across runs."""

    class DictSession:
        def __init__(self) -> None:
            self.turns: list[list[Message]] = []
            self.paused: list[Message] = []

        async def load(self) -> SessionHistory:
            return SessionHistory([m for t in self.turns for m in t], list(self.paused))

        async def save_turn(self, messages: Any, *, paused: bool, resumed: bool) -> None:
            if paused:
                self.paused = list(messages)
            else:
                self.turns.append(list(messages))
                self.paused = []

        async def clear(self) -> None:
            self.turns, self.paused = [], []

    session = DictSession()
    model = ScriptedModel([scripted_text("one"), scripted_text("two")])
    agent = Agent(model)
    await agent.run("first", session=session)
    await agent.run("second", session=session)
    assert len(session.turns) == 2
    assert [m.content for m in model.requests[1].messages] == ["first", "one", "second"]


@pytest.mark.anyio
async def test_first_use_waits_out_a_writer_holding_the_file(tmp_path: Path) -> None:
    """First use switches the file to WAL; while another connection holds the write
    lock, SQLite refuses that switch at once (no busy wait), so the session retries
    until the lock is released instead of failing with 'database is locked'."""
    path = tmp_path / "chats.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE other (x)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO other VALUES (1)")
    session = SQLiteSession(path, "first")

    async def release_later() -> None:
        await anyio.sleep(0.3)
        holder.execute("COMMIT")
        holder.close()

    async with anyio.create_task_group() as tg:
        tg.start_soon(release_later)
        await session.save_turn([UserMessage(content="hello")], paused=False, resumed=False)
    assert [m.content for m in await session.messages()] == ["hello"]
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
