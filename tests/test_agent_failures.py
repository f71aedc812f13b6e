"""How a run fails: retry budget, turn limit, tool errors, loops, truncation, bad setup."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from pydantic import BaseModel

from agentkit import (
    Agent,
    AgentkitError,
    ConfigurationError,
    ImagePart,
    MaxTurnsExceededError,
    ModelRetry,
    OutputTruncatedError,
    RetriesExhaustedError,
    TextPart,
    ToolExecutionError,
    ToolLoopError,
    ToolMessage,
    UserError,
    tool,
)
from agentkit.messages import AssistantMessage, Message
from agentkit.testing.scripted import (
    SCRIPTED_PROFILE,
    ScriptedModel,
    ScriptedResponse,
    output_call,
    tool_calls,
)


class Answer(BaseModel):
    value: int


@tool
def lookup(key: str) -> str:
    """Look a key up."""
    return f"value of {key}"


@tool
def explode(key: str) -> str:
    """Always fails."""
    raise RuntimeError(f"database down for {key}")


def _assert_valid_conversation(messages: Sequence[Message]) -> None:
    """Every assistant tool call is answered by exactly one tool message, in order."""
    i = 0
    while i < len(messages):
        msg = messages[i]
        if isinstance(msg, AssistantMessage) and msg.tool_calls:
            answers = messages[i + 1 : i + 1 + len(msg.tool_calls)]
            answered = [a.tool_call_id if isinstance(a, ToolMessage) else None for a in answers]
            assert answered == [c.id for c in msg.tool_calls]
            i += 1 + len(msg.tool_calls)
        else:
            assert not isinstance(msg, ToolMessage), "a tool message with no call before it"
            i += 1


@pytest.mark.anyio
async def test_retry_budget_spent_raises_with_every_attempt() -> None:
    """After retries+1 failing turns in a row the run raises with each attempt's error."""
    model = ScriptedModel([output_call({"value": "x"})] * 3)
    agent = Agent(model, output_type=Answer, retries=2)
    with pytest.raises(RetriesExhaustedError) as info:
        await agent.run("go")
    err = info.value
    assert len(err.attempts) == 3
    assert all("value: Input should be a valid integer" in a for a in err.attempts)
    assert "failed 3 times in a row (retries=2)" in str(err)
    assert err.messages is not None
    _assert_valid_conversation(err.messages)
    assert isinstance(err, AgentkitError)


@pytest.mark.anyio
async def test_a_good_turn_resets_the_budget() -> None:
    """Failures separated by a successful turn do not add up."""
    bad = tool_calls(("lookup", {"nope": 1}))
    good = tool_calls(("lookup", {"key": "a"}))
    model = ScriptedModel([bad, good, bad, good, "done"])
    result = await Agent(model, tools=[lookup], retries=1).run("go")
    assert result.output == "done"


@pytest.mark.anyio
async def test_max_turns_raises_with_the_conversation() -> None:
    """A model that never stops calling tools hits max_turns with a valid conversation."""
    model = ScriptedModel([tool_calls(("lookup", {"key": str(i)})) for i in range(5)])
    with pytest.raises(MaxTurnsExceededError, match="max_turns=3") as info:
        await Agent(model, tools=[lookup], max_turns=3).run("go")
    assert info.value.messages is not None
    assert len([m for m in info.value.messages if isinstance(m, ToolMessage)]) == 3
    _assert_valid_conversation(info.value.messages)


@pytest.mark.anyio
async def test_tool_exception_goes_back_to_the_model_by_default() -> None:
    """A tool's exception becomes that call's answer, marked as an error."""
    model = ScriptedModel([tool_calls(("explode", {"key": "k"})), "sorry"])
    result = await Agent(model, tools=[explode]).run("go")
    answer = result.messages[2]
    assert isinstance(answer, ToolMessage)
    assert answer.is_error
    assert answer.content == "Error: RuntimeError: database down for k"
    assert result.output == "sorry"


@pytest.mark.anyio
async def test_tool_exception_raises_when_asked() -> None:
    """With raise_tool_errors the run raises, the cause chained, every call still answered."""
    model = ScriptedModel([tool_calls(("lookup", {"key": "a"}), ("explode", {"key": "k"}))])
    agent = Agent(model, tools=[lookup, explode], raise_tool_errors=True)
    with pytest.raises(ToolExecutionError, match="Tool 'explode' raised RuntimeError") as info:
        await agent.run("go")
    err = info.value
    assert isinstance(err.__cause__, RuntimeError)
    assert err.tool_name == "explode"
    assert err.messages is not None
    _assert_valid_conversation(err.messages)
    assert isinstance(err.messages[-1], ToolMessage)


@pytest.mark.anyio
async def test_repeated_identical_calls_get_feedback_then_an_error() -> None:
    """The third identical turn is answered with feedback and the next request may not call
    tools; a fourth identical turn raises ToolLoopError."""
    same = tool_calls(("lookup", {"key": "a"}))
    model = ScriptedModel([same, same, same, same])
    with pytest.raises(ToolLoopError, match="same arguments 4 turns in a row") as info:
        await Agent(model, tools=[lookup]).run("go")
    assert [r.tool_choice for r in model.requests] == [None, None, None, "none"]
    answers = [m for m in info.value.messages or [] if isinstance(m, ToolMessage)]
    assert [a.is_error for a in answers] == [False, False, True]
    assert answers[2].content.startswith("You called lookup with the same arguments 3 turns")


@pytest.mark.anyio
async def test_the_same_invalid_answer_again_and_again_names_the_invalid_answer() -> None:
    """The same invalid final answer four turns in a row ends as RetriesExhaustedError with
    the validation error the model was told, not as a tool loop "told the result will not
    change" (the newcomer's "Convert 100 EUR to USD" in the demo)."""
    cut = output_call('{"value": ')
    model = ScriptedModel([cut, cut, cut, cut])
    with pytest.raises(RetriesExhaustedError) as info:
        await Agent(model, output_type=Answer).run("go")
    assert not isinstance(info.value, ToolLoopError)
    assert "not valid JSON" in str(info.value)
    assert "will not change" not in str(info.value)
    assert len(info.value.attempts) == 4
    assert [r.tool_choice for r in model.requests] == ["required"] * 4


@pytest.mark.anyio
async def test_after_a_stopped_loop_the_output_tool_is_named() -> None:
    """With a structured output, the request after loop feedback names the final-result tool."""
    same = tool_calls(("lookup", {"key": "a"}))
    model = ScriptedModel([same, same, same, output_call({"value": 1})])
    result = await Agent(model, tools=[lookup], output_type=Answer).run("go")
    assert result.output == Answer(value=1)
    choices = [r.tool_choice for r in model.requests]
    assert choices == ["required", "required", "required", "final_result"]


@pytest.mark.anyio
async def test_truncated_output_is_retried_then_raised() -> None:
    """finish_reason length is dropped and retried; when retries run out it raises."""
    cut = ScriptedResponse(content='{"value": 1', finish_reason="length")
    model = ScriptedModel([cut, output_call({"value": 1})])
    result = await Agent(model, output_type=Answer).run("go")
    assert result.output == Answer(value=1)
    assert result.usage.requests == 2
    assert not any(
        isinstance(m, AssistantMessage) and m.finish_reason == "length" for m in result.messages
    )

    model = ScriptedModel([cut, cut])
    with pytest.raises(OutputTruncatedError, match="cut off") as info:
        await Agent(model, output_type=Answer, retries=1).run("go")
    assert info.value.attempts[0].startswith("The model's output was cut off")


@pytest.mark.anyio
async def test_output_validator_can_ask_for_a_retry() -> None:
    """An output validator's ModelRetry goes back to the model as feedback."""
    model = ScriptedModel([output_call({"value": 3}), output_call({"value": 4})])
    agent = Agent(model, output_type=Answer)

    @agent.output_validator
    def even(output: Answer) -> Answer:
        if output.value % 2:
            raise ModelRetry("value must be even")
        return output

    result = await agent.run("go")
    assert result.output == Answer(value=4)
    feedback = result.messages[2]
    assert isinstance(feedback, ToolMessage)
    assert (feedback.content, feedback.is_error) == ("value must be even", True)


def test_duplicate_tool_names_fail_when_the_agent_is_built() -> None:
    """Two tools with one name in one agent fail at construction, naming the name."""

    @tool(name="lookup")
    def other(key: str) -> str:
        """Another lookup."""
        return key

    with pytest.raises(UserError, match="lookup"):
        Agent(ScriptedModel([]), tools=[lookup, other])


def test_tool_named_like_the_output_tool_is_rejected() -> None:
    """A user tool named final_result clashes with the output tool and is refused."""

    @tool
    def final_result(x: int) -> int:
        """Clash."""
        return x

    with pytest.raises(UserError, match="rename that tool"):
        Agent(ScriptedModel([]), tools=[final_result], output_type=Answer)


def test_bad_options_are_refused() -> None:
    """Negative retries, zero max_turns and output_mode without a structured type are refused."""
    with pytest.raises(ConfigurationError, match="retries must be 0 or more"):
        Agent(ScriptedModel([]), retries=-1)
    with pytest.raises(ConfigurationError, match="max_turns must be 1 or more"):
        Agent(ScriptedModel([]), max_turns=0)
    with pytest.raises(ConfigurationError, match="needs a structured output_type"):
        Agent(ScriptedModel([]), output_mode="native")


@pytest.mark.anyio
async def test_image_prompt_to_a_model_without_vision_is_refused() -> None:
    """An image sent to a model whose profile has no vision fails before any request."""
    model = ScriptedModel(["never"], profile=SCRIPTED_PROFILE.with_changes(supports_vision=False))
    image = ImagePart.from_url("https://example.com/cat.png")
    with pytest.raises(ConfigurationError, match="has no vision"):
        await Agent(model).run([TextPart(text="What is this?"), image])
    assert model.requests == []


@pytest.mark.anyio
async def test_model_errors_carry_the_conversation() -> None:
    """An error raised by the model itself comes out with the conversation so far."""

    def boom(request: object) -> ScriptedResponse:
        raise ConfigurationError("no key")

    model = ScriptedModel([boom])
    with pytest.raises(ConfigurationError) as info:
        await Agent(model, instructions="hi").run("go")
    assert info.value.messages is not None
    assert [m.role for m in info.value.messages] == ["system", "user"]


@pytest.mark.parametrize(
    "arguments",
    [
        '{"city": "Paris"}',
        '{"b": 1, "a": [1, {"z": 1.5, "y": "\\u00e9"}]}',
        '{"x": NaN}',
        '{"t": "a\tb"}',
        '\ufeff{"a": 1}',
    ],
)
def test_repeated_calls_are_compared_as_sorted_json(arguments: str) -> None:
    """Tool-call arguments are compared across turns as json.dumps(..., sort_keys=True)
    of what json.loads(..., strict=False) makes of them, else as they are (the encoder
    and decoder are built once; the text they give is the same)."""
    from agentkit._run.tools import _normalized_args

    try:
        expected = json.dumps(json.loads(arguments, strict=False), sort_keys=True)
    except ValueError:
        expected = arguments
    assert _normalized_args(arguments) == expected
    assert _normalized_args("not json") == "not json"
