"""MCP sampling requests inside the run whose tool call asked for them: counted in its
usage, checked against its budget before they are sent, seen by its request hooks and
traced; against real SDK servers (in-process, and a 2025-era server over stdio)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import mcp_types as t
import pytest
from mcp.server.mcpserver import Context
from mcp.server.mcpserver import MCPServer as SDKServer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentkit import Agent, Hooks, RunInfo, UsageLimitExceeded, UsageLimits
from agentkit.hooks import RequestHandler
from agentkit.mcp import MCPServer
from agentkit.messages import ToolMessage, UserMessage
from agentkit.models.base import ModelRequest, ModelResponse, complete
from agentkit.testing import ScriptedModel, text, tool_calls
from agentkit.tracing import Tracing

pytestmark = pytest.mark.anyio

LEGACY_SERVER = Path(__file__).parent / "mcp_servers" / "legacy_sampler.py"


def _writer() -> SDKServer:
    """An in-process server whose tool asks the client's model for a poem (a 2026-era
    sampling request, embedded in the tool's ``InputRequiredResult``)."""
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
            )
            return t.InputRequiredResult(
                input_requests={"poem": t.CreateMessageRequest(params=ask)}
            )
        answer = responses["poem"]
        assert isinstance(answer, t.CreateMessageResult)
        assert isinstance(answer.content, t.TextContent)
        return answer.content.text

    return server


def _servers(sampler: ScriptedModel) -> dict[str, MCPServer]:
    return {
        "in_process": MCPServer.in_process(_writer(), sampling_model=sampler),
        "legacy_stdio": MCPServer.stdio(
            sys.executable, [str(LEGACY_SERVER)], sampling_model=sampler
        ),
    }


@pytest.fixture(params=["in_process", "legacy_stdio"])
def kind(request: pytest.FixtureRequest) -> str:
    """Which server: the in-process 2026-era one, or the 2025-era one over stdio (whose
    sampling request is answered in the client session's task, not the tool call's)."""
    return str(request.param)


def _sampler() -> ScriptedModel:
    return ScriptedModel([text("Waves fold into waves.", input_tokens=700, output_tokens=30)])


def _model() -> ScriptedModel:
    return ScriptedModel([tool_calls(("poem", {"topic": "the sea"})), "Here it is."])


def _answer(model: ScriptedModel) -> ToolMessage:
    (answer,) = [m for m in model.requests[1].messages if isinstance(m, ToolMessage)]
    return answer


async def test_sampling_usage_is_added_to_the_run_usage(kind: str) -> None:
    """The sampling request's usage (one request, its tokens) is part of the run's
    result.usage, beside the run's own two requests."""
    sampler = _sampler()
    model = _model()
    result = await Agent(model, tools=[_servers(sampler)[kind]]).run("A poem, please.")
    assert result.output == "Here it is."
    assert len(sampler.requests) == 1
    assert result.usage.requests == 3
    assert result.usage.input_tokens == 10 + 10 + 700
    assert result.usage.output_tokens == 5 + 5 + 30
    assert _answer(model).content.startswith("Waves fold into waves.")


async def test_a_sampling_request_past_the_budget_is_not_sent_and_ends_the_run(
    kind: str,
) -> None:
    """With UsageLimits(requests=1) spent by the run's first request, the sampling
    request is refused before the sampling model is asked, and the run raises
    UsageLimitExceeded naming the server's sampling request."""
    sampler = _sampler()
    model = _model()
    agent = Agent(model, tools=[_servers(sampler)[kind]])
    with pytest.raises(UsageLimitExceeded) as caught:
        await agent.run("A poem, please.", usage_limits=UsageLimits(requests=1))
    assert sampler.requests == []
    assert caught.value.limit == "requests"
    assert "sampling request" in str(caught.value)
    assert caught.value.usage.requests == 1
    assert caught.value.messages is not None


async def test_the_sampling_request_counts_against_the_budget_of_later_requests() -> None:
    """UsageLimits(requests=2) lets the sampling request through as the run's second
    request, so the run's third request is the one refused."""
    sampler = _sampler()
    model = _model()
    agent = Agent(model, tools=[_servers(sampler)["in_process"]])
    with pytest.raises(UsageLimitExceeded) as caught:
        await agent.run("A poem, please.", usage_limits=UsageLimits(requests=2))
    assert len(sampler.requests) == 1
    assert caught.value.usage.requests == 2
    assert len(model.requests) == 1


class _Recorder(Hooks):
    """Records every model request and response the run's request hooks see."""

    def __init__(self) -> None:
        self.seen: list[tuple[ModelRequest, ModelResponse]] = []

    async def wrap_model_request(
        self, run: RunInfo, request: ModelRequest, handler: RequestHandler
    ) -> ModelResponse:
        response = await handler(request)
        self.seen.append((request, response))
        return response


async def test_request_hooks_see_the_sampling_request(kind: str) -> None:
    """A Hooks subclass's wrap_model_request sees the sampling request (the server's
    messages, no tools) and its answer, between the run's two requests."""
    recorder = _Recorder()
    sampler = _sampler()
    model = _model()
    agent = Agent(model, tools=[_servers(sampler)[kind]], hooks=[recorder])
    await agent.run("A poem, please.")
    assert len(recorder.seen) == 3
    request, response = recorder.seen[1]
    assert request.messages[-1] == UserMessage(content="A poem on the sea")
    assert request.tools == ()
    assert response.message.content == "Waves fold into waves."


async def test_a_hook_can_answer_the_sampling_request_itself() -> None:
    """A request hook that answers without calling the handler answers the server too:
    the sampling model is never asked."""

    class Canned(Hooks):
        async def wrap_model_request(
            self, run: RunInfo, request: ModelRequest, handler: RequestHandler
        ) -> ModelResponse:
            if request.tools:  # the run's own requests
                return await handler(request)
            return await complete(ScriptedModel(["Canned verse."]), request)

    sampler = _sampler()
    model = _model()
    await Agent(model, tools=[_servers(sampler)["in_process"]], hooks=[Canned()]).run("poem")
    assert sampler.requests == []
    assert _answer(model).content == "Canned verse."


async def test_tracing_records_the_sampling_request_as_a_chat_span_of_the_run() -> None:
    """With Tracing, the sampling request is a chat span inside the run's span, with the
    sampling model's usage."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sampler = _sampler()
    agent = Agent(
        _model(),
        tools=[_servers(sampler)["in_process"]],
        hooks=[Tracing(tracer_provider=provider)],
    )
    await agent.run("A poem, please.")
    spans = exporter.get_finished_spans()
    (run_span,) = [s for s in spans if s.name.startswith("invoke_agent")]
    chats = [s for s in spans if s.name.startswith("chat ")]
    assert len(chats) == 3
    assert all(s.parent is not None and s.parent.span_id == run_span.context.span_id for s in chats)
    inputs = sorted(int(str(dict(s.attributes or {})["gen_ai.usage.input_tokens"])) for s in chats)
    assert inputs == [10, 10, 700]
    provider.shutdown()


async def test_sampling_in_an_agent_used_as_a_tool_counts_in_the_caller() -> None:
    """An MCP tool of an agent used as a tool: its sampling request is counted in the
    child run and in the calling run's usage."""
    sampler = _sampler()
    child = Agent(_model(), name="poet", tools=[_servers(sampler)["in_process"]])
    parent = ScriptedModel([tool_calls(("poet", {"prompt": "a poem"})), "Done."])
    result = await Agent(parent, tools=[child.as_tool()]).run("Ask the poet.")
    assert result.output == "Done."
    assert len(sampler.requests) == 1
    assert result.usage.requests == 2 + 3
    assert result.usage.input_tokens == 20 + 720


async def test_sampling_outside_a_run_goes_straight_to_the_sampling_model() -> None:
    """A tool called by hand (no run) still has its sampling request answered by
    sampling_model; no run counts it."""
    sampler = _sampler()
    server = MCPServer.in_process(_writer(), sampling_model=sampler)
    async with server:
        (poem,) = await server.list_tools()
        result = await poem.run(None, {"topic": "the sea"})
    assert result.content == "Waves fold into waves."
    assert len(sampler.requests) == 1


async def test_concurrent_runs_on_one_connection_each_count_their_own_sampling() -> None:
    """Two runs sharing one open connection, concurrently: each sampling request of the
    2026-era server is counted in the run whose call made it."""
    import anyio

    sampler = ScriptedModel(
        [
            text("one", input_tokens=100, output_tokens=1),
            text("two", input_tokens=100, output_tokens=1),
        ]
    )
    server = MCPServer.in_process(_writer(), sampling_model=sampler)
    results: list[Any] = []

    async def one(topic: str) -> None:
        model = ScriptedModel([tool_calls(("poem", {"topic": topic})), "ok"])
        results.append(await Agent(model, tools=[server]).run(topic))

    async with server, anyio.create_task_group() as tg:
        tg.start_soon(one, "a")
        tg.start_soon(one, "b")
    assert [r.usage.requests for r in results] == [3, 3]
    assert [r.usage.input_tokens for r in results] == [120, 120]
