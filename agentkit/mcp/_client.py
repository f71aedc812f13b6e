"""One MCP server's connection: how to reach it (stdio, HTTP, in process), the task that owns
the SDK client, reconnecting, listing tools and calling them (see ``agentkit.mcp``'s docs)."""

from __future__ import annotations

import functools
import math
import subprocess
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
import mcp
import mcp_types
from mcp.client.session import IncomingMessage

from agentkit._errors import MCPConnectionError, MCPError
from agentkit.hooks import ToolResult
from agentkit.mcp._content import _error, _leaf, _result
from agentkit.mcp._elicit import ElicitationHandler, elicitor
from agentkit.mcp._sampling import CURRENT_CALL, Call, sampler
from agentkit.models.base import Model

__all__ = ["DEFAULT_CONNECT_TIMEOUT", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 60.0
"""Seconds a tool call may take before it is answered as an error."""

DEFAULT_CONNECT_TIMEOUT = 30.0
"""Seconds starting a server and the MCP handshake may take before the server is stopped."""


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
    resources: tuple[mcp_types.Resource, ...] | None = None
    """The server's resources as last listed (``None``: to list again)."""

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
        self.connect_timeout = DEFAULT_CONNECT_TIMEOUT
        self.sampling_model = sampling_model
        self.elicitation_handler: ElicitationHandler | None = None
        self.resources_changed = anyio.Event()
        """Set (and replaced) at each ``notifications/resources/list_changed``."""
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
                if isinstance(connection.error, MCPConnectionError):
                    raise connection.error
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
            elif isinstance(message, mcp_types.ResourceListChangedNotification):
                self._resources_changed(connection)

        CURRENT_CALL.set(None)  # this task may have been started inside a call: it is no call's
        # Connecting (starting, the handshake, the first listing) has a deadline; once
        # connected, none: the scope stays around the client so it unwinds in its own task.
        connecting = anyio.CancelScope(deadline=anyio.current_time() + self.connect_timeout)
        try:
            with connecting:
                await self._open(connection, on_message, connecting)
        except Exception as exc:  # the owner learns it from ``connection``; never raise here
            if not connection.ready.is_set():
                connection.error = exc
        finally:
            if connecting.cancel_called and not connection.ready.is_set():
                connection.error = MCPConnectionError(
                    f"MCP server {self.label} did not finish connecting (starting and the MCP "
                    f"handshake) within {self.connect_timeout:g} s; it was stopped. Check that "
                    "it starts and speaks MCP, or give it more time with connect_timeout=."
                )
            connection.done.set()
            connection.ready.set()

    async def _listen(
        self, client: mcp.Client, connection: _Connection, listening: anyio.Event
    ) -> None:
        """On 2026-era sessions, list_changed comes through ``subscriptions/listen``;
        ``listening`` is set once the server acknowledged it (or it cannot be had)."""
        from mcp.client.subscriptions import ResourcesListChanged

        try:
            resources = client.server_capabilities.resources is not None
            async with client.listen(
                tools_list_changed=True, resources_list_changed=resources
            ) as subscription:
                listening.set()
                async for event in subscription:
                    if isinstance(event, ResourcesListChanged):
                        self._resources_changed(connection)
                    else:
                        connection.tools = None
        except Exception:  # an older session (notices come unasked) or a server without it
            return
        finally:
            listening.set()

    def _resources_changed(self, connection: _Connection) -> None:
        connection.resources = None
        changed, self.resources_changed = self.resources_changed, anyio.Event()
        changed.set()

    async def _open(
        self, connection: _Connection, on_message: Any, connecting: anyio.CancelScope
    ) -> None:
        """Open the client, list the tools, lift the connecting deadline, say so, and wait
        for the close signal."""
        async with AsyncExitStack() as stack:
            sampling = None
            if self.sampling_model is not None:
                model = self.sampling_model
                if isinstance(model, str):
                    from agentkit.models.infer import infer_model

                    model = self.sampling_model = infer_model(model)
                await stack.enter_async_context(model)
                sampling = sampler(self.label, model, self.calls)
            elicit = elicitor(self.label, lambda: self.elicitation_handler)
            client = await stack.enter_async_context(self.make_client(on_message, sampling, elicit))
            async with anyio.create_task_group() as tg:
                # Listen first, then list: a change made at once is never missed.
                listening = anyio.Event()
                tg.start_soon(self._listen, client, connection, listening)
                await listening.wait()
                tools = await _list_all(client)
                connection.client, connection.tools = client, tools
                connecting.deadline = math.inf
                connection.ready.set()
                await connection.close.wait()
                tg.cancel_scope.cancel()

    async def tools(self) -> tuple[_Connection, tuple[mcp_types.Tool, ...]]:
        """The connection and its tool list (listed again after a change notice)."""
        connection = await self.connect()
        listed = connection.tools
        if listed is None:
            assert connection.client is not None
            listed = connection.tools = await _list_all(connection.client)
            connection.version += 1
        return connection, listed

    async def resources(self) -> tuple[mcp_types.Resource, ...]:
        """The server's resources (listed again after a change notice)."""
        connection = await self.connect()
        if connection.resources is None:
            connection.resources = await self.pages("resources")
        return connection.resources

    async def pages(self, kind: str) -> tuple[Any, ...]:
        """Every page of ``resources``, ``resource_templates`` or ``prompts``."""
        found: list[Any] = []
        cursor: str | None = None
        for _ in range(100):
            page = await self.request(
                "list",
                kind.replace("_", " "),
                functools.partial(_list_page, kind=kind, cursor=cursor),
            )
            found.extend(getattr(page, kind))
            cursor = page.next_cursor
            if cursor is None:
                break
        return tuple(found)

    async def request(self, verb: str, what: str, send: Callable[[mcp.Client], Any]) -> Any:
        """``await send(client)`` on the live connection, within ``timeout``; a refusal
        raises ``MCPError`` and a lost connection ``MCPConnectionError``, naming the server."""
        connection = await self.connect()
        assert connection.client is not None
        with anyio.move_on_after(self.timeout) as scope:
            try:
                return await send(connection.client)
            except mcp.MCPError as exc:
                if exc.code != mcp_types.CONNECTION_CLOSED:
                    raise MCPError(
                        f"MCP server {self.label} could not {verb} {what!r}: {exc}"
                    ) from exc
                lost: BaseException = exc
            except Exception as exc:
                lost = _leaf(exc)
            connection.close.set()
            raise MCPConnectionError(
                f"MCP server {self.label} stopped answering while asked to {verb} {what!r} "
                f"({type(lost).__name__}: {lost}); it will be started again at the next use."
            ) from lost
        assert scope.cancelled_caught
        raise MCPError(
            f"MCP server {self.label} did not {verb} {what!r} within {self.timeout:g} s."
        )

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
            except RuntimeError as exc:  # the SDK checked the result against the output schema
                if not connection.alive:
                    return self._lost(connection, name, exc)
                return _error(f"MCP server {self.label} answered {name} wrongly: {exc}")
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


def _list_page(client: mcp.Client, *, kind: str, cursor: str | None) -> Any:
    return getattr(client, f"list_{kind}")(cursor=cursor)


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


def _client_factory(
    server: Any, transport: Callable[[], Any] | None = None
) -> Callable[..., mcp.Client]:
    def make(on_message: Any, sampling: Any = None, elicitation: Any = None) -> mcp.Client:
        target = transport() if transport is not None else server
        return mcp.Client(
            target,
            message_handler=on_message,
            sampling_callback=sampling,
            elicitation_callback=elicitation,
            cache=None,
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
