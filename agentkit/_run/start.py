"""Starting a run: the ``Runner`` every run of one agent goes through.

A ``Runner`` holds what an agent's runs share: what the agent was built with, its hooks,
the run plan per model, the models built from model strings, and what ``async with
agent:`` holds open. ``Runner.events`` sets one run up and runs the loop:

1. the plan for the model; the prompt checked against it (vision);
2. the session's history loaded (if any); the model (unless it is ``loop_scoped``) and
   toolsets held open; the tools listed;
3. the history checked (``check_history``, for fresh and resumed runs alike), the
   agent's system message put first, the paused turn taken off with its decisions
   (``prepare_resume``);
4. the ``Run`` built: its ledger chained to the calling run's (an agent used as a tool),
   its hooks (the agent's, the run's, the default context window, and the limits hook
   innermost when any budget applies);
5. the session's paused turn claimed (before anything runs); the hooks' ``wrap_run``
   entered; the loop's events handed out; the turn stored in the session at the end.

An agent used as a tool runs through its ``Runner`` too (``agentkit._run.nested``), with
the calling tool call's ``RunContext`` as ``parent``.
"""

from __future__ import annotations

import operator
from collections.abc import AsyncGenerator, Iterator, Sequence
from contextlib import AsyncExitStack, aclosing, contextmanager
from dataclasses import replace
from typing import Any

import anyio

from agentkit._errors import AgentkitError, UserError
from agentkit._run.history import (
    Session,
    SessionTurn,
    check_history,
    open_session,
    session_cache_key,
)
from agentkit._run.loop import run_events
from agentkit._run.plan import AgentConfig, RunPlan, build_plan
from agentkit._run.state import HookSet, Run, load_tools
from agentkit.approval._resume import prepare_resume
from agentkit.approval._types import Approvals
from agentkit.context import window_hooks
from agentkit.events import AgentEvent, FinalResultEvent
from agentkit.hooks import Hooks
from agentkit.limits import Ledger, UsageLimitsHook
from agentkit.messages import ContentPart, Message, SystemMessage, UserMessage
from agentkit.models.base import Model, ModelSettings, loop_scoped
from agentkit.tools import RunContext, Toolset
from agentkit.usage import Usage, UsageLimits

__all__ = ["Prompt", "Runner", "user_message"]

Prompt = str | Sequence[ContentPart] | UserMessage
"""A user turn: text, a list of text and image parts, or a ready ``UserMessage``."""

_PLAN_CACHE = 16
"""How many models' run plans a runner keeps (per-run models would otherwise pile up)."""


class Runner:
    """What one agent's runs share, and how each of them starts (see the module docs)."""

    def __init__(self, config: AgentConfig, hooks: Sequence[Hooks], model: Model | str | None):
        self.config = config
        self.hooks = tuple(hooks)
        HookSet(self.hooks)  # checks them: a TypeError names what is not a Hooks
        if isinstance(model, str):  # a mistyped model fails when the agent is built
            from agentkit.models.infer import check_model_string

            check_model_string(model)
        self.model_spec = model
        self._model: Model | None = None
        self._override: Model | None = None
        self._plans: dict[int, RunPlan] = {}
        """Static request parts per model (by identity), at most ``_PLAN_CACHE`` of them."""
        self._inferred: dict[str, Model] = {}
        """Models built from per-run model strings, reused by later runs."""
        self._stack: AsyncExitStack | None = None
        """Models opened during ``async with agent:`` (closed shielded at its end)."""
        self._toolset_stack: AsyncExitStack | None = None
        """Toolsets connected by ``async with agent:`` (closed in the scope they opened in)."""
        self._held: list[object] = []
        self._depth = 0

    @property
    def name(self) -> str:
        """The agent's name."""
        return self.config.name

    # -- lifecycle ----------------------------------------------------------------------

    async def open(self) -> None:
        """Hold every model and toolset the agent uses open until ``close()``."""
        if self._depth == 0:
            toolsets = AsyncExitStack()
            try:
                for toolset in self.config.toolsets:
                    await toolsets.enter_async_context(toolset)
                    self._held.append(toolset)
            except BaseException:
                self._held.clear()
                await toolsets.aclose()
                raise
            self._toolset_stack, self._stack = toolsets, AsyncExitStack()
        self._depth += 1

    async def close(self) -> None:
        """Close what was opened since ``open()``."""
        self._depth -= 1
        if self._depth == 0 and self._stack is not None:
            stack, self._stack = self._stack, None
            toolsets, self._toolset_stack = self._toolset_stack, None
            self._held.clear()
            try:
                with anyio.CancelScope(shield=True):
                    await stack.aclose()
            finally:
                if toolsets is not None:  # a task group ends in its own scope, unshielded
                    await toolsets.aclose()

    @contextmanager
    def override(self, model: Model | str) -> Iterator[None]:
        """Runs use ``model`` inside the block (see ``Agent.override``)."""
        if isinstance(model, str):
            model = self._infer_cached(model)
        previous = self._override
        self._override = model
        try:
            yield
        finally:
            self._override = previous

    # -- plans and models -----------------------------------------------------------------

    def plan(self, model: Model | str | None) -> RunPlan:
        """The run plan on ``model`` (a run's ``model=``, else the agent's)."""
        resolved = self._resolve_model(model)
        plan = self._plans.get(id(resolved))
        if plan is not None and plan.model is resolved:
            return plan
        plan = build_plan(self.config, resolved)
        if len(self._plans) >= _PLAN_CACHE:
            self._plans.pop(next(iter(self._plans)))
        self._plans[id(resolved)] = plan
        return plan

    def _resolve_model(self, model: Model | str | None) -> Model:
        if self._override is not None:
            return self._override
        if isinstance(model, str):
            return self._infer_cached(model)
        if model is not None:
            return model
        if self._model is None:
            spec = self.model_spec
            self._model = spec if spec is not None and not isinstance(spec, str) else _infer(spec)
        return self._model

    def _infer_cached(self, spec: str) -> Model:
        inferred = self._inferred.get(spec)
        if inferred is None:
            inferred = self._inferred[spec] = _infer(spec)
        return inferred

    # -- one run ----------------------------------------------------------------------------

    async def events(
        self,
        prompt: Prompt | None,
        *,
        message_history: Sequence[Message] | None = None,
        deps: Any = None,
        settings: ModelSettings | None = None,
        model: Model | str | None = None,
        hooks: Sequence[Hooks] = (),
        stream: bool = False,
        usage_limits: UsageLimits | None = None,
        approvals: Approvals | None = None,
        session: Session | None = None,
        usage: Usage | None = None,
        parent: RunContext[Any] | None = None,
        holder: list[Run] | None = None,
    ) -> AsyncGenerator[AgentEvent, None]:
        """One run's events; the last is its ``FinalResultEvent`` (see the module docs)."""
        plan = self.plan(model)
        user = None if prompt is None else user_message(prompt)
        if user is not None:
            plan.check_media(user)
        turn: SessionTurn | None = None
        if session is not None:
            message_history, turn = await open_session(session, message_history)
        history = list(message_history or ())
        limits = usage_limits if usage_limits is not None else self.config.usage_limits
        ledger = Ledger(
            limits,
            parent=None if parent is None else _parent_ledger(parent),
            usage=None if usage is None else replace(usage),  # the caller's is not changed
        )
        hook_set = self._hook_set(plan, hooks, ledger)
        final: FinalResultEvent | None = None
        try:
            async with AsyncExitStack() as stack:
                await self._hold(stack, plan.model)
                for toolset in plan.config.toolsets:
                    await self._hold(stack, toolset)
                run = Run(
                    plan,
                    deps,
                    hook_set,
                    _with_cache_key(self.config.settings.merged(settings), plan.model, session),
                    stream,
                    ledger,
                    None if parent is None else parent.idempotency_key,
                )
                run.session = session
                await load_tools(run)
                history, repaired = check_history(
                    history,
                    lambda name: _waits_for_approval(run, name),
                    resuming=approvals is not None,
                )
                # The agent's instructions lead every request, unless the history has its own.
                offset = int(plan.system is not None and not _has_system(history))
                if offset:
                    history.insert(0, plan.system)  # type: ignore[arg-type]
                history, run.resume = prepare_resume(history, approvals, user)
                if run.resume is None and user is None:
                    raise UserError(
                        "run() needs a prompt, unless it resumes a paused run (message_history "
                        "ending with tool calls that wait for approval)."
                    )
                run.messages = history
                run.new_message_index = len(history) if len(history) > offset else 0
                if run.resume is None and user is not None:
                    history.append(user)
                if holder is not None:
                    holder.append(run)
                if turn is not None and run.resume is not None:
                    await turn.claim_paused()  # before anything runs
                for hook in hook_set.runs:
                    await stack.enter_async_context(hook.wrap_run(run))
                if repaired is not None:
                    for hook in hook_set.events:
                        await hook.on_event(run, repaired)
                    yield repaired
                async with aclosing(run_events(run)) as events:
                    try:
                        async for event in events:
                            for hook in hook_set.events:
                                await hook.on_event(run, event)
                            if isinstance(event, FinalResultEvent):
                                final = event  # given out once the run's scopes have closed
                                break
                            yield event
                        if run.reported:  # by on_event of the final
                            async for reported in _reported(run):
                                yield reported
                    except AgentkitError:  # what hooks reported before they ended the run
                        async for reported in _reported(run):
                            yield reported
                        raise
            if final is not None:
                if turn is not None:  # one transaction; a failed or cancelled run stores nothing
                    await turn.save(final.result, offset)
                yield final
        finally:
            if turn is not None:
                await turn.release()  # the claim of a run that stored nothing

    def _hook_set(self, plan: RunPlan, hooks: Sequence[Hooks], ledger: Ledger) -> HookSet:
        """The run's hooks: the agent's, the run's, the default context window, and the
        limits hook innermost (it checks exactly what is sent) when a budget applies.

        Without a budget the set is reused: built once per plan for a run that adds no
        hooks, and kept for the next run that adds the very same hook objects (an
        evaluation, a server passing one tracing hook to every run)."""
        limited = ledger.limited
        built: HookSet
        if not hooks and not limited:  # the agent's own hooks: built once per plan
            if not plan.plain_hooks:
                inner = window_hooks(plan.model, self.hooks)
                plan.plain_hooks.append(HookSet([*self.hooks, *inner]))
            built = plan.plain_hooks[0]
            return built
        if not limited and plan.run_hooks:
            last, built = plan.run_hooks[0]
            if len(last) == len(hooks) and all(map(operator.is_, last, hooks)):
                return built
        inner = window_hooks(plan.model, [*self.hooks, *hooks])
        if limited:
            inner.append(UsageLimitsHook(ledger))
            return HookSet([*self.hooks, *hooks, *inner])
        built = HookSet([*self.hooks, *hooks, *inner])
        plan.run_hooks[:] = [(tuple(hooks), built)]
        return built

    async def _hold(self, run_stack: AsyncExitStack, resource: Model | Toolset) -> None:
        """Keep a model or toolset open for the run, or for the agent's ``async with`` block.

        A ``loop_scoped`` model is not held per run: runs on one event loop share its
        connections, closed when the loop ends."""
        agent_stack = self._stack
        if agent_stack is None:
            if not loop_scoped(resource):
                await run_stack.enter_async_context(resource)
        elif not any(held is resource for held in self._held):
            self._held.append(resource)
            await agent_stack.enter_async_context(resource)


def user_message(prompt: Prompt) -> UserMessage:
    """A prompt as the user message it sends."""
    if isinstance(prompt, UserMessage):
        return prompt
    if isinstance(prompt, str):
        return UserMessage(content=prompt)
    return UserMessage(content=tuple(prompt))


def _infer(spec: str | None) -> Model:
    from agentkit.models.infer import infer_model

    return infer_model(spec)


def _parent_ledger(parent: RunContext[Any]) -> Ledger:
    """The ledger of the run a nested run is part of (a context built outside a run
    still adds the nested run's usage to its ``usage``)."""
    run = parent._run
    if isinstance(run, Run):
        return run.ledger
    return Ledger(usage=parent.usage)


async def _reported(run: Run) -> AsyncGenerator[AgentEvent, None]:
    """The events hooks reported that are not given out yet, each seen by ``on_event``."""
    for event in run.take_reported():
        for hook in run.hooks.events:
            await hook.on_event(run, event)
        yield event


def _waits_for_approval(run: Run, name: str) -> bool:
    known = run.tools.get(name)
    return known is not None and known.needs_approval is not False


def _has_system(history: Sequence[Message]) -> bool:
    return bool(history) and isinstance(history[0], SystemMessage)


def _with_cache_key(
    settings: ModelSettings, model: Model, session: Session | None
) -> ModelSettings:
    """The run's settings, with the session's stable ``prompt_cache_key`` unless the run's
    or the model's own settings set one."""
    if session is None or settings.prompt_cache_key is not None:
        return settings
    own = getattr(model, "settings", None)
    if isinstance(own, ModelSettings) and own.prompt_cache_key is not None:
        return settings
    key = session_cache_key(session)
    return settings if key is None else replace(settings, prompt_cache_key=key)
