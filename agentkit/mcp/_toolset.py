"""``MCPServer``: an MCP server's tools as a toolset, made for stdio, HTTP or in process, with
prefixed and filtered views of one connection."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Self

import mcp
import mcp_types

from agentkit.mcp._client import (
    DEFAULT_TIMEOUT,
    _client_factory,
    _Connection,
    _errlog,
    _Link,
    _OwnedHTTPTransport,
)
from agentkit.mcp._tool import ApprovalRule, MCPTool
from agentkit.models.base import Model

__all__ = ["MCPServer", "NeedsApproval", "ToolFilter"]

ToolFilter = Iterable[str] | Callable[["mcp_types.Tool"], bool]
"""The server's own tool names to keep, or a predicate on the server's ``mcp.types.Tool``."""

NeedsApproval = ApprovalRule | Collection[str] | Mapping[str, ApprovalRule]
"""Which of a server's tools need approval: ``True`` (all), a callable ``(ctx, args) ->
bool`` (all, decided per call), the server's own names of the tools that do, or a mapping
from those names to ``True`` or a callable (tools not named need none)."""


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


def _approval_for(rule: NeedsApproval, name: str) -> ApprovalRule:
    """What ``needs_approval`` says for the server's tool ``name``."""
    if isinstance(rule, bool) or callable(rule):
        return rule
    if isinstance(rule, str):
        return rule == name
    if isinstance(rule, Mapping):
        return rule.get(name, False)
    return name in rule
