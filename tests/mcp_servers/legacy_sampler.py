"""An MCP server over stdio that speaks only the 2025 handshake era (as servers built on
SDK 1.x do: ``server/discover`` is unknown to it), whose tools sample through the legacy
server-to-client ``sampling/createMessage`` request, answered in the client session's
own task (not the tool call's)."""

from __future__ import annotations

import warnings

import anyio
import mcp_types as t
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

warnings.simplefilter("ignore")  # create_message is deprecated from 2026-07-28 on

server = MCPServer("legacy-writer")


@server.tool()
async def poem(topic: str, ctx: Context) -> str:
    """Write a poem about a topic, with the client's model."""
    answer = await ctx.session.create_message(
        [
            t.SamplingMessage(
                role="user", content=t.TextContent(type="text", text=f"A poem on {topic}")
            )
        ],
        max_tokens=40,
        system_prompt="You are a poet.",
    )
    assert isinstance(answer.content, t.TextContent)
    return f"{answer.content.text} [{answer.model}]"


async def main() -> None:
    """Serve stdio, answering ``server/discover`` with "method not found" (so the client
    falls back to the ``initialize`` handshake) and passing everything else on."""
    async with stdio_server() as (read_stream, write_stream):
        send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](0)

        async def relay() -> None:
            async with send:
                async for item in read_stream:
                    message = item.message if isinstance(item, SessionMessage) else None
                    if (
                        isinstance(message, t.JSONRPCRequest)
                        and message.method == "server/discover"
                    ):
                        refusal = t.JSONRPCError(
                            jsonrpc="2.0",
                            id=message.id,
                            error=t.ErrorData(code=t.METHOD_NOT_FOUND, message="Method not found"),
                        )
                        await write_stream.send(SessionMessage(refusal))
                    else:
                        await send.send(item)

        lowlevel = server._lowlevel_server  # the SDK's own runner, on the filtered stream
        async with anyio.create_task_group() as tg:
            tg.start_soon(relay)
            await lowlevel.run(receive, write_stream, lowlevel.create_initialization_options())
            tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
