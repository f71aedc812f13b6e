"""Partial outputs of a streamed structured run: validating them stays linear in the
output's length (a bounded number of times), and the last one is never dropped."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from agentkit import Agent, PartialOutputEvent
from agentkit.hooks import Hooks, RequestHandler, RunInfo
from agentkit.models import OpenAIChatModel
from agentkit.models.base import ModelRequest, ModelResponse
from agentkit.output import OutputMode, OutputSchema
from agentkit.testing.server import LocalModelServer, reply_json, reply_tool_calls

pytestmark = pytest.mark.anyio_backends("asyncio", "trio")


class Notes(BaseModel):
    title: str
    body: str


def _count_validated(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the length of every text ``validate_partial`` is given."""
    sizes: list[int] = []
    original = OutputSchema.validate_partial

    def counting(self: OutputSchema[Any], data: str) -> Any:
        sizes.append(len(data))
        return original(self, data)

    monkeypatch.setattr(OutputSchema, "validate_partial", counting)
    return sizes


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["native", "tool"])
async def test_partial_validation_work_is_linear_in_the_output(
    monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """A 32 KB output streamed in 8-character deltas is validated over at most a few
    times its length in total (not once per delta), and the last partial is the output."""
    value = {"title": "t", "body": "x" * 32_000}
    output_mode: OutputMode = "native" if mode == "native" else "tool"
    reply = (
        reply_json(value)
        if mode == "native"
        else reply_tool_calls(("final_result", value), finish_reason="stop")
    )
    sizes = _count_validated(monkeypatch)
    with LocalModelServer([reply]) as server:
        model = OpenAIChatModel("m", base_url=server.base_url, api_key="k")
        agent = Agent(model, output_type=Notes, output_mode=output_mode)
        async with agent, agent.run_stream("go") as stream:
            partials = [e.output async for e in stream if isinstance(e, PartialOutputEvent)]
    total = len(json.dumps(value))
    assert stream.result.output == Notes(**value)
    assert sum(sizes) <= 6 * total
    assert max(sizes) == total
    assert partials[-1].model_dump() == value
    assert len(partials) >= 10


@pytest.mark.anyio
async def test_small_outputs_still_stream_partials_often(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A short output is validated on nearly every delta, so partials still grow smoothly."""
    value = {"title": "Paris", "body": "Sunny and warm all day, with a light breeze."}
    sizes = _count_validated(monkeypatch)
    with LocalModelServer([reply_json(value)]) as server:
        model = OpenAIChatModel("m", base_url=server.base_url, api_key="k")
        agent = Agent(model, output_type=Notes, output_mode="native")
        async with agent, agent.run_stream("go") as stream:
            partials = [e.output async for e in stream if isinstance(e, PartialOutputEvent)]
    assert len(sizes) >= len(json.dumps(value)) // 8 - 2
    assert partials[-1].model_dump() == value


class _PassThrough(Hooks):
    """A request hook that only forwards: the request is streamed through the hook chain."""

    async def wrap_model_request(
        self, run: RunInfo, request: ModelRequest, handler: RequestHandler
    ) -> ModelResponse:
        return await handler(request)


@pytest.mark.anyio
@pytest.mark.parametrize("hooked", [False, True], ids=["plain", "hooked"])
@pytest.mark.parametrize("mode", ["native", "tool"])
async def test_last_partial_is_the_output_for_a_128_kb_stream(mode: str, hooked: bool) -> None:
    """Streaming a 128 KB structured output (with or without a request hook), the last
    partial output equals the run's output."""
    value = {"title": "t", "body": "x" * (128_000 - 26)}
    output_mode: OutputMode = "native" if mode == "native" else "tool"
    reply = (
        reply_json(value)
        if mode == "native"
        else reply_tool_calls(("final_result", value), finish_reason="stop")
    )
    hooks = [_PassThrough()] if hooked else []
    with LocalModelServer([reply]) as server:
        model = OpenAIChatModel("m", base_url=server.base_url, api_key="k")
        agent = Agent(model, output_type=Notes, output_mode=output_mode, hooks=hooks)
        async with agent.run_stream("go") as stream:
            partials = [e.output async for e in stream if isinstance(e, PartialOutputEvent)]
    assert len(json.dumps(value)) == 128_000
    assert partials[-1].model_dump() == stream.result.output.model_dump() == value
