"""MCP servers as toolsets: ``MCPServer.stdio(...)``, ``.http(...)``, ``.in_process(...)``.

::

    from agentkit.mcp import MCPServer

    time = MCPServer.stdio(sys.executable, ["-m", "mcp_server_time", "--local-timezone", "UTC"])
    agent = Agent(model, tools=[get_weather, time.prefixed("time")])

Lifecycle: ``async with server:`` keeps one connection open across runs; without it a run
opens the connection at its start and closes it at its end (no server process outlives the
run). Exactly one task owns each connection: a connection task, in a task group the server
object owns, enters the SDK client and waits for the close signal; tool calls from other
tasks go through its session. So a run cancelled anywhere closes the connection in the task
that opened it (no cancel-scope error, no orphan process).

Sampling (``sampling_model=``, opt-in): a server's sampling request (the server asks the client
to run a model) is part of the run whose tool call is in flight on that connection. It goes
through the run's request hooks (so ``Tracing`` records it as a ``chat`` span of the run),
is checked against the run's budget before it is sent (and every budget above it, for an
agent used as a tool), and its usage is added to the run's (``RunResult.usage``). A request
that could pass a limit is not sent: the server gets an error answer and the run ends with
``UsageLimitExceeded`` when the tool call returns, whatever ``on_limit`` says (as for an agent
used as a tool). A sampling model that fails answers the server with an error; the run goes
on. The run's budget and context-window hooks are not applied to it as hooks: the budget is
checked here, against the sampling model's profile and prices, and the server sets the
request's ``max_tokens``; the hooks see the run's ``RunInfo``, whose ``model`` is the agent's
(``Tracing``'s ``gen_ai.request.model`` names it; the response model is the sampling model's).

Which run: a 2026-era server asks inside its tool's result (``InputRequiredResult``), in the
tool call's own task, so the run is known exactly. A 2025-era server sends
``sampling/createMessage`` on the connection, answered in the connection's task: it is
credited to the oldest tool call in flight on that connection (exact with one run per
connection; with several runs calling tools of one connection at once, it may be credited
to another of them). **Outside any run** (no tool call in flight, a tool called by hand with
``ctx=None``, a server that samples while listing tools): the request goes straight to
``sampling_model``: no hooks, no budget, counted nowhere. A tool call that ends (timeout,
cancellation) cancels the sampling requests made for it.

A server that dies during a call answers that call as a tool error naming the server, and
the next use connects again. Each call has a timeout (60 s by default). The tool list is
fetched once per connection and again after ``notifications/tools/list_changed``.

Needs the ``mcp`` package (``pip install -e '.[mcp]'`` in the clone); ``import agentkit`` does not
import this module.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

import anyio
import anyio.abc

from agentkit._errors import MCPConnectionError, MCPToolError, ToolDefinitionError
from agentkit._run.state import Run
from agentkit.hooks import ToolResult
from agentkit.messages import ImagePart
from agentkit.models.base import Model
from agentkit.tools import (
    TOOL_NAME_PATTERN,
    RunContext,
    Tool,
    ToolArgumentsError,
    ToolDefinition,
    tool_result_content,
)

try:
    import mcp
    import mcp_types
    from mcp.client.session import IncomingMessage
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError(
        "agentkit.mcp needs the MCP SDK: pip install -e '.[mcp]' in the agentkit clone "
        "(or pip install mcp)"
    ) from exc

from agentkit.mcp._sampling import CURRENT_CALL, Call, sampler  # after the SDK check

if TYPE_CHECKING:
    from jsonschema.protocols import Validator  # type: ignore[import-untyped]

__all__ = [
    "DEFAULT_TIMEOUT",
    "ApprovalRule",
    "MCPConnectionError",
    "MCPServer",
    "MCPTool",
    "MCPToolError",
    "NeedsApproval",
    "ToolFilter",
]

DEFAULT_TIMEOUT = 60.0
"""Seconds a tool call may take before it is answered as an error."""

ToolFilter = Iterable[str] | Callable[["mcp_types.Tool"], bool]
"""The server's own tool names to keep, or a predicate on the server's ``mcp.types.Tool``."""

ApprovalRule = bool | Callable[[RunContext[Any], dict[str, Any]], bool]
NeedsApproval = ApprovalRule | Collection[str] | Mapping[str, ApprovalRule]
"""Which of a server's tools need approval: ``True`` (all), a callable ``(ctx, args) ->
bool`` (all, decided per call), the server's own names of the tools that do, or a mapping
from those names to ``True`` or a callable (tools not named need none)."""


@dataclass(eq=False)
class _Connection:
    """One live session: owned by its connection task, used by any task."""

    client: mcp.Client | None = None
    ready: anyio.Event = field(default_factory=anyio.Event)
    close: anyio.Event = field(default_factory=anyio.Event)
    done: anyio.Event = field(default_factory=anyio.Event)
    error: Exception | None = None
    tools: tuple[mcp_types.Tool, ...] | None = None
    """The server's tools as last listed (``None``: to list again)."""
    version: int = 0

    @property
    def alive(self) -> bool:
        return self.client is not None and not self.close.is_set() and not self.done.is_set()


class _Link:
    """What every view of one server shares: how to connect, the task group, the connection."""

    def __init__(
        self,
        label: str,
        make_client: Callable[..., mcp.Client],
        timeout: float,
        sampling_model: Model | str | None = None,
    ) -> None:
        self.label = label
        self.make_client = make_client
        self.timeout = timeout
        self.sampling_model = sampling_model
        self.depth = 0
        self.task_group: anyio.abc.TaskGroup | None = None
        self.connection: _Connection | None = None
        self.lock: anyio.Lock | None = None
        self.calls: list[Call] = []
        """The tool calls in flight (kept only with a ``sampling_model``), oldest first."""

    async def enter(self) -> None:
        if self.depth == 0:
            task_group = anyio.create_task_group()
            await task_group.__aenter__()
            self.task_group, self.lock = task_group, anyio.Lock()
            try:
                await self.connect()
            except BaseException:
                self.task_group = None
                self._close()
                await task_group.__aexit__(None, None, None)  # not shielded: it is its scope
                raise
        self.depth += 1

    async def exit(self) -> None:
        self.depth -= 1
        if self.depth > 0:
            return
        task_group, self.task_group = self.task_group, None
        self._close()
        if task_group is not None:
            await task_group.__aexit__(None, None, None)

    def _close(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            connection.close.set()

    async def connect(self) -> _Connection:
        """The live connection, opened (again) if there is none."""
        connection = self.connection
        if connection is not None and connection.alive:
            return connection
        if self.task_group is None or self.lock is None:
            raise MCPConnectionError(
                f"MCP server {self.label} is not open: use it in Agent(tools=[...]) or inside "
                "'async with server:'."
            )
        async with self.lock:
            connection = self.connection
            if connection is not None and connection.alive:
                return connection
            if connection is not None:
                connection.close.set()
            connection = self.connection = _Connection()
            self.task_group.start_soon(self._serve, connection)
            await connection.ready.wait()
            if connection.error is not None:
                self.connection = None
                cause = _leaf(connection.error)
                raise MCPConnectionError(
                    f"Could not connect to MCP server {self.label}: {type(cause).__name__}: "
                    f"{cause}. Check that the server starts (command, arguments, URL) and "
                    "speaks MCP."
                ) from connection.error
            return connection

    async def _serve(self, connection: _Connection) -> None:
        """The connection task: open the client, list the tools, wait for the close signal."""

        async def on_message(message: IncomingMessage) -> None:
            if isinstance(message, mcp_types.ToolListChangedNotification):
                connection.tools = None

        CURRENT_CALL.set(None)  # this task may have been started inside a call: it is no call's
        try:
            async with AsyncExitStack() as stack:
                sampling = None
                if self.sampling_model is not None:
                    model = self.sampling_model
                    if isinstance(model, str):
                        from agentkit.models.infer import infer_model

                        model = self.sampling_model = infer_model(model)
                    await stack.enter_async_context(model)
                    sampling = sampler(self.label, model, self.calls)
                client = await stack.enter_async_context(self.make_client(on_message, sampling))
                async with anyio.create_task_group() as tg:
                    # Listen first, then list: a change made at once is never missed.
                    listening = anyio.Event()
                    tg.start_soon(_listen_for_changes, client, connection, listening)
                    await listening.wait()
                    tools = await _list_all(client)
                    connection.client, connection.tools = client, tools
                    connection.ready.set()
                    await connection.close.wait()
                    tg.cancel_scope.cancel()
        except Exception as exc:  # the owner learns it from ``connection``; never raise here
            if not connection.ready.is_set():
                connection.error = exc
        finally:
            connection.done.set()
            connection.ready.set()

    async def tools(self) -> tuple[_Connection, tuple[mcp_types.Tool, ...]]:
        """The connection and its tool list (listed again after a change notice)."""
        connection = await self.connect()
        listed = connection.tools
        if listed is None:
            assert connection.client is not None
            listed = connection.tools = await _list_all(connection.client)
            connection.version += 1
        return connection, listed

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        """Call one tool; every failure is an error result naming the server."""
        try:
            connection = await self.connect()
        except MCPConnectionError as exc:
            return _error(str(exc))
        client = connection.client
        assert client is not None
        with anyio.move_on_after(self.timeout) as scope:
            try:
                result = await client.call_tool(name, arguments)
            except mcp.MCPError as exc:
                if exc.code != mcp_types.CONNECTION_CLOSED:
                    return _error(f"MCP server {self.label} refused {name}: {exc}")
                return self._lost(connection, name, exc)
            except Exception as exc:
                return self._lost(connection, name, _leaf(exc))
        if scope.cancelled_caught:
            return _error(
                f"MCP server {self.label} did not answer {name} within {self.timeout:g} s; "
                "try again, or with other arguments."
            )
        return _result(self.label, name, result)

    def _lost(self, connection: _Connection, name: str, exc: BaseException) -> ToolResult:
        connection.close.set()  # the connection task closes what is left of it
        return _error(
            f"MCP server {self.label} stopped answering during {name} "
            f"({type(exc).__name__}: {exc}); it will be started again at the next call."
        )


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


async def _list_all(client: mcp.Client) -> tuple[mcp_types.Tool, ...]:
    tools: list[mcp_types.Tool] = []
    cursor: str | None = None
    for _ in range(100):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            break
    return tuple(tools)


async def _listen_for_changes(
    client: mcp.Client, connection: _Connection, listening: anyio.Event
) -> None:
    """On 2026-era sessions, list_changed comes through ``subscriptions/listen``;
    ``listening`` is set once the server acknowledged it (or it cannot be had)."""
    try:
        async with client.listen(tools_list_changed=True) as subscription:
            listening.set()
            async for _event in subscription:
                connection.tools = None
    except Exception:  # an older session (notices come unasked) or a server without it
        return
    finally:
        listening.set()


def _error(text: str, cause: Exception | None = None) -> ToolResult:
    return ToolResult(text, is_error=True, error=cause or MCPToolError(text))


def _result(label: str, name: str, result: mcp_types.CallToolResult) -> ToolResult:
    """An MCP result as the tool message: texts, or the structured content as JSON, and images."""
    texts: list[str] = []
    images: list[ImagePart] = []
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            texts.append(block.text)
        elif isinstance(block, mcp_types.ImageContent):
            images.append(ImagePart(url=f"data:{block.mime_type};base64,{block.data}"))
        elif isinstance(block, mcp_types.EmbeddedResource):
            resource = block.resource
            text = getattr(resource, "text", None)
            texts.append(text if text is not None else f"[resource {resource.uri}]")
        elif isinstance(block, mcp_types.ResourceLink):
            texts.append(f"[resource {block.uri}]")
        else:
            texts.append(f"[{block.type} content omitted]")
    if not texts and result.structured_content is not None:
        texts.append(json.dumps(result.structured_content, ensure_ascii=False))
    if images:
        content, parts = tool_result_content([*texts, *images])
    else:
        content, parts = "\n".join(texts), ()
    if result.is_error:
        text = content or f"MCP server {label}: {name} failed without a message."
        return ToolResult(text, parts, is_error=True, error=MCPToolError(text))
    return ToolResult(content, parts)


_QUICK_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}
_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "format"})
_QuickPlan = tuple[dict[str, tuple[Callable[[Any], bool], ...]], tuple[str, ...], bool]


def _quick_plan(schema: Mapping[str, Any]) -> _QuickPlan | None:
    """For the common schema (an object of typed properties, ``required``, a boolean
    ``additionalProperties``), what to check; ``None`` when the schema uses anything else."""
    if schema.get("type") != "object" or not set(schema) <= {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "title",
        "description",
    }:
        return None
    additional = schema.get("additionalProperties", True)
    properties = schema.get("properties", {})
    if not isinstance(additional, bool) or not isinstance(properties, dict):
        return None
    checks: dict[str, tuple[Callable[[Any], bool], ...]] = {}
    for name, prop in properties.items():
        if not isinstance(prop, dict) or not set(prop) <= _ANNOTATIONS | {"type"}:
            return None
        kinds = prop.get("type", [])
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not isinstance(kinds, list) or not all(k in _QUICK_TYPES for k in kinds):
            return None
        checks[name] = tuple(_QUICK_TYPES[k] for k in kinds)
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        return None
    return checks, tuple(required), additional


def _quick_valid(plan: _QuickPlan, value: dict[str, Any]) -> bool:
    """True when ``value`` surely matches (False: let jsonschema decide, and say why)."""
    checks, required, additional = plan
    for name in required:
        if name not in value:
            return False
    for name, item in value.items():
        kinds = checks.get(name)
        if kinds is None:
            if not additional:
                return False
        elif kinds and not any(ok(item) for ok in kinds):
            return False
    return True


class MCPTool(Tool[Callable[..., Any]]):
    """One tool of an MCP server, as the model sees it (maybe prefixed) and as it is called.

    A ``Tool`` like any other, with every attribute a ``@tool`` has, set the same way:
    ``function`` (what calling the tool calls: ``await mcp_tool(**args)`` calls the server,
    outside any run, and gives the ``ToolResult``) is a function named after the tool whose
    docstring is its description. Only the schema differs: it is the server's input schema,
    checked with jsonschema (a fast path for the common shape), not built from a signature.
    """

    def __init__(
        self, link: _Link, spec: mcp_types.Tool, name: str, needs_approval: ApprovalRule = False
    ) -> None:
        if not TOOL_NAME_PATTERN.match(name):
            raise ToolDefinitionError(
                f"MCP server {link.label} has a tool named {spec.name!r}, exposed as {name!r}, "
                "which models do not accept (1 to 64 letters, digits, '_' or '-'). Filter it "
                "out with .filtered(...) or choose a shorter prefix."
            )
        remote_name = spec.name
        description = spec.description or spec.title or spec.name

        async def function(**arguments: Any) -> ToolResult:
            return await link.call(remote_name, arguments)

        function.__name__ = function.__qualname__ = name
        function.__doc__ = description
        self._link = link
        self.remote_name = remote_name
        """The tool's name on the server."""
        # What Tool.__init__ sets, in its order, from the server's spec instead of a signature.
        self.function = function
        self.name = name
        self.description = description
        self.parameters = dict(spec.input_schema or {"type": "object", "properties": {}})
        self.strict = None
        self.needs_approval = needs_approval
        self.takes_ctx = False
        self.is_async = True
        self._validator: Validator | None = None
        self._quick = _quick_plan(self.parameters)
        self._definition = ToolDefinition(
            name=name, description=description, parameters=self.parameters
        )
        functools.update_wrapper(self, function)

    def __repr__(self) -> str:
        return f"MCPTool(name={self.name!r}, server={self._link.label})"

    def validate_args(self, arguments: str | bytes) -> dict[str, Any]:
        """The model's JSON arguments, checked against the server's input schema."""
        if not arguments or not arguments.strip():
            arguments = "{}"
        try:
            value = json.loads(arguments)
        except ValueError as exc:
            raise ToolArgumentsError(
                f"the arguments are not valid JSON ({exc}). Send the arguments as one JSON "
                "object matching the tool's parameters."
            ) from None
        if not isinstance(value, dict):
            raise ToolArgumentsError(
                "the arguments must be a JSON object with the parameters as keys. Send one "
                "JSON object matching the tool's parameters."
            )
        if self._quick is not None and _quick_valid(self._quick, value):
            return value
        validator = self._validator
        if validator is None:
            from jsonschema.validators import validator_for  # type: ignore[import-untyped]

            cls = validator_for(self.parameters)
            validator = self._validator = cls(self.parameters)
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        if errors:
            lines = [
                f"- {'.'.join(str(p) for p in e.absolute_path) or '(arguments)'}: {e.message}"
                for e in errors
            ]
            count = f"{len(errors)} error" + ("" if len(errors) == 1 else "s")
            raise ToolArgumentsError(
                f"{count}:\n" + "\n".join(lines) + "\nFix these arguments and call the tool again."
            )
        return value

    async def run(self, ctx: RunContext[Any] | None, args: dict[str, Any]) -> ToolResult:
        """Call the tool on the server; the result (or failure) as a ``ToolResult``.

        With a ``sampling_model``, the server's sampling requests during the call are part
        of ``ctx``'s run (see the module docs); one that could pass the run's budget ends
        the run with ``UsageLimitExceeded`` here, once the call returned."""
        link = self._link
        if link.sampling_model is None:
            return await link.call(self.remote_name, args)
        run = ctx._run if ctx is not None else None
        call = Call(run if isinstance(run, Run) else None)
        link.calls.append(call)
        token = CURRENT_CALL.set(call)
        try:
            result = await link.call(self.remote_name, args)
        finally:
            CURRENT_CALL.reset(token)
            link.calls.remove(call)
            for scope in call.scopes:  # samplings the server did not wait for
                scope.cancel()
        if call.refused is not None:
            raise call.refused
        return result


class MCPServer:
    """An MCP server's tools, for ``Agent(tools=[...])`` beside plain functions.

    Make one with ``MCPServer.stdio``, ``MCPServer.http`` or ``MCPServer.in_process``.
    ``.prefixed(name)`` and ``.filtered(...)`` return views of the same server (one
    connection) with fewer or renamed tools; they chain, in any order.
    """

    def __init__(
        self,
        _link: _Link,
        *,
        _prefix: str | None = None,
        _filters: tuple[Callable[[mcp_types.Tool], bool], ...] = (),
        _approval: NeedsApproval = False,
    ) -> None:
        self._link = _link
        self._prefix = _prefix
        self._filters = _filters
        self._approval = _approval
        self._cache: tuple[_Connection, int, tuple[MCPTool, ...]] | None = None

    # -- making one -------------------------------------------------------------------

    @classmethod
    def stdio(
        cls,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        name: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        needs_approval: NeedsApproval = False,
        sampling_model: Model | str | None = None,
    ) -> MCPServer:
        """A server started as a subprocess, spoken to over its stdin and stdout.

        The process gets the MCP SDK's safe default environment (``PATH``, ``HOME``,
        ``USER``, ``SHELL``, ``TERM``, ``LANG``... not the whole of ``os.environ``) with
        ``env`` added on top. ``name`` is how errors name it (default: the command and
        arguments). ``timeout`` is the limit for each tool call, in seconds.

        ``needs_approval`` pauses a run before the tools it names run, as
        ``@tool(needs_approval=...)`` does (see ``NeedsApproval``). ``sampling_model``
        (opt-in) answers the server's sampling requests; without it they are refused.
        Both are the same for ``http`` and ``in_process``.
        """
        params = mcp.StdioServerParameters(
            command=command,
            args=list(args),
            env=dict(env) if env is not None else None,
            cwd=os.fspath(cwd) if cwd is not None else None,
        )
        label = repr(name or " ".join([os.path.basename(command), *args]))

        def transport() -> Any:
            from mcp.client.stdio import stdio_client

            return stdio_client(params, errlog=_errlog())

        link = _Link(label, _client_factory(None, transport), timeout, sampling_model)
        return cls(link, _approval=needs_approval)

    @classmethod
    def http(
        cls,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        name: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        needs_approval: NeedsApproval = False,
        sampling_model: Model | str | None = None,
    ) -> MCPServer:
        """A server reached over streamable HTTP at ``url`` (e.g. ``http://host:8000/mcp``).

        ``headers`` go with every request (an ``Authorization`` header, say); they never
        appear in errors or in the repr.
        """
        label = repr(name or url.split("?", 1)[0])
        if headers:
            sent = dict(headers)

            def transport() -> Any:
                import httpx2
                from mcp.client.streamable_http import streamable_http_client

                return _OwnedHTTPTransport(url, sent, httpx2, streamable_http_client)

            link = _Link(label, _client_factory(None, transport), timeout, sampling_model)
        else:
            link = _Link(label, _client_factory(url), timeout, sampling_model)
        return cls(link, _approval=needs_approval)

    @classmethod
    def in_process(
        cls,
        server: Any,
        *,
        name: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        needs_approval: NeedsApproval = False,
        sampling_model: Model | str | None = None,
    ) -> MCPServer:
        """An SDK server object (``mcp.server.mcpserver.MCPServer`` or a low-level
        ``Server``) in this process: no subprocess, no sockets."""
        label = repr(name or getattr(server, "name", None) or "in-process")
        link = _Link(label, _client_factory(server), timeout, sampling_model)
        return cls(link, _approval=needs_approval)

    # -- views ------------------------------------------------------------------------

    def prefixed(self, prefix: str) -> MCPServer:
        """The same server with its tools named ``{prefix}_{name}``."""
        full = f"{prefix}_{self._prefix}" if self._prefix else prefix
        return MCPServer(self._link, _prefix=full, _filters=self._filters, _approval=self._approval)

    def filtered(self, keep: ToolFilter) -> MCPServer:
        """The same server with only some tools: the server's own tool names to keep (not
        the prefixed ones, whatever the order of chaining), or a predicate on each
        ``mcp.types.Tool``."""
        if callable(keep):
            predicate = keep
        else:
            names = frozenset([keep] if isinstance(keep, str) else keep)

            def predicate(spec: mcp_types.Tool) -> bool:
                return spec.name in names

        return MCPServer(
            self._link,
            _prefix=self._prefix,
            _filters=(*self._filters, predicate),
            _approval=self._approval,
        )

    @property
    def name(self) -> str:
        """How errors name this server."""
        return self._link.label

    @property
    def timeout(self) -> float:
        """Seconds a tool call may take."""
        return self._link.timeout

    def __repr__(self) -> str:
        prefix = f", prefix={self._prefix!r}" if self._prefix else ""
        return f"MCPServer({self._link.label}{prefix})"

    # -- the Toolset protocol ----------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Connect, or count one more user of the open connection."""
        await self._link.enter()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Count one user less; after the last, close the connection (the process ends)."""
        await self._link.exit()

    async def list_tools(self) -> tuple[MCPTool, ...]:
        """The tools this view exposes (the same tuple while the server's list is unchanged)."""
        connection, listed = await self._link.tools()
        cached = self._cache
        if cached is not None and cached[0] is connection and cached[1] == connection.version:
            return cached[2]
        prefix = self._prefix
        tools = tuple(
            MCPTool(
                self._link,
                spec,
                f"{prefix}_{spec.name}" if prefix else spec.name,
                _approval_for(self._approval, spec.name),
            )
            for spec in listed
            if all(keep(spec) for keep in self._filters)
        )
        self._cache = (connection, connection.version, tools)
        return tools


def _errlog() -> Any:
    """Where a stdio server's stderr goes: this program's stderr when it is a real file (not
    a notebook's or a test's stand-in without a descriptor), else the original, else nowhere."""
    for stream in (sys.stderr, sys.__stderr__):
        try:
            if stream is not None:
                stream.fileno()
                return stream
        except (AttributeError, OSError, ValueError):
            continue
    return subprocess.DEVNULL


def _approval_for(rule: NeedsApproval, name: str) -> ApprovalRule:
    """What ``needs_approval`` says for the server's tool ``name``."""
    if isinstance(rule, bool) or callable(rule):
        return rule
    if isinstance(rule, str):
        return rule == name
    if isinstance(rule, Mapping):
        return rule.get(name, False)
    return name in rule


def _client_factory(
    server: Any, transport: Callable[[], Any] | None = None
) -> Callable[..., mcp.Client]:
    def make(on_message: Any, sampling: Any = None) -> mcp.Client:
        target = transport() if transport is not None else server
        return mcp.Client(
            target, message_handler=on_message, sampling_callback=sampling, cache=None
        )

    return make


class _OwnedHTTPTransport:
    """Streamable HTTP with headers: the HTTP client is made and closed with the transport."""

    def __init__(self, url: str, headers: dict[str, str], httpx2: Any, connect: Any) -> None:
        self._url = url
        self._headers = headers
        self._httpx2 = httpx2
        self._connect = connect
        self._http: Any = None
        self._streams: Any = None

    async def __aenter__(self) -> Any:
        from mcp.shared._httpx_utils import create_mcp_http_client

        self._http = create_mcp_http_client(headers=self._headers)
        await self._http.__aenter__()
        self._streams = self._connect(self._url, http_client=self._http)
        try:
            return await self._streams.__aenter__()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._http.__aexit__(None, None, None)
            raise

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await self._streams.__aexit__(*exc_info)
        finally:
            with anyio.CancelScope(shield=True):
                await self._http.__aexit__(None, None, None)
