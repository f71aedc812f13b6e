"""``stream_events`` reads a model's stream to its end after the response (as ``complete()``
does), so a model that follows the protocol ends normally; events past the response are
never given out, and such a model is closed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agentkit import Agent, TextDeltaEvent
from agentkit.messages import AssistantMessage, UserMessage
from agentkit.models.base import (
    ModelLifecycle,
    ModelProfile,
    ModelRequest,
    ModelResponse,
    ModelStreamEvent,
    TextDelta,
    stream_events,
)
from agentkit.usage import Usage

pytestmark = pytest.mark.anyio_backends("asyncio", "trio")


class Recording(ModelLifecycle):
    """Streams "hi" and its response (then, with ``past``, one delta too many); records
    whether its stream ran to its end or was closed."""

    name = "recording"
    profile = ModelProfile(name="recording")

    def __init__(self, past: bool = False) -> None:
        self.past = past
        self.ended: str | None = None

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        """The deltas, the response, then what ``past`` asks for."""
        try:
            yield TextDelta("hi")
            message = AssistantMessage(content="hi", finish_reason="stop")
            yield ModelResponse(message=message, usage=Usage(requests=1), finish_reason="stop")
            if self.past:
                yield TextDelta(" and more")
        except GeneratorExit:
            self.ended = "closed"
            raise
        self.ended = "finished"


REQUEST = ModelRequest(messages=[UserMessage(content="hi")], stream=True)


@pytest.mark.anyio
async def test_a_model_stream_runs_to_its_end_after_the_response() -> None:
    """The model's code after its response runs (no GeneratorExit), directly and in a run."""
    model = Recording()
    events = [event async for event in stream_events(model, REQUEST)]
    assert [type(e) for e in events] == [TextDelta, ModelResponse]
    assert model.ended == "finished"
    run_model = Recording()
    async with Agent(run_model).run_stream("hi") as stream:
        texts = [e.text async for e in stream if isinstance(e, TextDeltaEvent)]
    assert texts == ["hi"] and stream.result.output == "hi"
    assert run_model.ended == "finished"


@pytest.mark.anyio
async def test_events_past_the_response_are_not_given_out_and_the_model_is_closed() -> None:
    """A delta after the response is dropped, and the model's stream is closed there."""
    model = Recording(past=True)
    events = [event async for event in stream_events(model, REQUEST)]
    assert [type(e) for e in events] == [TextDelta, ModelResponse]
    assert model.ended == "closed"
    run_model = Recording(past=True)
    async with Agent(run_model).run_stream("hi") as stream:
        texts = [e.text async for e in stream if isinstance(e, TextDeltaEvent)]
    assert texts == ["hi"] and stream.result.output == "hi"
    assert run_model.ended == "closed"
