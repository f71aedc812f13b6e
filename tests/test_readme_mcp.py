"""The README's MCP and agents-as-tools examples run as written, on real servers:
mcp-server-time over stdio, an in-process SDK server, and a local model server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import doc_blocks
import pytest

import agentkit._run.start
from agentkit.models import OpenAIChatModel
from agentkit.testing.server import LocalModelServer, reply_text, reply_tool_calls

README = Path(__file__).resolve().parent.parent / "README.md"


def _block(marker: str) -> str:
    blocks: list[str] = [b.text for b in doc_blocks.blocks()]
    return next(b for b in blocks if marker in b)


def _run(block: str, namespace: dict[str, Any]) -> None:
    exec(compile(block, str(README), "exec"), namespace)


def _point_models_at(monkeypatch: pytest.MonkeyPatch, server: LocalModelServer) -> None:
    monkeypatch.setattr(
        agentkit._run.start,
        "_infer",
        lambda spec: OpenAIChatModel("mistral-small-2506", base_url=server.base_url, api_key="t"),
    )


def _namespace(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The quickstart's definitions (get_weather, Agent...), its run played locally."""
    namespace: dict[str, Any] = {"__name__": "readme"}
    replies = [
        reply_tool_calls(("get_weather", {"city": "Paris"})),
        reply_text(json.dumps({"city": "Paris", "temperature_c": 21, "summary": "Sunny"})),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        _point_models_at(monkeypatch, server)
        _run(_block("output_type=Report"), namespace)
    return namespace


def _tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m["role"] == "tool"]


def test_mcp_stdio_example_calls_the_time_server(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """The stdio example offers mcp-server-time's tools prefixed beside get_weather, and the
    server's real answer for Tokyo reaches the model."""
    namespace = _namespace(monkeypatch)
    replies = [
        reply_tool_calls(("time_get_current_time", {"timezone": "Asia/Tokyo"})),
        reply_text("It is evening in Tokyo."),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        _point_models_at(monkeypatch, server)
        capsys.readouterr()
        _run(_block("MCPServer.stdio("), namespace)
        bodies = server.bodies
    assert capsys.readouterr().out == "It is evening in Tokyo.\n"
    names = [t["function"]["name"] for t in bodies[0]["tools"]]
    assert names == ["get_weather", "time_get_current_time", "time_convert_time"]
    (answer,) = _tool_messages(bodies[1])
    assert json.loads(answer["content"])["timezone"] == "Asia/Tokyo"


def test_mcp_approvals_example_pauses_then_runs_the_approved_call(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """The in-process example pauses before delete_note, resumes with the approval (the
    note is deleted on the server), and answers a time question on the held server."""
    namespace = _namespace(monkeypatch)
    # the stdio block defines ``clock``: define it without running that block's request
    stdio = _block("MCPServer.stdio(")
    _run(stdio.split("assistant = ")[0], namespace)
    replies = [
        reply_tool_calls(("delete_note", {"title": "groceries"})),
        reply_text("Deleted."),
        reply_tool_calls(("get_current_time", {"timezone": "UTC"})),
        reply_text("It is noon UTC."),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        _point_models_at(monkeypatch, server)
        _run(_block("needs_approval={"), namespace)
        capsys.readouterr()
        anyio.run(namespace["tidy"], ["Delete the groceries note.", "What time is it?"])
        bodies = server.bodies
    assert capsys.readouterr().out.splitlines() == ["Deleted.", "It is noon UTC."]
    assert len(bodies) == 4
    assert _tool_messages(bodies[1])[0]["content"] == "deleted groceries"
    assert "datetime" in _tool_messages(bodies[3])[0]["content"]


def test_agents_as_tools_example_nests_the_researcher(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """The agents-as-tools example: the lead asks the researcher, who calls get_weather; the
    researcher's answer is the lead's tool result and usage counts all four requests."""
    namespace = _namespace(monkeypatch)
    replies = [
        reply_tool_calls(("researcher", {"prompt": "Will it rain in Paris?"})),
        reply_tool_calls(("get_weather", {"city": "Paris"})),
        reply_text("Sunny, 21 degrees."),
        reply_text("No umbrella needed."),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        _point_models_at(monkeypatch, server)
        capsys.readouterr()
        _run(_block(".as_tool("), namespace)
        bodies = server.bodies
    assert capsys.readouterr().out.splitlines() == ["No umbrella needed.", "4"]
    assert bodies[1]["messages"][-1] == {"role": "user", "content": "Will it rain in Paris?"}
    assert _tool_messages(bodies[3])[0]["content"] == "Sunny, 21 degrees."


def test_child_approval_example_pauses_the_desk_and_resumes_billing(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """The child-approval example: billing's refund pauses the desk; approving it at the
    desk runs the refund once, in billing, whose answer is the desk's tool result."""
    namespace = _namespace(monkeypatch)
    _run(_block("needs_approval=lambda").split("support = ")[0], namespace)  # defines refund
    replies = [
        reply_tool_calls(("billing", {"prompt": "Refund 250 EUR on A1"})),
        reply_tool_calls(("refund", {"order_id": "A1", "amount_eur": 250})),
        reply_text("Refunded 250 EUR on A1."),
        reply_text("Done: 250 EUR refunded."),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        _point_models_at(monkeypatch, server)
        capsys.readouterr()
        _run(_block("billing.as_tool("), namespace)
        bodies = server.bodies
    assert capsys.readouterr().out.splitlines() == [
        "billing refund {'amount_eur': 250.0, 'order_id': 'A1'}",
        "Done: 250 EUR refunded.",
    ]
    assert len(bodies) == 4
    assert _tool_messages(bodies[2])[0]["content"] == "Refunded 250.0 EUR on A1"
    assert _tool_messages(bodies[3])[0]["content"] == "Refunded 250 EUR on A1."


def test_resources_and_prompts_example_reviews_with_the_guide_and_the_prompt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The resources-and-prompts example reads the style guide as instructions and starts
    the review from the server's prompt."""
    namespace: dict[str, Any] = {"__name__": "readme"}
    with LocalModelServer([reply_text("Rename x.")], style="mistral") as server:
        _point_models_at(monkeypatch, server)
        _run(_block("get_prompt("), namespace)
        output = anyio.run(namespace["review_code"], "x=1")
        bodies = server.bodies
    assert output == "Rename x."
    assert bodies[0]["messages"] == [
        {"role": "system", "content": "Short sentences. Active voice."},
        {"role": "user", "content": "Review this code: x=1"},
    ]


def test_tool_search_example_sends_every_tool_below_its_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The tool-search example's agent, with three tools (below its threshold of 20), sends
    all three and no search tool."""
    namespace = _namespace(monkeypatch)
    stdio = _block("MCPServer.stdio(")
    _run(stdio.split("assistant = ")[0], namespace)
    with LocalModelServer([reply_text("Sunny.")], style="mistral") as server:
        _point_models_at(monkeypatch, server)
        _run(_block("ToolSearch(threshold=20"), namespace)
        namespace["desk"].run_sync("Weather in Paris?")
        bodies = server.bodies
    names = [t["function"]["name"] for t in bodies[0]["tools"]]
    assert names == ["get_weather", "time_get_current_time", "time_convert_time"]
