"""Runs under load: 1,000 concurrent runs with 5% faults in one process, under asyncio
and trio. Every run ends (in a result or an AgentkitError), and memory is flat over
three batches (live objects after the third batch within a small margin of the first)."""

from __future__ import annotations

import gc
import random
import threading

import anyio
import httpx2
import pytest
from support import FAST_RETRY, MODEL, get_weather_async, model_on, wait_closed

from agentkit import Agent, AgentkitError, tokens
from agentkit.testing.server import (
    LocalModelServer,
    RecordedRequest,
    Reply,
    drop_connection,
    malformed,
    reply_error,
    reply_text,
    reply_tool_calls,
)

pytestmark = pytest.mark.slow  # a load campaign: 1,000 concurrent runs per backend

RUNS = 1000
BATCHES = 3


class _Faulty:
    """The script: a tool call, then the answer; 5% of answers are faults (seeded)."""

    def __init__(self) -> None:
        self.random = random.Random(15)
        self.lock = threading.Lock()
        self.faults = [
            reply_error(500, "boom"),
            reply_error(429, "slow down"),
            drop_connection(),
            malformed(),
        ]

    def __call__(self, request: RecordedRequest) -> Reply:
        with self.lock:
            fault = self.random.random() < 0.05
            pick = self.random.choice(self.faults)
        if fault:
            return pick
        if any(m.get("role") == "tool" for m in request.body["messages"]):
            return reply_text("Sunny in Paris.")
        return reply_tool_calls(("get_weather", {"city": "Paris"}))


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_thousand_concurrent_runs_with_faults_all_end_and_memory_stays_flat(
    backend: str,
) -> None:
    """Three batches of 1,000 concurrent runs (5% faults): every run ends in a result or
    an AgentkitError with its conversation, and live objects do not grow batch to batch."""
    script = _Faulty()
    with LocalModelServer(script, style="mistral", model=MODEL) as server:
        # The runs are all in flight at once; the pool lets 64 connections at a time reach
        # the test server (one thread per connection), the rest queue in the pool.
        http = httpx2.AsyncClient(
            timeout=httpx2.Timeout(120.0), limits=httpx2.Limits(max_connections=64)
        )
        model = model_on(server, http_client=http, retry=FAST_RETRY)
        agent = Agent(model, tools=[get_weather_async], retries=2, max_turns=4)
        live: list[int] = []
        outcomes: list[dict[str, int]] = []

        async def one(counts: dict[str, int]) -> None:
            try:
                result = await agent.run("weather?")
            except AgentkitError as exc:
                assert exc.messages, f"no conversation on {exc!r}"
                counts["error"] += 1
            else:
                assert result.output == "Sunny in Paris."
                counts["ok"] += 1

        async def main() -> None:
            async with http, agent:
                for _ in range(BATCHES):
                    counts = {"ok": 0, "error": 0}
                    async with anyio.create_task_group() as tg:
                        for _ in range(RUNS):
                            tg.start_soon(one, counts)
                    outcomes.append(counts)
                    server.requests.clear()  # the server's own record, not the client's
                    # The context window's token counts are cached per message, process-wide,
                    # up to 100,000 messages (agentkit/tokens.py): bounded, but it grows for
                    # many batches; emptied here so the check sees leaks, not that cache.
                    for counter in (tokens._counter(True), tokens._counter(False)):
                        counter.cache.clear()
                    gc.collect()
                    live.append(len(gc.get_objects()))

        anyio.run(main, backend=backend)
        wait_closed(server)
    for counts in outcomes:
        assert counts["ok"] + counts["error"] == RUNS
        assert counts["ok"] >= RUNS * 0.85  # most faults are retried away
    first, *_, last = live
    assert last <= first * 1.02 + 2000, f"live objects per batch: {live}"
