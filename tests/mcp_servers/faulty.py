"""An MCP server over stdio for the fault tests: it can die mid-call or never answer."""

from __future__ import annotations

import os
import signal

import anyio
from mcp.server.mcpserver import MCPServer

server = MCPServer("faulty")


@server.tool()
def pid() -> str:
    """This server's process id."""
    return str(os.getpid())


@server.tool()
def die() -> str:
    """Kill this server in the middle of the call."""
    os.kill(os.getpid(), signal.SIGKILL)
    return "unreachable"


@server.tool()
async def hang() -> str:
    """Never answer."""
    await anyio.sleep_forever()
    return "unreachable"


if __name__ == "__main__":
    server.run("stdio")
