"""The agent: a model, instructions, tools, an output type, and how a run is started.

``run_stream()`` hands the loop's events (``agentkit._loop``) to the caller; ``run()``
consumes the same events and returns the result; ``run_sync()`` runs ``run()`` in a
fresh event loop. There is one loop.

Lifecycle: a run holds its model's connections open while it runs and closes them at
its end. ``async with agent:`` holds them across runs instead, and closes everything
the agent used when the block ends.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, aclosing, asynccontextmanager, contextmanager
from functools import partial
from typing import Any, Generic, Self, overload

import anyio
from typing_extensions import TypeVar

from agentkit._approvals import prepare_resume
from agentkit._errors import AgentkitError, AgentRunError, ConfigurationError, UserError
from agentkit._loop import run_events
from agentkit._memory import Session, SessionTurn, check_history, open_session
from agentkit._nested import agent_tool
from agentkit._plan import AgentConfig, RunPlan, RunState, build_plan
from agentkit._window import window_hooks
from agentkit.approval import Approvals
from agentkit.events import (
    AgentEvent,
    FinalResultEvent,
    RunResult,
)
from agentkit.hooks import Hooks, HookSet
from agentkit.limits import UsageLimitsHook
from agentkit.messages import ContentPart, Message, SystemMessage, UserMessage
from agentkit.models.base import Model, ModelSettings
from agentkit.output import OUTPUT_TOOL_NAME, OutputMode, OutputSchema
from agentkit.tools import Tool, Toolset, split_tools
from agentkit.usage import UsageLimits

__all__ = ["Agent", "RunStream"]

DepsT = TypeVar("DepsT", default=Any)
OutputT = TypeVar("OutputT", default=str)

Prompt = str | Sequence[ContentPart] | UserMessage
"""A user turn: text, a list of text and image parts, or a ready ``UserMessage``."""

_PLAN_CACHE = 16
"""How many models' run plans an agent keeps (per-run models would otherwise pile up)."""


class Agent(Generic[DepsT, OutputT]):
    """An assistant: a model, instructions, tools and an output type.

    ``model`` is a ``Model``, a model string such as ``"mistral:mistral-small-2506"``
    or ``"opper:mistral/mistral-small-2506"``, or ``None`` for Mistral Small 3.2
    through whichever API key is set. It is resolved at the first run. ``hooks`` wrap
    every run, model request and tool call (see ``agentkit.Hooks``). ``usage_limits``
    are budgets every run keeps to (see ``agentkit.UsageLimits``).
    """

    @overload
    def __init__(
        self: Agent[DepsT, OutputT],
        model: Model | str | None = None,
        *,
        instructions: str | None = None,
        tools: Sequence[Tool[Any] | Callable[..., Any] | Toolset] = (),
        output_type: type[OutputT] = ...,
        output_mode: OutputMode | None = None,
        retries: int = 3,
        max_turns: int = 20,
        settings: ModelSettings | None = None,
        raise_tool_errors: bool = False,
        hooks: Sequence[Hooks] = (),
        usage_limits: UsageLimits | None = None,
        name: str = "agent",
    ) -> None: ...

    @overload
    def __init__(
        self: Agent[DepsT, Any],
        model: Model | str | None = None,
        *,
        instructions: str | None = None,
        tools: Sequence[Tool[Any] | Callable[..., Any] | Toolset] = (),
        output_type: Any,
        output_mode: OutputMode | None = None,
        retries: int = 3,
        max_turns: int = 20,
        settings: ModelSettings | None = None,
        raise_tool_errors: bool = False,
        hooks: Sequence[Hooks] = (),
        usage_limits: UsageLimits | None = None,
        name: str = "agent",
    ) -> None: ...

    def __init__(
        self,
        model: Model | str | None = None,
        *,
        instructions: str | None = None,
        tools: Sequence[Tool[Any] | Callable[..., Any] | Toolset] = (),
        output_type: Any = str,
        output_mode: OutputMode | None = None,
        retries: int = 3,
        max_turns: int = 20,
        settings: ModelSettings | None = None,
        raise_tool_errors: bool = False,
        hooks: Sequence[Hooks] = (),
        usage_limits: UsageLimits | None = None,
        name: str = "agent",
    ) -> None:
        if retries < 0:
            raise ConfigurationError(f"retries must be 0 or more, got {retries}")
        if max_turns < 1:
            raise ConfigurationError(f"max_turns must be 1 or more, got {max_turns}")
        tool_map, toolsets = split_tools(tools)
        output: OutputSchema[OutputT] = OutputSchema(output_type, mode=output_mode)
        if not output.is_text and OUTPUT_TOOL_NAME in tool_map:
            raise UserError(
                f"A tool is named {OUTPUT_TOOL_NAME!r}, the name agentkit gives the final-result "
                "tool of a structured output; rename that tool."
            )
        self.name = name
        self._config = AgentConfig(
            name=name,
            instructions=instructions,
            tools=tool_map,
            output=output,
            validators=[],
            retries=retries,
            max_turns=max_turns,
            settings=settings or ModelSettings(),
            raise_tool_errors=raise_tool_errors,
            toolsets=toolsets,
            usage_limits=usage_limits,
        )
        self._hooks = tuple(hooks)
        self._hook_sets: dict[bool, HookSet] = {False: HookSet(self._hooks)}  # checks them
        """The run's hook set when a run adds no hooks or limits, by whether the default
        context window applies."""
        self._model_spec = model
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
    def instructions(self) -> str | None:
        """The system prompt."""
        return self._config.instructions

    @property
    def retries(self) -> int:
        """Fixable failures in a row the model is allowed before the run fails."""
        return self._config.retries

    @property
    def max_turns(self) -> int:
        """Model requests a run may send."""
        return self._config.max_turns

    @property
    def settings(self) -> ModelSettings:
        """The agent's model settings (a run's settings override them)."""
        return self._config.settings

    @property
    def tools(self) -> dict[str, Tool[Any]]:
        """The agent's tools by name."""
        return dict(self._config.tools)

    @property
    def output_type(self) -> Any:
        """The type of ``RunResult.output``."""
        return self._config.output.output_type

    def output_validator(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Register ``fn(output)`` or ``fn(ctx, output)``; it returns the output (maybe changed)
        or raises ``ModelRetry`` to send feedback to the model. Sync or async."""
        takes_ctx = len(inspect.signature(fn).parameters) >= 2
        self._config.validators.append((fn, takes_ctx))
        return fn

    def as_tool(self, *, name: str | None = None, description: str | None = None) -> Tool[Any]:
        """This agent as a tool of another: it takes one argument, ``prompt``.

        The child runs with the parent's deps; its usage is added to the parent's as it
        goes (so the parent's limits count it); its events appear in the parent's stream
        as ``AgentToolEvent`` (the child's name, the parent's tool-call id); cancelling
        the parent cancels it. Its output is the tool's result: text, or JSON.

        When one of the child's calls needs approval, the child pauses and so does the
        parent: its ``approvals_needed`` lists the child's requests (with ``agent`` and
        ``via`` set); resuming the parent with decisions for them resumes the child.
        """
        return agent_tool(self, name, description)

    def to_asgi(self, *, model: Model | str | None = None, token: str | None = None) -> Any:
        """This agent as an ASGI app: a web chat at ``/`` and the OpenAI chat-completions
        API under ``/v1`` (see ``agentkit.serve``; needs the ``web`` extra)."""
        from agentkit.serve import create_app  # lazy: the one upward import (serve is optional)

        return create_app(self, model=model, token=token)

    # -- lifecycle and test seams -----------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Hold the connections of every model the agent uses open until the block ends.

        Toolsets (MCP servers) connect here, in the task and scope of the ``async with``
        (a connection's task group belongs to the task that opens it and closes it);
        models open on first use.
        """
        if self._depth == 0:
            toolsets = AsyncExitStack()
            try:
                for toolset in self._config.toolsets:
                    await toolsets.enter_async_context(toolset)
                    self._held.append(toolset)
            except BaseException:
                self._held.clear()
                await toolsets.aclose()
                raise
            self._toolset_stack, self._stack = toolsets, AsyncExitStack()
        self._depth += 1
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close what the agent opened since ``async with agent:`` began."""
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
    def override(self, *, model: Model | str) -> Iterator[None]:
        """Run with ``model`` instead of the agent's (and of a run's ``model=``) inside the
        block, then restore it: for tests. The agent's own model is not built (no API key
        needed)."""
        if isinstance(model, str):
            inferred = self._inferred.get(model)
            model = self._inferred[model] = inferred if inferred is not None else _infer(model)
        previous = self._override
        self._override = model
        try:
            yield
        finally:
            self._override = previous

    # -- public entry points ------------------------------------------------------------

    async def run(
        self,
        prompt: Prompt | None = None,
        *,
        message_history: Sequence[Message] | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        settings: ModelSettings | None = None,
        model: Model | str | None = None,
        hooks: Sequence[Hooks] = (),
        usage_limits: UsageLimits | None = None,
        approvals: Approvals | None = None,
        session: Session | None = None,
    ) -> RunResult[OutputT]:
        """Run the agent until it produces an output (or pauses for approvals); return it
        with the conversation.

        ``usage_limits`` replaces the agent's for this run. To resume a paused run, pass
        its messages as ``message_history`` and ``approvals`` (decisions keyed by
        ``ApprovalRequest`` or tool-call id); the prompt is then optional. ``session``
        (``agentkit.sessions.SQLiteSession``, or any ``agentkit.Session``) is the history:
        the run loads it first and stores its turn when it ends (see ``agentkit.sessions``)."""
        events = self._events(
            prompt,
            message_history=message_history,
            deps=deps,
            settings=settings,
            model=model,
            hooks=hooks,
            stream=False,
            usage_limits=usage_limits,
            approvals=approvals,
            session=session,
        )
        async with aclosing(events):
            async for event in events:
                if isinstance(event, FinalResultEvent):
                    return event.result
        raise AssertionError("the run ended without a result")  # pragma: no cover

    def run_sync(
        self,
        prompt: Prompt | None = None,
        *,
        message_history: Sequence[Message] | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        settings: ModelSettings | None = None,
        model: Model | str | None = None,
        hooks: Sequence[Hooks] = (),
        usage_limits: UsageLimits | None = None,
        approvals: Approvals | None = None,
        session: Session | None = None,
    ) -> RunResult[OutputT]:
        """``run()`` in a new event loop, for code that is not async; whatever the run
        opened in that loop is closed before it returns. Inside a running event loop
        (Jupyter, FastAPI, an async test) it raises ``UserError``: ``await agent.run()``."""
        _refuse_inside_a_loop()
        call = partial(
            self.run,
            prompt,
            message_history=message_history,
            deps=deps,
            settings=settings,
            model=model,
            hooks=hooks,
            usage_limits=usage_limits,
            approvals=approvals,
            session=session,
        )
        return anyio.run(call)

    @asynccontextmanager
    async def run_stream(
        self,
        prompt: Prompt | None = None,
        *,
        message_history: Sequence[Message] | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        settings: ModelSettings | None = None,
        model: Model | str | None = None,
        hooks: Sequence[Hooks] = (),
        usage_limits: UsageLimits | None = None,
        approvals: Approvals | None = None,
        session: Session | None = None,
    ) -> AsyncIterator[RunStream[OutputT]]:
        """Run the agent streamed: ``async with agent.run_stream(p) as s: async for e in s``."""
        holder: list[RunState] = []
        events = self._events(
            prompt,
            message_history=message_history,
            deps=deps,
            settings=settings,
            model=model,
            hooks=hooks,
            stream=True,
            state_out=holder,
            usage_limits=usage_limits,
            approvals=approvals,
            session=session,
        )
        async with aclosing(events):
            yield RunStream(events, holder)

    # -- one run ----------------------------------------------------------------------------

    async def _events(
        self,
        prompt: Prompt | None,
        *,
        message_history: Sequence[Message] | None,
        deps: DepsT,
        settings: ModelSettings | None,
        model: Model | str | None,
        hooks: Sequence[Hooks],
        stream: bool,
        state_out: list[RunState] | None = None,
        usage_limits: UsageLimits | None = None,
        approvals: Approvals | None = None,
        session: Session | None = None,
    ) -> AsyncGenerator[AgentEvent, None]:
        """Set a run up (plan, state, hooks, the model's connections) and run the loop."""
        plan = self._plan(model)
        user = None if prompt is None else _user_message(prompt)
        if user is not None:
            plan.check_vision(user)
        turn: SessionTurn | None = None
        if session is not None:
            message_history, turn = await open_session(session, message_history)
        history = list(message_history or ())
        repaired = None
        if approvals is None:
            history, repaired = check_history(history, partial(_waits_for_approval, plan))
        # The agent's instructions lead every request, unless the history has its own.
        offset = int(plan.system is not None and not _has_system(history))
        if offset:
            history.insert(0, plan.system)  # type: ignore[arg-type]
        history, resume = prepare_resume(history, approvals, user)
        if resume is None and user is None:
            raise UserError(
                "run() needs a prompt, unless it resumes a paused run (message_history "
                "ending with tool calls that wait for approval)."
            )
        state = RunState(
            agent_name=self.name,
            model=plan.model,
            deps=deps,
            messages=history,
            new_message_index=len(history) if len(history) > offset else 0,
        )
        if state_out is not None:
            state_out.append(state)
        state.resume = resume
        if resume is None and user is not None:
            state.messages.append(user)
        limits = usage_limits if usage_limits is not None else self._config.usage_limits
        state.usage_limits = limits
        inner = window_hooks(plan.model, [*self._hooks, *hooks])  # fit what is sent
        if limits is not None:  # innermost: it checks exactly what is sent
            inner.append(UsageLimitsHook(limits))
        if hooks or limits is not None:
            hook_set = HookSet([*self._hooks, *hooks, *inner])
        else:  # the agent's own hooks (and the default window): built once, not per run
            hook_set = self._hook_sets.get(bool(inner)) or self._hook_sets.setdefault(
                bool(inner), HookSet([*self._hooks, *inner])
            )
        run_settings = self._config.settings.merged(settings)
        final: FinalResultEvent | None = None
        async with AsyncExitStack() as stack:
            await self._hold(stack, plan.model)
            for toolset in plan.config.toolsets:
                await self._hold(stack, toolset)
            for hook in hook_set.runs:
                await stack.enter_async_context(hook.wrap_run(state))
            if repaired is not None:
                for hook in hook_set.events:
                    await hook.on_event(state, repaired)
                yield repaired
            events = run_events(plan, state, hook_set, run_settings, stream)
            async with aclosing(events):
                async for event in events:
                    for hook in hook_set.events:
                        await hook.on_event(state, event)
                    if isinstance(event, FinalResultEvent):
                        final = event  # given out once the run's scopes have closed
                        break
                    yield event
        if final is not None:
            if turn is not None:  # one transaction; a failed or cancelled run stores nothing
                try:
                    await turn.save(final.result, offset)
                except AgentkitError as exc:
                    exc.messages = list(final.result.messages)
                    raise
            yield final

    async def _hold(self, run_stack: AsyncExitStack, resource: Model | Toolset) -> None:
        """Keep a model or toolset open for the run, or for the agent's ``async with`` block."""
        agent_stack = self._stack
        if agent_stack is None:
            await run_stack.enter_async_context(resource)
        elif not any(held is resource for held in self._held):
            self._held.append(resource)
            await agent_stack.enter_async_context(resource)

    def _plan(self, model: Model | str | None) -> RunPlan:
        resolved = self._resolve_model(model)
        plan = self._plans.get(id(resolved))
        if plan is not None and plan.model is resolved:
            return plan
        plan = build_plan(self._config, resolved)
        if len(self._plans) >= _PLAN_CACHE:
            self._plans.pop(next(iter(self._plans)))
        self._plans[id(resolved)] = plan
        return plan

    def _resolve_model(self, model: Model | str | None) -> Model:
        if self._override is not None:
            return self._override
        if isinstance(model, str):
            inferred = self._inferred.get(model)
            if inferred is None:
                inferred = self._inferred[model] = _infer(model)
            return inferred
        if model is not None:
            return model
        if self._model is None:
            spec = self._model_spec
            self._model = spec if spec is not None and not isinstance(spec, str) else _infer(spec)
        return self._model


class RunStream(Generic[OutputT]):
    """A streamed run: iterate it for events; ``result`` is set when the run is done."""

    def __init__(self, events: AsyncGenerator[AgentEvent, None], holder: list[RunState]) -> None:
        self._events = events
        self._holder = holder
        self._result: RunResult[OutputT] | None = None

    def __aiter__(self) -> RunStream[OutputT]:
        return self

    async def __anext__(self) -> AgentEvent:
        """The next event (the stream is its own iterator: nothing is left to the GC when
        a loop over it stops early; leaving ``run_stream``'s block closes the run)."""
        event = await self._events.__anext__()
        if isinstance(event, FinalResultEvent):
            self._result = event.result
        return event

    @property
    def result(self) -> RunResult[OutputT]:
        """The run's result; an error if the stream was not consumed to the end."""
        if self._result is None:
            raise AgentRunError(
                "The stream has no result yet: iterate it to the end (async for event in stream)."
            )
        return self._result

    @property
    def messages(self) -> list[Message]:
        """The conversation so far; always valid to send again, also after a cancel."""
        return list(self._holder[0].messages) if self._holder else []


def _infer(spec: str | None) -> Model:
    from agentkit.models.infer import infer_model

    return infer_model(spec)


def _waits_for_approval(plan: RunPlan, name: str) -> bool:
    known = plan.config.tools.get(name)
    return known is not None and known.needs_approval is not False


def _has_system(history: Sequence[Message]) -> bool:
    return bool(history) and isinstance(history[0], SystemMessage)


def _user_message(prompt: Prompt) -> UserMessage:
    if isinstance(prompt, UserMessage):
        return prompt
    if isinstance(prompt, str):
        return UserMessage(content=prompt)
    return UserMessage(content=tuple(prompt))


def _refuse_inside_a_loop() -> None:
    """``UserError`` when this thread already runs an event loop (``run_sync`` cannot)."""
    import sniffio

    try:
        library: str | None = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        import asyncio

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        library = "asyncio"
    raise UserError(
        f"Agent.run_sync() was called inside a running {library} event loop (Jupyter, "
        "FastAPI, an async test...), where it cannot start a loop of its own. Use "
        "`await agent.run(...)` there instead (a Jupyter cell can await directly)."
    )
