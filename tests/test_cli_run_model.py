"""``agentkit run FILE:agent`` sends to the agent's own model whatever provider key is set in
the environment; only ``--model`` changes the model of a run."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from agentkit.cli import main
from agentkit.testing.server import LocalModelServer, reply_text

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
