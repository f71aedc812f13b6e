"""An agent served over MCP: ``agent.to_mcp()`` and ``agentkit mcp FILE.py:agent``.

::

    server = agent.to_mcp()                    # an mcp.server.lowlevel.Server
    # agentkit mcp app.py:agent                the same over stdio
    # agentkit mcp app.py:agent --http 8000    over streamable HTTP, at /mcp

The agent is one tool, named after the agent (``agent.name``), taking one string argument,
``prompt``; its result is the run's output: text, or, for a structured ``output_type``, JSON
text plus ``structuredContent`` that matches the tool's ``outputSchema`` (a non-object type
is wrapped as ``{"result": ...}``, as agentkit asks the model for it). With
``expose_tools=True`` the agent's own function tools are offered too, called directly (no
model): tools that need approval are not offered that way (nobody could approve them), and
MCP servers the agent uses are not re-exported.

While a run goes, the client gets progress notifications (when it sent a progress token):
one per model answer (naming the tools it called) and per tool call done, with a message.
Cancelling the call (``notifications/cancelled``, or abandoning a 2026 request) cancels the
run. The result's ``_meta`` carries the run's usage under ``agentkit/usage``.

Approvals: when the run pauses for a tool call that needs approval, each waiting call
becomes a form elicitation (``approve``: boolean, ``reason``: text) to the client; an
accepted ``approve: true`` runs the call, anything else (``approve: false``, decline,
cancel) denies it, with the reason given if any. A 2025-era connection is asked over its
back-channel and the run resumes in the same call. On a 2026-era connection (no
back-channel), the call returns ``InputRequiredResult`` with the elicitations and an opaque
``requestState``; the client's retry carries the answers and the run resumes from where it
paused (paused runs are kept in memory, the newest 256, each answered once). A client that
declared no elicitation capability gets a tool error naming the calls that needed approval.

Why the low-level ``Server`` and not ``MCPServer`` (the SDK's FastMCP): the tools here are
agentkit's, with their JSON schemas already built, not Python signatures to introspect; the
agent's tool must answer ``InputRequiredResult`` and set ``_meta``, which the high-level
decorators do not expose; and the low-level server serves both protocol eras unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import mcp_types as types
import pydantic
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from agentkit._errors import AgentkitError, ConfigurationError, ModelRetry
from agentkit.approval import ApprovalRequest, Decision, Denied
from agentkit.events import (
    AgentEvent,
    AgentToolEvent,
    ModelResponseEvent,
    RunResult,
    ToolCallFinishedEvent,
)
from agentkit.messages import AudioPart, ImagePart, MediaPart, Message
from agentkit.output import OutputSchema
from agentkit.tools import RunContext, Tool, ToolArgumentsError, tool_result_content
from agentkit.usage import Usage
from agentkit.version import __version__

if TYPE_CHECKING:
    from agentkit.agent import Agent
    from agentkit.models.base import Model

__all__ = ["USAGE_META_KEY", "agent_server"]

USAGE_META_KEY = "agentkit/usage"
"""The key of the run's usage in a result's ``_meta``."""

_MCP_TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
"""Tool names MCP clients accept (the specification's pattern)."""

_MAX_PAUSED = 256
"""Paused runs kept for their client's answer (2026-era connections); the oldest go first."""

_APPROVAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "approve": {
            "type": "boolean",
            "title": "Allow this call",
            "description": "true runs the tool call; false denies it (the agent is told).",
        },
        "reason": {
            "type": "string",
            "title": "Reason",
            "description": "Why you deny it (optional; the agent reads it).",
        },
    },
    "required": ["approve"],
}


def agent_server(
    agent: Agent[Any, Any],
    *,
    model: Model | str | None = None,
    deps: Any = None,
    expose_tools: bool = False,
    description: str | None = None,
) -> Server[Any]:
    """``agent`` as an MCP server (see the module's docstring); what ``Agent.to_mcp()`` returns.

    ``model`` overrides the agent's for every run; ``deps`` are every run's (and every
    exposed tool call's) dependencies."""
    served = _Served(agent, model, deps, expose_tools, description)
    return Server(
        agent.name,
        version=__version__,
        instructions=description,
        on_list_tools=served.list_tools,
        on_call_tool=served.call_tool,
    )


@dataclass(frozen=True, slots=True)
class _Paused:
    """A run paused for approvals, waiting for its client's answers (2026-era connections)."""

    messages: list[Message]
    usage: Usage
    requests: tuple[ApprovalRequest, ...]


class _Served:
    """The handlers, around one agent."""

    def __init__(
        self,
        agent: Agent[Any, Any],
        model: Model | str | None,
        deps: Any,
        expose_tools: bool,
        description: str | None,
    ) -> None:
        if not _MCP_TOOL_NAME.match(agent.name):
            raise ConfigurationError(
                f"The agent's name {agent.name!r} cannot be an MCP tool name (1 to 128 letters, "
                "digits, '_', '-' or '.'). Name the agent so: Agent(..., name='my_agent')."
            )
        self.agent = agent
        self.model = model
        self.deps = deps
        self.output: OutputSchema[Any] | None = (
            None if agent.output_type is str else OutputSchema(agent.output_type)
        )
        self.adapter: pydantic.TypeAdapter[Any] | None = (
            None if self.output is None else pydantic.TypeAdapter(agent.output_type)
        )
        self.tools: dict[str, Tool[Any]] = {}
        if expose_tools:
            self.tools = {n: t for n, t in agent.tools.items() if t.needs_approval is False}
            if agent.name in self.tools:
                raise ConfigurationError(
                    f"The agent and one of its tools are both named {agent.name!r}; MCP tool "
                    "names must differ. Rename the agent (name=...) or the tool."
                )
        self.description = description or (
            f"Ask the agent {agent.name!r}: send it a prompt; it works on it (with its own "
            "tools) and answers."
        )
        self.paused: OrderedDict[str, _Paused] = OrderedDict()

    # -- tools/list -------------------------------------------------------------------------

    async def list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        tools = [self._agent_tool()]
        tools += [
            types.Tool(name=t.name, description=t.description, input_schema=t.parameters)
            for t in self.tools.values()
        ]
        return types.ListToolsResult(tools=tools)

    def _agent_tool(self) -> types.Tool:
        prompt = {"type": "string", "description": "What to ask the agent."}
        return types.Tool(
            name=self.agent.name,
            description=self.description,
            input_schema={
                "type": "object",
                "properties": {"prompt": prompt},
                "required": ["prompt"],
            },
            output_schema=None if self.output is None else self.output.schema,
        )

    # -- tools/call -------------------------------------------------------------------------

    async def call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        if params.name == self.agent.name:
            return await self._call_agent(ctx, params)
        tool = self.tools.get(params.name)
        if tool is None:
            names = ", ".join([self.agent.name, *self.tools])
            raise MCPError(
                types.INVALID_PARAMS, f"Unknown tool {params.name!r}; this server has: {names}."
            )
        return await _call_tool(tool, params.arguments or {}, self.deps)

    async def _call_agent(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        progress = _Progress(ctx)
        start: dict[str, Any]
        if params.request_state is not None:  # a 2026-era retry that answers approvals
            paused = self.paused.pop(params.request_state, None)
            if paused is None:
                return _error(
                    "This approval answer is for a paused run this server no longer holds (it "
                    "was answered already, or the server restarted). Call the tool again."
                )
            decisions = _decisions(paused.requests, params.input_responses or {})
            start = _resume(paused.messages, paused.usage, decisions)
        else:
            prompt = (params.arguments or {}).get("prompt")
            if not isinstance(prompt, str):
                return _error(
                    f"The {self.agent.name!r} tool takes one argument, 'prompt', a string; "
                    f"got arguments {params.arguments!r}."
                )
            start = {"prompt": prompt}
        while True:
            try:
                result = await self._run(start, progress)
            except AgentkitError as exc:
                spent = getattr(exc, "usage", None)  # UsageLimitExceeded says what was spent
                usage = spent if isinstance(spent, Usage) else None
                return _error(f"{type(exc).__name__}: {exc}", usage=usage)
            if not result.is_paused:
                return self._success(result)
            requests = result.approvals_needed
            if not _can_elicit(ctx):
                names = ", ".join(sorted({r.tool_name for r in requests}))
                return _error(
                    f"The agent paused: its calls to {names} need a person's approval, and this "
                    "MCP client cannot ask (it declared no elicitation capability). Use a client "
                    "that supports elicitation, or serve an agent whose tools need no approval.",
                    usage=result.usage,
                )
            if not ctx.session.can_send_request:  # 2026 era: ask in the result, resume on retry
                return self._ask_in_result(result)
            answers: dict[str, types.InputResponse] = {}
            for request in requests:
                await progress.report(f"waiting for approval of {request.tool_name}")
                try:
                    answers[request.key] = await ctx.session.elicit_form(
                        _approval_message(self.agent.name, request),
                        _APPROVAL_SCHEMA,
                        related_request_id=ctx.request_id,
                    )
                except MCPError as exc:
                    return _error(
                        f"The agent paused for approval of {request.tool_name}, and asking the "
                        f"client failed: {exc.message}",
                        usage=result.usage,
                    )
            start = _resume(result.messages, result.usage, _decisions(requests, answers))

    def _ask_in_result(self, result: RunResult[Any]) -> types.InputRequiredResult:
        """The elicitations for a paused run, its state kept under a token for the retry."""
        token = secrets.token_urlsafe(24)
        requests = result.approvals_needed
        self.paused[token] = _Paused(list(result.messages), result.usage, requests)
        while len(self.paused) > _MAX_PAUSED:
            self.paused.popitem(last=False)
        asks: types.InputRequests = {r.key: _elicit_request(self.agent.name, r) for r in requests}
        return types.InputRequiredResult(input_requests=asks, request_state=token)

    async def _run(self, start: dict[str, Any], progress: _Progress) -> RunResult[Any]:
        async with self.agent.run_stream(model=self.model, deps=self.deps, **start) as stream:
            async for event in stream:
                message = _progress_message(event)
                if message is not None:
                    await progress.report(message)
            return stream.result

    def _success(self, result: RunResult[Any]) -> types.CallToolResult:
        meta = {USAGE_META_KEY: _usage(result.usage)}
        if self.adapter is None or self.output is None:
            content: list[types.ContentBlock] = [types.TextContent(text=str(result.output))]
            return types.CallToolResult(content=content, _meta=meta)
        data = self.adapter.dump_python(result.output, mode="json")
        structured = {"result": data} if self.output.wrapped else data
        text = json.dumps(data, ensure_ascii=False)
        blocks: list[types.ContentBlock] = [types.TextContent(text=text)]
        return types.CallToolResult(content=blocks, structured_content=structured, _meta=meta)


class _Progress:
    """Progress notifications for one call (a no-op when the client sent no token)."""

    def __init__(self, ctx: ServerRequestContext[Any]) -> None:
        self.ctx = ctx
        self.count = 0

    async def report(self, message: str) -> None:
        self.count += 1
        await self.ctx.session.report_progress(self.count, None, message)


def _progress_message(event: AgentEvent, agent: str | None = None) -> str | None:
    """What a run event says as progress (``None``: nothing worth a notification)."""
    prefix = f"{agent}: " if agent else ""
    if isinstance(event, AgentToolEvent):
        return _progress_message(event.event, event.agent)
    if isinstance(event, ModelResponseEvent):
        names = ", ".join(call.name for call in event.response.message.tool_calls)
        return f"{prefix}the model " + (f"called {names}" if names else "answered")
    if isinstance(event, ToolCallFinishedEvent):
        return f"{prefix}{event.name} {'failed' if event.is_error else 'done'}"
    return None


def _can_elicit(ctx: ServerRequestContext[Any]) -> bool:
    capabilities = ctx.session.client_capabilities
    return capabilities is not None and capabilities.elicitation is not None


def _approval_message(agent: str, request: ApprovalRequest) -> str:
    where = f" (inside {request.agent})" if request.agent else ""
    return (
        f"The agent {agent!r}{where} wants to call {request.tool_name} with "
        f"{request.arguments}. Allow it?"
    )


def _elicit_request(agent: str, request: ApprovalRequest) -> types.ElicitRequest:
    return types.ElicitRequest(
        params=types.ElicitRequestFormParams(
            message=_approval_message(agent, request), requested_schema=_APPROVAL_SCHEMA
        )
    )


def _decisions(
    requests: Sequence[ApprovalRequest], answers: Mapping[str, Any]
) -> dict[str, Decision]:
    """The decision for each waiting call from its elicitation answer (a missing or unclear
    answer denies it)."""
    decisions: dict[str, Decision] = {}
    for request in requests:
        answer = answers.get(request.key)
        if not isinstance(answer, types.ElicitResult) or answer.action != "accept":
            action = getattr(answer, "action", "no answer")
            decisions[request.key] = Denied(f"The user did not approve this call ({action}).")
            continue
        content = answer.content or {}
        if content.get("approve") is True:
            decisions[request.key] = True
        else:
            reason = content.get("reason")
            text = reason if isinstance(reason, str) and reason.strip() else None
            decisions[request.key] = Denied(text or "The user denied this tool call.")
    return decisions


def _resume(
    messages: list[Message], usage: Usage, decisions: dict[str, Decision]
) -> dict[str, Any]:
    return {"message_history": messages, "approvals": decisions, "usage": usage}


def _usage(usage: Usage) -> dict[str, Any]:
    return {**dataclasses.asdict(usage), "total_tokens": usage.total_tokens}


def _error(text: str, *, usage: Usage | None = None) -> types.CallToolResult:
    meta = None if usage is None else {USAGE_META_KEY: _usage(usage)}
    content: list[types.ContentBlock] = [types.TextContent(text=text)]
    return types.CallToolResult(content=content, is_error=True, _meta=meta)


async def _call_tool(tool: Tool[Any], arguments: dict[str, Any], deps: Any) -> types.CallToolResult:
    """One of the agent's tools, called directly with the client's arguments (its
    ``RunContext`` has the deps and the tool's name; there is no run, so no messages)."""
    try:
        args = tool.validate_args(json.dumps(arguments))
        value = await tool.run(RunContext(deps=deps, usage=Usage(), tool_name=tool.name), args)
    except ToolArgumentsError as exc:
        return _error(f"Invalid arguments for {tool.name}: {exc}")
    except ModelRetry as exc:
        return _error(str(exc))
    except Exception as exc:  # a tool's own failure is the caller's answer, as in a run
        return _error(f"{tool.name} failed: {type(exc).__name__}: {exc}")
    text, media = tool_result_content(value)
    content: list[types.ContentBlock] = [types.TextContent(text=text)]
    content += [block for part in media if (block := _media_block(part)) is not None]
    return types.CallToolResult(content=content)


def _media_block(part: MediaPart) -> types.ContentBlock | None:
    """An inline image, audio clip or document as MCP content (``None``: by URL or id)."""
    if isinstance(part, AudioPart):
        return types.AudioContent(data=part.data, mime_type=f"audio/{part.format}")
    url = part.url or ""
    if not url.startswith("data:"):
        return None
    header, _, data = url.partition(",")
    mime = header.removeprefix("data:").split(";")[0]
    if isinstance(part, ImagePart):
        return types.ImageContent(data=data, mime_type=mime)
    uri = f"file:///{part.name or 'document'}"
    return types.EmbeddedResource(
        type="resource",
        resource=types.BlobResourceContents(uri=uri, mime_type=mime, blob=data),
    )
