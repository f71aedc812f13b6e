"""The README's ``agent.to_mcp()`` example runs as written, its model a local server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import doc_blocks
import pytest
from support import get_weather

import agentkit._run.start
from agentkit.models import OpenAIChatModel
from agentkit.testing.server import LocalModelServer, reply_text, reply_tool_calls

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_to_mcp_example_answers_through_the_sdk_client(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The example's client calls the served agent: the model's answer after its tool call
    is printed, with the run's total tokens from ``_meta``."""
    blocks: list[str] = [b.text for b in doc_blocks.blocks()]
    block = next(b for b in blocks if "desk.to_mcp()" in b)
    replies = [reply_tool_calls(("get_weather", {"city": "Paris"})), reply_text("Sunny, 21 C.")]
    with LocalModelServer(replies, style="mistral") as server:
        model = OpenAIChatModel("mistral-small-2506", base_url=server.base_url, api_key="t")
        monkeypatch.setattr(agentkit._run.start, "_infer", lambda spec: model)
        namespace: dict[str, Any] = {"__name__": "readme", "get_weather": get_weather}
        exec(compile(block, str(README), "exec"), namespace)
        anyio.run(namespace["ask"], "Weather in Paris?")
        bodies = [r.body for r in server.requests]
    out = capsys.readouterr().out.split()
    assert out[:2] == ["Sunny,", "21"] and int(out[-1]) > 0
    assert len(bodies) == 2 and bodies[1]["messages"][-1]["content"] == "Paris: 21 C, sunny"
