"""``run_sync`` and streamed runs in the event loops they meet: inside a running asyncio or
trio loop ``run_sync`` says to await instead, outside one it runs and leaks no socket, and a
streamed run under trio closes its SSE generator."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import trio

from agentkit import Agent, UserError
from agentkit.models import OpenAIChatModel
from agentkit.testing import ScriptedModel
from agentkit.testing.scripted import text
from agentkit.testing.server import LocalModelServer, reply_text

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures("no_keys")


def test_run_sync_inside_a_running_asyncio_loop_says_to_await() -> None:
    """``run_sync`` in a running loop (Jupyter, FastAPI) is an ``AgentkitError`` naming the fix."""
    agent = Agent(ScriptedModel([text("hi")]))

    async def inside() -> None:
        agent.run_sync("hi")

    with pytest.raises(UserError, match=r"await agent\.run\(") as info:
        asyncio.run(inside())
    assert "running asyncio event loop" in str(info.value)


def test_run_sync_inside_trio_says_to_await() -> None:
    """The same under trio."""
    agent = Agent(ScriptedModel([text("hi")]))

    async def inside() -> None:
        agent.run_sync("hi")

    with pytest.raises(UserError, match=r"await agent\.run\("):
        trio.run(inside)


def test_run_sync_outside_a_loop_still_runs() -> None:
    """Without a running loop, ``run_sync`` runs as before."""
    assert Agent(ScriptedModel([text("hi")])).run_sync("x").output == "hi"


RUN_SYNC_SCRIPT = """
from agentkit import Agent
from agentkit.models import OpenAIChatModel
from agentkit.testing.server import LocalModelServer, reply_text

with LocalModelServer([reply_text(f"answer {i}") for i in range(5)]) as server:
    agent = Agent(OpenAIChatModel("gpt-4o-mini", base_url=server.base_url, api_key="k"))
    for i in range(5):
        assert agent.run_sync("hi").output == f"answer {i}"
print("done")
"""


def test_run_sync_leaks_no_socket_under_dev_mode() -> None:
    """Five ``run_sync`` calls under ``python -X dev`` print no ``ResourceWarning``."""
    proc = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", "-c", RUN_SYNC_SCRIPT],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done"
    assert "ResourceWarning" not in proc.stderr, proc.stderr
    assert "unclosed" not in proc.stderr, proc.stderr


def test_a_streamed_request_under_trio_leaves_no_generator_unclosed() -> None:
    """A streamed run under trio closes its SSE generator: no "garbage collected" warning."""
    with LocalModelServer([reply_text("a streamed answer, in pieces")]) as server:

        async def main_() -> str:
            model = OpenAIChatModel("gpt-4o-mini", base_url=server.base_url, api_key="k")
            async with Agent(model).run_stream("hi") as run:
                async for _ in run:
                    pass
            return str(run.result.output)

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert trio.run(main_) == "a streamed answer, in pieces"
            gc.collect()
    shown = [str(w.message) for w in caught]
    assert not [m for m in shown if "garbage collected" in m or "unclosed" in m], shown
