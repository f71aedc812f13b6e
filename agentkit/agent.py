"""The agent: a model, instructions, tools, an output type, and how a run is started.

``run_stream()`` hands the loop's events (``agentkit._run``) to the caller; ``run()``
consumes the same events and returns the result; ``run_sync()`` runs ``run()`` in a
fresh event loop. There is one loop; each run is set up by the agent's ``Runner``.

Lifecycle: runs on one event loop share the model's connections, which are closed when
the loop ends (``asyncio.run``, ``anyio.run``, each ``run_sync``). ``async with agent:``
is an explicit scope: it holds the model and toolsets across its runs and closes
everything the agent used when the block ends.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence
from contextlib import aclosing, asynccontextmanager, contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, Self, overload

from typing_extensions import TypeVar

from agentkit._errors import AgentRunError, ConfigurationError, UserError
from agentkit.tools import Tool, Toolset, _split_tools

if TYPE_CHECKING:  # the run core and the model layer load at the first Agent(...)
    from mcp.server.lowlevel import Server as MCPLowLevelServer

    from agentkit._run import Prompt, Run
    from agentkit._run.history import Session
    from agentkit.approval import Approvals
    from agentkit.events import AgentEvent, RunResult
    from agentkit.hooks import Hooks
    from agentkit.messages import Message, SystemMessage
    from agentkit.models.base import Model, ModelSettings
    from agentkit.output import OutputMode
    from agentkit.usage import Usage, UsageLimits

__all__ = ["Agent", "Prompt", "RunStream"]

DepsT = TypeVar("DepsT", default=Any)
OutputT = TypeVar("OutputT", default=str)


class Agent(Generic[DepsT, OutputT]):
    """An assistant: a model, instructions, tools and an output type.

    ``model`` is a ``Model``, a model string such as ``"mistral:mistral-small-2506"``, or
    ``None`` for Mistral Small 3.2 through whichever API key is set; a string that names no
    route fails here, a missing key at the first run. ``output_type`` is a type, not a string
    or instance. ``hooks`` wrap every run, model request and tool call (``agentkit.Hooks``);
    ``usage_limits`` are budgets every run keeps to (``agentkit.UsageLimits``).
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
        from agentkit._run import AgentConfig, Runner  # the run core: on first use
        from agentkit.models.base import ModelSettings
        from agentkit.output import OUTPUT_TOOL_NAME, OutputSchema

        tool_map, toolsets = _split_tools(tools)
        output: OutputSchema[OutputT] = OutputSchema(output_type, mode=output_mode)
        if not output.is_text and OUTPUT_TOOL_NAME in tool_map:
            raise UserError(
                f"A tool is named {OUTPUT_TOOL_NAME!r}, the name agentkit gives the final-result "
                "tool of a structured output; rename that tool."
            )
        self.name = name
        config = AgentConfig(
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
        self._config = config
        self._runner = Runner(config, hooks, model)
        """Sets up every run of this agent (``agentkit._run.start``)."""

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

        The child runs with the parent's deps (and on the parent's run's model when it was
        built without one); its usage is added to the parent's as it goes (so the parent's
        limits count it); its events appear in the parent's stream as ``AgentToolEvent``
        (the child's name, the parent's tool-call id); cancelling the parent cancels it. Its
        output is the tool's result: text, or JSON.

        When one of the child's calls needs approval, the child pauses and so does the
        parent: its ``approvals_needed`` lists the child's requests (with ``agent`` and
        ``via`` set); resuming the parent with decisions for them resumes the child.
        """
        from agentkit._run import agent_tool

        return agent_tool(self._runner, name, description)

    @property
    def model_spec(self) -> Model | str | None:
        """The model the agent was built with, as given (``None``: the default)."""
        return self._runner.model_spec

    def system_message(self, *, model: Model | str | None = None) -> SystemMessage | None:
        """The system message this agent's runs on ``model`` (the agent's, by default)
        begin with: its instructions and the output mode's prompt; ``None`` when it has
        none. Put it first in a history you build yourself."""
        return self._runner.plan(model).system

    def to_asgi(self, **options: Any) -> Any:
        """This agent as an ASGI app: a web chat at ``/`` and the OpenAI chat-completions
        API under ``/v1``; ``options`` are ``agentkit.serve.create_app``'s (``model``,
        ``token``, ``sessions``, ``allow_origins``, ``allow_hosts``, ...). Needs the
        ``web`` extra."""
        from agentkit.serve import create_app  # lazy: the one upward import (serve is optional)

        return create_app(self, **options)

    def to_mcp(
        self,
        *,
        model: Model | str | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        expose_tools: bool = False,
        description: str | None = None,
    ) -> MCPLowLevelServer[Any]:
        """This agent as an MCP server: an ``mcp.server.lowlevel.Server`` offering one tool,
        named after the agent, that takes a ``prompt`` (and, with ``expose_tools``, the
        agent's own tools); every run and tool call gets ``deps``. See
        ``agentkit.mcp._server``; needs the ``mcp`` extra."""
        from agentkit.mcp._server import agent_server  # lazy: mcp is optional, and above

        return agent_server(
            self, model=model, deps=deps, expose_tools=expose_tools, description=description
        )

    # -- lifecycle and test seams -----------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Hold the connections of every model the agent uses open until the block ends.

        Toolsets (MCP servers) connect here, in the task and scope of the ``async with``
        (a connection's task group belongs to the task that opens it and closes it);
        models open on first use.
        """
        await self._runner.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close what the agent opened since ``async with agent:`` began."""
        await self._runner.close()

    @contextmanager
    def override(self, *, model: Model | str) -> Iterator[None]:
        """Run with ``model`` instead of the agent's (and of a run's ``model=``) inside the
        block, then restore it: for tests. The agent's own model is not built (no API key
        needed)."""
        with self._runner.override(model):
            yield

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
        usage: Usage | None = None,
    ) -> RunResult[OutputT]:
        """Run the agent until it produces an output (or pauses for approvals); return it
        with the conversation.

        ``usage_limits`` replaces the agent's for this run. To resume a paused run, pass
        its messages as ``message_history`` and ``approvals`` (decisions keyed by
        ``ApprovalRequest`` or tool-call id); the prompt is then optional. ``session``
        (``agentkit.sessions.SQLiteSession``, or any ``agentkit.Session``) is the history:
        the run loads it first and stores its turn when it ends (see ``agentkit.sessions``).
        ``usage`` is what the logical run this call continues has used so far (a paused
        run's ``result.usage``): the run counts on from it, its limits apply to the total,
        and its result's usage is the total."""
        from agentkit.events import FinalResultEvent  # loaded with the run core

        events = self._runner.events(
            prompt,
            message_history=message_history,
            deps=deps,
            settings=settings,
            model=model,
            hooks=hooks,
            usage_limits=usage_limits,
            approvals=approvals,
            session=session,
            usage=usage,
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
        usage: Usage | None = None,
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
            usage=usage,
        )
        import anyio

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
        usage: Usage | None = None,
    ) -> AsyncIterator[RunStream[OutputT]]:
        """Run the agent streamed: ``async with agent.run_stream(p) as s: async for e in s``."""
        holder: list[Run] = []
        events = self._runner.events(
            prompt,
            message_history=message_history,
            deps=deps,
            settings=settings,
            model=model,
            hooks=hooks,
            stream=True,
            usage_limits=usage_limits,
            approvals=approvals,
            session=session,
            usage=usage,
            holder=holder,
        )
        async with aclosing(events):
            yield RunStream(events, holder)


class RunStream(Generic[OutputT]):
    """A streamed run: iterate it for events; ``result`` is set when the run is done."""

    def __init__(self, events: AsyncGenerator[AgentEvent, None], holder: list[Run]) -> None:
        from agentkit.events import FinalResultEvent

        self._final = FinalResultEvent
        self._events = events
        self._holder = holder
        self._result: RunResult[OutputT] | None = None

    def __aiter__(self) -> RunStream[OutputT]:
        return self

    async def __anext__(self) -> AgentEvent:
        """The next event (the stream is its own iterator: nothing is left to the GC when
        a loop over it stops early; leaving ``run_stream``'s block closes the run)."""
        event = await self._events.__anext__()
        if isinstance(event, self._final):
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


def __getattr__(name: str) -> Any:
    """``Prompt``, served from the run core (loaded on first use)."""
    if name == "Prompt":
        from agentkit._run import Prompt

        return Prompt
    raise AttributeError(f"module 'agentkit.agent' has no attribute {name!r}")


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
