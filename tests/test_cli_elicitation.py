"""``agentkit chat`` asks the user in the terminal when an MCP server elicits: y/n, then each
field of the form, checked and asked again until it fits; "n" declines, Ctrl-D cancels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mcp_types as t
import pytest
from anyio.from_thread import start_blocking_portal
from mcp.server.mcpserver import Context
from mcp.server.mcpserver import MCPServer as SDKServer
from support import TextSink, line_reader

from agentkit import Agent
from agentkit.cli import ChatSession
from agentkit.cli._chat import chat_loop
from agentkit.cli._elicit import ask_in_terminal
from agentkit.cli._load import load_tools
from agentkit.cli._render import PlainRenderer
from agentkit.mcp import ElicitationReply, MCPServer
from agentkit.messages import ToolMessage
from agentkit.testing.scripted import ScriptedModel, text, tool_calls

pytestmark = pytest.mark.usefixtures("no_keys")

FORM = {
    "type": "object",
    "properties": {
        "email": {"type": "string", "title": "Email", "description": "where to write"},
        "copies": {"type": "integer", "minimum": 1, "maximum": 3},
        "urgent": {"type": "boolean"},
        "plan": {"type": "string", "enum": ["free", "pro"], "default": "free"},
        "note": {"type": "string"},
    },
    "required": ["email", "copies", "urgent"],
}


def _signup() -> SDKServer:
    """A 2026-era server whose tool asks the user to fill in ``FORM``."""
    server = SDKServer("signup")

    @server.tool()
    async def sign_up(ctx: Context) -> str | t.InputRequiredResult:
        """Sign the user up, asking for their details."""
        responses = ctx.input_responses
        if not responses:
            form = t.ElicitRequestFormParams(message="Your details?", requested_schema=FORM)
            return t.InputRequiredResult(input_requests={"form": t.ElicitRequest(params=form)})
        answer = responses["form"]
        assert isinstance(answer, t.ElicitResult)
        return f"{answer.action}: {answer.content}"

    return server


def _chat(lines: list[str]) -> tuple[list[str], list[str], str]:
    """Chat with an agent that calls sign_up once, answering with ``lines``: the prompts
    shown, the tool's answers, and what was printed. While a field is asked, the renderer
    waits for nothing (no spinner is drawn over the question)."""
    asked: list[str] = []
    scripted = line_reader(lines, asked)
    out = TextSink()
    renderer = PlainRenderer(out)  # type: ignore[arg-type]

    def read(prompt: str) -> str:
        if prompt.startswith("  "):
            assert renderer._waiting_for is None, renderer._waiting_for
        return scripted(prompt)

    server = MCPServer.in_process(_signup())
    model = ScriptedModel([tool_calls(("sign_up", {})), text("Done.")])
    ask_in_terminal([server], read, renderer)
    with start_blocking_portal() as portal:
        session = ChatSession(Agent(model, tools=[server]), portal, renderer)
        chat_loop(session, read)
    answers = [str(m.content) for m in session.history if isinstance(m, ToolMessage)]
    return asked, answers, out.text


def test_chat_fills_the_form_field_by_field_and_asks_again_until_a_value_fits() -> None:
    """The server's message is shown; each field is asked with its title, description and
    choices; a wrong value is explained and asked again; empty answers take the default or
    leave an optional field out."""
    lines = ["sign me up", "y", "ada@example.com", "five", "9", "2", "maybe", "y", "", ""]
    asked, answers, printed = _chat(lines)
    assert "MCP server 'signup' asks: Your details?" in printed
    assert asked[2:] == [
        "  Email (where to write): ",
        "  copies: ",
        "  copies: ",
        "  copies: ",
        "  urgent [y/n]: ",
        "  urgent [y/n]: ",
        "  plan [one of free, pro; default free]: ",
        "  note [optional]: ",
        "\nyou> ",
    ]
    assert "'five' is not an integer" in printed and "give a value from 1 to 3" in printed
    assert answers == [
        "accept: {'email': 'ada@example.com', 'copies': 2, 'urgent': True, 'plan': 'free'}"
    ]


def test_no_declines_and_ctrl_d_cancels() -> None:
    """Answering "n" declines the elicitation; Ctrl-D in the middle of the form cancels it;
    either way the tool gets the answer and the turn goes on."""
    _, declined, _ = _chat(["sign me up", "n"])
    assert declined == ["decline: None"]
    _, cancelled, printed = _chat(["sign me up", "y", "ada@example.com"])
    assert cancelled == ["cancel: None"]
    assert "(cancelled)" in printed


def test_a_server_with_its_own_handler_keeps_it(tmp_path: Path) -> None:
    """The terminal asks only for servers without a handler; ``--tools`` can name a single
    MCP server."""

    def mine(request: Any) -> ElicitationReply:
        return ElicitationReply.decline()

    server = MCPServer.in_process(_signup(), elicitation_handler=mine)
    ask_in_terminal([server], input, PlainRenderer(TextSink()))  # type: ignore[arg-type]
    assert server.elicitation_handler is mine

    module = tmp_path / "servers.py"
    module.write_text(
        "from mcp.server.mcpserver import MCPServer as SDKServer\n"
        "from agentkit.mcp import MCPServer\n"
        "signup = MCPServer.in_process(SDKServer('signup'))\n"
    )
    [loaded] = load_tools([f"{module}:signup"])
    assert isinstance(loaded, MCPServer) and loaded.name == "'signup'"
