"""Durable runs in this process, on embedded SQLite: step order, approvals, the edges, and
the promises that span calls (a budget across approval waits, a key for every call)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from dbos import DBOS

from agentkit import (
    Agent,
    ApprovalError,
    ApprovalRequest,
    Denied,
    RunContext,
    UsageLimitExceeded,
    UsageLimits,
    tool,
)
from agentkit._errors import ConfigurationError, UserError
from agentkit.durable import DurableAgent
from agentkit.testing import ScriptedModel, text, tool_calls

pytestmark = pytest.mark.anyio


@pytest.fixture
def dbos_app(tmp_path: Path) -> Iterator[None]:
    """DBOS configured on a fresh SQLite file; destroyed (registry too) after the test."""
    DBOS(config={"name": "agentkit-inprocess", "system_database_url": f"sqlite:///{tmp_path}/d"})
    try:
        yield
    finally:
        DBOS.destroy(destroy_registry=True)


async def test_parallel_calls_are_steps_in_call_order(dbos_app: None) -> None:
    """Parallel tool calls of one turn run at step ids in call order even when the first
    finishes last, and a finished workflow id returns its result with no new request."""
    second_done = anyio.Event()
    finished: list[str] = []

    @tool
    async def slow(ctx: RunContext[Any]) -> str:
        """Finish after fast."""
        await second_done.wait()
        finished.append("slow")
        return f"slow {ctx.idempotency_key}"

    @tool
    async def fast(ctx: RunContext[Any]) -> str:
        """Finish at once."""
        finished.append("fast")
        second_done.set()
        return f"fast {ctx.idempotency_key}"

    model = ScriptedModel([tool_calls(("slow", {}), ("fast", {})), text("both")])
    durable = DurableAgent(Agent(model, tools=[slow, fast]), name="parallel")
    DBOS.launch()
    result = await durable.run("go", workflow_id="par-1")
    assert result.output == "both"
    assert finished == ["fast", "slow"]
    steps = await DBOS.list_workflow_steps_async("par-1")
    names = [s["function_name"] for s in sorted(steps, key=lambda s: s["function_id"])]
    assert names == [
        "agentkit.model_request:scripted",
        "agentkit.tool_call:slow",
        "agentkit.tool_call:fast",
        "agentkit.model_request:scripted",
    ]
    answers = [m.content for m in result.messages if m.role == "tool"]
    assert answers == ["slow par-1:2", "fast par-1:3"]  # workflow id : step id

    again = await durable.run("go", workflow_id="par-1")
    assert again.output == "both" and len(model.requests) == 2


def _refund_tool(ran: list[int]) -> Any:
    """A ``refund`` tool that needs approval and records the orders it refunded."""

    @tool(needs_approval=True)
    def refund(order: int) -> str:
        """Refund an order.

        Args:
            order: The order number.
        """
        ran.append(order)
        return "refunded"

    return refund


@pytest.mark.slow  # > 3 s
async def test_approvals_are_checked_then_resume_the_workflow(dbos_app: None) -> None:
    """``approve()`` refuses an id that is not waiting and a request with other arguments
    (nothing sent); a denial resumes the run, the tool does not run, usage adds up."""
    ran: list[int] = []
    refund = _refund_tool(ran)

    model = ScriptedModel([tool_calls(("refund", {"order": 7})), text("Not refunded.")])
    durable = DurableAgent(Agent(model, tools=[refund]), name="approvals")
    DBOS.launch()
    workflow_id = await durable.start("Refund 7", workflow_id="appr-1")
    [request] = await durable.pending(workflow_id, wait_seconds=30)
    assert (request.tool_name, request.args) == ("refund", {"order": 7})

    with pytest.raises(ApprovalError, match="not waiting"):
        await durable.approve(workflow_id, {"nope": True})
    tampered = ApprovalRequest(request.tool_call_id, "refund", '{"order":8}')
    with pytest.raises(ApprovalError, match="other arguments"):
        await durable.approve(workflow_id, {tampered: True})

    await durable.approve(workflow_id, {request: Denied("Not today.")})
    result = await durable.result(workflow_id)
    assert result.output == "Not refunded."
    assert ran == []
    assert result.usage.requests == 2
    assert await durable.pending(workflow_id) == ()
    tool_answer = next(m for m in result.messages if m.role == "tool")
    assert tool_answer.content == "Denied: Not today."


async def test_approval_wait_times_out_closed(dbos_app: None) -> None:
    """A run whose approval wait runs out ends with ``ApprovalError`` carrying the paused
    conversation, and the tool never ran."""
    ran: list[int] = []
    refund = _refund_tool(ran)

    model = ScriptedModel([tool_calls(("refund", {"order": 7}))])
    durable = DurableAgent(Agent(model, tools=[refund]), name="timeout", approval_timeout=0.2)
    DBOS.launch()
    with pytest.raises(ApprovalError, match="approval_timeout") as info:
        await durable.run("Refund 7", workflow_id="late-1")
    assert ran == []
    assert info.value.messages is not None and info.value.messages[-1].role == "assistant"


async def test_run_stream_says_why_it_is_not_offered(dbos_app: None) -> None:
    """``run_stream`` on a durable agent raises ``ConfigurationError`` naming what to use."""
    durable = DurableAgent(Agent(ScriptedModel([])), name="nostream")
    with pytest.raises(ConfigurationError, match=r"durable\.run"):
        durable.run_stream("hi")


async def test_enqueue_without_a_queue_says_what_to_do(dbos_app: None) -> None:
    """``enqueue()`` before any queue is registered tells the user to register one."""
    durable = DurableAgent(Agent(ScriptedModel([])), name="noqueue")
    DBOS.launch()
    with pytest.raises(UserError, match="register_queue"):
        await durable.enqueue("hi")


async def test_idempotency_key_is_none_outside_durable_runs() -> None:
    """A plain (not durable) run gives its tools no idempotency key."""

    @tool
    def key(ctx: RunContext[Any]) -> str:
        """The key."""
        return str(ctx.idempotency_key)

    model = ScriptedModel([tool_calls(("key", {})), text("ok")])
    result = await Agent(model, tools=[key]).run("go")
    assert [m.content for m in result.messages if m.role == "tool"] == ["None"]


async def test_usage_limits_end_a_durable_run_with_the_typed_error(dbos_app: None) -> None:
    """A durable run past its usage limit raises ``UsageLimitExceeded`` (recorded by DBOS
    and rebuilt intact: limit and conversation), and the tool did not run."""
    ran: list[str] = []

    @tool
    def work() -> str:
        """Work."""
        ran.append("work")
        return "done"

    model = ScriptedModel([tool_calls(("work", {}), ("work", {}))])
    durable = DurableAgent(Agent(model, tools=[work]), name="limits")
    DBOS.launch()
    with pytest.raises(UsageLimitExceeded) as info:
        await durable.run("go", workflow_id="lim-1", usage_limits=UsageLimits(tool_calls=1))
    assert info.value.limit == "tool_calls"
    assert info.value.messages is not None  # valid to send again: the refused calls left out
    assert [m.role for m in info.value.messages] == ["user"]
    assert ran == []
    with pytest.raises(UsageLimitExceeded):  # the recorded error, again, with no request
        await durable.run("go", workflow_id="lim-1")
    assert len(model.requests) == 1


@pytest.mark.slow  # > 3 s
async def test_a_child_agents_approval_pauses_and_resumes_the_durable_run(dbos_app: None) -> None:
    """In a durable run, a child agent's call needing approval is listed by ``pending()``
    with its agent and the parent's call id; approving it resumes the child in the
    workflow, and the approved call runs once."""
    ran: list[int] = []
    refund = _refund_tool(ran)

    child = Agent(
        ScriptedModel([tool_calls(("refund", {"order": 7}, "c1")), text("Refunded 7.")]),
        name="support",
        tools=[refund],
    )
    parent_model = ScriptedModel(
        [tool_calls(("support", {"prompt": "Refund 7"}, "p1")), text("Done.")]
    )
    durable = DurableAgent(Agent(parent_model, tools=[child.as_tool()]), name="nested")
    DBOS.launch()
    workflow_id = await durable.start("Refund 7", workflow_id="nested-1")
    [request] = await durable.pending(workflow_id, wait_seconds=30)
    assert (request.key, request.agent, request.args) == ("p1/c1", "support", {"order": 7})
    assert ran == []
    await durable.approve(workflow_id, {request: True})
    result = await durable.result(workflow_id)
    assert result.output == "Done." and ran == [7]
    answers = [m.content for m in result.messages if m.role == "tool"]
    assert answers == ["Refunded 7."]


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


async def test_thinking_survives_durable_steps(dbos_app: None) -> None:
    """A reasoning answer's thinking is kept in the recorded model steps: the finished
    workflow's result, read back from DBOS, still has every ThinkingPart."""
    from agentkit import AssistantMessage, ThinkingPart

    model = ScriptedModel(
        [
            tool_calls(("lookup", {}), thinking="Look it up first."),
            text("found", thinking="The lookup answered."),
        ]
    )

    @tool
    def lookup() -> str:
        """Look something up."""
        return "42"

    durable = DurableAgent(Agent(model, tools=[lookup]), name="thinking")
    DBOS.launch()
    result = await durable.run("go", workflow_id="think-1")
    again = await durable.result("think-1")
    for run in (result, again):
        thoughts = [m.thinking for m in run.messages if isinstance(m, AssistantMessage)]
        assert thoughts == [
            (ThinkingPart(text="Look it up first."),),
            (ThinkingPart(text="The lookup answered."),),
        ]
    steps = await DBOS.list_workflow_steps_async("think-1")
    recorded = [s["output"] for s in sorted(steps, key=lambda s: s["function_id"])]
    first = recorded[0]
    assert first is not None and first.message.thinking == (ThinkingPart(text="Look it up first."),)
    assert len(model.requests) == 2
