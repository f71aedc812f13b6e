"""The README's quickstart runs as written (its endpoint pointed at a local server)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import agentkit.agent
from agentkit.models import OpenAIChatModel
from agentkit.testing.server import LocalModelServer, text, tool_calls

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_quickstart_runs_as_written(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    """The quickstart block, executed verbatim, calls the tool and prints a validated Report."""
    quickstart = next(b for b in _python_blocks() if "run_sync" in b)
    replies = [
        tool_calls(("get_weather", {"city": "Paris"})),
        text(json.dumps({"city": "Paris", "temperature_c": 21, "summary": "Sunny"})),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        seen: list[str | None] = []

        def local(spec: str | None) -> OpenAIChatModel:
            seen.append(spec)
            name = (spec or "").split(":", 1)[-1]
            return OpenAIChatModel(name, base_url=server.base_url, api_key="test")

        monkeypatch.setattr(agentkit.agent, "_infer", local)
        exec(compile(quickstart, str(README), "exec"), {"__name__": "readme"})
    assert seen == ["mistral:mistral-small-2506"]
    out = capsys.readouterr().out
    assert "city='Paris' temperature_c=21.0 summary='Sunny'" in out
    assert "requests=2" in out
    tool_answer = server.bodies[1]["messages"][-1]
    assert tool_answer["content"] == "Paris: 21 degrees celsius, sunny"


def test_scripted_model_example_runs_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's ScriptedModel example runs as written after the quickstart's definitions."""
    blocks = _python_blocks()
    quickstart = next(b for b in blocks if "run_sync" in b)
    scripted = next(b for b in blocks if "ScriptedModel(" in b)
    namespace: dict[str, Any] = {"__name__": "readme"}
    replies = [
        tool_calls(("get_weather", {"city": "Paris"})),
        text(json.dumps({"city": "Paris", "temperature_c": 21, "summary": "Sunny"})),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        monkeypatch.setattr(
            agentkit.agent,
            "_infer",
            lambda spec: OpenAIChatModel(
                "mistral-small-2506", base_url=server.base_url, api_key="t"
            ),
        )
        exec(compile(quickstart, str(README), "exec"), namespace)
    exec(compile(scripted, str(README), "exec"), namespace)
    assert namespace["result"].output == "Sunny in Paris."
