"""Tracing reuses attributes it has built (per agent and model, per run's settings, per
answering model): what each span and metric point carries is still its own."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentkit import Agent, tool
from agentkit.hooks import Hooks, RequestHandler, RunInfo
from agentkit.models import OpenAIChatModel
from agentkit.models.base import ModelRequest, ModelResponse, ModelSettings
from agentkit.testing.server import LocalModelServer, reply_text, reply_tool_calls
from agentkit.tracing import CAPTURE_CONTENT_ENV, Tracing


@dataclasses.dataclass
class Recorded:
    """An SDK tracer and meter provider keeping what they record in memory."""

    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracing: Tracing

    def attrs(self, name: str) -> list[dict[str, Any]]:
        return [dict(s.attributes or {}) for s in self.finished() if s.name == name]

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self, metric: str) -> list[HistogramDataPoint]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return [
            p  # type: ignore[misc]
            for r in data.resource_metrics
            for s in r.scope_metrics
            for m in s.metrics
            if m.name == metric
            for p in m.data.data_points
        ]


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorded]:
    monkeypatch.delenv(CAPTURE_CONTENT_ENV, raising=False)
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Recorded(exporter, reader, Tracing(tracer_provider, meter_provider))
    tracer_provider.shutdown()
    meter_provider.shutdown()


@pytest.mark.anyio
async def test_one_tracing_on_two_agents_gives_each_its_own_names_and_server(
    recorded: Recorded,
) -> None:
    """Two agents (other names, models and servers) sharing one Tracing, run in turn:
    each run's spans carry its own agent name, model and server port."""
    with (
        LocalModelServer([reply_text("a"), reply_text("a again")]) as one,
        LocalModelServer([reply_text("b")]) as two,
    ):
        first = Agent(
            OpenAIChatModel("mistral-small-2506", base_url=one.base_url, api_key="k"),
            name="first",
            hooks=[recorded.tracing],
        )
        second = Agent(
            OpenAIChatModel("mistral-medium-2508", base_url=two.base_url, api_key="k"),
            name="second",
            hooks=[recorded.tracing],
        )
        await first.run("hi")
        await second.run("hi")
        await first.run("hi")
        ports = (one.port, two.port)
    runs = {name: recorded.attrs(f"invoke_agent {name}") for name in ("first", "second")}
    assert [len(runs["first"]), len(runs["second"])] == [2, 1]
    for attrs in runs["first"]:
        assert attrs["gen_ai.agent.name"] == "first"
        assert attrs["gen_ai.request.model"] == "mistral-small-2506"
        assert attrs["server.port"] == ports[0]
    (other,) = runs["second"]
    assert other["gen_ai.agent.name"] == "second"
    assert other["gen_ai.request.model"] == "mistral-medium-2508"
    assert other["server.port"] == ports[1]
    small = recorded.attrs("chat mistral-small-2506")
    (medium,) = recorded.attrs("chat mistral-medium-2508")
    assert len(small) == 2 and {a["server.port"] for a in small} == {ports[0]}
    assert medium["server.port"] == ports[1]


@pytest.mark.anyio
async def test_a_run_with_other_settings_gets_chat_attributes_of_its_own(
    recorded: Recorded,
) -> None:
    """The same agent run with its own settings, then with per-run settings, then
    streamed: each chat span records the settings and stream flag that request had."""
    with LocalModelServer([reply_text("one"), reply_text("two"), reply_text("three")]) as server:
        agent = Agent(
            OpenAIChatModel("mistral-small-2506", base_url=server.base_url, api_key="k"),
            settings=ModelSettings(temperature=0.15),
            hooks=[recorded.tracing],
        )
        await agent.run("hi")
        await agent.run("hi", settings=ModelSettings(temperature=0.7, max_tokens=64))
        async with agent.run_stream("hi") as stream:
            async for _ in stream:
                pass
    first, second, third = recorded.attrs("chat mistral-small-2506")
    assert (first["gen_ai.request.temperature"], first["gen_ai.request.max_tokens"]) == (
        0.15,
        8192,
    )
    assert "gen_ai.request.stream" not in first
    assert (second["gen_ai.request.temperature"], second["gen_ai.request.max_tokens"]) == (
        0.7,
        64,
    )
    assert third["gen_ai.request.temperature"] == 0.15
    assert third["gen_ai.request.stream"] is True
    assert "gen_ai.response.time_to_first_chunk" in third


@pytest.mark.anyio
async def test_metric_points_are_labelled_by_the_model_that_answered(
    recorded: Recorded,
) -> None:
    """Answers from two model versions to the same requested model: the token and
    duration points are split by gen_ai.response.model, and each span has its own."""
    replies = [
        reply_text("one"),
        dataclasses.replace(reply_text("two"), model="mistral-small-2507"),
        reply_text("three"),
    ]
    with LocalModelServer(replies) as server:
        agent = Agent(
            OpenAIChatModel("mistral-small-2506", base_url=server.base_url, api_key="k"),
            hooks=[recorded.tracing],
        )
        for _ in range(3):
            await agent.run("hi")
    chats = recorded.attrs("chat mistral-small-2506")
    assert [a["gen_ai.response.model"] for a in chats] == [
        "mistral-small-2506",
        "mistral-small-2507",
        "mistral-small-2506",
    ]
    durations = {
        str(dict(p.attributes or {})["gen_ai.response.model"]): p.count
        for p in recorded.points("gen_ai.client.operation.duration")
    }
    assert durations == {"mistral-small-2506": 2, "mistral-small-2507": 1}
    tokens = {
        (
            str(dict(p.attributes or {})["gen_ai.response.model"]),
            str(dict(p.attributes or {})["gen_ai.token.type"]),
        ): p.count
        for p in recorded.points("gen_ai.client.token.usage")
    }
    assert tokens == {
        ("mistral-small-2506", "input"): 2,
        ("mistral-small-2506", "output"): 2,
        ("mistral-small-2507", "input"): 1,
        ("mistral-small-2507", "output"): 1,
    }
    for point in recorded.points("gen_ai.client.token.usage"):
        labels = dict(point.attributes or {})
        assert labels["gen_ai.operation.name"] == "chat"
        assert labels["gen_ai.request.model"] == "mistral-small-2506"
        assert labels["server.address"] == "127.0.0.1"


@tool
def lookup(key: str) -> str:
    """Look a key up.

    Args:
        key: The key.
    """
    return f"{key}=1"


class GrowingBudget(Hooks):
    """An outer hook that sends each request of a run with a larger max_tokens."""

    def __init__(self) -> None:
        self.sent = 0

    async def wrap_model_request(
        self, run: RunInfo, request: ModelRequest, handler: RequestHandler
    ) -> ModelResponse:
        self.sent += 1
        settings = dataclasses.replace(request.settings, max_tokens=100 * self.sent)
        return await handler(dataclasses.replace(request, settings=settings))


@pytest.mark.anyio
async def test_requests_of_one_run_with_other_settings_each_record_their_own(
    recorded: Recorded,
) -> None:
    """Within one run, a hook outside Tracing changes each request's settings: each chat
    span records the max_tokens its own request was sent with."""
    replies = [reply_tool_calls(("lookup", {"key": "a"})), reply_text("done")]
    with LocalModelServer(replies) as server:
        agent = Agent(
            OpenAIChatModel("mistral-small-2506", base_url=server.base_url, api_key="k"),
            tools=[lookup],
            hooks=[GrowingBudget(), recorded.tracing],
        )
        await agent.run("look a up")
        sent = [body["max_tokens"] for body in server.bodies]
    chats = recorded.attrs("chat mistral-small-2506")
    assert sent == [100, 200]
    assert [a["gen_ai.request.max_tokens"] for a in chats] == [100, 200]
