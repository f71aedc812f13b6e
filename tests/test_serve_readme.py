"""The README's ``agentkit serve`` example runs as written (its model on a local server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import doc_blocks
import pytest

import agentkit._run.start
from agentkit.models import OpenAIChatModel
from agentkit.testing.server import LocalModelServer, reply_text, reply_tool_calls

README = Path(__file__).resolve().parent.parent / "README.md"


def _block(marker: str) -> str:
    blocks: list[str] = [b.text for b in doc_blocks.blocks()]
    return next(b for b in blocks if marker in b)


def test_the_serve_example_answers_through_the_openai_sdk(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """The example serves an agent and calls it with the ``openai`` SDK, plain and streamed;
    the agent's tool runs inside each request."""
    namespace: dict[str, Any] = {"__name__": "readme"}
    report = '{"city": "Paris", "temperature_c": 21, "summary": "Sunny"}'
    replies = [  # the quickstart's run, then the example's two requests
        reply_tool_calls(("get_weather", {"city": "Paris"})),
        reply_text(report),
        reply_tool_calls(("get_weather", {"city": "Paris"})),
        reply_text("Sunny in Paris."),
        reply_tool_calls(("get_weather", {"city": "Paris"})),
        reply_text("Still sunny in Paris."),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        monkeypatch.setattr(
            agentkit._run.start,
            "_infer",
            lambda spec: OpenAIChatModel(
                "mistral-small-2506", base_url=server.base_url, api_key="test"
            ),
        )
        exec(compile(_block("def get_weather"), str(README), "exec"), namespace)
        exec(compile(_block("BackgroundServer"), str(README), "exec"), namespace)
    out = capsys.readouterr().out
    assert "Sunny in Paris. 30" in out
    assert out.rstrip().endswith("Still sunny in Paris.")
    assert [b["messages"][-1]["role"] for b in server.bodies] == ["user", "tool"] * 3
