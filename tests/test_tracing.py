"""OpenTelemetry tracing: GenAI spans and metrics over real HTTP, content opt-in, no secrets."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import doc_blocks
import pytest
from opentelemetry import metrics, trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel
from support import get_weather, model_on

from agentkit import Agent, BadRequestError, TextDeltaEvent, tool
from agentkit.models import OpenAIChatModel
from agentkit.models.base import ModelSettings
from agentkit.testing.scripted import ScriptedModel
from agentkit.testing.scripted import text as scripted_text
from agentkit.testing.server import (
    LocalModelServer,
    reply_error,
    reply_text,
    reply_tool_calls,
    usage,
)
from agentkit.tracing import CAPTURE_CONTENT_ENV, Tracing

SECRET = "sk-agentkit-TRACE-SECRET-7f3a9c"
"""A recognisable API key: it must appear in no span, event or metric."""

CONTENT_KEYS = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.tool.definitions",
    "agentkit.retry.reason",
)


class Report(BaseModel):
    city: str
    temperature_c: int


@dataclass
class Telemetry:
    """An SDK tracer provider and meter provider that keep what they record in memory."""

    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    def tracing(self, capture_content: bool | None = None) -> Tracing:
        return Tracing(self.tracer_provider, self.meter_provider, capture_content=capture_content)

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def by_name(self) -> dict[str, list[ReadableSpan]]:
        out: dict[str, list[ReadableSpan]] = {}
        for span in self.finished():
            out.setdefault(span.name, []).append(span)
        return out

    def points(self, metric: str) -> list[HistogramDataPoint]:
        data = self.reader.get_metrics_data()
        found: list[HistogramDataPoint] = []
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == metric:
                        found.extend(p for p in m.data.data_points)  # type: ignore[misc]
        return found


@pytest.fixture
def telemetry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Telemetry]:
    monkeypatch.delenv(CAPTURE_CONTENT_ENV, raising=False)
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Telemetry(exporter, reader, tracer_provider, meter_provider)
    tracer_provider.shutdown()
    meter_provider.shutdown()


def _weather_replies() -> list[Any]:
    return [reply_tool_calls(("get_weather", {"city": "Paris"})), reply_text("Sunny in Paris.")]


def _attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def _everything_recorded(telemetry: Telemetry) -> str:
    """Every name, attribute, event, status and metric label recorded, as one text."""
    pieces: list[str] = []
    for span in telemetry.finished():
        pieces.append(span.name)
        pieces.append(repr(_attrs(span)))
        pieces.append(repr(span.status.description))
        for event in span.events:
            pieces.append(event.name)
            pieces.append(repr(dict(event.attributes or {})))
        pieces.append(repr(dict(span.resource.attributes)))
    data = telemetry.reader.get_metrics_data()
    if data is not None:
        pieces.append(data.to_json())
    return "\n".join(pieces)


# -- spans of a run with a tool call ----------------------------------------------------------


@pytest.mark.anyio
async def test_tool_run_has_genai_spans_nested_with_their_attributes(telemetry: Telemetry) -> None:
    """A run with one tool call: invoke_agent holds two CLIENT chat spans and an
    execute_tool span, each with the GenAI attributes and the run's cost."""
    with LocalModelServer(_weather_replies(), style="mistral") as server:
        agent = Agent(
            model_on(server, api_key=SECRET),
            instructions="Weather desk.",
            tools=[get_weather],
            name="weather",
            settings=ModelSettings(temperature=0.15),
            hooks=[telemetry.tracing()],
        )
        result = await agent.run("Weather in Paris?")
        port = server.port
    spans = telemetry.by_name()
    assert sorted(spans) == [
        "chat mistral-small-2506",
        "execute_tool get_weather",
        "invoke_agent weather",
    ]
    (run,) = spans["invoke_agent weather"]
    chats = spans["chat mistral-small-2506"]
    (tool_span,) = spans["execute_tool get_weather"]
    assert len(chats) == 2
    assert run.kind is SpanKind.INTERNAL and tool_span.kind is SpanKind.INTERNAL
    assert all(c.kind is SpanKind.CLIENT for c in chats)
    assert run.parent is None
    for child in [*chats, tool_span]:
        assert child.parent is not None and child.parent.span_id == run.context.span_id
        assert child.context.trace_id == run.context.trace_id
    assert chats[0].end_time <= tool_span.start_time <= tool_span.end_time <= chats[1].start_time  # type: ignore[operator]

    run_attrs = _attrs(run)
    assert run_attrs["gen_ai.operation.name"] == "invoke_agent"
    assert run_attrs["gen_ai.agent.name"] == "weather"
    assert run_attrs["gen_ai.provider.name"] == "mistral_ai"
    assert run_attrs["gen_ai.request.model"] == "mistral-small-2506"
    assert run_attrs["gen_ai.usage.input_tokens"] == 20
    assert run_attrs["gen_ai.usage.output_tokens"] == 10
    assert run_attrs["agentkit.usage.requests"] == 2
    assert run_attrs["agentkit.usage.cost_usd"] == pytest.approx(result.usage.cost_usd)
    assert run_attrs["agentkit.usage.cost_usd"] == pytest.approx((20 * 0.10 + 10 * 0.30) / 1e6)
    assert run.status.status_code is StatusCode.UNSET

    first, second = (_attrs(c) for c in chats)
    for attrs in (first, second):
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs["gen_ai.provider.name"] == "mistral_ai"
        assert attrs["gen_ai.request.model"] == "mistral-small-2506"
        assert attrs["gen_ai.response.model"] == "mistral-small-2506"
        assert len(str(attrs["gen_ai.response.id"])) == 32
        assert attrs["gen_ai.request.max_tokens"] == 8192
        assert attrs["gen_ai.request.temperature"] == 0.15
        assert attrs["gen_ai.usage.input_tokens"] == 10
        assert attrs["gen_ai.usage.output_tokens"] == 5
        assert attrs["agentkit.usage.cost_usd"] == pytest.approx((10 * 0.10 + 5 * 0.30) / 1e6)
        assert attrs["server.address"] == "127.0.0.1"
        assert attrs["server.port"] == port
        assert attrs["gen_ai.output.type"] == "text"
    assert first["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert second["gen_ai.response.finish_reasons"] == ("stop",)

    call_id = server.bodies[1]["messages"][2]["tool_calls"][0]["id"]
    tool_attrs = _attrs(tool_span)
    assert tool_attrs["gen_ai.operation.name"] == "execute_tool"
    assert tool_attrs["gen_ai.tool.name"] == "get_weather"
    assert tool_attrs["gen_ai.tool.call.id"] == call_id
    assert tool_attrs["gen_ai.tool.type"] == "function"
    assert tool_attrs["gen_ai.tool.description"] == "Get the current weather for a city."


@pytest.mark.anyio
async def test_metrics_count_tokens_by_type_and_time_each_request(telemetry: Telemetry) -> None:
    """gen_ai.client.token.usage has one input and one output point set per request, and
    gen_ai.client.operation.duration one measurement per request, with the GenAI labels."""
    with LocalModelServer(_weather_replies(), style="mistral") as server:
        agent = Agent(
            model_on(server, api_key=SECRET), tools=[get_weather], hooks=[telemetry.tracing()]
        )
        await agent.run("Weather in Paris?")
    tokens = {
        str(dict(p.attributes or {})["gen_ai.token.type"]): p
        for p in telemetry.points("gen_ai.client.token.usage")
    }
    assert sorted(tokens) == ["input", "output"]
    assert (tokens["input"].count, tokens["input"].sum) == (2, 20)
    assert (tokens["output"].count, tokens["output"].sum) == (2, 10)
    labels = dict(tokens["input"].attributes or {})
    assert labels["gen_ai.operation.name"] == "chat"
    assert labels["gen_ai.provider.name"] == "mistral_ai"
    assert labels["gen_ai.request.model"] == "mistral-small-2506"
    assert labels["gen_ai.response.model"] == "mistral-small-2506"
    assert labels["server.address"] == "127.0.0.1"
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.count == 2
    assert "error.type" not in (duration.attributes or {})


# -- streaming --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_streamed_run_is_traced_the_same_with_time_to_first_chunk(
    telemetry: Telemetry,
) -> None:
    """A streamed run gives the same spans and parents, and each chat span (and the
    time_to_first_chunk metric) records when its first chunk reached the run."""
    with LocalModelServer(_weather_replies(), style="mistral") as server:
        agent = Agent(
            model_on(server, api_key=SECRET),
            tools=[get_weather],
            name="weather",
            hooks=[telemetry.tracing()],
        )
        deltas: list[str] = []
        async with agent.run_stream("Weather in Paris?") as stream:
            async for event in stream:
                if isinstance(event, TextDeltaEvent):
                    deltas.append(event.text)
    assert "".join(deltas) == "Sunny in Paris."
    spans = telemetry.by_name()
    (run,) = spans["invoke_agent weather"]
    chats = spans["chat mistral-small-2506"]
    (tool_span,) = spans["execute_tool get_weather"]
    assert len(chats) == 2
    for child in [*chats, tool_span]:
        assert child.parent is not None and child.parent.span_id == run.context.span_id
    for chat in chats:
        attrs = _attrs(chat)
        assert attrs["gen_ai.request.stream"] is True
        assert attrs["gen_ai.usage.output_tokens"] == 5
        first_chunk = attrs["gen_ai.response.time_to_first_chunk"]
        assert isinstance(first_chunk, float)
        assert 0 <= first_chunk <= (chat.end_time - chat.start_time) / 1e9  # type: ignore[operator]
    assert _attrs(chats[1])["gen_ai.response.finish_reasons"] == ("stop",)
    (ttft,) = telemetry.points("gen_ai.client.operation.time_to_first_chunk")
    assert ttft.count == 2
    assert dict(ttft.attributes or {})["gen_ai.request.model"] == "mistral-small-2506"


@pytest.mark.anyio
async def test_a_stream_left_early_still_ends_every_span(telemetry: Telemetry) -> None:
    """Leaving a streamed run after its first delta ends the open chat span and the run's."""
    with LocalModelServer([reply_text("one two three four")], style="mistral") as server:
        agent = Agent(model_on(server, api_key=SECRET), hooks=[telemetry.tracing()])
        async with agent.run_stream("Count.") as stream:
            async for event in stream:
                if isinstance(event, TextDeltaEvent):
                    break
    names = sorted(s.name for s in telemetry.finished())
    assert names == ["chat mistral-small-2506", "invoke_agent agent"]


# -- failures ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_400_marks_the_request_and_the_run_as_errors(telemetry: Telemetry) -> None:
    """A 400 sets error.type and status ERROR on the chat span and the run's span, with
    the status code, and no message text (it may quote content) by default."""
    reply = reply_error(
        400, "Invalid message order: the prompt 'Weather in Paris?'", style="mistral"
    )
    with LocalModelServer([reply], style="mistral") as server:
        agent = Agent(model_on(server, api_key=SECRET), name="weather", hooks=[telemetry.tracing()])
        with pytest.raises(BadRequestError):
            await agent.run("Weather in Paris?")
    spans = telemetry.by_name()
    (run,) = spans["invoke_agent weather"]
    (chat,) = spans["chat mistral-small-2506"]
    for span in (run, chat):
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "BadRequestError"
        assert _attrs(span)["error.type"] == "BadRequestError"
        assert _attrs(span)["http.response.status_code"] == 400
        assert not span.events  # no exception event with the message
    assert chat.parent is not None and chat.parent.span_id == run.context.span_id
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert dict(duration.attributes or {})["error.type"] == "BadRequestError"
    assert "Weather in Paris" not in _everything_recorded(telemetry)


@pytest.mark.anyio
async def test_a_failing_tool_marks_its_span_and_a_retry_is_a_span_event(
    telemetry: Telemetry,
) -> None:
    """A tool that raises gives an ERROR execute_tool span; output the model must fix is a
    retry event on the run's span (with the retries left, not the feedback)."""

    @tool
    def lookup(city: str) -> str:
        """Look a city up."""
        raise ValueError(f"no data for {city}")

    replies = [
        reply_tool_calls(("lookup", {"city": "Paris"})),
        reply_text("not json at all"),
        reply_text(json.dumps({"city": "Paris", "temperature_c": 21})),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        agent = Agent(
            model_on(server, api_key=SECRET),
            tools=[lookup],
            output_type=Report,
            hooks=[telemetry.tracing()],
        )
        result = await agent.run("Paris?")
    assert result.output == Report(city="Paris", temperature_c=21)
    spans = telemetry.by_name()
    (tool_span,) = spans["execute_tool lookup"]
    assert tool_span.status.status_code is StatusCode.ERROR
    assert tool_span.status.description == "ValueError"
    assert _attrs(tool_span)["error.type"] == "ValueError"
    (run,) = spans["invoke_agent agent"]
    assert run.status.status_code is StatusCode.UNSET
    retries = [e for e in run.events if e.name == "agentkit.retry"]
    assert [dict(e.attributes or {}) for e in retries] == [{"agentkit.retry.retries_left": 2}]
    assert _attrs(spans["chat mistral-small-2506"][0])["gen_ai.output.type"] == "json"
    assert "no data for" not in _everything_recorded(telemetry)


# -- nested agents ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_child_agent_run_nests_under_the_parent_tool_span(telemetry: Telemetry) -> None:
    """A tool that runs another agent: the child's invoke_agent span is a child of the
    parent's execute_tool span, and the child's chat span is inside the child's run."""
    tracing = telemetry.tracing()
    replies = [
        reply_tool_calls(("ask_expert", {"question": "Paris?"})),
        reply_text("Expert says sunny."),
        reply_text("Sunny, says the expert."),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        model = model_on(server, api_key=SECRET)
        expert = Agent(model, name="expert", hooks=[tracing])

        @tool
        async def ask_expert(question: str) -> str:
            """Ask the expert agent."""
            return (await expert.run(question)).output

        agent = Agent(model, tools=[ask_expert], name="desk", hooks=[tracing])
        result = await agent.run("Weather in Paris?")
    assert result.output == "Sunny, says the expert."
    spans = telemetry.by_name()
    (desk,) = spans["invoke_agent desk"]
    (tool_span,) = spans["execute_tool ask_expert"]
    (child,) = spans["invoke_agent expert"]
    chats = spans["chat mistral-small-2506"]
    assert tool_span.parent is not None and tool_span.parent.span_id == desk.context.span_id
    assert child.parent is not None and child.parent.span_id == tool_span.context.span_id
    child_chats = [c for c in chats if c.parent and c.parent.span_id == child.context.span_id]
    desk_chats = [c for c in chats if c.parent and c.parent.span_id == desk.context.span_id]
    assert (len(child_chats), len(desk_chats)) == (1, 2)
    assert {s.context.trace_id for s in telemetry.finished()} == {desk.context.trace_id}
    assert _attrs(child)["gen_ai.agent.name"] == "expert"
    assert _attrs(child)["gen_ai.usage.output_tokens"] == 5


@pytest.mark.anyio
async def test_agent_as_tool_nests_the_child_run_under_the_parent_tool_span(
    telemetry: Telemetry,
) -> None:
    """With Agent.as_tool, the child's invoke_agent span is a child of the parent's
    execute_tool span, in a streamed parent run too."""
    tracing = telemetry.tracing()
    replies = [
        reply_tool_calls(("expert", {"prompt": "Paris?"})),
        reply_text("Expert says sunny."),
        reply_text("Sunny, says the expert."),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        model = model_on(server, api_key=SECRET)
        expert = Agent(model, name="expert", hooks=[tracing])
        agent = Agent(model, tools=[expert.as_tool()], name="desk", hooks=[tracing])
        async with agent.run_stream("Weather in Paris?") as stream:
            async for _ in stream:
                pass
    spans = telemetry.by_name()
    (desk,) = spans["invoke_agent desk"]
    (tool_span,) = spans["execute_tool expert"]
    (child,) = spans["invoke_agent expert"]
    assert tool_span.parent is not None and tool_span.parent.span_id == desk.context.span_id
    assert child.parent is not None and child.parent.span_id == tool_span.context.span_id
    child_chats = [
        c
        for c in spans["chat mistral-small-2506"]
        if c.parent and c.parent.span_id == child.context.span_id
    ]
    assert len(child_chats) == 1
    assert "gen_ai.response.time_to_first_chunk" in _attrs(child_chats[0])


# -- fallbacks and approvals ------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_fallback_is_an_event_of_the_chat_span(telemetry: Telemetry) -> None:
    """A FallbackModel that switches after a 500 gives its chat span an
    agentkit.model_fallback event naming both models and the error type."""
    from agentkit.models import FallbackModel, RetryPolicy

    with (
        LocalModelServer([reply_error(500, "down")], style="mistral") as down,
        LocalModelServer([reply_text("Sunny.")], style="mistral") as up,
    ):
        first = OpenAIChatModel(
            "mistral-small-2506",
            base_url=down.base_url,
            api_key=SECRET,
            retry=RetryPolicy(max_retries=0),
        )
        second = OpenAIChatModel("mistral-small-latest", base_url=up.base_url, api_key=SECRET)
        agent = Agent(FallbackModel(first, second), hooks=[telemetry.tracing()])
        result = await agent.run("Weather?")
    assert result.output == "Sunny."
    (chat,) = [s for s in telemetry.finished() if s.name.startswith("chat ")]
    assert _attrs(chat)["gen_ai.response.model"] == "mistral-small-latest"
    (event,) = chat.events
    assert event.name == "agentkit.model_fallback"
    assert dict(event.attributes or {}) == {
        "agentkit.fallback.from_model": "mistral-small-2506",
        "agentkit.fallback.to_model": "mistral-small-latest",
        "error.type": "ServerError",
        "http.response.status_code": 500,
    }
    assert chat.status.status_code is StatusCode.UNSET


@pytest.mark.anyio
async def test_a_run_paused_for_approval_has_an_approval_event(telemetry: Telemetry) -> None:
    """A tool call that needs approval gives the run's span an agentkit.approval_required
    event (tool names and call ids; the arguments only with content) and marks it paused."""
    from agentkit.testing.scripted import tool_calls as scripted_calls

    @tool(needs_approval=True)
    def refund(order_id: str) -> str:
        """Refund an order."""
        return f"refunded {order_id}"

    for capture in (False, True):
        model = ScriptedModel([scripted_calls(("refund", {"order_id": "A1"}, "call1"))])
        agent = Agent(model, tools=[refund], hooks=[telemetry.tracing(capture_content=capture)])
        result = await agent.run("Refund A1.")
        assert result.approvals_needed
    first, second = [s for s in telemetry.finished() if s.name == "invoke_agent agent"]
    for span, capture in ((first, False), (second, True)):
        (event,) = [e for e in span.events if e.name == "agentkit.approval_required"]
        attrs = dict(event.attributes or {})
        assert attrs["agentkit.approval.tool_names"] == ("refund",)
        assert attrs["agentkit.approval.tool_call_ids"] == ("call1",)
        assert ("agentkit.approval.arguments" in attrs) is capture
        assert _attrs(span)["agentkit.run.paused"] is True
    assert not [s for s in telemetry.finished() if s.name.startswith("execute_tool")]


@pytest.mark.anyio
async def test_a_child_agents_approval_is_named_by_its_key(telemetry: Telemetry) -> None:
    """A parent paused by its child agent's call records that call by its approval key
    (the parent's call id, then the child's), the id a decision is given with."""
    from agentkit.testing.scripted import tool_calls as scripted_calls

    @tool(needs_approval=True)
    def refund(order_id: str) -> str:
        """Refund an order."""
        return f"refunded {order_id}"

    child = Agent(
        ScriptedModel([scripted_calls(("refund", {"order_id": "A1"}, "c1"))]),
        name="billing",
        tools=[refund],
    )
    parent_model = ScriptedModel([scripted_calls(("billing", {"prompt": "Refund A1"}, "p1"))])
    parent = Agent(parent_model, tools=[child.as_tool()], hooks=[telemetry.tracing()])
    result = await parent.run("Refund A1.")
    assert [r.key for r in result.approvals_needed] == ["p1/c1"]
    (span,) = [s for s in telemetry.finished() if s.name == "invoke_agent agent"]
    (event,) = [e for e in span.events if e.name == "agentkit.approval_required"]
    assert dict(event.attributes or {})["agentkit.approval.tool_call_ids"] == ("p1/c1",)


# -- content ----------------------------------------------------------------------------------


async def _content_run(tracing: Tracing) -> None:
    with LocalModelServer(_weather_replies(), style="mistral") as server:
        agent = Agent(
            model_on(server, api_key=SECRET),
            instructions="Weather desk.",
            tools=[get_weather],
            hooks=[tracing],
        )
        await agent.run("Weather in Paris?")


def _content_keys(telemetry: Telemetry) -> set[str]:
    found = set()
    for span in telemetry.finished():
        found |= set(_attrs(span)) & set(CONTENT_KEYS)
        for event in span.events:
            found |= set(event.attributes or {}) & set(CONTENT_KEYS)
    return found


@pytest.mark.anyio
async def test_content_is_off_by_default(telemetry: Telemetry) -> None:
    """Without the flag or the variable, no message, instruction, argument or result is
    recorded anywhere."""
    tracing = telemetry.tracing()
    assert tracing.capture_content is False
    await _content_run(tracing)
    assert _content_keys(telemetry) == set()
    recorded = _everything_recorded(telemetry)
    for text_ in ("Weather desk.", "Weather in Paris?", "21 C, sunny", "Sunny in Paris."):
        assert text_ not in recorded


@pytest.mark.anyio
async def test_content_on_by_flag_follows_the_conventions_shapes(telemetry: Telemetry) -> None:
    """capture_content=True records instructions, input and output messages, tool
    definitions, arguments and results, as the GenAI conventions' JSON."""
    await _content_run(telemetry.tracing(capture_content=True))
    spans = telemetry.by_name()
    first, second = (_attrs(c) for c in spans["chat mistral-small-2506"])
    assert json.loads(first["gen_ai.system_instructions"]) == [
        {"type": "text", "content": "Weather desk."}
    ]
    assert json.loads(first["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}
    ]
    (output,) = json.loads(first["gen_ai.output.messages"])
    assert output["role"] == "assistant" and output["finish_reason"] == "tool_call"
    (call,) = output["parts"]
    assert call["type"] == "tool_call" and call["name"] == "get_weather"
    assert call["arguments"] == {"city": "Paris"}
    assert json.loads(first["gen_ai.tool.definitions"])[0]["name"] == "get_weather"
    answered = json.loads(second["gen_ai.input.messages"])[-1]
    assert answered == {
        "role": "tool",
        "parts": [
            {"type": "tool_call_response", "id": call["id"], "response": "Paris: 21 C, sunny"}
        ],
    }
    (tool_span,) = spans["execute_tool get_weather"]
    assert json.loads(_attrs(tool_span)["gen_ai.tool.call.arguments"]) == {"city": "Paris"}
    assert _attrs(tool_span)["gen_ai.tool.call.result"] == "Paris: 21 C, sunny"
    (run,) = spans["invoke_agent agent"]
    assert json.loads(_attrs(run)["gen_ai.output.messages"])[0]["parts"] == [
        {"type": "text", "content": "Sunny in Paris."}
    ]


@pytest.mark.anyio
async def test_content_on_by_environment_read_when_built(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true turns content on for a
    Tracing built while it is set; an explicit False wins; a later change is not seen."""
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "true")
    on = telemetry.tracing()
    explicit_off = telemetry.tracing(capture_content=False)
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "false")
    assert (on.capture_content, explicit_off.capture_content) == (True, False)
    await _content_run(explicit_off)
    assert _content_keys(telemetry) == set()
    await _content_run(on)
    assert {"gen_ai.input.messages", "gen_ai.tool.call.result"} <= _content_keys(telemetry)
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "TRUE")
    assert telemetry.tracing().capture_content is True


@pytest.mark.anyio
async def test_the_api_key_is_in_no_span_event_or_metric(telemetry: Telemetry) -> None:
    """With content captured, across a run with a tool call, a streamed run and a 401,
    the API key (sent to the server as a Bearer token) is in nothing recorded."""
    replies = [
        *_weather_replies(),
        *_weather_replies(),
        reply_error(401, "bad key", style="mistral"),
    ]
    with LocalModelServer(replies, style="mistral") as server:
        tracing = telemetry.tracing(capture_content=True)
        agent = Agent(model_on(server, api_key=SECRET), tools=[get_weather], hooks=[tracing])
        await agent.run("Weather in Paris?")
        async with agent.run_stream("Weather in Paris?") as stream:
            async for _ in stream:
                pass
        with pytest.raises(Exception, match=r"401|key"):
            await agent.run("Weather in Paris?")
    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    recorded = _everything_recorded(telemetry)
    assert "gen_ai.input.messages" in recorded  # content was on
    assert SECRET not in recorded
    assert "TRACE-SECRET" not in recorded
    assert "authorization" not in recorded.lower()


def test_server_address_never_carries_credentials_from_the_url() -> None:
    """A base URL with a user and password gives server.address as the host only."""
    from agentkit.tracing import _server_attributes

    model = OpenAIChatModel("m", base_url=f"https://user:{SECRET}@llm.example.com/v1", api_key="x")
    assert _server_attributes(model) == {"server.address": "llm.example.com", "server.port": 443}


# -- providers --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_global_providers_are_left_unchanged(telemetry: Telemetry) -> None:
    """Building Tracing and tracing runs never sets the global tracer or meter provider."""
    tracer_before = trace.get_tracer_provider()
    meter_before = metrics.get_meter_provider()
    await _content_run(telemetry.tracing())
    Tracing()
    assert trace.get_tracer_provider() is tracer_before
    assert metrics.get_meter_provider() is meter_before
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
    assert telemetry.finished()


def test_without_a_provider_the_global_one_the_user_set_is_used() -> None:
    """Tracing() with no provider sends its spans to the global provider the user set
    (in a fresh process, since a global provider can be set once)."""
    code = textwrap.dedent(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from agentkit import Agent
        from agentkit.testing.scripted import ScriptedModel, text
        from agentkit.tracing import Tracing

        tracing = Tracing()  # built before the user sets the provider: still follows it
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        Agent(ScriptedModel([text("hi")]), hooks=[tracing]).run_sync("hello")
        print(sorted(s.name for s in exporter.get_finished_spans()))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['chat scripted', 'invoke_agent agent']"


def test_import_agentkit_does_not_import_opentelemetry() -> None:
    """`import agentkit` (and building an Agent) leaves opentelemetry unimported."""
    code = "import sys, agentkit; agentkit.Agent(None); print('opentelemetry' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.anyio
async def test_a_scripted_model_without_base_url_has_no_server_attributes(
    telemetry: Telemetry,
) -> None:
    """A model with no base_url gives spans without server.address or server.port."""
    agent = Agent(ScriptedModel([scripted_text("hi")]), hooks=[telemetry.tracing()])
    await agent.run("hello")
    for span in telemetry.finished():
        assert "server.address" not in _attrs(span)
        assert "server.port" not in _attrs(span)


# -- OTLP over HTTP ---------------------------------------------------------------------------


class OTLPReceiver:
    """A stdlib HTTP server on 127.0.0.1 that accepts OTLP/HTTP trace exports."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                receiver.paths.append(self.path)
                receiver.bodies.append(self.rfile.read(length))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> OTLPReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def spans(self) -> list[Any]:
        """Every span received, decoded from the protobuf bodies."""
        found = []
        for body in self.bodies:
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    found.extend(scope.spans)
        return found


def _otlp_attrs(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        value = kv.value
        out[kv.key] = getattr(value, value.WhichOneof("value"))
    return out


@pytest.mark.anyio
async def test_spans_reach_an_otlp_http_receiver(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spans go through the real OTLP/HTTP exporter to a receiver on 127.0.0.1, which
    decodes the same names, parents and attributes, and no key."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    monkeypatch.delenv(CAPTURE_CONTENT_ENV, raising=False)
    with OTLPReceiver() as receiver:
        provider = TracerProvider()
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces"))
        )
        try:
            with LocalModelServer(_weather_replies(), style="mistral") as server:
                agent = Agent(
                    model_on(server, api_key=SECRET),
                    tools=[get_weather],
                    name="weather",
                    hooks=[Tracing(provider)],
                )
                await agent.run("Weather in Paris?")
        finally:
            provider.shutdown()  # flushes the batch
        spans = receiver.spans()
        raw = b"".join(receiver.bodies)
    assert receiver.paths and set(receiver.paths) == {"/v1/traces"}
    by_name = {s.name: s for s in spans}
    assert sorted(by_name) == [
        "chat mistral-small-2506",
        "execute_tool get_weather",
        "invoke_agent weather",
    ]
    run = by_name["invoke_agent weather"]
    chat = by_name["chat mistral-small-2506"]
    assert chat.parent_span_id == run.span_id
    assert chat.kind == 3  # SPAN_KIND_CLIENT
    assert _otlp_attrs(run)["gen_ai.agent.name"] == "weather"
    assert _otlp_attrs(chat)["gen_ai.provider.name"] == "mistral_ai"
    assert _otlp_attrs(by_name["execute_tool get_weather"])["gen_ai.tool.name"] == "get_weather"
    assert SECRET.encode() not in raw


# -- the terminal -----------------------------------------------------------------------------

AGENT_FILE = """
import os
from agentkit import Agent
from agentkit.models.openai import OpenAIChatModel

model = OpenAIChatModel(
    "mistral-small-2506", base_url=os.environ["TEST_BASE_URL"], api_key=os.environ["TEST_KEY"]
)
agent = Agent(model, name="cli-agent")
"""


def _run_cli(args: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import os

    full = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "agentkit.cli", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=120,
    )


def test_agentkit_run_exports_traces_when_the_otlp_endpoint_is_set(tmp_path: Path) -> None:
    """`agentkit run` with OTEL_EXPORTER_OTLP_ENDPOINT set sends the run's spans over
    OTLP/HTTP before it exits (and without it, sends nothing)."""
    path = tmp_path / "app.py"
    path.write_text(textwrap.dedent(AGENT_FILE))
    with (
        OTLPReceiver() as receiver,
        LocalModelServer([reply_text("hello"), reply_text("hello")], style="mistral") as server,
    ):
        env = {"TEST_BASE_URL": server.base_url, "TEST_KEY": SECRET}
        quiet = _run_cli(["run", f"{path}:agent", "hi", "--json"], env)
        assert quiet.returncode == 0, quiet.stderr
        assert receiver.bodies == []
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        done = _run_cli(["run", f"{path}:agent", "hi", "--json"], env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["output"] == "hello"
        spans = receiver.spans()
        raw = b"".join(receiver.bodies)
    assert sorted(s.name for s in spans) == ["chat mistral-small-2506", "invoke_agent cli-agent"]
    assert set(receiver.paths) == {"/v1/traces"}
    request = ExportTraceServiceRequest()
    request.ParseFromString(receiver.bodies[0])
    resource = {
        kv.key: kv.value.string_value for kv in request.resource_spans[0].resource.attributes
    }
    assert resource["service.name"] == "agentkit"
    assert SECRET.encode() not in raw


# -- the README -------------------------------------------------------------------------------


def test_readme_tracing_setup_runs_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's tracing block, after the quickstart's definitions, exports a run's
    spans over OTLP to the endpoint in OTEL_EXPORTER_OTLP_ENDPOINT."""

    import agentkit._run.start

    readme = Path(__file__).resolve().parent.parent / "README.md"
    blocks = [b.text for b in doc_blocks.blocks()]
    quickstart = next(b for b in blocks if "run_sync" in b)
    setup = next(b for b in blocks if "Tracing(provider)" in b)
    replies = [
        reply_tool_calls(("get_weather", {"city": "Paris"})),
        reply_text(json.dumps({"city": "Paris", "temperature_c": 21, "summary": "Sunny"})),
        *_weather_replies(),
    ]
    namespace: dict[str, Any] = {"__name__": "readme"}
    with OTLPReceiver() as receiver, LocalModelServer(replies, style="mistral") as server:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        monkeypatch.setattr(
            agentkit._run.start,
            "_infer",
            lambda spec: OpenAIChatModel(
                "mistral-small-2506", base_url=server.base_url, api_key="t"
            ),
        )
        exec(compile(quickstart, str(readme), "exec"), namespace)
        exec(compile(setup, str(readme), "exec"), namespace)
        assert namespace["agent"].run_sync("Weather in Paris?").output == "Sunny in Paris."
        namespace["provider"].shutdown()
        names = sorted(s.name for s in receiver.spans())
    assert names == [
        "chat mistral-small-2506",
        "chat mistral-small-2506",
        "execute_tool get_weather",
        "invoke_agent agent",
    ]


@pytest.mark.anyio
async def test_thinking_is_traced_only_with_content_on(telemetry: Telemetry) -> None:
    """A reasoning answer's thinking is a ``reasoning`` part of the output messages with
    content on, recorded nowhere with it off; its reasoning tokens are counted either way."""
    thought = "PRIVATE-REASONING-4d1e"
    replies = [
        reply_tool_calls(
            ("get_weather", {"city": "Paris"}), thinking=thought, usage=usage(10, 8, None, 5)
        ),
        reply_text("Sunny in Paris."),
    ]
    for capture in (False, True):
        with LocalModelServer(list(replies), style="mistral") as server:
            tracing = telemetry.tracing(capture_content=capture)
            agent = Agent(model_on(server), tools=[get_weather], hooks=[tracing])
            async with agent.run_stream("Weather in Paris?") as stream:
                async for _ in stream:
                    pass
        first = _attrs(telemetry.by_name()["chat mistral-small-2506"][0])
        assert first["gen_ai.usage.reasoning.output_tokens"] == 5
        assert "gen_ai.response.time_to_first_chunk" in first
        if not capture:
            assert thought not in _everything_recorded(telemetry)
            telemetry.spans.clear()
    (output,) = json.loads(first["gen_ai.output.messages"])
    assert output["parts"][0] == {"type": "reasoning", "content": thought}
    second = _attrs(telemetry.by_name()["chat mistral-small-2506"][1])
    sent_back = json.loads(second["gen_ai.input.messages"])[1]
    assert sent_back["parts"][0] == {"type": "reasoning", "content": thought}
