"""The API key on every error path: with a recognisable key and DEBUG logging on every
logger, the key appears in no exception text, repr, log record, cassette or span."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support import FAST_RETRY, MODEL, add, get_weather_async, model_on

from agentkit import Agent, AgentkitError
from agentkit.testing import use_cassette
from agentkit.testing.server import (
    LocalModelServer,
    Reply,
    drop_connection,
    malformed,
    reply_error,
    reply_text,
    reply_tool_calls,
)
from agentkit.tracing import Tracing

SECRET = "sk-agentkit-SCAN-9d2f7c41b8e6a035"
"""The recognisable key: it may go in the Authorization header and nowhere else."""

ECHO = f"Incorrect API key provided: {SECRET}. You can find your API key at ..."

PATHS: dict[str, list[Reply]] = {
    "401 echoing the key": [reply_error(401, ECHO)],
    "403 echoing the key": [reply_error(403, ECHO)],
    "400 echoing the key": [reply_error(400, ECHO)],
    "422 echoing the key": [reply_error(422, ECHO)],
    "404": [reply_error(404, ECHO)],
    "429 then 429": [reply_error(429, ECHO, retry_after=0)] * 2,
    "500 then 503": [reply_error(500, ECHO), reply_error(503, ECHO)],
    "a raw body echoing the key": [reply_error(500, body=f"<html>{SECRET}</html>")] * 2,
    "a dropped connection": [drop_connection()] * 2,
    "malformed JSON": [malformed()],
    "malformed JSON echoing the key": [malformed(f'{{"id": "{SECRET}", '.encode())],
    "a cut-off answer": [reply_text("It is sunny in Paris.", truncate_after=2)],
    "retries spent on bad tool calls": [reply_tool_calls(("nope", {}))] * 4,
    "max tokens": [reply_text("cut", finish_reason="length")] * 4,
}


@pytest.fixture
def every_log_record() -> Iterator[list[logging.LogRecord]]:
    """Every log record of every logger, at DEBUG."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.DEBUG)
    root = logging.getLogger()
    loggers = [root] + [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]
    levels = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        for lg, level in levels:
            lg.setLevel(level)


def _texts_of(exc: BaseException) -> list[str]:
    """Everything a user may print of an error: str, repr, args, body, messages, causes."""
    out = [str(exc), repr(exc), repr(exc.args), repr(getattr(exc, "body", None))]
    messages = getattr(exc, "messages", None)
    if messages:
        out += [repr(m) for m in messages]
        out += [m.model_dump_json() for m in messages]
    for linked in (exc.__cause__, exc.__context__):
        if linked is not None:
            out += _texts_of(linked)
    return out


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_no_error_path_shows_the_key(
    path: str,
    stream: bool,
    backend: str,
    every_log_record: list[logging.LogRecord],
    tmp_path: Path,
) -> None:
    """On every error path the key is in no exception text or repr, no log record at
    DEBUG, no recorded cassette and no span; only the server saw it, in the header."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    cassette = tmp_path / "scan.yaml"
    seen: list[str] = []
    with LocalModelServer(PATHS[path], style="mistral", model=MODEL) as server:
        model = model_on(server, api_key=SECRET, retry=FAST_RETRY)
        agent: Agent[None, Any] = Agent(
            model, tools=[get_weather_async, add], retries=2, hooks=[Tracing(provider)]
        )
        seen += [repr(model), repr(agent)]

        async def main() -> None:
            async with agent:
                try:
                    if stream:
                        async with agent.run_stream("weather?") as events:
                            async for event in events:
                                seen.append(repr(event))
                    else:
                        await agent.run("weather?")
                except AgentkitError as exc:
                    seen.extend(_texts_of(exc))
                else:
                    raise AssertionError(f"{path}: the run did not fail")

        with use_cassette(cassette, record_mode="all"):
            anyio.run(main, backend=backend)
    assert any(r.headers.get("authorization") == f"Bearer {SECRET}" for r in server.requests)
    provider.shutdown()
    seen += [record.getMessage() for record in every_log_record]
    seen += [repr(record.__dict__) for record in every_log_record]
    for span in exporter.get_finished_spans():
        seen.append(span.to_json())
    if cassette.exists():
        seen.append(cassette.read_text())
    leaks = [s for s in seen if SECRET in s]
    assert not leaks, f"{path}: the key leaked into " + " // ".join(s[:90] for s in leaks)
