"""One budget ledger per logical run: nested agents, resumed runs, unreported usage."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from agentkit import (
    Agent,
    Message,
    ModelSettings,
    RunContext,
    Usage,
    UsageLimitExceeded,
    UsageLimits,
    UserMessage,
    tool,
)
from agentkit.limits import worst_case
from agentkit.models.base import ModelRequest
from agentkit.models.openai import OpenAIChatModel
from agentkit.testing import ScriptedModel, text, tool_calls
from agentkit.testing.server import LocalModelServer, Reply, reply_text, reply_tool_calls

pytestmark = pytest.mark.anyio


@tool
def look_up(topic: str) -> str:
    """Look a topic up.

    Args:
        topic: What to look up.
    """
    return f"{topic}: nothing new"


def _researcher(answers: int) -> tuple[Agent[Any, str], ScriptedModel]:
    """A child agent whose model calls ``look_up`` ``answers`` times, then answers."""
    script = [tool_calls(("look_up", {"topic": f"t{i}"})) for i in range(answers)]
    model = ScriptedModel([*script, text("Found nothing.")])
    return Agent(model, name="researcher", tools=[look_up]), model


async def test_a_child_agents_requests_are_checked_against_the_parents_budget() -> None:
    """A parent limited to 3 requests sends at most 3 in all, its child's included: the
    child's fourth request is refused before it is sent (it used to let 7 out)."""
    child, child_model = _researcher(5)
    parent_model = ScriptedModel([tool_calls(("researcher", {"prompt": "Dig."})), text("Done.")])
    parent = Agent(parent_model, tools=[child.as_tool()])
    with pytest.raises(UsageLimitExceeded) as caught:
        await parent.run("Research it.", usage_limits=UsageLimits(requests=3))
    sent = len(parent_model.requests) + len(child_model.requests)
    assert sent == 3
    assert caught.value.limit == "requests"
    assert "calling run's requests limit" in str(caught.value)


async def test_a_child_agents_tool_calls_count_in_the_parents_budget() -> None:
    """The parent's ``tool_calls`` budget counts its child's tool calls too; the call that
    would pass it does not run."""
    ran: list[str] = []

    @tool
    def note(line: str) -> str:
        """Write a note.

        Args:
            line: The note.
        """
        ran.append(line)
        return "noted"

    child = Agent(
        ScriptedModel([tool_calls(("note", {"line": "a"}), ("note", {"line": "b"})), "ok"]),
        name="scribe",
        tools=[note],
    )
    parent = Agent(
        ScriptedModel([tool_calls(("scribe", {"prompt": "Note."})), "Done."]),
        tools=[child.as_tool()],
    )
    with pytest.raises(UsageLimitExceeded) as caught:
        await parent.run("Take notes.", usage_limits=UsageLimits(tool_calls=2))
    assert caught.value.limit == "tool_calls"
    assert ran == []


async def test_usage_given_to_a_run_is_counted_on_and_limited() -> None:
    """``usage=`` carries a logical run's usage into the next call: the result's usage is
    the total, and the limits apply to the total (the caller's object is not changed)."""
    earlier = Usage(requests=2, input_tokens=20, output_tokens=10, cost_usd=0.0)
    agent = Agent(ScriptedModel(["One more."]))
    result = await agent.run("Go on.", usage=earlier)
    assert (result.usage.requests, result.usage.input_tokens) == (3, 30)
    assert earlier.requests == 2
    blocked = Agent(ScriptedModel(["Never sent."]))
    with pytest.raises(UsageLimitExceeded) as caught:
        await blocked.run("Go on.", usage=earlier, usage_limits=UsageLimits(requests=2))
    assert caught.value.usage.requests == 2


async def test_a_response_without_usage_is_charged_at_its_worst_case() -> None:
    """A server that reports no usage is charged its request's worst case against the
    budget, never 0: a cost budget that fits one request's worst case refuses the second
    (the unknown cost used to be read as $0 and the run overspent)."""
    silent: list[Reply] = [
        replace(reply_tool_calls(("look_up", {"topic": "x"})), usage=None),
        replace(reply_text("Done."), usage=None),
    ]
    with LocalModelServer(silent, style="mistral") as server:
        model = OpenAIChatModel("mistral-small-2506", base_url=server.base_url, api_key="t")
        agent = Agent(model, tools=[look_up], settings=ModelSettings(max_tokens=200))
        first = worst_case(model, _first_request(agent))
        assert first.cost_usd is not None
        limits = UsageLimits(cost_usd=first.cost_usd * 1.5)  # one worst case, not two
        with pytest.raises(UsageLimitExceeded) as caught:
            await agent.run("Look x up.", usage_limits=limits)
        assert len(server.requests) == 1
    assert caught.value.limit == "cost_usd"
    assert caught.value.usage.unreported == 1


def _first_request(agent: Agent[Any, str]) -> ModelRequest:
    """The first request ``agent`` sends for "Look x up." (as the loop builds it)."""
    messages: list[Message] = [UserMessage(content="Look x up.")]
    return ModelRequest(
        messages=messages,
        tools=tuple(t.definition for t in agent.tools.values()),
        settings=agent.settings,
    )


async def test_a_context_built_outside_a_run_still_gets_the_childs_usage() -> None:
    """An agent tool called with a hand-made ``RunContext`` adds the child's usage to it."""
    child, _ = _researcher(0)
    agent_tool = child.as_tool()
    ctx: RunContext[None] = RunContext(deps=None, usage=Usage(), tool_call_id="x")
    output = await agent_tool.run(ctx, {"prompt": "Dig."})
    assert output == "Found nothing."
    assert ctx.usage.requests == 1
