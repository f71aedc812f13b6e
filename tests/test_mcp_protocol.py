"""The MCP client beyond tools: a connect deadline, tools that need tasks, elicitation,
resources and prompts, structured content that does not fit its schema (against in-process
SDK servers and small stdio servers of our own)."""

from __future__ import annotations

import base64
import json
import socket
import sys
import uuid
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import mcp_types as t
import pytest
from mcp.server.mcpserver import Context
from mcp.server.mcpserver import MCPServer as SDKServer
from mcp.types import CallToolResult
from pydantic import BaseModel
from support import marked_processes

from agentkit import Agent
from agentkit.mcp import Elicitation, ElicitationReply, MCPConnectionError, MCPServer
from agentkit.messages import ImagePart, TextPart
from agentkit.testing import ScriptedModel

pytestmark = pytest.mark.anyio

SERVERS = Path(__file__).parent / "mcp_servers"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def _silent(mark: str) -> MCPServer:
    return MCPServer.stdio(
        sys.executable,
        [str(SERVERS / "silent.py")],
        env={"MCP_TEST_MARK": mark},
        name="silent",
        connect_timeout=0.5,
    )


@pytest.mark.anyio_backends("asyncio", "trio")
async def test_a_server_that_never_answers_initialize_fails_async_with_and_is_stopped() -> None:
    """A process that never answers the handshake fails ``async with`` after
    ``connect_timeout`` with an error naming it, and its process is gone."""
    mark = uuid.uuid4().hex
    with pytest.raises(MCPConnectionError, match=r"'silent' did not finish connecting .* 0\.5 s"):
        async with _silent(mark):
            pass
    assert marked_processes(mark) == []


async def test_a_server_that_never_answers_initialize_fails_the_run() -> None:
    """The same server among an agent's tools fails the run before any model request."""
    mark = uuid.uuid4().hex
    model = ScriptedModel(["never"])
    with pytest.raises(MCPConnectionError, match="'silent'"):
        await Agent(model, tools=[_silent(mark)]).run("go")
    assert model.requests == []
    assert marked_processes(mark) == []


async def test_an_http_server_that_never_answers_fails_within_the_deadline() -> None:
    """A URL whose port takes the connection but never answers fails ``async with`` after
    ``connect_timeout``, naming the server."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # never accepted: the request waits forever
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/mcp"
        server = MCPServer.http(url, name="mute", connect_timeout=0.5)
        with pytest.raises(MCPConnectionError, match="'mute' did not finish connecting"):
            async with server:
                pass


async def test_task_only_tools_are_not_offered_and_optional_ones_are_called_plainly() -> None:
    """Of a 2025-11-25 server's tools, the one with ``taskSupport: required`` is left out;
    the ``optional`` one is offered and called without a task (the server refuses tasks)."""
    server = MCPServer.stdio(sys.executable, [str(SERVERS / "task_tools.py")], name="tasks")
    async with server:
        tools = {t.name: t for t in await server.list_tools()}
        assert list(tools) == ["lookup"]
        result = await tools["lookup"](word="bee")
    assert (result.content, result.is_error) == ("bee: found", False)


def _asking_server() -> SDKServer:
    """A 2026-era server whose tool asks the user for an email address (an elicitation
    embedded in the tool's ``InputRequiredResult``)."""
    server = SDKServer("asking")

    @server.tool()
    async def subscribe(ctx: Context) -> str | t.InputRequiredResult:
        """Ask the user for an email address and subscribe it."""
        responses = ctx.input_responses
        if not responses:
            form = t.ElicitRequestFormParams(
                message="Which address?",
                requested_schema={
                    "type": "object",
                    "properties": {"email": {"type": "string"}},
                    "required": ["email"],
                },
            )
            return t.InputRequiredResult(input_requests={"email": t.ElicitRequest(params=form)})
        answer = responses["email"]
        assert isinstance(answer, t.ElicitResult)
        if answer.action == "accept" and answer.content:
            return f"subscribed {answer.content['email']}"
        return f"not subscribed ({answer.action})"

    return server


async def test_a_sync_handler_answers_and_a_failing_one_is_an_error_for_the_server() -> None:
    """A plain function can answer an elicitation; a handler that raises makes the server's
    request fail (the tool reports it), and the handler can be changed while connected."""
    asked: list[Elicitation] = []

    def answer(request: Elicitation) -> ElicitationReply:
        asked.append(request)
        return ElicitationReply.accept({"email": "ada@example.com"})

    def broken(request: Elicitation) -> ElicitationReply:
        raise RuntimeError("no terminal")

    server = MCPServer.in_process(_asking_server(), elicitation_handler=answer)
    async with server:
        [subscribe] = await server.list_tools()
        assert (await subscribe()).content == "subscribed ada@example.com"
        server.elicitation_handler = broken
        failed = await subscribe()
        server.elicitation_handler = lambda r: ElicitationReply.cancel()
        cancelled = await subscribe()
    assert asked[0].message == "Which address?" and asked[0].required == ("email",)
    assert failed.is_error and "RuntimeError: no terminal" in failed.content
    assert cancelled.content == "not subscribed (cancel)"


class _Weather(BaseModel):
    city: str
    temperature_c: int


class _Library(SDKServer):
    """Lists ``forecast`` with the output schema of ``weather`` (which it does not keep)."""

    async def list_tools(self) -> list[t.Tool]:
        tools = await super().list_tools()
        schema = _Weather.model_json_schema()
        return [
            tool.model_copy(update={"output_schema": schema}) if tool.name == "forecast" else tool
            for tool in tools
        ]


def _library() -> SDKServer:
    server = _Library("library")

    @server.resource("file:///logo.png", mime_type="image/png")
    def logo() -> bytes:
        """The logo."""
        return PNG

    @server.resource("file:///archive.zip", mime_type="application/zip")
    def archive() -> bytes:
        """An archive."""
        return b"PK\x03\x04 not really"

    @server.prompt()
    def review(code: str) -> list[Any]:
        """Ask for a review of ``code``."""
        from mcp.server.mcpserver.prompts.base import AssistantMessage, UserMessage

        return [
            UserMessage(f"Review this: {code}"),
            AssistantMessage("What should I look for?"),
            UserMessage("Bugs."),
        ]

    @server.tool()
    def forecast(city: str) -> CallToolResult:
        """A forecast whose structured content misses a field its schema (below) requires."""
        return CallToolResult(content=[], structured_content={"city": city})

    @server.tool()
    async def publish(title: str, ctx: Context) -> str:
        """Add a text resource and tell the client its list of resources changed."""
        from mcp.server.mcpserver.resources import TextResource

        uri = f"file:///{title}.txt"
        server.add_resource(TextResource(uri=uri, name=title, text=f"all about {title}"))
        await ctx.notify_resources_changed()  # 2026-era sessions: through subscriptions/listen
        return uri

    @server.tool()
    def weather(city: str) -> _Weather:
        """A forecast as its schema says."""
        return _Weather(city=city, temperature_c=21)

    return server


async def test_binary_resources_become_images_or_are_named() -> None:
    """An image resource is an image part; other binary data is named, not sent as text."""
    async with MCPServer.in_process(_library()) as server:
        [image] = await server.read_resource("file:///logo.png")
        [archive] = await server.read_resource("file:///archive.zip")
    assert isinstance(image, ImagePart) and image.url.startswith("data:image/png;base64,")
    assert archive == TextPart(text="[resource file:///archive.zip: application/zip, 15 bytes]")


async def test_a_prompt_of_several_turns_starts_a_conversation() -> None:
    """A prompt's last user message is the run's prompt and the turns before it its history."""
    async with MCPServer.in_process(_library()) as server:
        review = await server.get_prompt("review", {"code": "x = 1"})
    model = ScriptedModel(["Looks fine."])
    await Agent(model).run(review.prompt, message_history=review.history)
    sent = [(m.role, m.content) for m in model.requests[0].messages]
    assert sent == [
        ("user", "Review this: x = 1"),
        ("assistant", "What should I look for?"),
        ("user", "Bugs."),
    ]


async def test_structured_content_that_misses_its_schema_is_an_error_answer() -> None:
    """Structured content that does not match the tool's outputSchema goes back to the model
    as an error naming the server and the tool; the connection stays and serves the next
    call, whose valid structured content is the JSON the model gets."""
    async with MCPServer.in_process(_library()) as server:
        tools = {t.name: t for t in await server.list_tools()}
        wrong = await tools["forecast"](city="Oslo")
        right = await tools["weather"](city="Oslo")
    assert wrong.is_error
    assert "MCP server 'library' answered forecast wrongly" in wrong.content
    assert "'temperature_c' is a required property" in wrong.content
    assert json.loads(right.content) == {"city": "Oslo", "temperature_c": 21}


async def test_a_resource_added_on_a_2026_session_is_announced_and_listed() -> None:
    """On a 2026-era session the list-changed notice comes through ``subscriptions/listen``:
    waiting for ``resources_changed`` ends, and the new resource is listed and read."""
    async with MCPServer.in_process(_library()) as server:
        before = {r.uri for r in await server.list_resources()}
        tools = {t.name: t for t in await server.list_tools()}
        with anyio.fail_after(10):  # a safety net: the notice comes at once
            async with anyio.create_task_group() as tg:
                tg.start_soon(server.resources_changed)
                await anyio.lowlevel.checkpoint()  # let the waiter start before the change
                await tools["publish"](title="bees")
        after = {r.uri for r in await server.list_resources()}
        [part] = await server.read_resource("file:///bees.txt")
    assert after - before == {"file:///bees.txt"}
    assert part == TextPart(text="all about bees")
