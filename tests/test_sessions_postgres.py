"""``PostgresSession`` keeps the promises ``SQLiteSession`` keeps, on a real PostgreSQL
(``AGENTKIT_TEST_POSTGRES_URL`` from ``.ci/run``, or a throwaway cluster; see conftest):
whole turns in commit order under concurrent writers, nothing stored for a failed run,
a paused turn kept apart and claimed by one resume only, on any connection."""

from __future__ import annotations

from functools import partial

import anyio
import pytest
from support import model_on
from test_sessions import _assert_whole_turns, _echo_with_a_tool, lookup, refund

from agentkit import Agent, SessionConflictError
from agentkit._errors import ConfigurationError
from agentkit.sessions import PostgresSession
from agentkit.testing import ScriptedModel, text, tool_calls
from agentkit.testing.replay import check_mistral_conversation
from agentkit.testing.server import LocalModelServer, reply_error, reply_text, reply_tool_calls

pytestmark = [pytest.mark.anyio, pytest.mark.slow]  # a real PostgreSQL


async def test_a_conversation_carries_across_runs_and_ids_stay_apart(postgres_db: str) -> None:
    """Two runs on one session see each other's turns; another id in the same database
    sees none of them."""
    model = ScriptedModel(["Hello Ada.", "Your name is Ada.", "Hi Bob."])
    agent = Agent(model)
    await agent.run("My name is Ada.", session=PostgresSession(postgres_db, "ada"))
    second = await agent.run("What is my name?", session=PostgresSession(postgres_db, "ada"))
    await agent.run("I am Bob.", session=PostgresSession(postgres_db, "bob"))
    assert [m.role for m in second.messages] == ["user", "assistant", "user", "assistant"]
    ada = await PostgresSession(postgres_db, "ada").messages()
    bob = await PostgresSession(postgres_db, "bob").messages()
    assert [getattr(m, "content", None) for m in ada][::2] == [
        "My name is Ada.",
        "What is my name?",
    ]
    assert len(bob) == 2


async def test_a_failed_run_stores_nothing(postgres_db: str) -> None:
    """A run whose model keeps failing stores no part of its turn."""
    session = PostgresSession(postgres_db, "s")
    replies = [reply_error(400, "no") for _ in range(3)]
    with LocalModelServer(replies, style="mistral") as server:
        with pytest.raises(Exception, match="no"):
            await Agent(model_on(server)).run("hello", session=session)
    assert await session.messages() == []


async def test_ten_concurrent_runs_store_every_turn_whole(postgres_db: str) -> None:
    """Ten runs on one session at once, each on its own connection: ten whole turns,
    none lost, none interleaved."""
    session = PostgresSession(postgres_db, "busy")
    with LocalModelServer(_echo_with_a_tool, style="mistral") as server:
        agent = Agent(model_on(server), tools=[lookup])
        async with agent, anyio.create_task_group() as tg:
            for i in range(10):
                tg.start_soon(partial(agent.run, f"prompt {i}", session=session))
    prompts = _assert_whole_turns(await session.messages())
    assert sorted(prompts) == sorted(f"prompt {i}" for i in range(10))


async def test_a_paused_turn_is_kept_apart_and_resumed_once(postgres_db: str) -> None:
    """A paused run's turn is stored apart; a fresh agent resumes it from the session alone,
    valid for Mistral; a second resume of the same turn is refused before anything runs."""
    replies = [reply_tool_calls(("refund", {"order_id": "A1"})), reply_text("Refunded A1.")]
    with LocalModelServer(replies, style="mistral") as server:
        paused = await Agent(model_on(server), tools=[refund]).run(
            "Refund A1", session=PostgresSession(postgres_db, "s")
        )
        history = await PostgresSession(postgres_db, "s").load()
        assert history.messages == [] and len(history.paused) == 2
        decisions = {paused.approvals_needed[0]: True}
        done = await Agent(model_on(server), tools=[refund]).run(
            approvals=decisions, session=PostgresSession(postgres_db, "s")
        )
    assert done.output == "Refunded A1."
    stored = await PostgresSession(postgres_db, "s").load()
    assert stored.paused == []
    assert [m.role for m in stored.messages] == ["user", "assistant", "tool", "assistant"]
    check_mistral_conversation(stored.messages)
    with pytest.raises(SessionConflictError):
        await PostgresSession(postgres_db, "s").save_turn([], paused=False, resumed=True)


async def test_a_claimed_paused_turn_cannot_be_claimed_again(postgres_db: str) -> None:
    """The claim on a paused turn holds across connections until it is released."""
    model = ScriptedModel([tool_calls(("refund", {"order_id": "B2"}, "c1")), text("ok")])
    await Agent(model, tools=[refund]).run("Refund B2", session=PostgresSession(postgres_db, "c"))
    first, second = PostgresSession(postgres_db, "c"), PostgresSession(postgres_db, "c")
    await first.claim_paused("claim-1")
    with pytest.raises(SessionConflictError):
        await second.claim_paused("claim-2")
    await first.release_paused("claim-1")
    await second.claim_paused("claim-2")


async def test_a_wrong_server_is_a_clear_error_without_the_password() -> None:
    """A server that cannot be reached is a ``ConfigurationError`` that does not repeat the
    URL's password, and the session's repr never shows the URL."""
    session = PostgresSession("postgresql://ada:hunter2@127.0.0.1:1/db", "s")
    with pytest.raises(ConfigurationError) as caught:
        await session.load()
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(session)
    assert "PostgreSQL" in str(caught.value)


async def test_a_compaction_summary_is_stored_replaced_and_cleared(postgres_db: str) -> None:
    """The summary a compacting window stores comes back from any connection, a new one
    replaces it, and ``clear()`` forgets it with the turns."""
    from agentkit.summary import ContextSummary

    first, second = PostgresSession(postgres_db, "s"), PostgresSession(postgres_db, "s")
    assert await first.load_summary() is None
    await first.save_summary(ContextSummary("Ada asked about Paris.", 4, "d1"))
    await first.save_summary(ContextSummary("Ada asked about Paris and Lyon.", 8, "d2"))
    assert await second.load_summary() == ContextSummary("Ada asked about Paris and Lyon.", 8, "d2")
    await second.clear()
    assert await first.load_summary() is None
