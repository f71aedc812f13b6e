"""The run: one object that owns everything a logical run promises.

A ``Run`` is what the hooks see as ``RunInfo`` (agent name, model, deps, the
conversation, usage, turn, result), plus what only the run core reads: the plan, the
hooks, the settings, whether it streams, its budget (a ``Ledger``, chained to the
ledger of the run it is part of), the paused turn it resumes, the counters of the loop,
the tools it knows, and where its idempotency keys come from. Every ``RunContext`` a
tool or validator gets is built here (``context``), so none is built by hand.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from agentkit._errors import UserError
from agentkit._run.plan import AgentConfig, RunPlan
from agentkit.approval._resume import Resume
from agentkit.hooks import Hooks, RequestHandler, RunInfo, ToolHandler
from agentkit.limits import Ledger
from agentkit.messages import Message, ToolCall
from agentkit.models.base import ModelSettings
from agentkit.tools import RunContext, Tool, ToolDefinition

__all__ = ["HookSet", "Run", "load_tools"]


def _overrides(hook: Hooks, method: str) -> bool:
    return getattr(type(hook), method) is not getattr(Hooks, method)


class HookSet:
    """The hooks of one run, sorted by what they override (internal to the loop)."""

    __slots__ = ("events", "requests", "runs", "tools")

    def __init__(self, hooks: Sequence[Hooks]) -> None:
        for hook in hooks:
            if not isinstance(hook, Hooks):
                raise TypeError(
                    f"hooks=[...] takes agentkit.Hooks instances, got {hook!r}; subclass "
                    "agentkit.Hooks and override the methods you need."
                )
        self.runs = [h for h in hooks if _overrides(h, "wrap_run")]
        self.requests = [h for h in hooks if _overrides(h, "wrap_model_request")]
        self.tools = [h for h in hooks if _overrides(h, "wrap_tool_call")]
        self.events = [h for h in hooks if _overrides(h, "on_event")]

    def request_chain(
        self, run: RunInfo, send: RequestHandler, *, leave_out: tuple[type[Hooks], ...] = ()
    ) -> RequestHandler:
        """``send`` wrapped by every request hook, the first outermost (but the hooks of the
        ``leave_out`` types)."""
        handler = send
        for hook in reversed(self.requests):
            if leave_out and isinstance(hook, leave_out):
                continue
            handler = functools.partial(hook.wrap_model_request, run, handler=handler)
        return handler

    def tool_chain(self, run: RunInfo, call: ToolHandler) -> ToolHandler:
        """``call`` wrapped by every tool hook, the first outermost."""
        handler = call
        for hook in reversed(self.tools):
            handler = functools.partial(hook.wrap_tool_call, run, handler=handler)
        return handler


class Run(RunInfo):
    """One run of an agent: its ``RunInfo``, and everything the run core keeps."""

    __slots__ = (
        "attempts",
        "config",
        "failures_in_a_row",
        "hooks",
        "key_base",
        "last_calls",
        "ledger",
        "plan",
        "repeats",
        "resume",
        "settings",
        "stream",
        "tool_defs",
        "tool_retries",
        "tools",
        "toolset_lists",
    )

    def __init__(
        self,
        plan: RunPlan,
        deps: Any,
        hooks: HookSet,
        settings: ModelSettings,
        stream: bool,
        ledger: Ledger,
        key_base: str | None = None,
    ) -> None:
        # RunInfo's fields, set here (its generated __init__ takes keywords: slower)
        self.agent_name = plan.config.name
        self.model = plan.model
        self.deps = deps
        self.messages: list[Message] = []
        self.new_message_index = 0
        self.usage = ledger.usage
        self.turn = 0
        self.result = None
        self.reported = []
        self.session = None
        self.plan = plan
        self.config: AgentConfig = plan.config
        """What the agent was built with."""
        self.hooks = hooks
        self.settings = settings
        self.stream = stream
        self.ledger = ledger
        """The run's budget; ``usage`` is its reported usage."""
        self.resume: Resume | None = None
        """The paused turn this run resumes with, until its calls are classified."""
        self.key_base = key_base
        """The idempotency key of the call this run runs under (an agent used as a tool
        in a durable run): its own calls' keys extend it."""
        self.failures_in_a_row = 0
        self.attempts: list[str] = []
        """The feedback of each failed attempt since the last good turn."""
        self.tool_retries: dict[str, int] = {}
        """Failures in a row per tool name (``RunContext.retry``)."""
        self.last_calls: tuple[tuple[str, str], ...] = ()
        self.repeats = 0
        """How many turns in a row the model made exactly ``last_calls``."""
        self.tools: Mapping[str, Tool[Any]] = {}
        """The run's tools by name: the plan's, plus its toolsets' as last listed."""
        self.tool_defs: tuple[ToolDefinition, ...] = ()
        """What the model is told about them (the final-result tool included)."""
        self.toolset_lists: tuple[Sequence[Tool[Any]], ...] | None = None
        """The toolsets' lists ``tools`` was built from (rebuilt when one changes)."""

    def context(
        self,
        call: ToolCall | None = None,
        *,
        index: int = 0,
        messages: list[Message] | None = None,
    ) -> RunContext[Any]:
        """The ``RunContext`` of a tool call (``call``, at ``index`` in its turn) or of an
        output validator (no call)."""
        ctx: RunContext[Any] = RunContext(
            deps=self.deps,
            usage=self.usage,
            messages=self.messages if messages is None else messages,
            turn=self.turn,
            model=self.model,
        )
        ctx._run = self
        if call is not None:
            ctx.tool_call_id = call.id
            ctx.tool_name = call.name
            ctx.retry = self.tool_retries.get(call.name, 0)
            if self.key_base is not None:
                ctx._key = f"{self.key_base}/{self.turn}.{index}"
        return ctx


async def load_tools(run: Run) -> None:
    """Bring the run's tools up to date before a turn: the plan's, and each toolset's
    current list (the map is rebuilt only when a toolset's list changed)."""
    plan = run.plan
    config = plan.config
    if not config.toolsets:
        if run.toolset_lists is None:
            run.tools, run.tool_defs, run.toolset_lists = config.tools, plan.tools, ()
        return
    lists = tuple([await toolset.list_tools() for toolset in config.toolsets])
    previous = run.toolset_lists
    if previous is not None and _same(lists, previous):
        return
    built = plan.toolset_tools
    if built and _same(lists, built[0][0]):  # another run built these already
        run.toolset_lists, run.tools, run.tool_defs = built[0]
        return
    tools = dict(config.tools)
    added: list[ToolDefinition] = []
    for toolset, listed in zip(config.toolsets, lists, strict=True):
        for t in listed:
            if t.name in tools:
                raise UserError(
                    f"two tools are named {t.name!r}: one from {toolset!r} and one from "
                    f"{_origin(config, tools[t.name])}. Rename one: give the toolset a prefix "
                    "(.prefixed('name')) or filter it (.filtered(...))."
                )
            tools[t.name] = t
            added.append(t.definition)
    run.tools, run.toolset_lists = tools, lists
    run.tool_defs = (*plan.tools, *added)
    plan.toolset_tools[:] = [(lists, tools, run.tool_defs)]


def _same(lists: Sequence[Sequence[Tool[Any]]], others: Sequence[Sequence[Tool[Any]]]) -> bool:
    return all(a is b for a, b in zip(lists, others, strict=True))


def _origin(config: AgentConfig, t: Tool[Any]) -> str:
    if config.tools.get(t.name) is t:
        return "the agent's tools"
    return "another toolset"
