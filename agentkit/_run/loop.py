"""The loop: one ``while`` over a few next-step values, readable top to bottom.

A run is a sequence of steps:

- ``_Ask``: send a model request (the next turn's, or the follow-up a model asked for)
  through the one request point, ``agentkit._run.request`` (``send`` streamed,
  ``send_whole`` not), which applies the hooks; count it, record its usage in the
  run's ledger, and decide the next step from the answer.
- ``_CallTools``: the answer has tool calls: classify, execute and answer them
  (``agentkit._run.tools``), then append the assistant message with one answer per call.
- ``_Retry``: the model made a fixable mistake (the feedback is already in the
  conversation); count it against the retry budget and ask again.
- ``_Finish``: a validated output; the run's result.

Everything the loop reads and changes is on the ``Run`` (``agentkit._run.state``).

Invariant: ``run.messages`` is always valid to send again. An assistant message with
tool calls is appended together with one answer per call, never alone. Every error that
ends a run carries the conversation so far.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from agentkit._errors import (
    AgentkitError,
    MaxTurnsExceededError,
    OutputTruncatedError,
    RetriesExhaustedError,
)
from agentkit._run.request import response_events, send, send_whole
from agentkit._run.state import Run, load_tools
from agentkit._run.tools import LOOP_LIMIT, Outcome, call_tools, validate_text_output
from agentkit.approval._types import ApprovalRequest
from agentkit.events import (
    AgentEvent,
    ApprovalRequiredEvent,
    FinalResultEvent,
    ModelResponseEvent,
    RetryEvent,
    RunResult,
    ToolCallFinishedEvent,
)
from agentkit.messages import AssistantMessage, UserMessage
from agentkit.models.base import ModelRequest, ModelResponse
from agentkit.output import OutputValidationError

__all__ = ["run_events"]


@dataclass(frozen=True, slots=True)
class _Ask:
    """Send a model request: ``request`` if the model asked for it, else the next turn's."""

    request: ModelRequest | None = None


@dataclass(frozen=True, slots=True)
class _CallTools:
    """Run the tool calls of ``message`` and answer each one."""

    message: AssistantMessage


@dataclass(frozen=True, slots=True)
class _Retry:
    """A fixable failure: count it, then ask again."""

    feedback: str
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class _Finish:
    """The run is done with this output (or paused for these approvals)."""

    output: Any
    approvals: tuple[ApprovalRequest, ...] = ()


_Step = _Ask | _CallTools | _Retry | _Finish


async def run_events(run: Run) -> AsyncGenerator[AgentEvent, None]:
    """Run until an output is validated, yielding every event; the last one carries the result."""
    step: _Step = _CallTools(run.resume.message) if run.resume else _Ask()
    fresh = run.resume is None  # the run's setup has just listed the tools
    try:
        while True:
            if isinstance(step, _Ask):
                if step.request is None and not fresh:
                    await load_tools(run)
                fresh = False
                request = step.request or _next_request(run)
                _count_turn(run)
                response: ModelResponse | None = None
                if request.stream:
                    async with aclosing(send(run, request)) as items:
                        async for item in items:
                            if isinstance(item, ModelResponse):
                                response = item
                            else:
                                yield item
                    assert response is not None, "a request always ends with its response"
                else:
                    response = await send_whole(run, request)
                    for event in response_events(run, response):
                        yield event
                run.ledger.record(response.usage)
                yield ModelResponseEvent(response)
                step = await _read_answer(run, response)

            elif isinstance(step, _CallTools):
                message = step.message
                outcome: Outcome | None = None
                async for part in call_tools(run, message):
                    if isinstance(part, Outcome):
                        outcome = part
                    else:
                        yield part
                assert outcome is not None, "a turn's tool calls always end with an outcome"
                for event in run.take_reported():  # what tool hooks reported
                    yield event
                run.messages.append(outcome.turn_message(message))
                run.messages.extend([*outcome.answers, *outcome.after])
                for call, answer in outcome.finished(message.tool_calls):
                    yield ToolCallFinishedEvent(
                        tool_call_id=call.id,
                        name=call.name,
                        arguments=call.arguments,
                        content=answer.content,
                        is_error=answer.is_error,
                    )
                if outcome.pending:
                    yield ApprovalRequiredEvent(outcome.pending)
                    step = _Finish(None, outcome.pending)
                elif outcome.has_output:
                    step = _Finish(outcome.output)
                elif outcome.failures:
                    step = _Retry("\n".join(outcome.failures))
                else:
                    run.failures_in_a_row = 0
                    run.attempts.clear()
                    step = _Ask()

            elif isinstance(step, _Retry):
                yield _fail(run, step.feedback, truncated=step.truncated)
                step = _Ask()

            else:
                result: RunResult[Any] = RunResult(
                    output=step.output,
                    messages=run.messages,
                    new_message_index=run.new_message_index,
                    usage=run.usage,
                    approvals_needed=step.approvals,
                )
                run.result = result
                yield FinalResultEvent(result)
                return
    except AgentkitError as exc:
        if exc.messages is None:
            exc.messages = list(run.messages)
        raise


def _next_request(run: Run) -> ModelRequest:
    """The request for the next turn, from the conversation so far."""
    plan = run.plan
    stopped_loop = run.repeats == LOOP_LIMIT
    return ModelRequest(
        messages=list(run.messages),  # a snapshot: the model and the hooks may keep it
        tools=run.tool_defs,
        output=plan.output_spec,
        tool_choice=plan.answer_now if stopped_loop else plan.tool_choice,
        settings=run.settings,
        stream=run.stream,
    )


def _count_turn(run: Run) -> None:
    """Count one more model request; refuse it past ``max_turns``."""
    max_turns = run.config.max_turns
    if run.turn >= max_turns:
        raise MaxTurnsExceededError(
            f"The run reached max_turns={max_turns} model requests without a final output. "
            "Raise max_turns, or check why the model keeps calling tools.",
            messages=run.messages,
        )
    run.turn += 1


async def _read_answer(run: Run, response: ModelResponse) -> _Step:
    """The next step after a model's answer."""
    if response.follow_up is not None:
        return _Ask(response.follow_up)
    if response.finish_reason in ("length", "model_length"):
        cap = run.settings.max_tokens or run.model.profile.max_output_tokens
        return _Retry(
            f"The model's output was cut off (finish_reason={response.finish_reason!r}) "
            f"at max_tokens={cap}.",
            truncated=True,
        )
    message = response.message
    if message.tool_calls:
        return _CallTools(message)
    run.messages.append(message)
    try:
        return _Finish(await validate_text_output(run, message))
    except OutputValidationError as exc:
        feedback = str(exc)
        run.messages.append(UserMessage(content=feedback))
        return _Retry(feedback)


def _fail(run: Run, reason: str, *, truncated: bool) -> RetryEvent:
    """Count a fixable failure; raise when the retry budget is spent."""
    retries = run.config.retries
    run.failures_in_a_row += 1
    run.attempts.append(reason)
    if run.failures_in_a_row > retries:
        error_type = OutputTruncatedError if truncated else RetriesExhaustedError
        raise error_type(
            f"The model failed {run.failures_in_a_row} times in a row (retries={retries}). "
            f"Last error:\n{reason}\nRaise retries, simplify the tools or output type, or "
            "check the attempts on this error.",
            attempts=run.attempts,
            messages=run.messages,
        )
    return RetryEvent(reason=reason, retries_left=retries - run.failures_in_a_row)
