"""Agents for ``agentkit mcp`` tests: scripted models that act on the prompt; no network.

``helper`` answers ``weather in CITY`` with a ``get_weather`` call, ``wait`` with a tool that
waits until cancelled, ``delete NAME`` with a call that needs approval, and anything else by
echoing it. ``reporter`` has a structured output.
"""

from __future__ import annotations

from typing import Any

import anyio
from pydantic import BaseModel
from support import get_weather  # the app's directory is on sys.path when it is loaded

from agentkit import Agent, tool
from agentkit.messages import ToolMessage, UserMessage
from agentkit.models.base import ModelRequest
from agentkit.testing import ScriptedModel, ScriptedResponse, output_call, text, tool_calls

WAITS = {"started": 0, "cancelled": 0}
"""How many ``wait_forever`` calls started, and how many were cancelled."""


@tool
async def wait_forever() -> str:
    """Wait until cancelled."""
    WAITS["started"] += 1
    try:
        await anyio.sleep_forever()
    except anyio.get_cancelled_exc_class():
        WAITS["cancelled"] += 1
        raise
    return "never"  # pragma: no cover


@tool
def wait_status() -> dict[str, int]:
    """How many waits started and were cancelled (for the tests)."""
    return dict(WAITS)


@tool(needs_approval=True)
def delete_file(name: str) -> str:
    """Delete a file (needs approval)."""
    return f"deleted {name}"


def _respond(request: ModelRequest) -> ScriptedResponse | str:
    last = request.messages[-1]
    if isinstance(last, ToolMessage):
        return text(f"done: {last.content}")
    prompt = last.content if isinstance(last, UserMessage) else ""
    prompt = prompt if isinstance(prompt, str) else ""
    print(f"helper got {prompt!r}")  # stray output: over stdio it must not reach the protocol
    if prompt.startswith("weather in "):
        return tool_calls(("get_weather", {"city": prompt.removeprefix("weather in ")}))
    if prompt == "wait":
        return tool_calls(("wait_forever", {}))
    if prompt.startswith("delete "):
        return tool_calls(("delete_file", {"name": prompt.removeprefix("delete ")}))
    return f"You said: {prompt}"


agent: Agent[Any, str] = Agent(
    ScriptedModel([_respond] * 1000),
    tools=[get_weather, wait_forever, wait_status, delete_file],
    name="helper",
)


class Report(BaseModel):
    """A weather report."""

    city: str
    temperature_c: int


def _report(request: ModelRequest) -> ScriptedResponse:
    return output_call({"city": "Paris", "temperature_c": 21})


reporter: Agent[Any, Report] = Agent(
    ScriptedModel([_report] * 1000), output_type=Report, name="reporter"
)
