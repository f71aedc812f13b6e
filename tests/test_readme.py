"""The README's quickstart runs as written (its endpoint pointed at a local server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import doc_blocks
import pytest
from support import validate_request

import agentkit._run.start
from agentkit.models import OpenAIChatModel
from agentkit.testing.server import LocalModelServer, reply_text, reply_tool_calls

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks() -> list[str]:
    return [b.text for b in doc_blocks.blocks()]


def _models_on(server: LocalModelServer, monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Point every model string at ``server`` (the model name kept); the strings seen."""
    seen: list[str | None] = []

    def local(spec: str | None) -> OpenAIChatModel:
        seen.append(spec)
        name = (spec or "").split(":", 1)[-1]
        return OpenAIChatModel(name, base_url=server.base_url, api_key="test")

    monkeypatch.setattr(agentkit._run.start, "_infer", local)
    return seen


def test_quickstart_runs_as_written(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    """The quickstart block, executed verbatim, calls the tool and prints a validated Report."""
    quickstart = next(b for b in _python_blocks() if "run_sync" in b)
    replies = [
        reply_tool_calls(("get_weather", {"city": "Paris"})),
        reply_text(json.dumps({"city": "Paris", "temperature_c": 21, "summary": "Sunny"})),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        seen = _models_on(server, monkeypatch)
        exec(compile(quickstart, str(README), "exec"), {"__name__": "readme"})
    assert seen == ["mistral:mistral-small-2506"]
    out = capsys.readouterr().out
    assert "city='Paris' temperature_c=21.0 summary='Sunny'" in out
    assert "requests=2" in out
    tool_answer = server.bodies[1]["messages"][-1]
    assert tool_answer["content"] == "Paris: 21 degrees celsius, sunny"


def test_scripted_model_example_runs_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's ScriptedModel example runs as written after the quickstart's definitions."""
    namespace = _namespace_after_quickstart(monkeypatch)
    scripted = next(b for b in _python_blocks() if 'text("Sunny in Paris.")' in b)
    exec(compile(scripted, str(README), "exec"), namespace)
    assert namespace["result"].output == "Sunny in Paris."


def test_scripted_structured_and_replay_examples_run_as_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ScriptedModel structured-answer example and the ReplayModel example (no top-level
    await) run as written after the quickstart and the ScriptedModel example."""
    namespace = _namespace_after_quickstart(monkeypatch)
    blocks = _python_blocks()
    for needle in ('text("Sunny in Paris.")', "output_call({", "ReplayModel(saved)"):
        block = next(b for b in blocks if needle in b)
        assert "await " not in block
        exec(compile(block, str(README), "exec"), namespace)
    assert namespace["report"].summary == "Sunny"
    assert namespace["replayed"].output == "Sunny in Paris."
    assert namespace["replay"].played == 2


def _namespace_after_quickstart(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The quickstart's definitions (get_weather, ...), its run played on a local server."""
    blocks = _python_blocks()
    quickstart = next(b for b in blocks if "run_sync" in b)
    namespace: dict[str, Any] = {"__name__": "readme"}
    replies = [
        reply_tool_calls(("get_weather", {"city": "Paris"})),
        reply_text(json.dumps({"city": "Paris", "temperature_c": 21, "summary": "Sunny"})),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        monkeypatch.setattr(
            agentkit._run.start,
            "_infer",
            lambda spec: OpenAIChatModel(
                "mistral-small-2506", base_url=server.base_url, api_key="t"
            ),
        )
        exec(compile(quickstart, str(README), "exec"), namespace)
    return namespace


def test_hooks_example_prints_each_requests_usage(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """The Hooks example, run on a local server, prints one usage line per request."""
    namespace = _namespace_after_quickstart(monkeypatch)
    hooks_block = next(b for b in _python_blocks() if "class PrintUsage(Hooks)" in b)
    exec(compile(hooks_block, str(README), "exec"), namespace)
    capsys.readouterr()
    replies = [reply_tool_calls(("get_weather", {"city": "Paris"})), reply_text("Sunny in Paris.")]
    with LocalModelServer(replies, style="mistral") as server:
        model = OpenAIChatModel("mistral-small-2506", base_url=server.base_url, api_key="t")
        with namespace["desk"].override(model=model):
            result = namespace["desk"].run_sync("Weather in Paris?")
    assert result.output == "Sunny in Paris."
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["request 1", "request 2"]
    assert all(line.endswith(" out") and " in, " in line for line in lines)


def test_connections_and_override_examples_run_as_written(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """The async with desk example answers every question on one connection; the override
    example passes as a test would."""
    import anyio

    namespace = _namespace_after_quickstart(monkeypatch)
    for marker in ("ScriptedModel(", "class PrintUsage", "serve_forever", "override("):
        block = next(b for b in _python_blocks() if marker in b)
        exec(compile(block, str(README), "exec"), namespace)
    namespace["test_desk_answers_from_the_script"]()

    async def questions() -> Any:
        for question in ("Paris?", "Rome?"):
            yield question

    with LocalModelServer([reply_text("Sunny."), reply_text("Rainy.")], style="mistral") as server:
        model = OpenAIChatModel("mistral-small-2506", base_url=server.base_url, api_key="t")
        capsys.readouterr()
        with namespace["desk"].override(model=model):
            anyio.run(namespace["serve_forever"], questions())
        assert len({r.peer for r in server.requests}) == 1
    assert [line for line in capsys.readouterr().out.splitlines() if "request" not in line] == [
        "Sunny.",
        "Rainy.",
    ]


def test_reasoning_example_sends_reasoning_effort_and_prices_the_run(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """The "Reasoning models" example picks Small 4 by name, sends ``reasoning_effort:
    "high"`` (a request mistral-common accepts) and prints the answer and its cost at
    Small 4's prices, cached tokens at the cached rate."""
    block = next(b for b in _python_blocks() if 'reasoning="high"' in b)
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 200,
        "total_tokens": 1200,
        "num_cached_tokens": 800,
    }
    with LocalModelServer([reply_text("205", usage=usage)], style="mistral") as server:
        seen = _models_on(server, monkeypatch)
        exec(compile(block, str(README), "exec"), {"__name__": "readme"})
    assert seen == ["mistral:mistral-small-latest"]
    body = server.bodies[0]
    assert body["reasoning_effort"] == "high"
    validate_request(body, "mistral-small-latest")
    cost = (200 * 0.15 + 800 * 0.015 + 200 * 0.60) / 1_000_000
    assert capsys.readouterr().out.split() == ["205", repr(cost)]
