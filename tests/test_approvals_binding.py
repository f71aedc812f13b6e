"""Approvals bound to exactly what was shown: paused agent runs, MCP and agent-tool waits,
resumed histories, and canonical arguments in every process."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from mcp.server.mcpserver import MCPServer as SDKServer

from agentkit import (
    Agent,
    ApprovalError,
    AssistantMessage,
    HistoryError,
    Message,
    ToolCall,
    ToolMessage,
    UserMessage,
    tool,
)
from agentkit.approval import canonical_arguments
from agentkit.mcp import MCPServer
from agentkit.testing import ScriptedModel, text, tool_calls

pytestmark = pytest.mark.anyio


def _refunds(ran: list[str]) -> tuple[Any, Any]:
    """``refund`` (needs approval, for the child) and ``pay_out`` (no approval, the
    parent's), both recording what they paid."""

    @tool(needs_approval=True)
    def refund(order: str, amount: int) -> str:
        """Refund an order.

        Args:
            order: The order.
            amount: Euros.
        """
        ran.append(f"refund {order} {amount}")
        return "refunded"

    @tool
    def pay_out(order: str, amount: int) -> str:
        """Pay an amount out at once.

        Args:
            order: The order.
            amount: Euros.
        """
        ran.append(f"pay_out {order} {amount}")
        return "paid"

    return refund, pay_out


async def _paused_parent(ran: list[str]) -> tuple[Agent[Any, str], list[Message], Any]:
    """A parent whose ``support`` child paused on ``refund(A, 5)``: the parent, its paused
    conversation, and the child's request as the parent lists it."""
    refund, pay_out = _refunds(ran)
    child = Agent(
        ScriptedModel([tool_calls(("refund", {"order": "A", "amount": 5}, "c1")), "Refunded."]),
        name="support",
        tools=[refund],
    )
    parent = Agent(
        ScriptedModel(
            [tool_calls(("support", {"prompt": "Refund A, 5 EUR"}, "p1")), text("Done.")]
        ),
        tools=[child.as_tool(), pay_out],
    )
    paused = await parent.run("Refund A.")
    (request,) = paused.approvals_needed
    assert (request.key, request.args) == ("p1/c1", {"order": "A", "amount": 5})
    return parent, paused.messages, request


def _edit_last_call(messages: list[Message], name: str, arguments: str) -> list[Message]:
    """The conversation with its paused call ``p1`` made to call ``name(arguments)``."""
    last = messages[-1]
    assert isinstance(last, AssistantMessage)
    edited = last.model_copy(
        update={"tool_calls": (ToolCall(id="p1", name=name, arguments=arguments),)}
    )
    return [*messages[:-1], edited]


async def test_a_paused_agent_run_is_bound_to_the_call_name_that_started_it() -> None:
    """Editing the saved history so the paused agent call becomes another tool's call
    (``pay_out(A, 5000)``) fails closed: nothing runs (it used to pay 5000 out on an
    approval of ``refund(A, 5)``)."""
    ran: list[str] = []
    parent, messages, request = await _paused_parent(ran)
    tampered = _edit_last_call(messages, "pay_out", '{"order": "A", "amount": 5000}')
    with pytest.raises(ApprovalError, match="changed since the run paused"):
        await parent.run(message_history=tampered, approvals={request: True})
    assert ran == []


async def test_a_paused_agent_run_is_bound_to_the_calls_arguments() -> None:
    """Changing the prompt of the paused agent call fails closed before anything runs."""
    ran: list[str] = []
    parent, messages, request = await _paused_parent(ran)
    tampered = _edit_last_call(messages, "support", '{"prompt": "Refund A, 5000 EUR"}')
    with pytest.raises(ApprovalError, match="not the ones the support agent"):
        await parent.run(message_history=tampered, approvals={request: True})
    assert ran == []


async def test_untouched_paused_agent_run_resumes_once() -> None:
    """The same paused conversation, untouched, resumes: the approved call runs once."""
    ran: list[str] = []
    parent, messages, request = await _paused_parent(ran)
    result = await parent.run(message_history=messages, approvals={request: True})
    assert result.output == "Done." and ran == ["refund A 5"]


async def test_a_new_prompt_while_an_agent_tool_waits_is_refused() -> None:
    """A new prompt on a conversation whose agent-tool call waits for approval raises
    ``ApprovalError`` (the waiting call used to be answered "Interrupted" and dropped)."""
    ran: list[str] = []
    parent, messages, _ = await _paused_parent(ran)
    with pytest.raises(ApprovalError, match="still wait for approval"):
        await parent.run("Something else.", message_history=messages)
    assert ran == []


async def test_a_new_prompt_while_an_mcp_tool_waits_is_refused() -> None:
    """The same for a call of an MCP tool that needs approval: refused, not dropped."""
    server = SDKServer("bank")
    done: list[str] = []

    @server.tool()
    def transfer(account: str, amount: int) -> str:
        """Move money out of an account."""
        done.append(f"transfer {account} {amount}")
        return "sent"

    model = ScriptedModel([tool_calls(("transfer", {"account": "A1", "amount": 50})), "No."])
    agent = Agent(model, tools=[MCPServer.in_process(server, needs_approval={"transfer"})])
    paused = await agent.run("Send 50 EUR from A1.")
    assert paused.is_paused
    with pytest.raises(ApprovalError, match="still wait for approval"):
        await agent.run("Never mind.", message_history=paused.messages)
    assert done == [] and len(model.requests) == 1


async def test_a_resumed_history_is_checked_like_a_fresh_one() -> None:
    """A resumed history with an orphan tool message before the paused turn raises
    ``HistoryError`` and sends nothing (it used to be sent when ``approvals=`` was given)."""
    ran: list[str] = []
    refund, _ = _refunds(ran)
    model = ScriptedModel([tool_calls(("refund", {"order": "A", "amount": 5}, "r1")), "Done."])
    agent = Agent(model, tools=[refund])
    paused = await agent.run("Refund A.")
    (request,) = paused.approvals_needed
    orphan = ToolMessage(tool_call_id="zz", name="refund", content="refunded 900")
    broken = [paused.messages[0], orphan, *paused.messages[1:]]
    with pytest.raises(HistoryError, match="follows no assistant tool call"):
        await agent.run(message_history=broken, approvals={request: True})
    assert ran == [] and len(model.requests) == 1


async def test_pending_and_check_approvals_read_a_saved_conversation() -> None:
    """``pending_approvals`` lists what a saved conversation waits on (a paused agent's
    calls through its parent's) and ``check_approvals`` refuses decisions that do not fit."""
    from agentkit.approval import check_approvals, pending_approvals

    ran: list[str] = []
    _, messages, request = await _paused_parent(ran)
    (listed,) = pending_approvals(messages)
    assert (listed.key, listed.agent, listed.args) == ("p1/c1", "support", request.args)
    check_approvals(messages, {request: True})
    with pytest.raises(ApprovalError, match="not waiting"):
        check_approvals(messages, {"p9": True})
    assert pending_approvals([UserMessage(content="hi")]) == ()


def test_set_arguments_are_canonical_under_any_hash_seed() -> None:
    """A set in a call's arguments gives the same canonical text in processes with other
    hash seeds (a set used to be listed in hash order, so an approval saved under one
    seed failed under another)."""
    code = (
        "from agentkit.approval import canonical_arguments\n"
        "tags = {f'tag-{i}' for i in range(40)}\n"
        "print(canonical_arguments({'tags': tags, 'nested': [frozenset({'b', 'a', 'c'})]}))\n"
    )
    seen = set()
    for seed in ("1", "2", "3", "4"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout
        seen.add(out)
    assert len(seen) == 1
    here = canonical_arguments(
        {"tags": {f"tag-{i}" for i in range(40)}, "nested": [frozenset("bac")]}
    )
    assert seen == {here + "\n"}
    assert '"nested":[["a","b","c"]]' in here


async def test_pending_approvals_with_the_agents_tools_bind_what_will_run() -> None:
    """Given the agent's tools, ``pending_approvals`` validates a waiting call's arguments
    (``2`` for a float becomes ``2.0``) so a decision keyed by it resumes the run; the
    model's bare arguments fail closed, since the run validates them before deciding."""
    from agentkit.approval import pending_approvals

    ran: list[str] = []

    @tool(needs_approval=True)
    def ship(order: str, kilos: float) -> str:
        """Ship an order.

        Args:
            order: The order.
            kilos: Its weight.
        """
        ran.append(f"{order} {kilos}")
        return "shipped"

    model = ScriptedModel([tool_calls(("ship", {"order": "A", "kilos": 2}, "s1")), "Shipped."])
    agent = Agent(model, tools=[ship])
    paused = await agent.run("Ship A.")
    (bare,) = pending_approvals(paused.messages)
    (validated,) = pending_approvals(paused.messages, agent.tools)
    assert validated == paused.approvals_needed[0]
    assert (bare.arguments, validated.arguments) == (
        '{"kilos":2,"order":"A"}',
        '{"kilos":2.0,"order":"A"}',
    )
    with pytest.raises(ApprovalError, match="not the ones approved"):
        await agent.run(message_history=paused.messages, approvals={bare: True})
    result = await agent.run(message_history=paused.messages, approvals={validated: True})
    assert result.output == "Shipped." and ran == ["A 2.0"]
