"""One benchmark contender, run in its own process by ``tools/bench/run.py``.

Stdlib only at the top, so the same file runs under the project's venv and under a
separate venv holding the peers (``--peers-python``). Each contender is a factory that
imports its library (timed), builds its clients/agents once, and returns three coroutine
functions doing identical work against the bench server:

* ``text()``: a user prompt -> one ``get_weather(city)`` tool call -> a text answer;
* ``structured()``: the same, the answer a ``Report`` validated by pydantic;
* ``stream(t0)``: the text variant streamed; returns seconds from ``t0`` to the first text delta.

The tool is ``async`` in every contender so no framework pays for a worker thread that the
hand-written loops would not.

The process then measures (one JSON line ``RESULT {...}`` on stdout):
first run done (monotonic clock, for cold start), sequential CPU and wall time per run
after a warm-up, time to first text delta, runs per second and RSS with N runs in flight.

``--profile pyinstrument`` profiles the sequential text/structured runs instead and writes
the text report (and an HTML file) next to ``--profile-out``; ``--profile spin`` only does
sequential runs (in ``_spin_text``, ``_spin_structured``, ``_spin_stream``) for py-spy.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

_T_START = time.monotonic()

MODEL = "mistral-small-2506"
SYSTEM = "You are a concise weather assistant. Use the tools."
PROMPT = "What is the weather in Paris?"
TOOL_DESCRIPTION = "Get the current weather for a city."
WEATHER = "sunny, 21 degrees Celsius, light breeze"

TextFn = Callable[[], Awaitable[str]]
StructFn = Callable[[], Awaitable[Any]]
StreamFn = Callable[[float], Awaitable[float]]
Contender = tuple[TextFn, StructFn, StreamFn]


async def get_weather(city: str) -> str:
    """Get the current weather for a city.

    Args:
        city: The city name, e.g. "Paris".
    """
    return f"{city}: {WEATHER}"


WEATHER_PARAMS = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": 'The city name, e.g. "Paris".'}},
    "required": ["city"],
    "additionalProperties": False,
}


def _report_type() -> Any:
    from pydantic import BaseModel

    class Report(BaseModel):
        """A weather report."""

        city: str
        temperature_c: int
        conditions: str

    return Report


# --------------------------------------------------------------------------------------
# raw openai SDK: the baseline
# --------------------------------------------------------------------------------------


def make_raw_openai(base_url: str) -> Contender:
    """A hand-written loop on ``client.chat.completions.create`` (the baseline)."""
    from openai import AsyncOpenAI

    Report = _report_type()
    client = AsyncOpenAI(base_url=base_url, api_key="x")
    tools: list[Any] = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": TOOL_DESCRIPTION,
                "parameters": WEATHER_PARAMS,
            },
        }
    ]
    funcs = {"get_weather": get_weather}
    response_format: Any = {
        "type": "json_schema",
        "json_schema": {"name": "Report", "schema": Report.model_json_schema(), "strict": True},
    }

    async def loop(response_format: Any) -> tuple[str, dict[str, int]]:
        messages: list[Any] = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": PROMPT},
        ]
        usage = {"input": 0, "output": 0}
        kwargs: dict[str, Any] = {"max_tokens": 1024}
        if response_format is not None:
            kwargs["response_format"] = response_format
        for _ in range(10):
            r = await client.chat.completions.create(
                model=MODEL, messages=messages, tools=tools, **kwargs
            )
            if r.usage is not None:
                usage["input"] += r.usage.prompt_tokens
                usage["output"] += r.usage.completion_tokens
            msg = r.choices[0].message
            if not msg.tool_calls:
                return msg.content or "", usage
            calls = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.function.name, "arguments": c.function.arguments},
                }
                for c in msg.tool_calls
            ]
            messages.append({"role": "assistant", "content": msg.content, "tool_calls": calls})
            for c in msg.tool_calls:
                out = await funcs[c.function.name](**json.loads(c.function.arguments))
                messages.append({"role": "tool", "tool_call_id": c.id, "content": out})
        raise RuntimeError("too many turns")

    async def text() -> str:
        return (await loop(None))[0]

    async def structured() -> Any:
        return Report.model_validate_json((await loop(response_format))[0])

    async def stream(t0: float) -> float:
        messages: list[Any] = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": PROMPT},
        ]
        first = 0.0
        for _ in range(10):
            s = await client.chat.completions.create(
                model=MODEL,
                messages=messages,
                tools=tools,
                max_tokens=1024,
                stream=True,
                stream_options={"include_usage": True},
            )
            content: list[str] = []
            calls: dict[int, dict[str, Any]] = {}
            async for chunk in s:
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta
                if delta.content:
                    if not first:
                        first = time.perf_counter() - t0
                    content.append(delta.content)
                for tc in delta.tool_calls or ():
                    slot = calls.setdefault(
                        tc.index,
                        {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
                    )
                    if tc.id:
                        slot["id"] = tc.id
                    if tc.function is not None:
                        slot["function"]["name"] += tc.function.name or ""
                        slot["function"]["arguments"] += tc.function.arguments or ""
            if not calls:
                return first
            ordered = [calls[i] for i in sorted(calls)]
            messages.append(
                {"role": "assistant", "content": "".join(content), "tool_calls": ordered}
            )
            for c in ordered:
                fn = c["function"]
                out = await funcs[fn["name"]](**json.loads(fn["arguments"]))
                messages.append({"role": "tool", "tool_call_id": c["id"], "content": out})
        raise RuntimeError("too many turns")

    return text, structured, stream


# --------------------------------------------------------------------------------------
# raw httpx2: the floor for the client side
# --------------------------------------------------------------------------------------


def make_raw_httpx(base_url: str) -> Contender:
    """A hand-written loop posting JSON with ``httpx2.AsyncClient`` (the floor)."""
    import httpx2

    Report = _report_type()
    client = httpx2.AsyncClient(
        base_url=base_url,
        headers={"authorization": "Bearer x", "content-type": "application/json"},
        timeout=httpx2.Timeout(600, connect=5.0),
        limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=100),
    )
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": TOOL_DESCRIPTION,
                "parameters": WEATHER_PARAMS,
            },
        }
    ]
    funcs = {"get_weather": get_weather}
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "Report", "schema": Report.model_json_schema(), "strict": True},
    }
    dumps = json.dumps
    loads = json.loads

    async def loop(extra: dict[str, Any]) -> str:
        messages: list[Any] = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": PROMPT},
        ]
        usage = {"input": 0, "output": 0}
        for _ in range(10):
            body = {"model": MODEL, "messages": messages, "tools": tools, "max_tokens": 1024}
            body.update(extra)
            r = await client.post("/chat/completions", content=dumps(body).encode())
            r.raise_for_status()
            data = loads(r.content)
            u = data.get("usage")
            if u:
                usage["input"] += u["prompt_tokens"]
                usage["output"] += u["completion_tokens"]
            msg = data["choices"][0]["message"]
            calls = msg.get("tool_calls")
            if not calls:
                return str(msg.get("content") or "")
            messages.append(
                {"role": "assistant", "content": msg.get("content"), "tool_calls": calls}
            )
            for c in calls:
                fn = c["function"]
                out = await funcs[fn["name"]](**loads(fn["arguments"]))
                messages.append({"role": "tool", "tool_call_id": c["id"], "content": out})
        raise RuntimeError("too many turns")

    async def text() -> str:
        return await loop({})

    async def structured() -> Any:
        return Report.model_validate_json(await loop({"response_format": response_format}))

    async def stream(t0: float) -> float:
        messages: list[Any] = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": PROMPT},
        ]
        first = 0.0
        for _ in range(10):
            body = {
                "model": MODEL,
                "messages": messages,
                "tools": tools,
                "max_tokens": 1024,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
            content: list[str] = []
            calls: dict[int, dict[str, Any]] = {}
            async with client.stream(
                "POST", "/chat/completions", content=dumps(body).encode()
            ) as r:
                r.raise_for_status()
                async for line in r.aiter_lines():
                    if not line.startswith("data: "):
                        continue
                    payload = line[6:]
                    if payload == "[DONE]":
                        continue
                    chunk = loads(payload)
                    choices = chunk.get("choices")
                    if not choices:
                        continue
                    delta = choices[0].get("delta") or {}
                    piece = delta.get("content")
                    if piece:
                        if not first:
                            first = time.perf_counter() - t0
                        content.append(piece)
                    for tc in delta.get("tool_calls") or ():
                        slot = calls.setdefault(
                            tc.get("index", 0),
                            {
                                "id": "",
                                "type": "function",
                                "function": {"name": "", "arguments": ""},
                            },
                        )
                        if tc.get("id"):
                            slot["id"] = tc["id"]
                        f = tc.get("function") or {}
                        slot["function"]["name"] += f.get("name") or ""
                        slot["function"]["arguments"] += f.get("arguments") or ""
            if not calls:
                return first
            ordered = [calls[i] for i in sorted(calls)]
            messages.append(
                {"role": "assistant", "content": "".join(content), "tool_calls": ordered}
            )
            for c in ordered:
                fn = c["function"]
                out = await funcs[fn["name"]](**loads(fn["arguments"]))
                messages.append({"role": "tool", "tool_call_id": c["id"], "content": out})
        raise RuntimeError("too many turns")

    return text, structured, stream


# --------------------------------------------------------------------------------------
# agentkit
# --------------------------------------------------------------------------------------


def make_agentkit(base_url: str, hooks: tuple[Any, ...] = (), held: bool = False) -> Contender:
    """agentkit as its README shows it: an Agent over an OpenAIChatModel, each run a plain
    ``await agent.run(...)`` (what most programs write: no ``async with``). ``held``: the
    agents are held open with ``async with agent:`` around all the runs instead."""
    from agentkit import Agent  # type: ignore[attr-defined,unused-ignore]
    from agentkit.events import TextDeltaEvent
    from agentkit.models import OpenAIChatModel

    Report = _report_type()
    model = OpenAIChatModel(MODEL, base_url=base_url, api_key="x")
    text_agent: Any = Agent(model, instructions=SYSTEM, tools=[get_weather], hooks=hooks)
    report_agent: Any = Agent(
        model, instructions=SYSTEM, tools=[get_weather], output_type=Report, hooks=hooks
    )

    async def text() -> str:
        return str((await text_agent.run(PROMPT)).output)

    if held:  # README, "Connections": an explicit scope around every run
        text.hold = (text_agent, report_agent)  # type: ignore[attr-defined]

    async def structured() -> Any:
        return (await report_agent.run(PROMPT)).output

    async def stream(t0: float) -> float:
        first = 0.0
        async with text_agent.run_stream(PROMPT) as s:
            async for event in s:
                if not first and isinstance(event, TextDeltaEvent):
                    first = time.perf_counter() - t0
        return first

    return text, structured, stream


def make_agentkit_held(base_url: str) -> Contender:
    """agentkit with its agents held open by ``async with agent:`` around every run."""
    return make_agentkit(base_url, held=True)


def make_agentkit_traced(base_url: str) -> Contender:
    """agentkit with ``Tracing`` on the OpenTelemetry SDK as a production program sets it
    up, minus the network: a ``TracerProvider`` with a ``BatchSpanProcessor`` (the one
    the SDK recommends outside tests: a span's end only queues it, a worker thread
    exports in batches) and a ``MeterProvider`` with a ``PeriodicExportingMetricReader``
    (without a reader the SDK aggregates nothing). Both exporters drop what they get, so
    the figure is the cost of recording (spans built, queued and handed to the exporter;
    histograms aggregated), not of encoding and sending, which is the exporter's."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        MetricExporter,
        MetricExportResult,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    from agentkit.tracing import Tracing

    class DropSpans(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    class DropMetrics(MetricExporter):
        def export(self, metrics_data: Any, timeout_millis: float = 10_000, **kw: Any) -> Any:
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 30_000, **kw: Any) -> None:
            return None

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(DropSpans()))
    meter_provider = MeterProvider(metric_readers=[PeriodicExportingMetricReader(DropMetrics())])
    tracing = Tracing(tracer_provider, meter_provider)
    return make_agentkit(base_url, hooks=(tracing,))


# --------------------------------------------------------------------------------------
# Pydantic AI (as its documentation shows: OpenAIChatModel + OpenAIProvider, NativeOutput)
# --------------------------------------------------------------------------------------


def make_pydantic_ai(base_url: str) -> Contender:
    """Pydantic AI: ``Agent`` with an ``OpenAIChatModel`` on an ``OpenAIProvider``."""
    from pydantic_ai import Agent, NativeOutput  # type: ignore[import-not-found,unused-ignore]
    from pydantic_ai.models.openai import OpenAIChatModel  # type: ignore[import-not-found,unused-ignore]
    from pydantic_ai.providers.openai import OpenAIProvider  # type: ignore[import-not-found,unused-ignore]

    Report = _report_type()
    model = OpenAIChatModel(MODEL, provider=OpenAIProvider(base_url=base_url, api_key="x"))
    text_agent: Any = Agent(model, instructions=SYSTEM, tools=[get_weather])
    report_agent: Any = Agent(
        model, instructions=SYSTEM, tools=[get_weather], output_type=NativeOutput(Report)
    )

    async def text() -> str:
        return str((await text_agent.run(PROMPT)).output)

    async def structured() -> Any:
        return (await report_agent.run(PROMPT)).output

    async def stream(t0: float) -> float:
        first = 0.0
        async with text_agent.run_stream(PROMPT) as r:
            async for _delta in r.stream_text(delta=True, debounce_by=None):
                if not first:
                    first = time.perf_counter() - t0
        return first

    return text, structured, stream


# --------------------------------------------------------------------------------------
# OpenAI Agents SDK (as its documentation shows for other providers)
# --------------------------------------------------------------------------------------


def make_openai_agents(base_url: str) -> Contender:
    """OpenAI Agents SDK: ``Agent`` + ``Runner`` over ``OpenAIChatCompletionsModel``."""
    os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")
    from agents import (  # type: ignore[import-not-found,unused-ignore]
        Agent,
        OpenAIChatCompletionsModel,
        Runner,
        function_tool,
        set_tracing_disabled,
    )
    from openai import AsyncOpenAI
    from openai.types.responses import ResponseTextDeltaEvent

    set_tracing_disabled(True)  # no trace export: it would try to reach the network
    Report = _report_type()
    client = AsyncOpenAI(base_url=base_url, api_key="x")
    model = OpenAIChatCompletionsModel(model=MODEL, openai_client=client)
    tool = function_tool(get_weather)
    text_agent: Any = Agent(name="weather", instructions=SYSTEM, tools=[tool], model=model)
    report_agent: Any = Agent(
        name="weather", instructions=SYSTEM, tools=[tool], model=model, output_type=Report
    )

    async def text() -> str:
        return str((await Runner.run(text_agent, PROMPT)).final_output)

    async def structured() -> Any:
        return (await Runner.run(report_agent, PROMPT)).final_output

    async def stream(t0: float) -> float:
        first = 0.0
        result = Runner.run_streamed(text_agent, PROMPT)
        async for event in result.stream_events():
            if (
                not first
                and event.type == "raw_response_event"
                and isinstance(event.data, ResponseTextDeltaEvent)
            ):
                first = time.perf_counter() - t0
        return first

    return text, structured, stream


# --------------------------------------------------------------------------------------
# MCP: get_current_time on mcp-server-time over stdio, the server held open across runs
# --------------------------------------------------------------------------------------

TIME_SERVER_ARGS = ["-m", "mcp_server_time", "--local-timezone", "UTC"]
TIME_PROMPT = "What time is it in Paris?"


def _no_variant(kind: str) -> Any:
    async def missing(*_args: Any) -> Any:
        raise RuntimeError(f"the MCP contenders have no {kind} variant")

    return missing


def make_mcp_raw(base_url: str) -> Contender:
    """A hand-written loop: the model through ``httpx2`` (as ``raw_httpx``), the tool through
    the MCP SDK's ``ClientSession`` over ``stdio_client``, listed once, held open."""
    import httpx2
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    client = httpx2.AsyncClient(
        base_url=base_url,
        headers={"authorization": "Bearer x", "content-type": "application/json"},
        timeout=httpx2.Timeout(600, connect=5.0),
        limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=100),
    )
    params = StdioServerParameters(command=sys.executable, args=TIME_SERVER_ARGS)
    dumps = json.dumps
    loads = json.loads

    class Held:
        """The stdio process and its session, open while the contender runs."""

        session: Any = None
        tools: list[dict[str, Any]] = []

        async def __aenter__(self) -> Held:
            self.stack = contextlib.AsyncExitStack()
            await self.stack.__aenter__()
            self.stack.push_async_callback(client.aclose)
            read, write = await self.stack.enter_async_context(stdio_client(params))
            session = await self.stack.enter_async_context(ClientSession(read, write))
            await session.initialize()
            listed = await session.list_tools()
            self.session = session
            self.tools = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description or t.name,
                        "parameters": t.input_schema,
                    },
                }
                for t in listed.tools
            ]
            return self

        async def __aexit__(self, *exc: Any) -> None:
            await self.stack.__aexit__(*exc)

    held = Held()

    async def text() -> str:
        messages: list[Any] = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": TIME_PROMPT},
        ]
        usage = {"input": 0, "output": 0}
        for _ in range(10):
            body = {"model": MODEL, "messages": messages, "tools": held.tools, "max_tokens": 1024}
            r = await client.post("/chat/completions", content=dumps(body).encode())
            r.raise_for_status()
            data = loads(r.content)
            u = data.get("usage")
            if u:
                usage["input"] += u["prompt_tokens"]
                usage["output"] += u["completion_tokens"]
            msg = data["choices"][0]["message"]
            calls = msg.get("tool_calls")
            if not calls:
                return str(msg.get("content") or "")
            messages.append(
                {"role": "assistant", "content": msg.get("content"), "tool_calls": calls}
            )
            for c in calls:
                fn = c["function"]
                result = await held.session.call_tool(fn["name"], loads(fn["arguments"]))
                out = "\n".join(b.text for b in result.content if b.type == "text")
                if "datetime" not in out or result.is_error:
                    raise AssertionError(f"unexpected tool result {out!r}")
                messages.append({"role": "tool", "tool_call_id": c["id"], "content": out})
        raise RuntimeError("too many turns")

    text.hold = (held,)  # type: ignore[attr-defined]
    return text, _no_variant("structured"), _no_variant("stream")


def make_mcp_agentkit(base_url: str) -> Contender:
    """agentkit as its README shows MCP: ``Agent(model, tools=[MCPServer.stdio(...)])``,
    the agent and the server held open (``async with``)."""
    from agentkit import Agent  # type: ignore[attr-defined,unused-ignore]
    from agentkit.mcp import MCPServer
    from agentkit.messages import ToolMessage
    from agentkit.models import OpenAIChatModel

    model = OpenAIChatModel(MODEL, base_url=base_url, api_key="x")
    server = MCPServer.stdio(sys.executable, TIME_SERVER_ARGS, name="time")
    agent: Any = Agent(model, instructions=SYSTEM, tools=[server])
    checked = False

    async def text() -> str:
        nonlocal checked
        result = await agent.run(TIME_PROMPT)
        if not checked:  # the tool really ran on the server (once: the check costs CPU)
            answers = [m for m in result.messages if isinstance(m, ToolMessage)]
            if len(answers) != 1 or "datetime" not in answers[0].content:
                raise AssertionError(f"unexpected tool result {answers!r}")
            checked = True
        return str(result.output)

    text.hold = (server, agent)  # type: ignore[attr-defined]
    return text, _no_variant("structured"), _no_variant("stream")


MCP_CONTENDERS = ("mcp_raw", "mcp_agentkit")
"""Text runs only (sequential CPU and wall, runs with N in flight); ``_bench_mcp``."""


FACTORIES: dict[str, Callable[[str], Contender]] = {
    "raw_openai": make_raw_openai,
    "raw_httpx": make_raw_httpx,
    "agentkit": make_agentkit,
    "agentkit_held": make_agentkit_held,
    "agentkit_traced": make_agentkit_traced,
    "pydantic_ai": make_pydantic_ai,
    "openai_agents": make_openai_agents,
    "mcp_raw": make_mcp_raw,
    "mcp_agentkit": make_mcp_agentkit,
}


# --------------------------------------------------------------------------------------
# measurement
# --------------------------------------------------------------------------------------


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def _check(name: str, text: str, report: Any) -> None:
    if "Paris" not in text:
        raise AssertionError(f"{name}: unexpected text output {text!r}")
    if getattr(report, "city", None) != "Paris" or getattr(report, "temperature_c", None) != 21:
        raise AssertionError(f"{name}: unexpected structured output {report!r}")


async def _sequential(fn: Callable[[], Awaitable[Any]], n: int) -> tuple[float, float]:
    gc.collect()
    c0 = time.process_time()
    w0 = time.perf_counter()
    for _ in range(n):
        await fn()
    w1 = time.perf_counter()
    c1 = time.process_time()
    return (c1 - c0) / n * 1e6, (w1 - w0) / n * 1e6


async def _stream_seq(fn: StreamFn, n: int) -> tuple[float, float, float]:
    gc.collect()
    ttfts: list[float] = []
    c0 = time.process_time()
    w0 = time.perf_counter()
    for _ in range(n):
        ttfts.append(await fn(time.perf_counter()))
    w1 = time.perf_counter()
    c1 = time.process_time()
    if not all(ttfts):
        raise AssertionError("stream produced no text delta")
    return (c1 - c0) / n * 1e6, (w1 - w0) / n * 1e6, _median(ttfts) * 1e6


async def _concurrent(fn: TextFn, inflight: int, total: int) -> float:
    """Run ``total`` runs keeping ``inflight`` in flight; return runs per second."""
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await fn()

    t0 = time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        for _ in range(inflight):
            tg.create_task(worker())
    return total / (time.perf_counter() - t0)


def _connections(base_url: str) -> int:
    """Connections the bench server has accepted so far (this query's own included)."""
    import urllib.request

    with urllib.request.urlopen(base_url.rstrip("/") + "/connections") as response:
        return int(response.read())


async def _bench(name: str, c: Contender, a: argparse.Namespace, out: dict[str, Any]) -> None:
    text, structured, stream = c
    first = await text()
    out["first_run_done_monotonic"] = time.monotonic()
    out["cold_start_cpu_ms"] = time.process_time() * 1e3  # this process's CPU since exec
    out["in_process_start_to_first_run_ms"] = (time.monotonic() - _T_START) * 1e3
    report = await structured()
    _check(name, first, report)
    for _ in range(a.warmup):
        await text()
        await structured()
        await stream(time.perf_counter())
    opened = _connections(a.base_url)
    out["text_cpu_us"], out["text_wall_us"] = await _sequential(text, a.runs)
    out["text_connections_per_run"] = (_connections(a.base_url) - opened - 1) / a.runs
    out["structured_cpu_us"], out["structured_wall_us"] = await _sequential(structured, a.runs)
    out["stream_cpu_us"], out["stream_wall_us"], out["stream_ttft_us"] = await _stream_seq(
        stream, a.runs
    )
    gc.collect()
    rss_before = _rss_kb()
    # one warm wave opens the connections, then the measured runs
    opened = _connections(a.base_url)
    await _concurrent(text, a.inflight, a.inflight)
    c0 = time.process_time()
    out["conc_runs_per_s"] = await _concurrent(text, a.inflight, a.conc_runs)
    out["conc_cpu_us"] = (time.process_time() - c0) / a.conc_runs * 1e6
    out["conc_connections"] = _connections(a.base_url) - opened - 1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["rss_before_conc_mb"] = rss_before / 1024
    out["peak_rss_mb"] = peak / 1024
    out["rss_per_inflight_kb"] = (peak - rss_before) / a.inflight


async def _bench_mcp(c: Contender, a: argparse.Namespace, out: dict[str, Any]) -> None:
    """The MCP pair: text runs only (the tool is on a stdio server, held open)."""
    text = c[0]
    first = await text()
    out["first_run_done_monotonic"] = time.monotonic()
    out["cold_start_cpu_ms"] = time.process_time() * 1e3
    if "Paris" not in first:
        raise AssertionError(f"unexpected text output {first!r}")
    for _ in range(a.warmup):
        await text()
    out["text_cpu_us"], out["text_wall_us"] = await _sequential(text, a.runs)
    gc.collect()
    rss_before = _rss_kb()
    await _concurrent(text, a.inflight, a.inflight)
    out["conc_runs_per_s"] = await _concurrent(text, a.inflight, a.conc_runs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["peak_rss_mb"] = peak / 1024
    out["rss_per_inflight_kb"] = (peak - rss_before) / a.inflight


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


async def _profile(c: Contender, a: argparse.Namespace) -> None:
    from pyinstrument import Profiler  # type: ignore[import-not-found,unused-ignore]

    text, structured, _stream = c
    mcp = a.name in MCP_CONTENDERS
    for _ in range(max(a.warmup, 5)):
        await text()
        if not mcp:
            await structured()
    variants = (("text", text),) if mcp else (("text", text), ("structured", structured))
    for variant, fn in variants:
        profiler = Profiler(interval=0.0002, async_mode="disabled")
        profiler.start()
        for _ in range(a.runs):
            await fn()
        profiler.stop()
        base = f"{a.profile_out}.{variant}"
        _write(base + ".txt", profiler.output_text(unicode=False, color=False, show_all=False))
        _write(base + ".html", profiler.output_html())
        print(f"wrote {base}.txt", file=sys.stderr)


async def _spin_text(fn: TextFn, n: int) -> None:
    for _ in range(n):
        await fn()


async def _spin_structured(fn: StructFn, n: int) -> None:
    for _ in range(n):
        await fn()


async def _spin_stream(fn: StreamFn, n: int) -> None:
    for _ in range(n):
        await fn(time.perf_counter())


async def _spin(c: Contender, a: argparse.Namespace) -> None:
    """Warm up, then only sequential runs: for an outside sampling profiler (py-spy)."""
    text, structured, stream = c
    if a.name in MCP_CONTENDERS:
        for _ in range(max(a.warmup, 5)):
            await text()
        await _spin_text(text, a.runs)
        return
    for _ in range(max(a.warmup, 5)):
        await text()
        await structured()
        await stream(time.perf_counter())
    await _spin_text(text, a.runs)
    await _spin_structured(structured, a.runs)
    await _spin_stream(stream, a.runs)


async def _held(c: Contender, work: Any) -> None:
    """Run ``work`` with the contender's long-lived resources held open, as a long-lived
    program holds them (``text.hold``: async context managers, e.g. agentkit's agents)."""
    async with contextlib.AsyncExitStack() as stack:
        for resource in getattr(c[0], "hold", ()):
            await stack.enter_async_context(resource)
        await work


def main() -> None:
    """Command-line entry point (used by ``run.py``; see its ``--help``)."""
    p = argparse.ArgumentParser(description="one bench contender")
    p.add_argument("name", choices=sorted(FACTORIES))
    p.add_argument("--base-url", required=True)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--inflight", type=int, default=200)
    p.add_argument("--conc-runs", type=int, default=1000)
    p.add_argument("--profile", choices=["pyinstrument", "spin"], default=None)
    p.add_argument("--profile-out", default="profile")
    a = p.parse_args()
    out: dict[str, Any] = {"name": a.name}
    t0 = time.perf_counter()
    contender = FACTORIES[a.name](a.base_url)
    out["import_and_build_ms"] = (time.perf_counter() - t0) * 1e3
    if a.profile == "pyinstrument":
        asyncio.run(_held(contender, _profile(contender, a)))
        return
    if a.profile == "spin":
        asyncio.run(_held(contender, _spin(contender, a)))
        return
    if a.name in MCP_CONTENDERS:
        asyncio.run(_held(contender, _bench_mcp(contender, a, out)))
    else:
        asyncio.run(_held(contender, _bench(a.name, contender, a, out)))
    sys.stdout.write("RESULT " + json.dumps(out) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
