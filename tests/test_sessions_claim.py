"""A session's paused turn is claimed before a resume runs anything, and a turn the
session cannot store comes back as an error that keeps the conversation."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentkit import (
    Agent,
    SessionConflictError,
    ToolMessage,
    tool,
)
from agentkit.sessions import SQLiteSession
from agentkit.testing import ScriptedModel, text, tool_calls

pytestmark = pytest.mark.anyio


def _payments(ran: list[str], started: anyio.Event, release: anyio.Event) -> Any:
    """A ``pay`` tool that needs approval; its first call waits for ``release``."""

    @tool(needs_approval=True)
    async def pay(order: str) -> str:
        """Pay an order.

        Args:
            order: The order.
        """
        ran.append(order)
        if len(ran) == 1:
            started.set()
            await release.wait()
        return f"paid {order}"

    return pay


async def test_two_resumes_of_one_paused_turn_run_the_approved_call_once(tmp_path: Path) -> None:
    """Of two runs resuming the same paused session turn, the second fails with
    ``SessionConflictError`` before running anything, and the approved call runs once
    (both used to run it; the second failed only when storing its turn)."""
    ran: list[str] = []
    started, release = anyio.Event(), anyio.Event()
    pay = _payments(ran, started, release)
    model = ScriptedModel([tool_calls(("pay", {"order": "A"}, "c1")), text("Paid."), "Paid."])
    agent = Agent(model, tools=[pay])
    session = SQLiteSession(tmp_path / "chats.db", "user-1")
    paused = await agent.run("Pay A.", session=session)
    (request,) = paused.approvals_needed

    outcomes: list[Any] = []

    async def resume() -> None:
        try:
            outcomes.append(await agent.run(approvals={request: True}, session=session))
        except SessionConflictError as exc:
            outcomes.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(resume)
        await started.wait()  # the first resume holds the turn and is inside the tool
        await resume()  # the second, while the first still runs
        release.set()
    assert ran == ["A"]
    second, first = outcomes
    assert isinstance(second, SessionConflictError)
    assert "nothing ran" in str(second)
    assert first.output == "Paid."
    stored = await session.messages()
    assert [m.content for m in stored if isinstance(m, ToolMessage)] == ["paid A"]


async def test_a_failed_resume_gives_the_paused_turn_back(tmp_path: Path) -> None:
    """A resume that fails after claiming the turn releases it: the next resume runs."""
    ran: list[str] = []
    started, release = anyio.Event(), anyio.Event()
    release.set()
    pay = _payments(ran, started, release)
    model = ScriptedModel([tool_calls(("pay", {"order": "B"}, "c1"))])  # no answer after it
    agent = Agent(model, tools=[pay])
    session = SQLiteSession(tmp_path / "chats.db", "user-2")
    paused = await agent.run("Pay B.", session=session)
    (request,) = paused.approvals_needed
    with pytest.raises(AssertionError):  # the script has no answer: the run fails
        await agent.run(approvals={request: True}, session=session)
    with agent.override(model=ScriptedModel(["Paid B."])):
        result = await agent.run(approvals={request: True}, session=session)
    assert result.output == "Paid B."


async def test_a_turn_the_session_cannot_store_keeps_the_conversation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When SQLite cannot store the turn (another connection holds the write lock), the
    run raises ``SessionStoreError`` carrying the whole conversation, the tool's result
    included (it used to be a raw ``sqlite3.OperationalError``, and the turn was lost)."""
    import agentkit.sessions
    from agentkit import SessionStoreError

    @tool
    def book(room: str) -> str:
        """Book a room.

        Args:
            room: The room.
        """
        return f"booked {room}"

    path = tmp_path / "chats.db"
    session = SQLiteSession(path, "user-3")
    await session.clear()  # creates the file and its tables
    monkeypatch.setattr(agentkit.sessions, "BUSY_TIMEOUT", 0.05)
    agent = Agent(ScriptedModel([tool_calls(("book", {"room": "12"})), "Booked."]), tools=[book])
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # the write lock, held through the run
        with pytest.raises(SessionStoreError) as caught:
            await agent.run("Book room 12.", session=session)
        blocker.execute("ROLLBACK")
    finally:
        blocker.close()
    messages = caught.value.messages or []
    assert [m.content for m in messages if isinstance(m, ToolMessage)] == ["booked 12"]
    assert messages[-1].content == "Booked."
    assert "locked" in str(caught.value)
    assert await session.messages() == []
