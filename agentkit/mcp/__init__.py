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
the next use connects again. Each call has a timeout (60 s by default); connecting (starting
the server, the handshake, the first tool list) has ``connect_timeout`` (30 s by default): a
server that does not finish in time is stopped and ``MCPConnectionError`` names it. The tool
list is fetched once per connection and again after ``notifications/tools/list_changed``.

Tools whose ``execution.taskSupport`` is ``"required"`` are not offered: the MCP SDK (2.3)
defines the task types but its session rejects the ``CreateTaskResult`` such a call answers
(tasks left the core protocol in 2026-07-28). ``"optional"`` tools are called plainly.
Structured content (``structuredContent``, checked by the SDK against the tool's
``outputSchema``) reaches the model as JSON; content that does not fit is an error answer.

Elicitation: a server's question to the user goes to ``elicitation_handler`` (an
``Elicitation`` in, an ``ElicitationReply`` out); without one it is declined, and the tool
learns so. Resources (``list_resources``, ``read_resource`` as message parts,
``list_resource_templates``, ``resources_changed``) and prompts (``list_prompts``,
``get_prompt`` as an ``MCPPrompt``) are methods of ``MCPServer``.

Needs the ``mcp`` package (``pip install -e '.[mcp]'`` in the clone); ``import agentkit`` does not
import this module.
"""

from __future__ import annotations

try:
    import mcp  # noqa: F401
    import mcp_types  # noqa: F401
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError(
        "agentkit.mcp needs the MCP SDK: pip install -e '.[mcp]' in the agentkit clone "
        "(or pip install mcp)"
    ) from exc

# After the SDK check: the submodules import it at their top.
from agentkit._errors import MCPConnectionError, MCPError, MCPToolError
from agentkit.mcp._client import DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT
from agentkit.mcp._content import MCPPrompt
from agentkit.mcp._elicit import Elicitation, ElicitationHandler, ElicitationReply
from agentkit.mcp._tool import ApprovalRule, MCPTool
from agentkit.mcp._toolset import MCPServer, NeedsApproval, ToolFilter

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "ApprovalRule",
    "Elicitation",
    "ElicitationHandler",
    "ElicitationReply",
    "MCPConnectionError",
    "MCPError",
    "MCPPrompt",
    "MCPServer",
    "MCPTool",
    "MCPToolError",
    "NeedsApproval",
    "ToolFilter",
]
