"""``agent.to_mcp()``: an agent as an MCP server, driven in-process by the MCP SDK's own client
in both protocol eras (2026's ``InputRequiredResult`` and 2025's back-channel requests)."""

from __future__ import annotations

import json
from typing import Any

import mcp
import mcp_types
import pytest
from mcp.client.session import ClientRequestContext
from mcp.server.lowlevel import Server
from mcp_agent_app import Report, agent, reporter

from agentkit import Agent, ConfigurationError, RunContext, UsageLimits, tool
from agentkit.mcp import MCPServer
from agentkit.mcp._server import USAGE_META_KEY
from agentkit.testing import ScriptedModel, output_call, tool_calls

pytestmark = pytest.mark.anyio

ERAS = ["auto", "legacy"]
"""``auto`` speaks 2026-07-28 to this server (no back-channel); ``legacy`` the 2025 handshake."""


def _answering(action: str, content: dict[str, Any] | None = None) -> Any:
    """An elicitation callback that answers every request so, recording the messages."""
    seen: list[str] = []

    async def callback(
        context: ClientRequestContext, params: mcp_types.ElicitRequestParams
    ) -> mcp_types.ElicitResult:
        seen.append(params.message)
        return mcp_types.ElicitResult(action=action, content=content)  # type: ignore[arg-type]

    callback.seen = seen  # type: ignore[attr-defined]
    return callback


def _text(result: mcp_types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, mcp_types.TextContent)
    return block.text


async def test_to_mcp_returns_the_sdk_server_with_the_agent_as_one_prompt_tool() -> None:
    """``to_mcp()`` is the SDK's low-level ``Server``; it lists one tool named after the agent
    taking a string ``prompt``, and no output schema for a text agent."""
    server = agent.to_mcp()
    assert isinstance(server, Server)
    async with mcp.Client(server) as client:
        tools = (await client.list_tools()).tools
    assert [t.name for t in tools] == ["helper"]
    assert tools[0].input_schema["properties"]["prompt"]["type"] == "string"
    assert tools[0].input_schema["required"] == ["prompt"]
    assert tools[0].output_schema is None


@pytest.mark.parametrize("mode", ERAS)
async def test_a_call_runs_the_agent_with_progress_and_usage_in_meta(mode: str) -> None:
    """Calling the tool runs the agent on the prompt: its output is the text, each model
    answer and tool call is a progress notification, and usage rides in ``_meta``."""
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    async with mcp.Client(agent.to_mcp(), mode=mode) as client:
        result = await client.call_tool(
            "helper", {"prompt": "weather in Oslo"}, progress_callback=on_progress
        )
    assert not result.is_error
    assert _text(result) == "done: Oslo: 21 C, sunny"
    assert [m for _, m in seen] == [
        "the model called get_weather",
        "get_weather done",
        "the model answered",
    ]
    assert [v for v, _ in seen] == [1, 2, 3]
    assert result.meta is not None
    usage = result.meta[USAGE_META_KEY]
    assert (usage["requests"], usage["tool_calls"], usage["total_tokens"]) == (2, 1, 30)


@pytest.mark.parametrize("mode", ERAS)
async def test_a_structured_output_gives_an_output_schema_and_structured_content(
    mode: str,
) -> None:
    """A pydantic output type is the tool's ``outputSchema``; the result carries it as
    ``structuredContent`` (validated by the SDK's client) and as JSON text."""
    async with mcp.Client(reporter.to_mcp(), mode=mode) as client:
        tool_ = (await client.list_tools()).tools[0]
        result = await client.call_tool("reporter", {"prompt": "Paris?"})
    schema = tool_.output_schema
    assert schema is not None and schema["type"] == "object"
    assert schema["required"] == list(Report.model_fields) == ["city", "temperature_c"]
    assert result.structured_content == {"city": "Paris", "temperature_c": 21}
    assert json.loads(_text(result)) == {"city": "Paris", "temperature_c": 21}


async def test_a_non_object_output_is_wrapped_as_result() -> None:
    """An output type that is not an object (a list) is offered and returned under
    ``result``, the shape MCP requires for structured content."""
    counter = Agent(
        ScriptedModel([output_call({"result": [1, 2]})]), output_type=list[int], name="counter"
    )
    async with mcp.Client(counter.to_mcp()) as client:
        schema = (await client.list_tools()).tools[0].output_schema
        result = await client.call_tool("counter", {"prompt": "count"})
    assert schema is not None and schema["required"] == ["result"]
    assert result.structured_content == {"result": [1, 2]}


@pytest.mark.parametrize("mode", ERAS)
async def test_an_approval_becomes_an_elicitation_and_an_accept_runs_the_call(mode: str) -> None:
    """A call that needs approval asks the client through elicitation; ``approve: true``
    runs it and the run finishes in the same tool call, its usage counted across the pause."""
    answer = _answering("accept", {"approve": True})
    async with mcp.Client(agent.to_mcp(), mode=mode, elicitation_callback=answer) as client:
        result = await client.call_tool("helper", {"prompt": "delete notes.txt"})
    assert _text(result) == "done: deleted notes.txt"
    assert answer.seen == [
        """The agent 'helper' wants to call delete_file with {"name":"notes.txt"}. Allow it?"""
    ]
    assert result.meta is not None and result.meta[USAGE_META_KEY]["requests"] == 2


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.parametrize(
    ("action", "content", "told"),
    [
        ("accept", {"approve": False, "reason": "keep it"}, "keep it"),
        ("accept", {"approve": False}, "The user denied this tool call."),
        ("decline", None, "The user did not approve this call (decline)."),
        ("cancel", None, "The user did not approve this call (cancel)."),
    ],
)
async def test_anything_but_approve_true_denies_the_call(
    mode: str, action: str, content: dict[str, Any] | None, told: str
) -> None:
    """``approve: false`` (with its reason), a decline or a cancel denies the call: the tool
    does not run and the agent is told why."""
    answer = _answering(action, content)
    async with mcp.Client(agent.to_mcp(), mode=mode, elicitation_callback=answer) as client:
        result = await client.call_tool("helper", {"prompt": "delete notes.txt"})
    assert _text(result) == f"done: Denied: {told}"


@pytest.mark.parametrize("mode", ERAS)
async def test_a_client_that_cannot_elicit_gets_a_clear_error(mode: str) -> None:
    """Without an elicitation capability, a run that needs approval ends the call as a tool
    error naming the tool and the fix, with the usage so far."""
    async with mcp.Client(agent.to_mcp(), mode=mode) as client:
        result = await client.call_tool("helper", {"prompt": "delete notes.txt"})
    assert result.is_error
    assert "calls to delete_file need a person's approval" in _text(result)
    assert "declared no elicitation capability" in _text(result)
    assert result.meta is not None and result.meta[USAGE_META_KEY]["requests"] == 1


async def test_a_retry_with_an_unknown_request_state_is_refused() -> None:
    """A 2026 retry whose ``requestState`` names no paused run (answered already, or forged)
    is a tool error, and nothing runs."""
    async with mcp.Client(agent.to_mcp()) as client:
        result = await client.session.call_tool(
            "helper", {"prompt": "delete x"}, request_state="forged", input_responses={}
        )
    assert isinstance(result, mcp_types.CallToolResult) and result.is_error
    assert "no longer holds" in _text(result)


async def test_bad_arguments_and_run_failures_are_tool_errors() -> None:
    """A missing ``prompt`` and a run that fails (here: out of turns) answer as tool errors
    naming what went wrong."""
    looping = Agent(
        ScriptedModel([tool_calls(("get_weather", {"city": "Rome"}))] * 3),
        tools=[agent.tools["get_weather"]],
        max_turns=1,
        name="looping",
    )
    async with mcp.Client(looping.to_mcp()) as client:
        missing = await client.call_tool("looping", {"question": "hi"})
        failed = await client.call_tool("looping", {"prompt": "weather?"})
    assert missing.is_error and "takes one argument, 'prompt'" in _text(missing)
    assert failed.is_error and _text(failed).startswith("MaxTurnsExceeded")


async def test_expose_tools_offers_the_agents_tools_except_those_needing_approval() -> None:
    """``expose_tools=True`` lists the agent's function tools (not those that need approval)
    and calls them directly; bad arguments and unknown names are errors."""
    async with mcp.Client(agent.to_mcp(expose_tools=True)) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        weather = await client.call_tool("get_weather", {"city": "Lima"})
        bad = await client.call_tool("get_weather", {"town": "Lima"})
        with pytest.raises(mcp.MCPError, match="Unknown tool 'delete_file'"):
            await client.call_tool("delete_file", {"name": "x"})
    assert names == ["helper", "get_weather", "wait_forever", "wait_status"]
    assert _text(weather) == "Lima: 21 C, sunny" and not weather.is_error
    assert bad.is_error and "Invalid arguments for get_weather" in _text(bad)


def test_names_that_cannot_be_mcp_tools_are_refused() -> None:
    """An agent whose name is not a valid MCP tool name, or that shares it with an exposed
    tool, is refused when the server is made, saying what to rename."""

    @tool
    def helper() -> str:
        """Clash."""
        return "x"

    with pytest.raises(ConfigurationError, match="cannot be an MCP tool name"):
        Agent(ScriptedModel([]), name="my agent").to_mcp()
    clash = Agent(ScriptedModel([]), tools=[helper], name="helper")
    with pytest.raises(ConfigurationError, match="both named 'helper'"):
        clash.to_mcp(expose_tools=True)
    clash.to_mcp()  # without the tools, no clash


async def test_model_overrides_the_agents_model_for_every_call() -> None:
    """``to_mcp(model=...)`` runs each call on that model, not the agent's own."""
    override = ScriptedModel(["from the override"])
    async with mcp.Client(agent.to_mcp(model=override)) as client:
        result = await client.call_tool("helper", {"prompt": "hello"})
    assert _text(result) == "from the override"
    assert len(override.requests) == 1


async def test_a_budget_overrun_is_a_tool_error_with_the_usage_spent() -> None:
    """A run stopped by its usage limits answers as a tool error naming the limit, and
    ``_meta`` carries what it spent."""
    capped = Agent(
        ScriptedModel([tool_calls(("get_weather", {"city": "Rome"}))] * 3),
        tools=[agent.tools["get_weather"]],
        usage_limits=UsageLimits(requests=1),
        name="capped",
    )
    async with mcp.Client(capped.to_mcp()) as client:
        result = await client.call_tool("capped", {"prompt": "weather?"})
    assert result.is_error and _text(result).startswith("UsageLimitExceeded")
    assert result.meta is not None and result.meta[USAGE_META_KEY]["requests"] == 1


@pytest.mark.parametrize("mode", ERAS)
async def test_an_approval_inside_an_agent_used_as_a_tool_is_elicited_too(mode: str) -> None:
    """A call waiting inside a child agent (``as_tool``) is asked about naming that agent;
    approving it resumes the child and then the parent, in the same MCP call."""

    @tool(needs_approval=True)
    def delete_file(name: str) -> str:
        """Delete a file."""
        return f"deleted {name}"

    child_model = ScriptedModel([tool_calls(("delete_file", {"name": "a.txt"})), "child: done"])
    child = Agent(child_model, tools=[delete_file], name="child")
    parent = Agent(
        ScriptedModel([tool_calls(("child", {"prompt": "tidy"})), "parent: done"]),
        tools=[child.as_tool()],
        name="parent",
    )
    answer = _answering("accept", {"approve": True})
    async with mcp.Client(parent.to_mcp(), mode=mode, elicitation_callback=answer) as client:
        result = await client.call_tool("parent", {"prompt": "tidy up"})
    assert _text(result) == "parent: done"
    assert len(answer.seen) == 1 and "'parent' (inside child)" in answer.seen[0]
    assert child_model.requests[-1].messages[-1].content == "deleted a.txt"


async def test_agentkit_as_mcp_client_uses_an_agent_served_by_agentkit() -> None:
    """Another agent reaches the served agent through agentkit's own MCP client: the served
    agent's answer comes back as the tool result."""
    outer_model = ScriptedModel([tool_calls(("helper", {"prompt": "weather in Rome"})), "ok"])
    outer = Agent(outer_model, tools=[MCPServer.in_process(agent.to_mcp())])
    assert (await outer.run("Rome?")).output == "ok"
    assert outer_model.requests[1].messages[-1].content == "done: Rome: 21 C, sunny"


async def test_a_failed_elicitation_is_a_tool_error_naming_the_call() -> None:
    """A 2025 client that answers the approval's elicitation with an error gets a tool error
    naming the call that waited and the client's message; the call does not run."""

    async def failing(
        context: ClientRequestContext, params: mcp_types.ElicitRequestParams
    ) -> mcp_types.ErrorData:
        return mcp_types.ErrorData(code=mcp_types.INTERNAL_ERROR, message="no person here")

    async with mcp.Client(agent.to_mcp(), mode="legacy", elicitation_callback=failing) as client:
        result = await client.call_tool("helper", {"prompt": "delete notes.txt"})
    assert result.is_error
    assert "approval of delete_file, and asking the client failed: no person here" in _text(result)


@pytest.mark.parametrize("expose", [False, True])
async def test_deps_reach_the_runs_and_the_exposed_tools(expose: bool) -> None:
    """``to_mcp(deps=...)`` gives every run's tools, and each exposed tool called directly,
    the dependencies (a tool reading ``ctx.deps`` works either way)."""

    @tool
    def greeting(ctx: RunContext[dict[str, str]]) -> str:
        """The configured greeting."""
        return ctx.deps["greeting"]

    model = ScriptedModel([tool_calls(("greeting", {})), "ok"])
    greeter = Agent(model, tools=[greeting], name="greeter")
    async with mcp.Client(greeter.to_mcp(deps={"greeting": "hej"}, expose_tools=expose)) as c:
        if expose:
            assert _text(await c.call_tool("greeting", {})) == "hej"
        else:
            assert _text(await c.call_tool("greeter", {"prompt": "greet"})) == "ok"
            assert model.requests[1].messages[-1].content == "hej"
