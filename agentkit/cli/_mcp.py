"""``agentkit mcp FILE.py:agent``: an agent as an MCP server, over stdio or streamable HTTP.

::

    agentkit mcp app.py:agent                    # stdio: an MCP host starts this command
    agentkit mcp app.py:agent --http 8000        # http://127.0.0.1:8000/mcp

Over stdio, stdout carries the protocol: everything the command says goes to stderr. Over
HTTP it binds 127.0.0.1 unless ``--host`` says otherwise, and a non-loopback host needs a
token (``--token`` or ``AGENTKIT_SERVE_TOKEN``), then required as ``Authorization: Bearer``
on every request, as ``agentkit serve`` does.
"""

from __future__ import annotations

import argparse
import contextlib
from typing import TYPE_CHECKING, Any

from agentkit._errors import ConfigurationError
from agentkit.cli._load import ModelChoice, load_agent, model_scope, resolve_model
from agentkit.cli._render import Renderer
from agentkit.cli._turns import EXIT_OK

if TYPE_CHECKING:
    from mcp.server.lowlevel import Server

__all__ = ["add_mcp_parser", "cmd_mcp"]


def add_mcp_parser(commands: Any, model_help: str) -> None:
    """The ``mcp`` subcommand's arguments."""
    mcp = commands.add_parser("mcp", help="serve an agent as an MCP server (stdio, or --http)")
    mcp.add_argument("target", metavar="FILE.py:AGENT", help="the agent (or module:attr)")
    mcp.add_argument("--model", help=f"override the agent's model: {model_help}")
    mcp.add_argument(
        "--http",
        type=int,
        metavar="PORT",
        help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio",
    )
    mcp.add_argument("--host", default="127.0.0.1", help="address to bind with --http (127.0.0.1)")
    mcp.add_argument(
        "--token",
        help="with --http, require this bearer token (or set AGENTKIT_SERVE_TOKEN); "
        "needed for a --host other than loopback",
    )
    mcp.add_argument(
        "--expose-tools",
        action="store_true",
        help="offer the agent's own tools too (those that need no approval), besides the agent",
    )


def cmd_mcp(args: argparse.Namespace, renderer: Renderer) -> int:
    """``agentkit mcp FILE.py:AGENT [--http PORT]``."""
    from agentkit.serve import check_bind

    if args.http is None and (args.host != "127.0.0.1" or args.token):
        raise ConfigurationError(
            "--host and --token apply to --http PORT only: over stdio the program that starts "
            "this command is its one client. Add --http PORT, or drop them."
        )
    agent = load_agent(args.target)
    choice = (
        ModelChoice(None) if args.model is None else resolve_model(args.model, local_fallback=False)
    )
    token = check_bind(args.host, args.token) if args.http is not None else None
    with model_scope(choice, renderer) as model:
        server = agent.to_mcp(model=model, expose_tools=args.expose_tools)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a server stops
            if args.http is None:
                import anyio

                anyio.run(_stdio, server)
            else:
                _http(server, args.host, args.http, token, renderer)
    return EXIT_OK


async def _stdio(server: Server[Any]) -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def _http(server: Server[Any], host: str, port: int, token: str | None, renderer: Renderer) -> None:
    import uvicorn

    from agentkit.serve import require_token

    app: Any = server.streamable_http_app(host=host)  # DNS-rebinding checks on loopback
    if token:
        app = require_token(app, token)
    shown = f"[{host}]" if ":" in host else host
    renderer.info(f"Serving {server.name} over MCP at http://{shown}:{port}/mcp")
    if token:
        renderer.info("Every request needs the token: Authorization: Bearer <token>.")
    renderer.info("Ctrl-C stops the server.")
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="on", access_log=False
    )
    uvicorn.Server(config).run()
    renderer.info("stopped")
