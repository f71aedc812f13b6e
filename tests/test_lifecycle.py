"""Who opens and closes connections: runs, ``async with agent``, ``run_sync``, user clients;
and ``agent.override`` for tests."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading

import anyio
import httpx2
import openai
import pytest
from support import model_on

from agentkit import Agent, ConfigurationError
from agentkit.models import OpenAIChatModel
from agentkit.testing import LocalModelServer, ScriptedModel
from agentkit.testing import server as srv

pytestmark = pytest.mark.usefixtures("no_keys")


async def all_closed(server: LocalModelServer) -> None:
    """Wait until the server has seen every connection closed (bounded, not a speed check)."""
    with anyio.fail_after(10):
        while server.open_connections:  # noqa: ASYNC110 (a count kept by the server's threads)
            await anyio.sleep(0.01)


@pytest.mark.anyio
@pytest.mark.anyio_backends("asyncio", "trio")
async def test_runs_on_one_event_loop_share_one_connection() -> None:
    """Fifty ``await agent.run()`` on one event loop, with no ``async with``, send on one
    connection, on asyncio and on trio."""
    with LocalModelServer(lambda request: srv.reply_text("ok")) as server:
        agent = Agent(model_on(server))
        for _ in range(50):
            assert (await agent.run("hi")).output == "ok"
        assert server.connections == 1
        assert len(server.requests) == 50


IN_FLIGHT = 150
"""More runs in flight at once than httpx2's default pool allows connections (100)."""


@pytest.mark.anyio
@pytest.mark.anyio_backends("asyncio", "trio")
async def test_concurrent_runs_on_the_shared_pool_are_all_in_flight_at_once() -> None:
    """150 concurrent ``await agent.run()`` on one event loop, sharing the model's pool, all
    reach the server at once (each answer waits until all 150 requests are in): the pool
    agentkit makes caps neither connections nor requests below that."""
    everyone = threading.Barrier(IN_FLIGHT, timeout=30)  # a bound, not a speed check

    def answer(request: srv.RecordedRequest) -> srv.Reply:
        if request.body["messages"][-1]["content"] == "hi":
            everyone.wait()  # one thread per connection; raises if fewer ever arrive
        return srv.reply_text("ok")

    with LocalModelServer(answer) as server:
        agent = Agent(model_on(server))
        outputs: list[str] = []

        async def one() -> None:
            outputs.append((await agent.run("hi")).output)

        async with anyio.create_task_group() as tg:
            for _ in range(IN_FLIGHT):
                tg.start_soon(one)
        assert outputs == ["ok"] * IN_FLIGHT
        assert server.connections >= IN_FLIGHT  # HTTP/1.1: a request in flight per connection


@pytest.mark.anyio
@pytest.mark.anyio_backends("asyncio", "trio")
async def test_a_model_dropped_while_its_loop_runs_closes_its_connection() -> None:
    """An agent and model built per request and then dropped leave no connection open
    on a long-running event loop (pools do not pile up until the loop ends)."""
    with LocalModelServer(lambda request: srv.reply_text("ok")) as server:
        for _ in range(5):
            assert (await Agent(model_on(server)).run("hi")).output == "ok"
            gc.collect()
        await all_closed(server)
        assert server.connections == 5


DEV_PYTHON = (sys.executable, "-X", "dev", "-W", "error::ResourceWarning", "-c")
"""Python in development mode, an unclosed resource an error."""

_LOOP_END = """
import asyncio, sys, anyio
from agentkit import Agent
from agentkit.models import OpenAIChatModel

agent = Agent(OpenAIChatModel("mistral-small-2506", base_url=sys.argv[1], api_key="k"))

async def three_runs():
    for _ in range(3):
        await agent.run("hi")

if sys.argv[2] == "asyncio":
    asyncio.run(three_runs())
elif sys.argv[2] == "trio":
    anyio.run(three_runs, backend="trio")
else:
    for _ in range(3):
        agent.run_sync("hi")
print("done")
"""


def run_dev_clean(script: str, *args: str) -> None:
    """Run ``script`` under ``DEV_PYTHON`` and check it ended cleanly: printed ``done``,
    no unclosed socket or transport, no task destroyed pending, nothing ignored."""
    done = subprocess.run(
        [*DEV_PYTHON, script, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "done"
    assert "ResourceWarning" not in done.stderr and "unclosed" not in done.stderr
    assert "destroyed but it is pending" not in done.stderr, done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr


_LOOP_END_CONCURRENT = """
import asyncio, sys, anyio
from agentkit import Agent
from agentkit.models import OpenAIChatModel

async def main():
    agent = Agent(OpenAIChatModel("mistral-small-2506", base_url=sys.argv[1], api_key="k"))
    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(agent.run, "hi")

if sys.argv[2] == "asyncio":
    asyncio.run(main())
else:
    anyio.run(main, backend=sys.argv[2])
print("done")
"""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_an_agent_dropped_as_its_loop_ends_closes_every_connection_without_a_warning(
    backend: str,
) -> None:
    """Under ``python -X dev``, an agent built in the loop's main coroutine, whose five
    concurrent runs opened five connections, is dropped as that coroutine returns: the
    loop's end still closes all five (no unclosed transport, no destroyed pending task)."""
    with LocalModelServer(lambda request: srv.reply_text("ok")) as server:
        run_dev_clean(_LOOP_END_CONCURRENT, server.base_url, backend)
        assert server.connections == 5
        anyio.run(all_closed, server)


@pytest.mark.parametrize("how", ["asyncio", "trio", "run_sync"])
def test_the_end_of_the_event_loop_closes_the_pool_without_a_warning(how: str) -> None:
    """Under ``python -X dev`` with ResourceWarning an error, runs on ``asyncio.run``,
    ``anyio.run(backend="trio")`` and ``run_sync`` leave no unclosed socket or transport
    behind, and runs on one loop share one connection."""
    with LocalModelServer(lambda request: srv.reply_text("ok")) as server:
        run_dev_clean(_LOOP_END, server.base_url, how)
        assert len(server.requests) == 3
        assert server.connections == (3 if how == "run_sync" else 1)


def _open_sockets() -> int:
    """Sockets this process has open (from /proc/self/fd)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except FileNotFoundError:  # the directory's own descriptor, closed by now
            pass
    return count


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts sockets in /proc")
def test_run_sync_twenty_times_leaves_no_socket_open() -> None:
    """Each ``run_sync`` has its own event loop, and its end closes the connection the run
    opened: twenty calls leave no socket behind, in this process or at the server."""
    with LocalModelServer(lambda request: srv.reply_text("ok")) as server:
        agent = Agent(model_on(server))
        before = _open_sockets()
        for _ in range(20):
            assert agent.run_sync("hi").output == "ok"
        anyio.run(all_closed, server)  # the server's side of each connection closed too
        assert server.connections == 20
        assert _open_sockets() == before


@pytest.mark.anyio
async def test_async_with_agent_keeps_one_connection_across_runs_then_closes_it() -> None:
    """Inside ``async with agent`` runs share the model's pool; leaving the block closes it."""
    with LocalModelServer([srv.reply_text("one"), srv.reply_text("two")]) as server:
        agent = Agent(model_on(server))
        async with agent:
            await agent.run("1")
            await agent.run("2")
            assert server.open_connections == 1
        await all_closed(server)
        assert server.connections == 1
        assert len({r.peer for r in server.requests}) == 1


@pytest.mark.anyio
async def test_a_model_entered_by_the_user_stays_open_until_the_user_leaves() -> None:
    """Entries nest: the agent's exit does not close a model its user still holds."""
    with LocalModelServer([srv.reply_text("one"), srv.reply_text("two")]) as server:
        model = model_on(server)
        async with model:
            async with Agent(model) as agent:
                await agent.run("1")
            await Agent(model).run("2")
            assert server.open_connections == 1
        await all_closed(server)
        assert server.connections == 1


def test_run_sync_closes_what_it_opened_in_its_event_loop() -> None:
    """Each run_sync leaves nothing open behind its event loop."""
    with LocalModelServer([srv.reply_text("one"), srv.reply_text("two")]) as server:
        agent = Agent(model_on(server))
        assert agent.run_sync("1").output == "one"
        assert agent.run_sync("2").output == "two"
        anyio.run(all_closed, server)
        assert server.connections == 2


@pytest.mark.anyio
async def test_a_passed_in_http_client_is_never_closed() -> None:
    """agentkit sends on a user's httpx2 client but leaves closing it to the user."""
    with LocalModelServer([srv.reply_text("one")]) as server:
        async with httpx2.AsyncClient() as http:
            agent = Agent(model_on(server, http_client=http))
            assert (await agent.run("1")).output == "one"
            assert not http.is_closed
            response = await http.get(f"{server.base_url}/models")
            assert response.status_code == 200
        assert http.is_closed


@pytest.mark.anyio
async def test_a_passed_in_openai_client_is_never_closed() -> None:
    """A user's AsyncOpenAI gives its URL and key; agentkit never closes it."""
    with LocalModelServer([srv.reply_text("one")]) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="user-key")
        try:
            agent = Agent(OpenAIChatModel("mistral-small-2506", client=client))
            assert (await agent.run("1")).output == "one"
            assert not client.is_closed()
            assert server.requests[0].headers["authorization"] == "Bearer user-key"
        finally:
            await client.close()


def test_override_swaps_the_model_then_restores_it() -> None:
    """Inside override the run uses the given model, even over a run's model=; after, the
    agent's own."""
    first = ScriptedModel(["from the override"])
    second = ScriptedModel(["from the agent"])
    agent = Agent(second)
    with agent.override(model=first):
        assert agent.run_sync("hi", model=ScriptedModel([])).output == "from the override"
    assert agent.run_sync("hi").output == "from the agent"
    assert len(first.requests) == len(second.requests) == 1


def test_override_needs_no_api_key_for_an_agent_built_on_a_model_string() -> None:
    """An agent on a provider string runs under override with no key set; without the
    override the missing key is reported by name."""
    agent = Agent("mistral:mistral-small-2506")
    with agent.override(model=ScriptedModel(["ok"])):
        assert agent.run_sync("hi").output == "ok"
    with pytest.raises(ConfigurationError, match="MISTRAL_API_KEY"):
        agent.run_sync("hi")


def test_overrides_nest() -> None:
    """An inner override wins inside its block; the outer one is back after it."""
    outer, inner = ScriptedModel(["outer", "outer again"]), ScriptedModel(["inner"])
    agent = Agent(ScriptedModel([]))
    with agent.override(model=outer):
        assert agent.run_sync("1").output == "outer"
        with agent.override(model=inner):
            assert agent.run_sync("2").output == "inner"
        assert agent.run_sync("3").output == "outer again"
