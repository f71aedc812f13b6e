"""MCP tools under run control: approvals (on the server or per tool name) and sampling
requests answered by a model the user names, against real SDK servers."""

from __future__ import annotations

import io
import sys
import uuid
from typing import Any

import mcp_types as t
import pytest
from mcp.server.mcpserver import Context
from mcp.server.mcpserver import MCPServer as SDKServer

from agentkit import Agent, Denied, RunContext, dump_messages, load_messages
from agentkit.mcp import MCPServer
from agentkit.messages import SystemMessage, ToolMessage, UserMessage
from agentkit.models import OpenAIChatModel
from agentkit.testing import ScriptedModel, tool_calls
from agentkit.testing.server import LocalModelServer, reply_error, reply_text

pytestmark = pytest.mark.anyio


def _bank() -> tuple[SDKServer, list[str]]:
    """An in-process server with a harmless and a dangerous tool; ``done`` records calls."""
    server = SDKServer("bank")
    done: list[str] = []

    @server.tool()
    def balance(account: str) -> str:
        """The balance of an account."""
        done.append(f"balance {account}")
        return f"{account}: 100 EUR"

    @server.tool()
    def transfer(account: str, amount: int) -> str:
        """Move money out of an account."""
        done.append(f"transfer {account} {amount}")
        return f"sent {amount} EUR from {account}"

    return server, done


def _answers(model: ScriptedModel, turn: int) -> list[ToolMessage]:
    return [m for m in model.requests[turn].messages if isinstance(m, ToolMessage)]


async def test_tools_named_in_needs_approval_pause_and_resume_on_the_server() -> None:
    """A tool named in needs_approval pauses the run (the others run); approving it on
    resume from the saved conversation calls the server once."""
    server, done = _bank()
    model = ScriptedModel(
        [
            tool_calls(
                ("balance", {"account": "A1"}), ("transfer", {"account": "A1", "amount": 50})
            ),
            "Done.",
        ]
    )
    agent = Agent(model, tools=[MCPServer.in_process(server, needs_approval={"transfer"})])
    paused = await agent.run("Send 50 EUR from A1.")
    assert paused.is_paused
    (request,) = paused.approvals_needed
    assert (request.tool_name, request.args) == ("transfer", {"account": "A1", "amount": 50})
    assert done == ["balance A1"]
    saved = dump_messages(paused.messages)
    resumed = await agent.run(message_history=load_messages(saved), approvals={request: True})
    assert resumed.output == "Done."
    assert done == ["balance A1", "transfer A1 50"]
    contents = [m.content for m in _answers(model, 1)]
    assert contents == ["A1: 100 EUR", "sent 50 EUR from A1"]


async def test_server_wide_and_per_call_approval_rules_on_a_prefixed_view() -> None:
    """needs_approval=True covers every tool of the server, a mapping to a callable decides
    per call with the validated arguments, and views (prefixed) keep the rule."""
    server, done = _bank()

    def large(ctx: RunContext[Any], args: dict[str, Any]) -> bool:
        return bool(args["amount"] > 100)

    everything = ScriptedModel([tool_calls(("bank_balance", {"account": "A1"}))])
    paused = await Agent(
        everything, tools=[MCPServer.in_process(server, needs_approval=True).prefixed("bank")]
    ).run("balance?")
    assert [r.tool_name for r in paused.approvals_needed] == ["bank_balance"]

    rules = MCPServer.in_process(server, needs_approval={"transfer": large}).prefixed("bank")
    small = ScriptedModel([tool_calls(("bank_transfer", {"account": "A1", "amount": 20})), "sent"])
    assert (await Agent(small, tools=[rules]).run("send 20")).output == "sent"
    big = ScriptedModel([tool_calls(("bank_transfer", {"account": "A1", "amount": 500}))])
    paused = await Agent(big, tools=[rules]).run("send 500")
    assert [r.args["amount"] for r in paused.approvals_needed] == [500]
    assert done == ["transfer A1 20"]


async def test_a_denied_mcp_call_never_reaches_the_server() -> None:
    """Denying a waiting MCP call answers the model with the reason; the server is not called."""
    server, done = _bank()
    model = ScriptedModel([tool_calls(("transfer", {"account": "A1", "amount": 5})), "ok"])
    agent = Agent(model, tools=[MCPServer.in_process(server, needs_approval="transfer")])
    paused = await agent.run("send 5")
    decisions = {paused.approvals_needed[0]: Denied("not today")}
    await agent.run(message_history=paused.messages, approvals=decisions)
    assert done == []
    assert _answers(model, 1)[0].content == "Denied: not today"


async def test_stdio_time_server_tool_needs_approval() -> None:
    """On mcp-server-time over stdio, get_current_time named in needs_approval pauses the
    run, and approving it gets the server's real answer."""
    model = ScriptedModel([tool_calls(("get_current_time", {"timezone": "Europe/Paris"})), "ok"])
    time_server = MCPServer.stdio(
        sys.executable,
        ["-m", "mcp_server_time", "--local-timezone", "UTC"],
        env={"MCP_TEST_MARK": uuid.uuid4().hex},
        needs_approval=["get_current_time"],
    )
    agent = Agent(model, tools=[time_server])
    paused = await agent.run("time?")
    assert [r.tool_name for r in paused.approvals_needed] == ["get_current_time"]
    approvals = {r: True for r in paused.approvals_needed}
    await agent.run(message_history=paused.messages, approvals=approvals)
    assert '"datetime"' in _answers(model, 1)[0].content


async def test_a_stdio_server_starts_when_stderr_has_no_descriptor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With sys.stderr a stand-in without a file descriptor (a notebook, captured output), a
    stdio server still starts and answers."""
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    model = ScriptedModel([tool_calls(("get_current_time", {"timezone": "UTC"})), "ok"])
    clock = MCPServer.stdio(sys.executable, ["-m", "mcp_server_time", "--local-timezone", "UTC"])
    await Agent(model, tools=[clock]).run("time?")
    assert '"datetime"' in _answers(model, 1)[0].content


def _writer() -> SDKServer:
    """An in-process server whose tool asks the client's model for a poem (sampling)."""
    server = SDKServer("writer")

    @server.tool()
    async def poem(topic: str, ctx: Context) -> str | t.InputRequiredResult:
        """Write a poem about a topic, with the client's model."""
        responses = ctx.input_responses
        if not responses:
            ask = t.CreateMessageRequestParams(
                messages=[
                    t.SamplingMessage(
                        role="user", content=t.TextContent(type="text", text=f"A poem on {topic}")
                    )
                ],
                max_tokens=60,
                system_prompt="You are a poet.",
                temperature=0.2,
            )
            return t.InputRequiredResult(
                input_requests={"poem": t.CreateMessageRequest(params=ask)}
            )
        answer = responses["poem"]
        assert isinstance(answer, t.CreateMessageResult)
        assert isinstance(answer.content, t.TextContent)
        return f"{answer.content.text} [{answer.model}, {answer.stop_reason}]"

    return server


async def test_sampling_requests_are_answered_by_the_named_model() -> None:
    """A server's sampling request goes to sampling_model (system prompt, messages,
    max_tokens and temperature carried over) and its answer reaches the tool's result."""
    sampler = ScriptedModel(["Waves fold into waves."])
    writer = MCPServer.in_process(_writer(), sampling_model=sampler)
    model = ScriptedModel([tool_calls(("poem", {"topic": "the sea"})), "Here it is."])
    result = await Agent(model, tools=[writer]).run("A poem on the sea, please.")
    assert result.output == "Here it is."
    (asked,) = sampler.requests
    assert asked.messages == [
        SystemMessage(content="You are a poet."),
        UserMessage(content="A poem on the sea"),
    ]
    assert (asked.settings.max_tokens, asked.settings.temperature) == (60, 0.2)
    assert asked.tools == ()
    assert _answers(model, 1)[0].content == "Waves fold into waves. [scripted, endTurn]"


async def test_sampling_over_http_with_openai_chat_model() -> None:
    """With an OpenAIChatModel on a local server as sampling_model, the sampling request is
    a real chat-completions request and the model's text comes back to the MCP server."""
    with LocalModelServer([reply_text("A gull, a wave.")], style="mistral") as local:
        sampler = OpenAIChatModel("mistral-small-2506", base_url=local.base_url, api_key="t")
        writer = MCPServer.in_process(_writer(), sampling_model=sampler)
        model = ScriptedModel([tool_calls(("poem", {"topic": "gulls"})), "ok"])
        await Agent(model, tools=[writer]).run("poem")
        (body,) = local.bodies
    assert body["messages"] == [
        {"role": "system", "content": "You are a poet."},
        {"role": "user", "content": "A poem on gulls"},
    ]
    assert body["max_tokens"] == 60
    answer = _answers(model, 1)[0]
    assert not answer.is_error
    assert answer.content.startswith("A gull, a wave. [mistral-small-2506")


async def test_sampling_is_refused_without_a_sampling_model() -> None:
    """Without sampling_model, a server's sampling request is refused and the call is an
    error answer to the model (no model is asked)."""
    model = ScriptedModel([tool_calls(("poem", {"topic": "x"})), "ok"])
    await Agent(model, tools=[MCPServer.in_process(_writer())]).run("poem")
    answer = _answers(model, 1)[0]
    assert answer.is_error
    assert answer.content == "MCP server 'writer' refused poem: Sampling not supported"


async def test_a_failing_sampling_model_is_an_error_for_the_server() -> None:
    """A sampling model that fails answers the server with an error naming the model; the
    run goes on with the tool call answered as an error."""
    with LocalModelServer([reply_error(400, "bad request")], style="mistral") as local:
        sampler = OpenAIChatModel("mistral-small-2506", base_url=local.base_url, api_key="t")
        model = ScriptedModel([tool_calls(("poem", {"topic": "x"})), "ok"])
        writer = MCPServer.in_process(_writer(), sampling_model=sampler)
        result = await Agent(model, tools=[writer]).run("poem")
    assert result.output == "ok"
    answer = _answers(model, 1)[0]
    assert answer.is_error
    assert "'mistral-small-2506' could not answer the sampling request" in answer.content
    assert "'mistral-small-2506' could not answer the sampling request" in answer.content


def test_mcp_errors_are_in_the_error_tree() -> None:
    """MCPConnectionError and MCPToolError are agentkit errors exported from agentkit, the
    same classes agentkit.mcp raises."""
    import agentkit
    import agentkit.mcp

    assert agentkit.mcp.MCPConnectionError is agentkit.MCPConnectionError
    assert agentkit.mcp.MCPToolError is agentkit.MCPToolError
    assert issubclass(agentkit.MCPConnectionError, agentkit.AgentkitError)
    assert issubclass(agentkit.MCPToolError, agentkit.AgentkitError)
