"""Durable promises that span calls: a budget across approval waits, and an idempotency
key of its own for every call at every depth (DBOS on embedded SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS

from agentkit import Agent, RunContext, UsageLimitExceeded, UsageLimits, tool
from agentkit.durable import DurableAgent
from agentkit.testing import ScriptedModel, text, tool_calls

pytestmark = pytest.mark.anyio


@pytest.fixture
def dbos_app(tmp_path: Path) -> Iterator[None]:
    """DBOS configured on a fresh SQLite file; destroyed (registry too) after the test."""
    DBOS(config={"name": "agentkit-spans", "system_database_url": f"sqlite:///{tmp_path}/d"})
    try:
        yield
    finally:
        DBOS.destroy(destroy_registry=True)


async def test_a_durable_budget_spans_its_approval_waits(dbos_app: None) -> None:
    """Under ``requests=2``, a durable run that pauses for approval after its first request
    sends one more request after the approval, and the third is refused with the total
    reported (each segment used to restart with the full limit: 3 requests, error said 2)."""
    ran: list[int] = []

    @tool(needs_approval=True)
    def refund(order: int) -> str:
        """Refund an order.

        Args:
            order: The order number.
        """
        ran.append(order)
        return f"refunded {order}"

    @tool
    def notify(order: int) -> str:
        """Tell the customer.

        Args:
            order: The order number.
        """
        return "told"

    model = ScriptedModel(
        [
            tool_calls(("refund", {"order": 7})),
            tool_calls(("notify", {"order": 7})),
            text("Refunded and told."),
        ]
    )
    agent = Agent(model, tools=[refund, notify], usage_limits=UsageLimits(requests=2))
    durable = DurableAgent(agent, name="budget")
    DBOS.launch()
    workflow_id = await durable.start("Refund 7", workflow_id="budget-1")
    [request] = await durable.pending(workflow_id, wait_seconds=30)
    await durable.approve(workflow_id, {request: True})
    with pytest.raises(UsageLimitExceeded) as caught:
        await durable.result(workflow_id)
    assert len(model.requests) == 2
    assert ran == [7]
    assert caught.value.limit == "requests"
    assert caught.value.usage.requests == 2


async def test_each_call_of_a_child_agent_gets_its_own_idempotency_key(dbos_app: None) -> None:
    """Inside a durable run, two calls a child agent makes in one turn get distinct keys
    that extend the parent call's key (both used to get the parent's ``keys-1:2``, so a
    payment API deduplicating on it dropped the second charge)."""
    keys: dict[str, str | None] = {}

    @tool
    def charge(ctx: RunContext[Any], account: str) -> str:
        """Charge an account.

        Args:
            account: The account.
        """
        keys[account] = ctx.idempotency_key
        return f"charged {account}"

    child = Agent(
        ScriptedModel(
            [tool_calls(("charge", {"account": "A"}), ("charge", {"account": "B"})), "ok"]
        ),
        name="billing",
        tools=[charge],
    )
    parent = Agent(
        ScriptedModel([tool_calls(("billing", {"prompt": "Charge A and B."})), "Done."]),
        tools=[child.as_tool()],
    )
    durable = DurableAgent(parent, name="keys")
    DBOS.launch()
    result = await durable.run("Charge both.", workflow_id="keys-1")
    assert result.output == "Done."
    assert keys["A"] != keys["B"]
    assert keys == {"A": "keys-1:2/1.0", "B": "keys-1:2/1.1"}
