"""MCP servers as toolsets, against real servers: mcp-server-time over stdio, an SDK server
over streamable HTTP on 127.0.0.1, an in-process server, and a stdio server that dies or
hangs mid-call."""

from __future__ import annotations

import base64
import json
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.server.mcpserver import Context
from mcp.server.mcpserver import MCPServer as SDKServer
from mcp.types import CallToolResult
from support import marked_processes

from agentkit import Agent, Hooks, RunInfo, ToolCallFinishedEvent, ToolInvocation, ToolResult
from agentkit.mcp import MCPConnectionError, MCPServer
from agentkit.messages import ImagePart, ToolMessage
from agentkit.testing import ScriptedModel, tool_calls

FAULTY = str(Path(__file__).parent / "mcp_servers" / "faulty.py")
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def _time_server(mark: str, **kwargs: Any) -> MCPServer:
    return MCPServer.stdio(
        sys.executable,
        ["-m", "mcp_server_time", "--local-timezone", "UTC"],
        env={"MCP_TEST_MARK": mark},
        name="time",
        **kwargs,
    )


def _faulty(mark: str, **kwargs: Any) -> MCPServer:
    return MCPServer.stdio(
        sys.executable, [FAULTY], env={"MCP_TEST_MARK": mark}, name="faulty", **kwargs
    )


def _answers(model: ScriptedModel, turn: int) -> list[ToolMessage]:
    """The tool messages sent with request ``turn`` (from 0)."""
    messages = model.requests[turn].messages
    return [m for m in messages if isinstance(m, ToolMessage)]


def _demo_server() -> SDKServer:
    server = SDKServer("demo")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def forecast(city: str) -> CallToolResult:
        """A structured forecast, with no text content."""
        return CallToolResult(content=[], structured_content={"city": city, "temperature_c": 21})

    @server.tool()
    def picture() -> Any:
        """A one-pixel PNG."""
        from mcp.server.mcpserver import Image

        return Image(data=PNG, format="png")

    @server.tool()
    async def grow(ctx: Context) -> str:
        """Add a tool named extra and tell the client."""
        server.add_tool(lambda: "extra!", name="extra", description="Added later.")
        await ctx.notify_tools_changed()  # 2026-era sessions: through subscriptions/listen
        return "grown"

    return server


pytestmark = pytest.mark.anyio


async def test_stdio_time_server_answers_and_leaves_no_process() -> None:
    """A run calls get_current_time on mcp-server-time over stdio; the JSON text reaches the
    model and the server process ends with the run."""
    mark = uuid.uuid4().hex
    model = ScriptedModel([tool_calls(("get_current_time", {"timezone": "Europe/Paris"})), "ok"])
    agent = Agent(model, tools=[_time_server(mark)])
    result = await agent.run("What time is it in Paris?")
    assert result.output == "ok"
    names = [t.name for t in model.requests[0].tools]
    assert names == ["get_current_time", "convert_time"]
    (answer,) = _answers(model, 1)
    assert not answer.is_error
    assert json.loads(answer.content)["timezone"] == "Europe/Paris"
    assert "datetime" in json.loads(answer.content)
    assert marked_processes(mark) == []


async def test_error_results_and_bad_arguments_go_back_to_the_model() -> None:
    """An unknown zone comes back as the server's error text; arguments that fail the
    input schema are refused before the call, as an argument error the model can fix."""
    mark = uuid.uuid4().hex
    model = ScriptedModel(
        [
            tool_calls(("get_current_time", {"timezone": "Mars/Olympus"})),
            tool_calls(("get_current_time", {"zone": 3})),
            "sorry",
        ]
    )
    events = []
    agent = Agent(model, tools=[_time_server(mark)])
    async with agent.run_stream("Time on Mars?") as stream:
        async for event in stream:
            events.append(event)
    (unknown,) = _answers(model, 1)
    assert unknown.is_error and "Mars/Olympus" in unknown.content
    bad = _answers(model, 2)[-1]
    assert bad.is_error
    assert bad.content.startswith("Invalid arguments for tool get_current_time")
    assert "'timezone' is a required property" in bad.content
    finished = [e for e in events if isinstance(e, ToolCallFinishedEvent)]
    assert [e.is_error for e in finished] == [True, True]


class _PidsAtCall(Hooks):
    """Records the marked server processes alive at each tool call."""

    def __init__(self, mark: str) -> None:
        self.mark = mark
        self.seen: list[list[int]] = []

    async def wrap_tool_call(
        self, run: RunInfo, invocation: ToolInvocation, handler: Any
    ) -> ToolResult:
        result: ToolResult = await handler(invocation)
        self.seen.append(marked_processes(self.mark))
        return result


async def test_async_with_keeps_one_connection_across_runs() -> None:
    """Inside ``async with server:`` two runs use the same server process; it ends with the
    block."""
    mark = uuid.uuid4().hex
    server = _time_server(mark)
    hook = _PidsAtCall(mark)
    call = tool_calls(("get_current_time", {"timezone": "UTC"}))
    agent = Agent(ScriptedModel([call, "one", call, "two"]), tools=[server], hooks=[hook])
    async with server:
        await agent.run("first")
        await agent.run("second")
    assert len(hook.seen) == 2 and len(hook.seen[0]) == 1
    assert hook.seen[0] == hook.seen[1]
    assert marked_processes(mark) == []


async def test_runs_without_async_with_each_start_their_own_process() -> None:
    """Without ``async with``, each run opens the server at its start and closes it at its
    end."""
    mark = uuid.uuid4().hex
    hook = _PidsAtCall(mark)
    call = tool_calls(("get_current_time", {"timezone": "UTC"}))
    agent = Agent(
        ScriptedModel([call, "one", call, "two"]), tools=[_time_server(mark)], hooks=[hook]
    )
    await agent.run("first")
    await agent.run("second")
    assert len(hook.seen[0]) == 1 and len(hook.seen[1]) == 1
    assert hook.seen[0] != hook.seen[1]
    assert marked_processes(mark) == []


async def test_prefix_and_filter_chain_in_either_order() -> None:
    """``prefixed`` renames and ``filtered`` names the server's own tool names, chained in
    either order; calls reach the server's own tool."""
    server = MCPServer.in_process(_demo_server())
    one = server.prefixed("demo").filtered(["add"])
    two = server.filtered(lambda t: t.name == "add").prefixed("demo")
    async with server:
        assert [t.name for t in await one.list_tools()] == ["demo_add"]
        assert [t.name for t in await two.list_tools()] == ["demo_add"]
    model = ScriptedModel([tool_calls(("demo_add", {"a": 2, "b": 3})), "5"])
    await Agent(model, tools=[one]).run("2+3?")
    assert _answers(model, 1)[0].content == "5"


async def test_in_process_structured_content_images_and_list_changes() -> None:
    """In process: structured-only results arrive as JSON text, images as images, and a
    tools/list_changed notice adds the new tool to the next request."""
    model = ScriptedModel(
        [
            tool_calls(("forecast", {"city": "Paris"}), ("picture", {})),
            tool_calls(("grow", {})),
            tool_calls(("extra", {})),
            "done",
        ]
    )
    agent = Agent(model, tools=[MCPServer.in_process(_demo_server())])
    await agent.run("go")
    forecast, picture = _answers(model, 1)
    assert json.loads(forecast.content) == {"city": "Paris", "temperature_c": 21}
    assert picture.images and isinstance(picture.images[0], ImagePart)
    assert picture.images[0].url.startswith("data:image/png;base64,")
    assert "extra" not in [t.name for t in model.requests[1].tools]
    assert "extra" in [t.name for t in model.requests[2].tools]
    assert _answers(model, 3)[-1].content == "extra!"


async def test_a_list_change_in_one_run_reaches_the_next_runs() -> None:
    """Runs share the tools built from a server's list until it changes: a change seen in
    one run is what the next run's requests offer, not the list the runs started with."""
    model = ScriptedModel([tool_calls(("grow", {})), "grown", "again", "still"])
    agent = Agent(model, tools=[MCPServer.in_process(_demo_server())])
    async with agent:
        await agent.run("grow")
        await agent.run("and now?")
        await agent.run("and now?")
    offered = [[t.name for t in r.tools] for r in model.requests]
    assert "extra" not in offered[0]
    assert all("extra" in names for names in offered[2:])
    assert offered[2] == offered[3]


async def test_a_server_killed_mid_call_is_an_error_answer_then_reconnects() -> None:
    """A server that dies during a call answers it as an error naming the server; the next
    call starts it again."""
    mark = uuid.uuid4().hex
    model = ScriptedModel([tool_calls(("die", {})), tool_calls(("pid", {})), "ok"])
    await Agent(model, tools=[_faulty(mark)]).run("go")
    (died,) = _answers(model, 1)
    assert died.is_error
    assert "MCP server 'faulty'" in died.content and "started again" in died.content
    answer = _answers(model, 2)[-1]
    assert not answer.is_error and answer.content.isdigit()
    assert marked_processes(mark) == []


async def test_a_call_past_its_timeout_is_an_error_answer() -> None:
    """A call that takes longer than the server's timeout is answered as an error."""
    mark = uuid.uuid4().hex
    model = ScriptedModel([tool_calls(("hang", {})), "ok"])
    await Agent(model, tools=[_faulty(mark, timeout=0.5)]).run("go")
    (answer,) = _answers(model, 1)
    assert answer.is_error and "did not answer hang within 0.5 s" in answer.content
    assert marked_processes(mark) == []


class _Started(Hooks):
    """Sets an event when a tool call starts."""

    def __init__(self) -> None:
        self.started = anyio.Event()

    async def wrap_tool_call(
        self, run: RunInfo, invocation: ToolInvocation, handler: Any
    ) -> ToolResult:
        self.started.set()
        result: ToolResult = await handler(invocation)
        return result


@pytest.mark.anyio_backends("asyncio", "trio")
async def test_a_run_cancelled_mid_call_leaves_no_process_and_no_error() -> None:
    """Cancelling a run while an MCP call is pending ends the server process; nothing but the
    cancellation is raised."""
    mark = uuid.uuid4().hex
    hook = _Started()
    agent = Agent(ScriptedModel([tool_calls(("hang", {})), "ok"]), tools=[_faulty(mark)])
    async with anyio.create_task_group() as tg:

        async def run() -> None:
            await agent.run("go", hooks=[hook])

        tg.start_soon(run)
        await hook.started.wait()
        await anyio.sleep(0.2)  # let the call reach the server
        tg.cancel_scope.cancel()
    assert marked_processes(mark) == []


async def test_a_server_that_does_not_start_fails_the_run_with_its_name() -> None:
    """A command that is not an MCP server fails the run at its start, naming the server."""
    server = MCPServer.stdio(sys.executable, ["-c", "pass"], name="broken")
    agent = Agent(ScriptedModel(["never"]), tools=[server])
    with pytest.raises(MCPConnectionError, match="'broken'"):
        await agent.run("go")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def http_server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """The demo SDK server over streamable HTTP on 127.0.0.1 (uvicorn in a thread); the
    headers of each request are recorded."""
    import uvicorn

    app = _demo_server().streamable_http_app()
    seen: list[dict[str, str]] = []

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append({k.decode(): v.decode() for k, v in scope["headers"]})
        await app(scope, receive, send)

    port = _free_port()
    config = uvicorn.Config(recording, host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/mcp", seen
    finally:
        server.should_exit = True
        thread.join()


async def test_streamable_http_server_with_headers(
    http_server: tuple[str, list[dict[str, str]]],
) -> None:
    """An SDK server over streamable HTTP serves a run; the given headers go with every
    request and stay out of the repr."""
    url, seen = http_server
    server = MCPServer.http(url, headers={"Authorization": "Bearer s3cret"})
    model = ScriptedModel([tool_calls(("add", {"a": 20, "b": 22})), "42"])
    await Agent(model, tools=[server]).run("20+22?")
    assert _answers(model, 1)[0].content == "42"
    assert seen and all(h.get("authorization") == "Bearer s3cret" for h in seen)
    assert "s3cret" not in repr(server)


async def test_streamable_http_server_without_headers(
    http_server: tuple[str, list[dict[str, str]]],
) -> None:
    """A plain URL connects too, and tools from a server and functions sit side by side."""
    url, _ = http_server

    def double(x: int) -> int:
        """Double x."""
        return 2 * x

    model = ScriptedModel([tool_calls(("add", {"a": 1, "b": 2}), ("double", {"x": 4})), "ok"])
    await Agent(model, tools=[double, MCPServer.http(url).filtered(["add"])]).run("go")
    assert [a.content for a in _answers(model, 1)] == ["3", "8"]
    names = [t.name for t in model.requests[0].tools]
    assert names == ["double", "add"]


async def test_a_toolset_tool_named_like_a_function_is_refused() -> None:
    """Two tools with one name (a function and a server's tool) fail the run and say how to
    rename."""

    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    agent = Agent(ScriptedModel(["x"]), tools=[add, MCPServer.in_process(_demo_server())])
    with pytest.raises(Exception, match=r"two tools are named 'add'.*prefixed"):
        await agent.run("go")
