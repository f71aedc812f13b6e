"""Answers a chat server should not give: a 200 or a streamed chunk whose fields have the
wrong types is a ``ModelAPIError``; odd usage numbers are clamped with a warning or refused;
a null, empty or content-filtered answer is asked again or raised as a typed error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support import model_on

from agentkit import Agent
from agentkit._errors import ModelAPIError
from agentkit.models.parse import ResponseShapeError, parse_usage
from agentkit.testing.server import LocalModelServer, Reply, reply_text


def _completion(message: dict[str, Any], **top: Any) -> bytes:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    body.update(top)
    return json.dumps(body).encode()


CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
ODD_BODIES = {
    "null tool name": _completion(
        {"role": "assistant", "content": None, "tool_calls": [{**CALL, "function": {"name": None}}]}
    ),
    "numeric tool id": _completion(
        {"role": "assistant", "content": None, "tool_calls": [{**CALL, "id": 5}]}
    ),
    "tool call not an object": _completion(
        {"role": "assistant", "content": None, "tool_calls": ["x"]}
    ),
    "numeric finish_reason": json.dumps(
        {
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": 3}
            ]
        }
    ).encode(),
    "usage as strings": _completion(
        {"role": "assistant", "content": "hi"},
        usage={"prompt_tokens": "3", "completion_tokens": "2"},
    ),
    "numeric model": _completion({"role": "assistant", "content": "hi"}, model=7),
    "numeric id": _completion({"role": "assistant", "content": "hi"}, id=7),
    "message not an object": json.dumps({"choices": [{"message": "hi"}]}).encode(),
    "text part not text": _completion(
        {"role": "assistant", "content": [{"type": "text", "text": 5}]}
    ),
}


@pytest.mark.parametrize("what", list(ODD_BODIES))
@pytest.mark.anyio
async def test_odd_field_types_in_a_200_are_model_api_errors(what: str) -> None:
    """A 200 whose fields have the wrong types is a ``ModelAPIError`` saying what was wrong."""
    with LocalModelServer([Reply(body=ODD_BODIES[what])]) as server:
        with pytest.raises(ModelAPIError, match="not with a chat completion") as info:
            await Agent(model_on(server, "gpt-4o-mini")).run("hi")
    assert type(info.value) is ModelAPIError
    assert info.value.messages  # the conversation so far comes with it


STREAMED_ODD = {
    "choices not a list": b'{"id": "x", "choices": 5}',
    "choices not objects": b'{"id": "x", "choices": ["x"]}',
    "numeric content": b'{"choices": [{"index": 0, "delta": {"content": 5}}]}',
    "delta not an object": b'{"id": "x", "choices": [{"index": 0, "delta": "x"}]}',
    "null tool-call name": json.dumps(
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": 7}]}}]}
    ).encode(),
    "numeric finish_reason": b'{"choices": [{"index": 0, "delta": {}, "finish_reason": 3}]}',
    "numeric model": b'{"model": 7, "choices": [{"index": 0, "delta": {"content": "a"}}]}',
    "tool calls not a list": b'{"choices": [{"index": 0, "delta": {"tool_calls": 5}}]}',
}


@pytest.mark.parametrize("what", list(STREAMED_ODD))
@pytest.mark.anyio
async def test_odd_field_types_in_a_stream_are_model_api_errors(what: str) -> None:
    """A streamed chunk with wrong field types is a ``ModelAPIError`` saying what was wrong."""
    with LocalModelServer([Reply(body=STREAMED_ODD[what])]) as server:
        with pytest.raises(ModelAPIError, match="not with a chat completion"):
            async with Agent(model_on(server, "gpt-4o-mini")).run_stream("hi") as run:
                async for _ in run:
                    pass


# --------------------------------------------------------------------------- usage numbers


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"prompt_tokens": -5, "completion_tokens": 2}, (0, 2)),
        ({"prompt_tokens": 3.7, "completion_tokens": 2.0}, (3, 2)),
        ({"prompt_tokens": 3, "completion_tokens": -1.5}, (3, 0)),
    ],
)
def test_negative_or_fractional_usage_is_clamped_with_a_warning(
    usage: dict[str, Any], expected: tuple[int, int]
) -> None:
    """Negative counts become 0 and fractions are cut to whole tokens, each with a warning."""
    warned: list[str] = []
    result = parse_usage(usage, None, warned.append)
    assert (result.input_tokens, result.output_tokens) == expected
    assert isinstance(result.input_tokens, int) and isinstance(result.output_tokens, int)
    assert warned and all("usage" in w for w in warned)


def test_usage_that_is_not_a_number_is_a_shape_error() -> None:
    """A count sent as text or a bool is malformed, not a number to guess from."""
    for bad in ("3", True, [3]):
        with pytest.raises(ResponseShapeError, match="prompt_tokens"):
            parse_usage({"prompt_tokens": bad}, None)


@pytest.mark.anyio
async def test_odd_usage_reaches_the_run_as_a_warning_event() -> None:
    """A run whose server reports negative usage counts 0 and says so in a ``ModelWarningEvent``."""
    from agentkit import ModelWarningEvent

    reply = reply_text("hi", usage={"prompt_tokens": -4, "completion_tokens": 1.5})
    with LocalModelServer([reply]) as server:
        events = []
        async with Agent(model_on(server, "gpt-4o-mini")).run_stream("hi") as run:
            async for event in run:
                events.append(event)
        result = run.result
    assert result.usage.input_tokens == 0 and result.usage.output_tokens == 1
    warned = [e for e in events if isinstance(e, ModelWarningEvent)]
    assert len(warned) == 2 and "prompt_tokens" in warned[0].message


# --------------------------------------------------------------------------- odd final answers


@pytest.mark.anyio
async def test_a_null_answer_without_tool_calls_is_sent_back_to_fix() -> None:
    """``content: null`` and no tool calls is not the answer ``""``: the model is asked again."""
    empty = _completion({"role": "assistant", "content": None})
    with LocalModelServer([Reply(body=empty), reply_text("Here it is.")]) as server:
        result = await Agent(model_on(server, "gpt-4o-mini")).run("hi")
    assert result.output == "Here it is."
    assert "Your answer was empty" in server.bodies[1]["messages"][-1]["content"]


@pytest.mark.anyio
async def test_empty_answers_spend_the_retries() -> None:
    """Empty answers every time end in ``RetriesExhaustedError`` carrying the conversation."""
    from agentkit import RetriesExhaustedError

    with LocalModelServer([reply_text("") for _ in range(3)]) as server:
        with pytest.raises(RetriesExhaustedError, match="empty") as info:
            await Agent(model_on(server, "gpt-4o-mini"), retries=2).run("hi")
    assert info.value.messages


@pytest.mark.anyio
async def test_a_content_filtered_answer_is_a_typed_error() -> None:
    """``finish_reason: content_filter`` is ``ContentFilteredError``, not the run's answer."""
    from agentkit import ContentFilteredError

    with LocalModelServer([reply_text("I can't hel", finish_reason="content_filter")]) as server:
        with pytest.raises(ContentFilteredError, match="content filter") as info:
            await Agent(model_on(server, "gpt-4o-mini")).run("hi")
    assert info.value.messages is not None
    assert info.value.messages[-1].content == "I can't hel"
