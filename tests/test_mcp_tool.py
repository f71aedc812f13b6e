"""An MCP server's tool is a real ``Tool``: every attribute a ``@tool`` has, with sensible
values, and it works wherever a Tool does (views, approvals, ``Agent(tools=[...])``)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from mcp.server.mcpserver import MCPServer as SDKServer

from agentkit import Agent, RunContext, Tool, tool
from agentkit.hooks import ToolResult
from agentkit.mcp import MCPServer
from agentkit.messages import ToolMessage
from agentkit.testing import ScriptedModel, tool_calls
from agentkit.tools import ToolArgumentsError, ToolDefinition

pytestmark = pytest.mark.anyio


@tool
async def plain(account: str, amount: int) -> str:
    """Move money out of an account."""
    return f"sent {amount} EUR from {account}"


def _bank() -> tuple[SDKServer, list[str]]:
    """An in-process server with a transfer tool; ``done`` records its calls."""
    server = SDKServer("bank")
    done: list[str] = []

    @server.tool()
    def transfer(account: str, amount: int) -> str:
        """Move money out of an account."""
        done.append(f"transfer {account} {amount}")
        return f"sent {amount} EUR from {account}"

    @server.tool()
    def balance(account: str) -> str:
        """The balance of an account."""
        return f"{account}: 100 EUR"

    return server, done


def _large(ctx: RunContext[Any], args: dict[str, Any]) -> bool:
    return bool(args["amount"] > 100)


async def test_an_mcp_tool_has_every_attribute_of_a_plain_tool() -> None:
    """Every public attribute and dunder a @tool instance has, an MCPTool has too, with
    values that describe the server's tool under its exposed (prefixed) name."""
    server, _ = _bank()
    view = MCPServer.in_process(server, needs_approval={"transfer": _large})
    async with view.filtered(["transfer"]).prefixed("bank") as bank:
        (remote,) = await bank.list_tools()
    assert isinstance(remote, Tool)
    wanted = {k for k in vars(plain) if not k.startswith("_") or k.startswith("__")}
    assert wanted <= set(vars(remote)), wanted - set(vars(remote))
    public = {a for a in dir(plain) if not a.startswith("_")}
    assert public <= set(dir(remote)), public - set(dir(remote))

    assert remote.name == remote.__name__ == vars(remote)["__qualname__"] == "bank_transfer"
    assert remote.description == remote.__doc__ == "Move money out of an account."
    assert remote.parameters["properties"].keys() == {"account", "amount"}
    assert remote.definition == ToolDefinition(
        name="bank_transfer", description=remote.description, parameters=remote.parameters
    )
    assert (remote.strict, remote.takes_ctx, remote.is_async, remote.emits_events) == (
        None,
        False,
        True,
        False,
    )
    assert remote.needs_approval is _large
    assert remote.__module__ == "agentkit.mcp"
    assert vars(remote)["__wrapped__"] is remote.function
    assert inspect.iscoroutinefunction(remote.function)
    assert remote.function.__name__ == "bank_transfer"
    assert repr(remote) == "MCPTool(name='bank_transfer', server='bank')"


async def test_calling_an_mcp_tool_calls_the_server() -> None:
    """As calling a @tool calls its function, calling an MCPTool (and its function) calls
    the server's tool, by its own name, and gives the ToolResult."""
    server, done = _bank()
    async with MCPServer.in_process(server).prefixed("bank") as bank:
        tools = {t.name: t for t in await bank.list_tools()}
        result = await tools["bank_transfer"](account="A1", amount=5)
        again = await tools["bank_transfer"].function(account="A2", amount=6)
    assert isinstance(result, ToolResult)
    assert (result.content, again.content) == ("sent 5 EUR from A1", "sent 6 EUR from A2")
    assert done == ["transfer A1 5", "transfer A2 6"]


async def test_an_mcp_tool_listed_from_an_open_server_works_as_a_static_tool() -> None:
    """An MCPTool taken from a filtered, prefixed view can be passed in Agent(tools=[...])
    like any Tool, beside a plain one; its approval rule pauses the run like @tool's."""
    server, done = _bank()
    view = MCPServer.in_process(server, needs_approval={"transfer": _large})
    async with view.filtered(["transfer"]).prefixed("bank") as bank:
        (remote,) = await bank.list_tools()
        model = ScriptedModel(
            [tool_calls(("bank_transfer", {"account": "A1", "amount": 20})), "sent"]
        )
        agent = Agent(model, tools=[remote])
        assert (await agent.run("send 20")).output == "sent"
        big = ScriptedModel([tool_calls(("bank_transfer", {"account": "A1", "amount": 500}))])
        paused = await Agent(big, tools=[remote]).run("send 500")
    assert [r.tool_name for r in paused.approvals_needed] == ["bank_transfer"]
    assert done == ["transfer A1 20"]
    answers = [m for m in model.requests[1].messages if isinstance(m, ToolMessage)]
    assert answers[0].content == "sent 20 EUR from A1"


async def test_arguments_are_checked_against_the_server_schema() -> None:
    """validate_args keeps the fast path for the common schema and still names every
    error a mismatch has."""
    server, _ = _bank()
    async with MCPServer.in_process(server) as bank:
        tools = {t.name: t for t in await bank.list_tools()}
    transfer = tools["transfer"]
    assert transfer._quick is not None
    assert transfer.validate_args('{"account": "A1", "amount": 3}') == {
        "account": "A1",
        "amount": 3,
    }
    with pytest.raises(ToolArgumentsError, match="2 errors"):
        transfer.validate_args('{"amount": "x"}')


async def test_arguments_with_a_raw_newline_are_read() -> None:
    """Arguments a model wrote with a raw newline inside a string are read, as for a
    Python tool."""
    server, _ = _bank()
    async with MCPServer.in_process(server) as bank:
        tools = {t.name: t for t in await bank.list_tools()}
    args = tools["transfer"].validate_args('{"account": "A\n1", "amount": 3}')
    assert args == {"account": "A\n1", "amount": 3}
