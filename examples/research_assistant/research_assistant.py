"""A research assistant: tools from two MCP servers, and a report you can trust the shape of.

    agentkit run examples/research_assistant/research_assistant.py:agent \
        "Do heat pumps work in a Norwegian winter?" --json

- ``library_search`` and ``library_read`` come from ``library_server.py`` beside this file
  (an MCP server of our own, started over stdio for each run);
- ``time_get_current_time`` comes from ``mcp-server-time`` (PyPI), so the report is dated;
- the answer is a ``ResearchReport`` (pydantic), and an output validator sends it back
  when a finding cites a note the assistant never read.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from agentkit import Agent, ModelRetry, RunContext, ToolMessage
from agentkit.mcp import MCPServer


class Finding(BaseModel):
    """One thing the notes say, with the notes that say it."""

    claim: str = Field(description="One sentence, in your own words.")
    sources: list[str] = Field(min_length=1, description="The ids of the notes read, e.g. N1.")


class ResearchReport(BaseModel):
    """The research assistant's answer."""

    question: str
    answer: str = Field(description="The short answer, in two sentences at most.")
    findings: list[Finding] = Field(min_length=1)
    as_of: str = Field(description="Today's date, from time_get_current_time (YYYY-MM-DD).")


INSTRUCTIONS = (
    "You are a research assistant. Search the library, read the notes that matter, and "
    "answer from them only, citing each note you use by its id. Get today's date with "
    "time_get_current_time (timezone UTC) for as_of."
)

HERE = Path(__file__).resolve().parent


def library() -> MCPServer:
    """The notes library (``library_server.py``), its tools named ``library_*``."""
    server = str(HERE / "library_server.py")
    return MCPServer.stdio(sys.executable, [server], name="library").prefixed("library")


def clock() -> MCPServer:
    """``mcp-server-time``, its tools named ``time_*``."""
    args = ["-m", "mcp_server_time", "--local-timezone", "UTC"]
    return MCPServer.stdio(sys.executable, args, name="time").prefixed("time")


def notes_read(messages: Any) -> set[str]:
    """The ids of the notes ``library_read`` returned in ``messages``."""
    return {
        match.group(1)
        for m in messages
        if isinstance(m, ToolMessage) and m.name == "library_read" and not m.is_error
        for match in [re.match(r"(N\d+):", m.content)]
        if match
    }


def build_agent(
    model: Any = None, servers: Sequence[MCPServer] | None = None
) -> Agent[None, ResearchReport]:
    """The research assistant on ``model`` (``None``: chosen at run time), with the tools of
    ``servers`` (default: the library and the clock, over stdio)."""
    agent: Agent[None, ResearchReport] = Agent(
        model,
        instructions=INSTRUCTIONS,
        tools=list(servers) if servers is not None else [library(), clock()],
        output_type=ResearchReport,
        name="research-assistant",
        max_turns=10,
    )

    @agent.output_validator
    def cites_what_it_read(ctx: RunContext[None], report: ResearchReport) -> ResearchReport:
        """Every source of every finding is a note read in this run."""
        read = notes_read(ctx.messages)
        unread = sorted({s for f in report.findings for s in f.sources} - read)
        if unread:
            raise ModelRetry(
                f"You cite {', '.join(unread)} without reading them: read them with "
                f"library_read, or cite only what you read ({', '.join(sorted(read)) or 'none'})."
            )
        return report

    return agent


agent = build_agent()
"""For ``agentkit run examples/research_assistant/research_assistant.py:agent "..."``."""
