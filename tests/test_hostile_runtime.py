"""Hostile environments (issue 15, bugs 1, 11, 12, 14): the CLI's model, loops, sockets, trio."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import trio

from agentkit import Agent, UserError
from agentkit.cli import main
from agentkit.models import OpenAIChatModel
from agentkit.testing import ScriptedModel
from agentkit.testing.scripted import text
from agentkit.testing.server import LocalModelServer, reply_text

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures("no_keys")

AGENT_FILE = """
import os
from agentkit import Agent
from agentkit.models.openai import OpenAIChatModel

model = OpenAIChatModel("gpt-4o-mini", base_url=os.environ["TEST_BASE_URL"], api_key="test")
agent = Agent(model)
"""


@pytest.mark.parametrize("key", ["MISTRAL_API_KEY", "OPPER_API_KEY", "OPENAI_API_KEY"])
def test_cli_run_uses_the_agents_own_model_when_a_key_is_set(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``agentkit run FILE:agent`` sends to the agent's model, whatever key is in the env."""
    path = tmp_path / "app.py"
    path.write_text(textwrap.dedent(AGENT_FILE))
    with LocalModelServer([reply_text("From the agent's server.")]) as server:
        monkeypatch.setenv("TEST_BASE_URL", server.base_url)
        monkeypatch.setenv(key, "sk-must-not-be-used")
        code = main(["run", f"{path}:agent", "hi", "--json"])
    assert code == 0, capsys.readouterr().err
    assert "From the agent's server." in capsys.readouterr().out
    assert len(server.requests) == 1
    assert server.requests[0].headers["authorization"] == "Bearer test"


def test_cli_run_model_flag_still_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--model`` is what changes the model of ``run``: the agent's server gets nothing."""
    path = tmp_path / "app.py"
    path.write_text(textwrap.dedent(AGENT_FILE))
    with (
        LocalModelServer([]) as own,
        LocalModelServer([reply_text("From --model.")], model="other") as other,
    ):
        monkeypatch.setenv("TEST_BASE_URL", own.base_url)
        monkeypatch.setenv("OPENAI_BASE_URL", other.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "k")
        code = main(["run", f"{path}:agent", "hi", "--json", "--model", "openai:gpt-4o-mini"])
    assert code == 0
    assert "From --model." in capsys.readouterr().out
    assert not own.requests and len(other.requests) == 1


# --------------------------------------------------------------------------- run_sync


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
