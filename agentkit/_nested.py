"""An agent used as a tool of another (``Agent.as_tool``).

The child runs inside the parent's tool call: with the parent's deps, its usage added
to the parent's as it goes, its events sent into the parent's stream (wrapped in
``AgentToolEvent``), and cancelled with the parent. When the child pauses for approvals,
the call returns a ``ToolResult`` with the child's ``PausedRun``: the parent's call stays
unanswered and the parent pauses too, with the child's requests. Resuming the parent
runs the call again with a ``ResumedRun`` (``RunContext.resumed``), which resumes the
child from its paused conversation with the decisions meant for it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from agentkit._approvals import paused_calls
from agentkit.events import AgentEvent, AgentToolEvent, FinalResultEvent, ModelResponseEvent
from agentkit.hooks import ToolResult
from agentkit.messages import PausedRun
from agentkit.tools import RunContext, Tool

if TYPE_CHECKING:
    from agentkit.agent import Agent

__all__ = ["agent_tool"]


def agent_tool(agent: Agent[Any, Any], name: str | None, description: str | None) -> Tool[Any]:
    """``agent`` as a tool taking one argument, ``prompt`` (see ``Agent.as_tool``)."""

    async def run_agent(ctx: RunContext[Any], prompt: str) -> Any:
        resumed = ctx.resumed
        events: AsyncGenerator[AgentEvent, None] = agent._events(
            None if resumed is not None else prompt,
            message_history=None if resumed is None else list(resumed.paused.messages),
            deps=ctx.deps,
            settings=None,
            model=None,
            hooks=(),
            stream=ctx.streaming,
            approvals=None if resumed is None else resumed.approvals,
        )
        call_id = ctx.tool_call_id or ""
        async with aclosing(events):
            async for event in events:
                if isinstance(event, ModelResponseEvent):
                    ctx.usage.add(event.response.usage)
                if ctx.emit is not None:
                    await ctx.emit(AgentToolEvent(agent.name, call_id, event))
                if isinstance(event, FinalResultEvent):
                    result = event.result
                    if not result.is_paused:
                        return result.output
                    names = ", ".join(r.tool_name for r in result.approvals_needed)
                    paused = PausedRun(
                        tool_call_id=call_id,
                        agent=agent.name,
                        messages=tuple(result.messages),
                        waiting=paused_calls(result.approvals_needed),
                    )
                    return ToolResult(
                        f"The {agent.name} agent waits for approval of {names}.", paused=paused
                    )
        raise AssertionError("the run ended without a result")  # pragma: no cover

    run_agent.__doc__ = f"""Ask the {agent.name} agent.

    Args:
        prompt: What to ask the {agent.name} agent, with everything it needs to know.
    """
    t: Tool[Any] = Tool(
        run_agent,
        name=name or agent.name,
        description=description or f"Ask the {agent.name} agent; it answers in one reply.",
    )
    t.emits_events = True
    return t
