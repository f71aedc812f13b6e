"""examples/research_assistant: two real MCP servers over stdio and a checked report."""

from __future__ import annotations

import json

import pytest
from support import load_example, readme_commands, run_json_command

from agentkit import ToolMessage
from agentkit.mcp import MCPServer
from agentkit.testing import ScriptedModel, output_call, tool_calls
from agentkit.testing.server import reply_json, reply_tool_calls

REPORT = {
    "question": "Do heat pumps work in a Norwegian winter?",
    "answer": "Yes, down to about -15 C; colder needs a backup.",
    "findings": [{"claim": "Air-source pumps keep a COP of 2.5 to 3.", "sources": ["N1"]}],
    "as_of": "2026-12-07",
}

research = load_example("research_assistant")
library = load_example("library_server", "research_assistant")


def _in_process() -> list[MCPServer]:
    """The library server in this process (no subprocess: fast), as the agent names it."""
    return [MCPServer.in_process(library.library, name="library").prefixed("library")]


@pytest.mark.slow  # two MCP server processes start: several seconds on a loaded machine
def test_the_readme_command_searches_reads_dates_and_reports(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's ``agentkit run ... --json`` (on a scripted model server) calls the
    library's MCP tools and mcp-server-time for real and prints a ``ResearchReport``."""
    (command,) = readme_commands("research_assistant", "agentkit")
    script = [
        reply_tool_calls(
            ("library_search", {"query": "heat pump winter"}),
            ("time_get_current_time", {"timezone": "UTC"}),
        ),
        reply_tool_calls(("library_read", {"note_id": "N1"})),
        reply_json(REPORT),
    ]
    result, server = run_json_command(command, script, monkeypatch, capsys)
    assert result["output"] == REPORT
    tools = {m["name"]: m["content"] for m in result["messages"] if m["role"] == "tool"}
    assert tools["library_search"] == (
        "N1: Heat pumps in cold climates (2023)\n"
        "N2: Ground-source versus air-source (2022)\n"
        "N4: Refrigerants for heat pumps (2024)"
    )
    assert tools["library_read"].startswith("N1: Heat pumps in cold climates (2023).")
    assert json.loads(tools["time_get_current_time"])["timezone"] == "UTC"
    offered = {t["function"]["name"] for t in server.requests[0].body["tools"]}
    assert offered == {
        "library_search",
        "library_read",
        "time_get_current_time",
        "time_convert_time",
    }


def test_a_finding_citing_an_unread_note_goes_back_to_the_model() -> None:
    """A report citing a note the run did not read is sent back naming it; the corrected
    report, citing only what was read, is the output."""
    unread = {**REPORT, "findings": [{"claim": "Ground source is dearer.", "sources": ["N2"]}]}
    model = ScriptedModel(
        [
            tool_calls(("library_read", {"note_id": "N1"})),
            output_call(unread),
            output_call(REPORT),
        ]
    )
    result = research.build_agent(model, _in_process()).run_sync(REPORT["question"])
    assert result.output == research.ResearchReport.model_validate(REPORT)
    feedback = model.requests[2].messages[-1]
    assert isinstance(feedback, ToolMessage) and feedback.is_error
    assert feedback.content == (
        "You cite N2 without reading them: read them with library_read, or cite only what "
        "you read (N1)."
    )


def test_reading_an_unknown_note_is_an_error_answer() -> None:
    """The library server answers an unknown note id with an error the model can act on."""
    model = ScriptedModel(
        [
            tool_calls(("library_read", {"note_id": "N9"})),
            tool_calls(("library_read", {"note_id": "N1"})),
            output_call(REPORT),
        ]
    )
    result = research.build_agent(model, _in_process()).run_sync(REPORT["question"])
    wrong, right = (m for m in result.messages if m.role == "tool" and m.name == "library_read")
    assert wrong.is_error
    assert (
        wrong.content == "Error executing tool read: no note 'N9': use an id that search returned"
    )
    assert not right.is_error and result.output.findings[0].sources == ["N1"]
