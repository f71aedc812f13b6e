"""An agent for ``agentkit serve`` tests: scripted, no network."""

from __future__ import annotations

from typing import Any

from agentkit import Agent
from agentkit.testing import ScriptedModel

agent: Agent[Any, str] = Agent(
    ScriptedModel(["Hello from the served agent."]), instructions="Be kind.", name="hello"
)
