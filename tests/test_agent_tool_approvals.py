"""A child agent's pending approval pauses its parent; resuming the parent resumes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentkit import (
    Agent,
    AgentToolEvent,
    ApprovalError,
    ApprovalRequest,
    ApprovalRequiredEvent,
    AssistantMessage,
    Denied,
    RunResult,
    ToolCallFinishedEvent,
    ToolMessage,
    dump_messages,
    load_messages,
    tool,
)
from agentkit.sessions import SQLiteSession
from agentkit.testing import ScriptedModel, tool_calls

pytestmark = pytest.mark.anyio


def _support(ran: list[str], script: list[Any]) -> tuple[Agent[Any, str], ScriptedModel]:
    """A child agent whose ``refund`` tool needs approval and records what it refunded."""

    @tool(needs_approval=True)
    def refund(order_id: str) -> str:
        """Refund an order.

        Args:
            order_id: The order to refund.
        """
        ran.append(order_id)
        return f"refunded {order_id}"

    model = ScriptedModel(script)
    return Agent(model, name="support", tools=[refund]), model


def _answers(model: ScriptedModel, turn: int) -> list[ToolMessage]:
    return [m for m in model.requests[turn].messages if isinstance(m, ToolMessage)]


def _no_paused_runs(result: RunResult[Any]) -> bool:
    return not any(isinstance(m, AssistantMessage) and m.paused_runs for m in result.messages)


async def test_the_child_pauses_the_parent_and_resuming_the_parent_resumes_the_child() -> None:
    """The parent pauses with the child's request (its agent and the parent's call id);
    after a dump and load, resuming the parent runs the approved call once, in the child,
    which goes on from its own conversation, and the child's answer is the tool result."""
    ran: list[str] = []
    child, child_model = _support(
        ran, [tool_calls(("refund", {"order_id": "A1"}, "c1")), "Refunded A1."]
    )
    parent_model = ScriptedModel([tool_calls(("support", {"prompt": "Refund A1"}, "p1")), "Done."])
    parent = Agent(parent_model, tools=[child.as_tool()])

    events: list[Any] = []
    async with parent.run_stream("refund order A1") as stream:
        async for event in stream:
            events.append(event)
    paused = stream.result
    request = ApprovalRequest("c1", "refund", '{"order_id":"A1"}', via=("p1",), agent="support")
    assert paused.is_paused and paused.approvals_needed == (request,)
    assert request.key == "p1/c1"
    assert [e.requests for e in events if isinstance(e, ApprovalRequiredEvent)] == [(request,)]
    assert ran == [] and len(parent_model.requests) == 1 and len(child_model.requests) == 1

    saved = load_messages(dump_messages(paused.messages))  # as if in another process
    events = []
    async with parent.run_stream(message_history=saved, approvals={request: True}) as stream:
        async for event in stream:
            events.append(event)
    result = stream.result
    assert result.output == "Done." and ran == ["A1"]
    assert [a.content for a in _answers(child_model, 1)] == ["refunded A1"]
    assert child_model.requests[1].messages[0].content == "Refund A1"  # its own history
    assert [a.content for a in _answers(parent_model, 1)] == ["Refunded A1."]
    finished = [
        e.event.name
        for e in events
        if isinstance(e, AgentToolEvent) and isinstance(e.event, ToolCallFinishedEvent)
    ]
    assert finished == ["refund"]
    assert result.usage.requests == 2  # the child's second request and the parent's
    assert _no_paused_runs(result)


async def test_a_denial_by_bare_key_reaches_the_child_model() -> None:
    """``"p1/c1"`` decides the child's call: denied, it never runs, and the child's model
    is told the reason."""
    ran: list[str] = []
    child, child_model = _support(
        ran, [tool_calls(("refund", {"order_id": "A1"}, "c1")), "I could not refund it."]
    )
    parent_model = ScriptedModel([tool_calls(("support", {"prompt": "Refund A1"}, "p1")), "No."])
    parent = Agent(parent_model, tools=[child.as_tool()])
    paused = await parent.run("refund A1")
    result = await parent.run(
        message_history=paused.messages, approvals={"p1/c1": Denied("Over the limit.")}
    )
    assert result.output == "No." and ran == []
    assert [a.content for a in _answers(child_model, 1)] == ["Denied: Over the limit."]
    assert [a.content for a in _answers(parent_model, 1)] == ["I could not refund it."]


async def test_a_decision_the_child_does_not_wait_on_fails_closed_before_anything_runs() -> None:
    """An unknown child call id, or a decision for the agent call itself, is an
    ``ApprovalError`` naming what waits; no tool runs and no request is sent."""
    ran: list[str] = []
    child, child_model = _support(ran, [tool_calls(("refund", {"order_id": "A1"}, "c1"))])

    @tool(needs_approval=True)
    def note(text: str) -> str:
        """Write a note.

        Args:
            text: The note.
        """
        ran.append(f"note {text}")
        return "noted"

    parent_model = ScriptedModel(
        [tool_calls(("support", {"prompt": "Refund A1"}, "p1"), ("note", {"text": "hi"}, "p2"))]
    )
    parent = Agent(parent_model, tools=[child.as_tool(), note])
    paused = await parent.run("refund A1 and note it")
    assert {r.key for r in paused.approvals_needed} == {"p1/c1", "p2"}
    for wrong in ({"p2": True, "p1/zz": True}, {"p2": True, "p1": True}):
        with pytest.raises(ApprovalError) as caught:
            await parent.run(message_history=paused.messages, approvals=wrong)
        assert "'p1/c1'" in str(caught.value) and "Nothing was run" in str(caught.value)
    assert "agent used as a tool" in str(caught.value)
    assert ran == [] and len(parent_model.requests) == 1 and len(child_model.requests) == 1


async def test_a_partly_decided_child_pauses_again_with_what_still_waits() -> None:
    """Of two child calls waiting, approving one runs it and pauses the parent again on
    the other; approving that one then finishes both runs."""
    ran: list[str] = []
    child, child_model = _support(
        ran,
        [
            tool_calls(("refund", {"order_id": "A1"}, "c1"), ("refund", {"order_id": "B2"}, "c2")),
            "Both refunded.",
        ],
    )
    parent_model = ScriptedModel([tool_calls(("support", {"prompt": "Refund both"}, "p1")), "Ok."])
    parent = Agent(parent_model, tools=[child.as_tool()])
    paused = await parent.run("refund A1 and B2")
    first, second = paused.approvals_needed
    again = await parent.run(message_history=paused.messages, approvals={first: True})
    assert again.is_paused and again.approvals_needed == (second,)
    assert ran == ["A1"] and len(child_model.requests) == 1 and len(parent_model.requests) == 1
    done = await parent.run(message_history=again.messages, approvals={second: True})
    assert done.output == "Ok." and ran == ["A1", "B2"]
    assert [a.content for a in _answers(child_model, 1)] == ["refunded A1", "refunded B2"]
    assert _no_paused_runs(done)


async def test_a_grandchild_pause_reaches_the_top_and_resumes_two_levels_down() -> None:
    """An approval two agents down is addressed through both calls (``via``) and, once
    approved at the top, runs in the grandchild; each level then answers its parent."""
    ran: list[str] = []
    grandchild, _ = _support(ran, [tool_calls(("refund", {"order_id": "A1"}, "g1")), "Refunded."])
    child = Agent(
        ScriptedModel([tool_calls(("support", {"prompt": "Refund A1"}, "c1")), "Support did it."]),
        name="desk",
        tools=[grandchild.as_tool()],
    )
    parent = Agent(
        ScriptedModel([tool_calls(("desk", {"prompt": "Handle A1"}, "p1")), "All done."]),
        tools=[child.as_tool()],
    )
    paused = await parent.run("handle A1")
    (request,) = paused.approvals_needed
    assert (request.via, request.agent, request.key) == (("p1", "c1"), "support", "p1/c1/g1")
    result = await parent.run(message_history=paused.messages, approvals={request: True})
    assert result.output == "All done." and ran == ["A1"]
    assert _no_paused_runs(result)


async def test_a_paused_child_resumes_through_the_parents_session(tmp_path: Path) -> None:
    """The paused turn stored in a SQLite session keeps the child's run, so resuming the
    parent on the session (in a new session object) resumes the child."""
    ran: list[str] = []
    child, _ = _support(ran, [tool_calls(("refund", {"order_id": "A1"}, "c1")), "Refunded."])
    parent_model = ScriptedModel([tool_calls(("support", {"prompt": "Refund A1"}, "p1")), "Done."])
    parent = Agent(parent_model, tools=[child.as_tool()])
    path = tmp_path / "chats.db"
    paused = await parent.run("refund A1", session=SQLiteSession(path, "ada"))
    (request,) = paused.approvals_needed
    result = await parent.run(approvals={request: True}, session=SQLiteSession(path, "ada"))
    assert result.output == "Done." and ran == ["A1"]
    stored = await SQLiteSession(path, "ada").messages()
    assert [m.content for m in stored if isinstance(m, ToolMessage)] == ["Refunded."]
