"""``MCPServer``: an MCP server's tools as a toolset, made for stdio, HTTP or in process, with
prefixed and filtered views of one connection."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Self

import mcp
import mcp_types

from agentkit.mcp._client import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_TIMEOUT,
    _client_factory,
    _Connection,
    _errlog,
    _Link,
    _OwnedHTTPTransport,
)
from agentkit.mcp._content import MCPPrompt, prompt_messages, resource_parts
from agentkit.mcp._elicit import ElicitationHandler
from agentkit.mcp._tool import ApprovalRule, MCPTool
from agentkit.messages import ContentPart
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
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        needs_approval: NeedsApproval = False,
        sampling_model: Model | str | None = None,
        elicitation_handler: ElicitationHandler | None = None,
    ) -> MCPServer:
        """A server started as a subprocess, spoken to over its stdin and stdout.

        The process gets the MCP SDK's safe default environment (``PATH``, ``HOME``,
        ``USER``, ``SHELL``, ``TERM``, ``LANG``... not the whole of ``os.environ``) with
        ``env`` added on top. ``name`` is how errors name it (default: the command and
        arguments). ``timeout`` is the limit for each tool call, in seconds;
        ``connect_timeout`` (30 s by default) for starting the server and the MCP
        handshake: a server that does not finish in time is stopped and the run (or the
        ``async with``) fails with ``MCPConnectionError`` naming it.

        ``needs_approval`` pauses a run before the tools it names run, as
        ``@tool(needs_approval=...)`` does (see ``NeedsApproval``). ``sampling_model``
        (opt-in) answers the server's sampling requests; without it they are refused.
        ``elicitation_handler`` answers the server's questions to the user (see
        ``Elicitation``); without it they are declined. All are the same for ``http`` and
        ``in_process``.
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
        link.connect_timeout, link.elicitation_handler = connect_timeout, elicitation_handler
        return cls(link, _approval=needs_approval)

    @classmethod
    def http(
        cls,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        name: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        needs_approval: NeedsApproval = False,
        sampling_model: Model | str | None = None,
        elicitation_handler: ElicitationHandler | None = None,
    ) -> MCPServer:
        """A server reached over streamable HTTP at ``url`` (e.g. ``http://host:8000/mcp``).

        ``headers`` go with every request (an ``Authorization`` header, say); they never
        appear in errors or in the repr.
        """
        label = repr(name or url.split("?", 1)[0])
        factory = _client_factory(url)
        if headers:
            sent = dict(headers)

            def transport() -> Any:
                import httpx2
                from mcp.client.streamable_http import streamable_http_client

                return _OwnedHTTPTransport(url, sent, httpx2, streamable_http_client)

            factory = _client_factory(None, transport)
        link = _Link(label, factory, timeout, sampling_model)
        link.connect_timeout, link.elicitation_handler = connect_timeout, elicitation_handler
        return cls(link, _approval=needs_approval)

    @classmethod
    def in_process(
        cls,
        server: Any,
        *,
        name: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        needs_approval: NeedsApproval = False,
        sampling_model: Model | str | None = None,
        elicitation_handler: ElicitationHandler | None = None,
    ) -> MCPServer:
        """An SDK server object (``mcp.server.mcpserver.MCPServer`` or a low-level
        ``Server``) in this process: no subprocess, no sockets."""
        label = repr(name or getattr(server, "name", None) or "in-process")
        link = _Link(label, _client_factory(server), timeout, sampling_model)
        link.connect_timeout, link.elicitation_handler = connect_timeout, elicitation_handler
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

    @property
    def elicitation_handler(self) -> ElicitationHandler | None:
        """What answers the server's elicitations (shared by every view of this server; set
        it to change it, even while connected). ``None``: they are declined."""
        return self._link.elicitation_handler

    @elicitation_handler.setter
    def elicitation_handler(self, handler: ElicitationHandler | None) -> None:
        self._link.elicitation_handler = handler

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
            if not _needs_task(spec) and all(keep(spec) for keep in self._filters)
        )
        self._cache = (connection, connection.version, tools)
        return tools

    # -- resources and prompts ----------------------------------------------------------

    async def list_resources(self) -> tuple[mcp_types.Resource, ...]:
        """The server's resources (every page), listed again after the server says the list
        changed (``notifications/resources/list_changed``)."""
        return await self._link.resources()

    async def list_resource_templates(self) -> tuple[mcp_types.ResourceTemplate, ...]:
        """The server's resource templates (``uri_template`` with ``{name}`` variables: fill
        them, e.g. with ``str.format``, and read the URI)."""
        return await self._link.pages("resource_templates")

    async def resources_changed(self) -> None:
        """Wait until the server says its list of resources changed."""
        await self._link.resources_changed.wait()

    async def read_resource(self, uri: str) -> tuple[ContentPart, ...]:
        """The resource at ``uri`` as message parts: text as ``TextPart``, images as
        ``ImagePart`` (ready for ``UserMessage(content=...)``); other binary contents as a
        ``TextPart`` naming them. Raises ``MCPToolError`` naming the server and the URI when
        the server cannot read it."""
        result = await self._link.request("read", uri, lambda c: c.read_resource(uri))
        return resource_parts(result.contents)

    async def list_prompts(self) -> tuple[mcp_types.Prompt, ...]:
        """The server's prompt templates (every page), with their arguments."""
        return await self._link.pages("prompts")

    async def get_prompt(self, name: str, arguments: Mapping[str, str] | None = None) -> MCPPrompt:
        """The prompt ``name`` filled with ``arguments``: its messages (the start of a
        conversation) and its text (usable as instructions)."""
        args = dict(arguments or {})
        result = await self._link.request(
            "get the prompt", name, lambda c: c.get_prompt(name, args)
        )
        return MCPPrompt(name, result.description, prompt_messages(result.messages))


def _needs_task(spec: mcp_types.Tool) -> bool:
    """Whether the server takes calls to the tool only as tasks (``taskSupport: required``):
    not offered, since the installed MCP SDK (2.3) cannot make task-augmented calls (its
    session rejects the ``CreateTaskResult`` a ``tools/call`` then answers)."""
    execution = spec.execution
    return execution is not None and execution.task_support == "required"


def _approval_for(rule: NeedsApproval, name: str) -> ApprovalRule:
    """What ``needs_approval`` says for the server's tool ``name``."""
    if isinstance(rule, bool) or callable(rule):
        return rule
    if isinstance(rule, str):
        return rule == name
    if isinstance(rule, Mapping):
        return rule.get(name, False)
    return name in rule
