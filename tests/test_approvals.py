"""Approvals over real HTTP: a run pauses before calls that need a person's decision,
is saved as JSON, and resumes in a fresh Agent bound to exactly the calls that were shown."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentkit import (
    Agent,
    ApprovalError,
    ApprovalRequest,
    ApprovalRequiredEvent,
    AssistantMessage,
    Denied,
    RunContext,
    RunPausedError,
    Tool,
    ToolCallFinishedEvent,
    ToolMessage,
    dump_messages,
    load_messages,
    tool,
)
from agentkit.models import OpenAIChatModel
from agentkit.testing.replay import check_mistral_conversation
from agentkit.testing.server import LocalModelServer, reply_text, reply_tool_calls

ran: list[tuple[str, Any]] = []


@tool
def lookup_order(order_id: str) -> str:
    """Look an order up.

    Args:
        order_id: The order's id.
    """
    ran.append(("lookup_order", order_id))
    return f"Order {order_id}: 250 EUR, delivered"


def _over_100(ctx: RunContext[Any], args: dict[str, Any]) -> bool:
    return bool(args["amount_eur"] > 100)


@tool(needs_approval=_over_100)
def refund(order_id: str, amount_eur: float) -> str:
    """Refund an order.

    Args:
        order_id: The order's id.
        amount_eur: How much to refund, in EUR.
    """
    ran.append(("refund", (order_id, amount_eur)))
    return f"Refunded {amount_eur} EUR on {order_id}"


@tool(needs_approval=True)
def close_account(customer: str) -> str:
    """Close a customer's account.

    Args:
        customer: The customer's name.
    """
    ran.append(("close_account", customer))
    return f"Closed {customer}"


TOOLS: list[Tool[Any]] = [lookup_order, refund, close_account]


def _agent(server: LocalModelServer) -> Agent[None, str]:
    """A fresh agent (and model) each time, as another process would build it."""
    model = OpenAIChatModel("mistral-small-2506", base_url=server.base_url, api_key="test-key")
    return Agent(model, instructions="Support desk.", tools=TOOLS)


@pytest.fixture(autouse=True)
def _clear() -> None:
    ran.clear()


def _wire_tail(body: dict[str, Any]) -> list[tuple[str, str]]:
    """The roles and tool names or contents of the last assistant turn and its answers."""
    messages = body["messages"]
    start = max(
        i for i, m in enumerate(messages) if m["role"] == "assistant" and m.get("tool_calls")
    )
    return [(m["role"], m.get("content") or "") for m in messages[start:]]


@pytest.mark.anyio
async def test_pause_dump_and_resume_in_a_fresh_agent() -> None:
    """The call needing no approval runs, the run pauses; the JSON-saved conversation
    resumes in a new Agent, the approved call runs once, answers go in call order."""
    replies = [
        reply_tool_calls(
            ("lookup_order", {"order_id": "A1"}), ("refund", {"order_id": "A1", "amount_eur": 250})
        ),
        reply_text("Refund done."),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        paused = await _agent(server).run("Refund order A1.")
        assert ran == [("lookup_order", "A1")]
        assert len(server.requests) == 1
        assert paused.is_paused
        (request,) = paused.approvals_needed
        call = next(
            c
            for m in paused.messages
            if isinstance(m, AssistantMessage)
            for c in m.tool_calls
            if c.name == "refund"
        )
        assert request == ApprovalRequest(call.id, "refund", '{"amount_eur":250.0,"order_id":"A1"}')
        assert request.args == {"amount_eur": 250.0, "order_id": "A1"}
        with pytest.raises(RunPausedError, match="refund") as caught:
            _ = paused.output
        assert caught.value.approvals_needed == (request,)
        assert isinstance(paused.messages[-1], ToolMessage)
        assert isinstance(paused.messages[-2], AssistantMessage)

        saved = dump_messages(paused.messages)
        resumed = await _agent(server).run(
            message_history=load_messages(saved), approvals={request: True}
        )
    assert resumed.output == "Refund done."
    assert ran == [("lookup_order", "A1"), ("refund", ("A1", 250.0))]
    assert len(server.requests) == 2
    tail = _wire_tail(server.bodies[1])
    assert [role for role, _ in tail] == ["assistant", "tool", "tool"]
    assert tail[1][1].startswith("Order A1") and tail[2][1].startswith("Refunded 250")
    check_mistral_conversation(resumed.messages)


@pytest.mark.anyio
async def test_the_callable_decides_per_call() -> None:
    """needs_approval=callable: a refund of 50 EUR runs without pausing."""
    replies = [
        reply_tool_calls(("refund", {"order_id": "B2", "amount_eur": 50})),
        reply_text("Done."),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        result = await _agent(server).run("Refund 50 on B2.")
    assert result.output == "Done."
    assert ran == [("refund", ("B2", 50.0))]


@pytest.mark.anyio
async def test_a_denied_call_never_runs_and_the_model_hears_why() -> None:
    """Denied("reason") answers the model with the reason; False with a default one."""
    replies = [
        reply_tool_calls(
            ("close_account", {"customer": "Ann"}), ("refund", {"order_id": "C", "amount_eur": 900})
        ),
        reply_text("Understood."),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        paused = await _agent(server).run("Close Ann's account and refund C.")
        close, big = paused.approvals_needed
        result = await _agent(server).run(
            message_history=paused.messages,
            approvals={close.tool_call_id: Denied("Accounts are closed by a manager."), big: False},
        )
    assert result.output == "Understood."
    assert ran == []
    tail = _wire_tail(server.bodies[1])
    assert tail[1][1] == "Denied: Accounts are closed by a manager."
    assert tail[2][1] == "Denied: The user denied this tool call."


@pytest.mark.anyio
async def test_partial_decisions_keep_the_run_paused_and_answers_go_in_call_order() -> None:
    """Deciding only the second waiting call answers it and pauses again on the first,
    sending nothing; once all are decided the answers go back in call order."""
    replies = [
        reply_tool_calls(
            ("refund", {"order_id": "D", "amount_eur": 300}),
            ("close_account", {"customer": "Bo"}),
            ("lookup_order", {"order_id": "D"}),
        ),
        reply_text("All handled."),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        first = await _agent(server).run("Handle D and Bo.")
        refund_request, close_request = first.approvals_needed
        assert [r.tool_name for r in first.approvals_needed] == ["refund", "close_account"]
        second = await _agent(server).run(
            message_history=load_messages(dump_messages(first.messages)),
            approvals={close_request: True},
        )
        assert second.approvals_needed == (refund_request,)
        assert len(server.requests) == 1
        assert ran == [("lookup_order", "D"), ("close_account", "Bo")]
        with pytest.raises(ApprovalError, match="not waiting"):
            await _agent(server).run(
                message_history=second.messages, approvals={close_request: True}
            )
        done = await _agent(server).run(
            message_history=second.messages, approvals={refund_request: True}
        )
    assert done.output == "All handled."
    assert ran == [("lookup_order", "D"), ("close_account", "Bo"), ("refund", ("D", 300.0))]
    tail = _wire_tail(server.bodies[1])
    assert [content.split(" ")[0] for _, content in tail[1:]] == ["Refunded", "Closed", "Order"]


@pytest.mark.anyio
async def test_a_tampered_history_is_refused_before_anything_runs_or_is_sent() -> None:
    """Arguments changed in the saved JSON no longer match the approved request: an
    ApprovalError, nothing runs, nothing is sent. A bare id approves whatever is there."""
    replies = [reply_tool_calls(("refund", {"order_id": "E", "amount_eur": 150})), reply_text("ok")]
    with LocalModelServer(replies, style="mistral") as server:
        paused = await _agent(server).run("Refund E.")
        (request,) = paused.approvals_needed
        data = json.loads(dump_messages(paused.messages))
        call = data[-1]["tool_calls"][0]
        call["arguments"] = json.dumps({"order_id": "E", "amount_eur": 15000})
        tampered = load_messages(json.dumps(data))
        with pytest.raises(ApprovalError, match="changed") as caught:
            await _agent(server).run(message_history=tampered, approvals={request: True})
        assert "15000" in str(caught.value) and "150" in str(caught.value)
        assert ran == [] and len(server.requests) == 1
        # Keyed by the bare id, the decision approves the call that has that id now.
        await _agent(server).run(message_history=tampered, approvals={request.tool_call_id: True})
    assert ran == [("refund", ("E", 15000.0))]


@pytest.mark.anyio
async def test_decisions_fail_closed() -> None:
    """An unknown id, a bad decision, or approvals with nothing waiting are errors; a
    paused conversation is never sent as it is (a new prompt must wait for decisions)."""
    replies = [reply_tool_calls(("close_account", {"customer": "Cy"})), reply_text("ok")]
    with LocalModelServer(replies, style="mistral") as server:
        paused = await _agent(server).run("Close Cy.")
        (request,) = paused.approvals_needed
        agent = _agent(server)
        with pytest.raises(ApprovalError, match="'nope', which is not waiting"):
            await agent.run(message_history=paused.messages, approvals={"nope": True})
        with pytest.raises(ApprovalError, match="decide with True, False"):
            await agent.run(message_history=paused.messages, approvals={request: "yes"})  # type: ignore[dict-item]
        with pytest.raises(ApprovalError, match="cannot take a new prompt"):
            await agent.run("Something else", message_history=paused.messages)
        with pytest.raises(ApprovalError, match="no tool call is waiting"):
            await agent.run("Hi", approvals={request: True})
        again = await agent.run(message_history=paused.messages)
        assert again.approvals_needed == (request,)
        assert len(server.requests) == 1 and ran == []
        forged = ApprovalRequest(request.tool_call_id, "refund", request.arguments)
        with pytest.raises(ApprovalError, match="changed"):
            await agent.run(message_history=paused.messages, approvals={forged: True})


@pytest.mark.anyio
async def test_a_resumed_run_takes_a_prompt_after_the_answers() -> None:
    """With every call decided, the resume prompt goes after the tool answers."""
    replies = [
        reply_tool_calls(("close_account", {"customer": "Di"})),
        reply_text("Closed, and noted."),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        paused = await _agent(server).run("Close Di.")
        (request,) = paused.approvals_needed
        result = await _agent(server).run(
            "Also note it was her wish.", message_history=paused.messages, approvals={request: True}
        )
    assert result.output == "Closed, and noted."
    sent = server.bodies[1]["messages"]
    assert sent[-1] == {"role": "user", "content": "Also note it was her wish."}
    assert sent[-2]["role"] in ("tool", "assistant")  # Mistral's order repair may sit between
    check_mistral_conversation(result.messages)


@pytest.mark.anyio
async def test_a_stream_shows_the_approval_request() -> None:
    """A streamed run yields the finished calls, then an ApprovalRequiredEvent."""
    replies = [
        reply_tool_calls(("lookup_order", {"order_id": "F"}), ("close_account", {"customer": "Ed"}))
    ]
    with LocalModelServer(replies, style="openai") as server:
        async with _agent(server).run_stream("F and Ed") as stream:
            events = [e async for e in stream]
    finished = [e.name for e in events if isinstance(e, ToolCallFinishedEvent)]
    asked = [e for e in events if isinstance(e, ApprovalRequiredEvent)]
    assert finished == ["lookup_order"]
    assert len(asked) == 1 and asked[0].requests == stream.result.approvals_needed
    assert asked[0].requests[0].tool_name == "close_account"


@pytest.mark.anyio
async def test_a_resumed_runs_new_messages_start_at_the_paused_turn() -> None:
    """new_messages of a resumed run hold the rewritten paused turn and what followed."""
    replies = [reply_tool_calls(("close_account", {"customer": "Flo"})), reply_text("Closed.")]
    with LocalModelServer(replies, style="mistral") as server:
        paused = await _agent(server).run("Close Flo.")
        resumed = await _agent(server).run(
            message_history=paused.messages, approvals=dict.fromkeys(paused.approvals_needed, True)
        )
    assert [m.role for m in resumed.new_messages] == ["assistant", "tool", "assistant"]
    assert resumed.messages[: resumed.new_message_index] == paused.messages[:2]
