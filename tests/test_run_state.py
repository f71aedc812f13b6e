"""The run object: what hooks see of it, and the one place a RunContext is built."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from agentkit import Agent, Hooks, RunContext, RunInfo, tool
from agentkit._run.state import Run
from agentkit.events import AgentEvent
from agentkit.testing import ScriptedModel, tool_calls

pytestmark = pytest.mark.anyio


async def test_hooks_see_every_run_info_field_set() -> None:
    """A hook's ``run`` is the ``Run``, with every ``RunInfo`` field set (``Run`` sets them
    itself, not through ``RunInfo``'s generated ``__init__``)."""
    seen: list[RunInfo] = []

    class Watch(Hooks):
        async def on_event(self, run: RunInfo, event: AgentEvent) -> None:
            seen.append(run)

    await Agent(ScriptedModel(["hi"]), hooks=[Watch()]).run("hello")
    run = seen[0]
    assert isinstance(run, Run)
    for f in dataclasses.fields(RunInfo):
        assert hasattr(run, f.name), f.name
    assert run.turn == 1 and run.usage.requests == 1 and run.result is not None


async def test_tools_get_a_context_built_by_the_run() -> None:
    """A tool's ``RunContext`` carries the run's deps, usage, turn, model and its call."""
    got: list[RunContext[Any]] = []

    @tool
    def probe(ctx: RunContext[str]) -> str:
        """Look at the context."""
        got.append(ctx)
        return "ok"

    model = ScriptedModel([tool_calls(("probe", {}, "c1")), "done"])
    result = await Agent(model, tools=[probe]).run("go", deps="my-deps")
    (ctx,) = got
    assert (ctx.deps, ctx.tool_call_id, ctx.tool_name, ctx.turn) == ("my-deps", "c1", "probe", 1)
    assert ctx.model is model and ctx.usage is result.usage
    assert ctx.idempotency_key is None
