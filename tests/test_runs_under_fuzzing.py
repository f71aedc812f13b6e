"""Runs against fuzzed model behaviour: property-based, through LocalModelServer.

Random mixes of valid and invalid tool calls (bad JSON, unknown and invalid names,
duplicate ids, bad arguments), text, structured output, cut-offs and every fault kind,
streamed and not, under asyncio and trio. After every run: each request passed
mistral-common's validator; the run ended in a result or an ``AgentkitError`` with the
conversation; that conversation is valid to send again; no connection, task or thread
is left.

The example database is off (``database=None``: nothing is written to the checkout).
``AGENTKIT_FUZZ_EXAMPLES`` sets the examples per backend (default 150: the bounded CI
profile, a few hundred runs in all); under ``CI=true`` the examples are derandomized so
a CI run is reproducible.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
import sniffio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from support import MODEL, tool_agent, validate_request, wait_closed

from agentkit import Agent, AgentkitError, UserMessage
from agentkit.messages import Message
from agentkit.testing import check_mistral_conversation
from agentkit.testing.server import (
    LocalModelServer,
    Reply,
    drop_connection,
    malformed,
    reply_error,
    reply_json,
    reply_text,
    reply_tool_calls,
)

pytestmark = pytest.mark.slow  # hundreds of runs against a fuzzed model

EXAMPLES = int(os.environ.get("AGENTKIT_FUZZ_EXAMPLES", "150"))


class Report(BaseModel):
    """The structured output a structured run asks for."""

    city: str
    temperature_c: int


@dataclass
class Outcome:
    """How one run ended: its messages, and the result or the error."""

    messages: Sequence[Message] | None
    output: Any = None
    error: AgentkitError | None = None


async def run_agent(agent: Agent[None, Any], *, stream: bool, prompt: str = "go") -> Outcome:
    """Run ``agent`` once (held open by ``async with``); a result or an AgentkitError."""
    async with agent:
        try:
            if stream:
                async with agent.run_stream(prompt) as events:
                    async for _ in events:
                        pass
                result = events.result
            else:
                result = await agent.run(prompt)
        except AgentkitError as exc:
            return Outcome(messages=exc.messages, error=exc)
    return Outcome(messages=result.messages, output=result.output)


def run_once(
    script: Sequence[Reply], *, stream: bool, structured: bool, backend: str
) -> tuple[Outcome, LocalModelServer]:
    """One run over a fresh local server with ``script``; the server is stopped after."""
    with LocalModelServer(list(script), style="mistral", model=MODEL) as server:
        agent = tool_agent(server, Report if structured else str)

        async def main() -> Outcome:
            outcome = await run_agent(agent, stream=stream)
            if sniffio.current_async_library() == "asyncio":
                left = asyncio.all_tasks() - {asyncio.current_task()}
                assert not left, f"tasks left running after the run: {left}"
            return outcome

        outcome = anyio.run(main, backend=backend)
        wait_closed(server)
    return outcome, server


def non_daemon_threads() -> set[threading.Thread]:
    """Threads that would keep the process alive."""
    return {t for t in threading.enumerate() if not t.daemon and t.is_alive()}


def check_outcome(outcome: Outcome, server: LocalModelServer) -> None:
    """The invariants every finished run must meet."""
    for body in server.bodies:
        validate_request(body)
    if outcome.error is not None:
        assert outcome.messages is not None, f"no conversation on {outcome.error!r}"
    assert outcome.messages is not None
    check_mistral_conversation([*outcome.messages, UserMessage(content="again")], model=MODEL)


CALLS: list[tuple[str, Any]] = [
    ("get_weather", {"city": "Paris"}),
    ("get_weather", {"city": "Oslo"}),
    ("get_weather", '{"city": "Par'),  # bad JSON
    ("get_weather", "[1, 2]"),  # JSON, not an object
    ("get_weather", {}),  # missing argument
    ("add", {"a": 1, "b": 2}),
    ("add", {"a": 1, "b": "x"}),  # fails validation
    ("no_such_tool", {}),  # unknown
    ("functions.get_weather", {"city": "Paris"}),  # invalid names
    ("", {}),
    ("get weather", {"city": "Paris"}),
    ("x" * 80, {}),
    ("final_result", {"city": "Paris", "temperature_c": 21}),
]

call = st.sampled_from(CALLS)
call_id = st.one_of(st.none(), st.sampled_from(["abcDEF123", "abcDEF123", "call_1", "x", ""]))


@st.composite
def calls_reply(draw: st.DrawFn) -> Reply:
    """An answer with one to three tool calls, ids made by the server or drawn."""
    picked = draw(st.lists(st.tuples(call, call_id), min_size=1, max_size=3))
    encoded: list[Any] = [(n, a) if i is None else (n, a, i) for (n, a), i in picked]
    truncate = draw(st.one_of(st.none(), st.integers(1, 4)))
    return reply_tool_calls(*encoded, truncate_after=truncate)


outputs = st.sampled_from(
    [
        reply_json({"city": "Paris", "temperature_c": 21}),
        reply_json({"city": "Paris"}),  # fails validation
        reply_json({"city": "Paris", "temperature_c": "warm"}),
        reply_text('```json\n{"city": "Oslo", "temperature_c": 3}\n```'),
        reply_text('{"city": "Par'),  # cut JSON
        reply_text("It is sunny in Paris."),
        reply_text(""),
        reply_text("partial", finish_reason="length"),
        reply_text("It is sunny.", truncate_after=2),  # a cut-off stream / body
    ]
)

faults = st.sampled_from(
    [
        reply_error(500, "boom"),
        reply_error(503, "overloaded"),
        reply_error(429, "slow down", retry_after=0),
        reply_error(400, "bad request"),
        reply_error(401, "bad key"),
        reply_error(404, "no such model"),
        reply_error(422, "unprocessable"),
        drop_connection(),
        malformed(),
        malformed(b"not json at all"),
    ]
)

turn = st.one_of(calls_reply(), outputs, faults)
script = st.lists(turn, min_size=1, max_size=5)

CI = os.environ.get("CI") == "true"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=CI,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(script=script, stream=st.booleans(), structured=st.booleans())
def test_hostile_model_runs_end_cleanly_with_valid_conversations(
    backend: str, script: list[Reply], stream: bool, structured: bool
) -> None:
    """Whatever the model sends, the run ends in a result or an AgentkitError whose
    conversation is valid to send again, every request passed Mistral's validator, and
    nothing is left open."""
    threads = non_daemon_threads()
    final = (
        reply_json({"city": "Paris", "temperature_c": 21}) if structured else reply_text("Done.")
    )
    outcome, server = run_once(
        [*script, final, final], stream=stream, structured=structured, backend=backend
    )
    check_outcome(outcome, server)
    assert non_daemon_threads() <= threads
