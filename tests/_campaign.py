"""Shared pieces of the hostile-input campaign (issue 15): a run over a real local
server, and the checks every run must pass.

``run_once`` runs one agent over ``LocalModelServer`` (Mistral shapes, the Mistral
dialect) with a script of replies, streamed or not, and returns what the run ended
with. ``check_outcome`` then asserts the campaign's invariants: every request the
server received passes mistral-common's validator, the run ended in a result or an
``AgentkitError`` carrying the conversation, that conversation is valid to send again,
and no connection or task is left behind.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.lowlevel
import sniffio
from pydantic import BaseModel

from agentkit import Agent, AgentkitError, UserMessage, tool
from agentkit.messages import Message
from agentkit.models import OpenAIChatModel, RetryPolicy
from agentkit.testing import check_mistral_conversation
from agentkit.testing.server import LocalModelServer, Reply

MODEL = "mistral-small-2506"
FAST_RETRY = RetryPolicy(max_retries=1, initial_delay=0.0, max_delay=0.0, max_total_wait=1.0)


class Report(BaseModel):
    """The structured output the campaign asks for."""

    city: str
    temperature_c: int


@tool
async def get_weather(city: str) -> str:
    """Get the weather in a city."""
    await anyio.lowlevel.checkpoint()
    return f"{city}: sunny, 21 C"


@tool
def add(a: int, b: int) -> int:
    """Add two numbers (a sync tool: it runs in a worker thread)."""
    return a + b


@dataclass
class Outcome:
    """How one run ended: its messages, and the result or the error."""

    messages: Sequence[Message] | None
    output: Any = None
    error: AgentkitError | None = None


def make_agent(base_url: str, *, structured: bool, api_key: str = "test") -> Agent[None, Any]:
    """The campaign's agent: two tools (async and sync), small budgets, fast retries."""
    model = OpenAIChatModel(MODEL, base_url=base_url, api_key=api_key, retry=FAST_RETRY)
    output_type: Any = Report if structured else str
    return Agent(
        model,
        instructions="You are a weather assistant.",
        tools=[get_weather, add],
        output_type=output_type,
        retries=2,
        max_turns=6,
    )


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
        agent = make_agent(server.base_url, structured=structured)

        async def main() -> Outcome:
            outcome = await run_agent(agent, stream=stream)
            if sniffio.current_async_library() == "asyncio":
                left = asyncio.all_tasks() - {asyncio.current_task()}
                assert not left, f"tasks left running after the run: {left}"
            return outcome

        outcome = anyio.run(main, backend=backend)
        wait_closed(server)
    return outcome, server


def wait_closed(server: LocalModelServer, within: float = 10.0) -> None:
    """Wait until the server has seen every client connection close (the pool closed)."""
    deadline = time.monotonic() + within
    while server.open_connections and time.monotonic() < deadline:
        time.sleep(0.005)
    assert server.open_connections == 0, f"{server.open_connections} connection(s) left open"


def non_daemon_threads() -> set[threading.Thread]:
    """Threads that would keep the process alive."""
    return {t for t in threading.enumerate() if not t.daemon and t.is_alive()}


def validate_request(body: dict[str, Any]) -> None:
    """Assert that one chat request passes mistral-common's validator (serving mode)."""
    from mistral_common.protocol.instruct.request import ChatCompletionRequest
    from mistral_common.protocol.instruct.validator import ValidationMode, get_validator
    from mistral_common.tokens.tokenizers.base import TokenizerVersion

    validator = get_validator(TokenizerVersion.v11, ValidationMode.serving)
    request = ChatCompletionRequest.from_openai(body["messages"], body.get("tools"), model=MODEL)
    validator.validate_request(request)


def check_outcome(outcome: Outcome, server: LocalModelServer) -> None:
    """The campaign's invariants for one finished run."""
    for body in server.bodies:
        validate_request(body)
    if outcome.error is not None:
        assert outcome.messages is not None, f"no conversation on {outcome.error!r}"
    assert outcome.messages is not None
    check_mistral_conversation([*outcome.messages, UserMessage(content="again")], model=MODEL)
