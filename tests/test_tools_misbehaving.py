"""Tools that misbehave: results or exceptions that cannot be sent or printed as they are,
and sync tools that never return."""

from __future__ import annotations

import os
import threading
from typing import Any

import anyio
import pytest

from agentkit import Agent, ToolCallFinishedEvent, tool
from agentkit.models import OpenAIChatModel
from agentkit.testing import ScriptedModel
from agentkit.testing.scripted import text, tool_calls
from agentkit.testing.server import LocalModelServer, reply_text, reply_tool_calls

pytestmark = pytest.mark.anyio_backends("asyncio", "trio")


class _BadStr:
    def __str__(self) -> str:
        raise RuntimeError("no str for you")


def _circular() -> dict[str, Any]:
    d: dict[str, Any] = {}
    d["self"] = d
    return d


UNSENDABLE: dict[str, Any] = {
    "bytes not utf-8": lambda: b"\xff\xfe\x00",
    "circular dict": _circular,
    "__str__ raises": _BadStr,
    "list holding a bad __str__": lambda: [1, _BadStr()],
}


@pytest.mark.parametrize("what", list(UNSENDABLE))
@pytest.mark.anyio
async def test_a_result_that_cannot_be_serialized_is_an_error_answer(what: str) -> None:
    """The call is answered with an error the model can read; the run goes on to its end."""
    make = UNSENDABLE[what]

    @tool
    def fetch() -> Any:
        """Fetch."""
        return make()

    model = ScriptedModel([tool_calls(("fetch", {})), text("Done.")])
    events = []
    async with Agent(model, tools=[fetch]).run_stream("go") as run:
        async for event in run:
            events.append(event)
    assert run.result.output == "Done."
    finished = [e for e in events if isinstance(e, ToolCallFinishedEvent)]
    assert finished[0].is_error
    assert "could not be sent to the model" in finished[0].content
    assert "could not be sent" in str(model.requests[1].messages[-1].content)


@pytest.mark.anyio
async def test_a_surrogate_escaped_file_name_goes_over_http() -> None:
    """A file name holding surrogate escapes (``os.fsdecode`` of bad bytes) is sent, mangled."""
    name = os.fsdecode(b"report-\xff.txt")

    @tool
    def list_files() -> list[str]:
        """List files."""
        return [name, "ok.txt"]

    @tool
    def open_file() -> str:
        """Open a file."""
        raise FileNotFoundError(f"No such file: {name}")

    replies = [
        reply_tool_calls(("list_files", {}), ("open_file", {})),
        reply_text("Done."),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        model = OpenAIChatModel("mistral-small-2506", base_url=server.base_url, api_key="k")
        result = await Agent(model, tools=[list_files, open_file]).run("files?")
    assert result.output == "Done."
    sent = server.bodies[1]["messages"]
    assert "report-" in sent[-2]["content"] and "ok.txt" in sent[-2]["content"]
    assert "FileNotFoundError" in sent[-1]["content"]


@pytest.mark.anyio
async def test_an_exception_whose_str_raises_is_an_error_answer() -> None:
    """A tool raising an exception that cannot be printed still gets an error answer."""

    class Weird(Exception):
        def __str__(self) -> str:
            raise RuntimeError("nope")

    @tool
    def boom() -> str:
        """Boom."""
        raise Weird

    model = ScriptedModel([tool_calls(("boom", {})), text("Done.")])
    result = await Agent(model, tools=[boom]).run("go")
    assert result.output == "Done."
    assert "Weird" in str(model.requests[1].messages[-1].content)


# --------------------------------------------------------------------------- cancellation


@pytest.mark.anyio
async def test_cancelling_a_run_does_not_wait_for_a_sync_tool() -> None:
    """A run cancelled while a sync tool blocks returns at once; the worker thread runs on."""
    started = threading.Event()
    release = threading.Event()
    finished = threading.Event()

    @tool
    def stuck() -> str:
        """Never returns on its own."""
        started.set()
        release.wait(timeout=60)  # a watchdog so a broken fix cannot hang the suite
        finished.set()
        return "late"

    model = ScriptedModel([tool_calls(("stuck", {})), text("never")])
    agent = Agent(model, tools=[stuck])
    ran_to_the_end = False
    async with anyio.create_task_group() as tg:

        async def cancel_when_started() -> None:
            await anyio.to_thread.run_sync(started.wait)
            tg.cancel_scope.cancel()

        tg.start_soon(cancel_when_started)
        await agent.run("go")
        ran_to_the_end = True
    cancelled_before_the_tool_ended = not finished.is_set()
    release.set()  # let the abandoned thread end
    assert not ran_to_the_end
    assert cancelled_before_the_tool_ended
