"""An agent used as a tool of another (``Agent.as_tool``).

The child runs inside the parent's tool call, through the child agent's ``Runner``, as
part of the parent's run: with the parent's deps, its budget a ledger chained to the
parent's (each of its requests and tool calls is checked against the parent's budget
too, before it happens, and counted in it), its idempotency keys extending the parent
call's, its events sent into the parent's stream (wrapped in ``AgentToolEvent``), and
cancelled with the parent. When the child pauses for approvals, the call returns a
``ToolResult`` with the child's ``PausedRun`` (bound to the parent call's tool name and
arguments): the parent's call stays unanswered and the parent pauses too, with the
child's requests. Resuming the parent runs the call again with a ``ResumedRun``
(``RunContext.resumed``), which resumes the child from its paused conversation with
the decisions meant for it.
"""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

from agentkit._errors import UsageLimitExceeded
from agentkit._run.start import Runner
from agentkit.approval._resume import paused_calls
from agentkit.approval._types import canonical_arguments
from agentkit.events import AgentToolEvent, FinalResultEvent
from agentkit.hooks import ToolResult
from agentkit.messages import PausedRun
from agentkit.tools import RunContext, Tool

__all__ = ["agent_tool"]


def agent_tool(runner: Runner, name: str | None, description: str | None) -> Tool[Any]:
    """The agent of ``runner`` as a tool taking one argument, ``prompt`` (see
    ``Agent.as_tool``)."""
    agent_name = runner.name

    async def run_agent(ctx: RunContext[Any], prompt: str) -> Any:
        resumed = ctx.resumed
        events = runner.events(
            None if resumed is not None else prompt,
            message_history=None if resumed is None else list(resumed.paused.messages),
            deps=ctx.deps,
            # A child built without a model runs on the parent's (an override included).
            model=ctx.model if runner.model_spec is None else None,
            stream=ctx.streaming,
            approvals=None if resumed is None else resumed.approvals,
            parent=ctx,
        )
        call_id = ctx.tool_call_id or ""
        try:
            async with aclosing(events):
                async for event in events:
                    if ctx.emit is not None:
                        await ctx.emit(AgentToolEvent(agent_name, call_id, event))
                    if isinstance(event, FinalResultEvent):
                        result = event.result
                        if not result.is_paused:
                            return result.output
                        names = ", ".join(r.tool_name for r in result.approvals_needed)
                        paused = PausedRun(
                            tool_call_id=call_id,
                            agent=agent_name,
                            messages=tuple(result.messages),
                            waiting=paused_calls(result.approvals_needed),
                            tool_name=ctx.tool_name or "",
                            arguments=canonical_arguments({"prompt": prompt}),
                        )
                        return ToolResult(
                            f"The {agent_name} agent waits for approval of {names}.", paused=paused
                        )
        except UsageLimitExceeded as exc:  # a budget of the logical run: it ends the caller
            exc.messages = None  # the caller's conversation is set as the error leaves it
            raise
        raise AssertionError("the run ended without a result")  # pragma: no cover

    run_agent.__doc__ = f"""Ask the {agent_name} agent.

    Args:
        prompt: What to ask the {agent_name} agent, with everything it needs to know.
    """
    t: Tool[Any] = Tool(
        run_agent,
        name=name or agent_name,
        description=description or f"Ask the {agent_name} agent; it answers in one reply.",
    )
    t.emits_events = True
    return t
