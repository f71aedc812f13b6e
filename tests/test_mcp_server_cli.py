"""``agentkit mcp FILE.py:agent`` in its own process, over stdio and streamable HTTP, driven by
the MCP SDK's own client and by the official MCP Inspector's command-line mode."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp
import mcp_types
import pytest
from mcp.client.session import ClientRequestContext
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from support import node_bin

from agentkit.cli import main
from agentkit.mcp._server import USAGE_META_KEY

APP = str(Path(__file__).resolve().parent / "mcp_agent_app.py")
COMMAND = [sys.executable, "-m", "agentkit.cli", "--plain", "mcp"]


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("AGENTKIT_SERVE_TOKEN", None)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _http_server(target: str, *extra: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``agentkit mcp TARGET --http PORT`` in a process; its URL while it runs, then Ctrl-C."""
    port = _free_port()
    process = subprocess.Popen(
        [*COMMAND, target, "--http", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=_env(),
    )
    try:
        for _ in range(600):  # the process starts (a hang guard, not a timing check)
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert process.poll() is None, process.communicate()[0].decode()
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp", process
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)


async def _approve(
    context: ClientRequestContext, params: mcp_types.ElicitRequestParams
) -> mcp_types.ElicitResult:
    assert "wants to call delete_file" in params.message
    return mcp_types.ElicitResult(action="accept", content={"approve": True})


def _text(result: mcp_types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, mcp_types.TextContent)
    return block.text


async def _status(client: mcp.Client) -> dict[str, int]:
    status: dict[str, int] = json.loads(_text(await client.call_tool("wait_status", {})))
    return status


async def _until(client: mcp.Client, key: str) -> None:
    """Ask the served app's ``wait_status`` until ``key`` counts one (nothing pushes it)."""
    while True:
        if (await _status(client))[key] >= 1:
            return
        await anyio.sleep(0.02)


async def _drive(client: mcp.Client) -> None:
    """Everything a host does with a served agent: list, call with progress, answer an
    approval's elicitation, cancel a run."""
    names = [t.name for t in (await client.list_tools()).tools]
    assert names == ["helper", "get_weather", "wait_forever", "wait_status"]

    seen: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(message)

    result = await client.call_tool(
        "helper", {"prompt": "weather in Oslo"}, progress_callback=on_progress
    )
    assert _text(result) == "done: Oslo: 21 C, sunny"
    assert seen == ["the model called get_weather", "get_weather done", "the model answered"]
    assert result.meta is not None and result.meta[USAGE_META_KEY]["requests"] == 2

    approved = await client.call_tool("helper", {"prompt": "delete notes.txt"})
    assert _text(approved) == "done: deleted notes.txt"

    asked = anyio.Event()

    async def on_wait_progress(progress: float, total: float | None, message: str | None) -> None:
        if message == "the model called wait_forever":
            asked.set()

    with anyio.fail_after(30):  # a hang guard: each step below waits for the server's news
        async with anyio.create_task_group() as tg:

            async def call() -> None:
                await client.call_tool(
                    "helper", {"prompt": "wait"}, progress_callback=on_wait_progress
                )

            tg.start_soon(call)
            await asked.wait()
            await _until(client, "started")
            tg.cancel_scope.cancel()  # the client abandons the call: the server cancels the run
        await _until(client, "cancelled")
    assert await _status(client) == {"started": 1, "cancelled": 1}


@pytest.mark.slow  # a process of its own (and node for the Inspector): > 3 s
@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_sdk_client_drives_agentkit_mcp_over_stdio(mode: str) -> None:
    """Over stdio (2026 and 2025 protocol), the SDK's client lists the agent, calls it with
    progress, answers an approval's elicitation, and cancels a run (the run is cancelled)."""
    params = StdioServerParameters(
        command=COMMAND[0], args=[*COMMAND[1:], f"{APP}:agent", "--expose-tools"], env=_env()
    )
    async with mcp.Client(params, mode=mode, elicitation_callback=_approve) as client:
        await _drive(client)


@asynccontextmanager
async def _http_client(url: str, token: str | None = None, **kwargs: Any) -> AsyncIterator[Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        transport = streamable_http_client(url, http_client=http)
        async with mcp.Client(transport, **kwargs) as client:
            yield client


@pytest.mark.slow  # a process of its own (and node for the Inspector): > 3 s
@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_sdk_client_drives_agentkit_mcp_over_streamable_http(mode: str) -> None:
    """Over streamable HTTP at ``/mcp`` (2026 and 2025 protocol), the SDK's client lists,
    calls with progress, answers an elicitation and cancels a run; Ctrl-C stops the server."""
    with _http_server(f"{APP}:agent", "--expose-tools") as (url, process):
        async with _http_client(url, mode=mode, elicitation_callback=_approve) as client:
            await _drive(client)
    assert process.returncode == 0


@pytest.mark.slow  # a process of its own (and node for the Inspector): > 3 s
@pytest.mark.anyio
async def test_a_token_is_required_on_every_http_request() -> None:
    """With ``--token``, a request without it is refused (401) and the client with it is
    served."""
    with _http_server(f"{APP}:reporter", "--token", "s3cret") as (url, _):
        async with httpx2.AsyncClient() as http:
            refused = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        async with _http_client(url, "s3cret") as client:
            result = await client.call_tool("reporter", {"prompt": "Paris?"})
    assert refused.status_code == 401
    assert result.structured_content == {"city": "Paris", "temperature_c": 21}


def test_a_public_host_without_a_token_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--http`` on a non-loopback host with no token exits with a usage error naming the
    fix, before anything binds."""
    monkeypatch.delenv("AGENTKIT_SERVE_TOKEN", raising=False)
    assert main(["--plain", "mcp", f"{APP}:agent", "--http", "0", "--host", "0.0.0.0"]) == 2
    assert "--token or AGENTKIT_SERVE_TOKEN" in capsys.readouterr().err


def test_host_and_token_without_http_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """``--host`` or ``--token`` over stdio (where they mean nothing) is a usage error that
    says they go with ``--http``."""
    assert main(["--plain", "mcp", f"{APP}:agent", "--token", "s3cret"]) == 2
    assert "--host and --token apply to --http PORT only" in capsys.readouterr().err


def _inspector(*args: str) -> Any:
    """The MCP Inspector's CLI mode run with ``args``; its JSON answer."""
    done = subprocess.run(
        [node_bin("mcp-inspector-cli"), "--cli", *args],
        capture_output=True,
        env=_env(),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    return json.loads(done.stdout)


@pytest.mark.slow  # a process of its own (and node for the Inspector): > 3 s
def test_the_mcp_inspector_lists_and_calls_an_agent_over_stdio() -> None:
    """The official MCP Inspector (CLI mode) starts ``agentkit mcp``, lists the agent's tool
    and calls it: the answer and the usage come back."""
    listed = _inspector(*COMMAND, f"{APP}:agent", "--method", "tools/list")
    assert [t["name"] for t in listed["tools"]] == ["helper"]
    assert listed["tools"][0]["inputSchema"]["required"] == ["prompt"]
    called = _inspector(
        *COMMAND,
        f"{APP}:agent",
        "--method",
        "tools/call",
        "--tool-name",
        "helper",
        "--tool-arg",
        "prompt=weather in Lima",
    )
    assert called["content"] == [{"type": "text", "text": "done: Lima: 21 C, sunny"}]
    assert called["_meta"][USAGE_META_KEY]["tool_calls"] == 1


@pytest.mark.slow  # a process of its own (and node for the Inspector): > 3 s
def test_the_mcp_inspector_calls_a_structured_agent_over_http() -> None:
    """The Inspector reaches ``agentkit mcp --http`` at ``/mcp`` and gets the structured
    output of an agent with an output type."""
    with _http_server(f"{APP}:reporter") as (url, _):
        called = _inspector(
            url, "--method", "tools/call", "--tool-name", "reporter", "--tool-arg", "prompt=x"
        )
    assert called["structuredContent"] == {"city": "Paris", "temperature_c": 21}
    assert called["isError"] is False
