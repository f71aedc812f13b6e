"""What the loop does with a model's answer: its tool calls, then its final output.

A turn's tool calls go through three steps, each a function here:

1. ``_classify``: each call is answered at once (unknown tool, bad arguments, a stopped
   loop), is the final result, waits for approval (``_gate``: the approvals of a resumed
   turn are applied here, bound to the call's tool and arguments), or is to run (with
   validated arguments).
2. ``_execute``: the calls to run go through the tool hooks, concurrently in a task group
   (sync tools in worker threads).
3. ``_answer``: one tool message per call, in call order, with the failures the model
   must fix and the final output, if any.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import anyio

from agentkit._errors import (
    ContentFilteredError,
    ModelRetry,
    ToolExecutionError,
    ToolLoopError,
    UsageLimitExceeded,
)
from agentkit._run.state import Run
from agentkit.approval._resume import Waiting, changed, waiting_on
from agentkit.approval._types import ApprovalRequest, Denied, canonical_arguments
from agentkit.events import AgentEvent
from agentkit.hooks import ToolInvocation, ToolResult
from agentkit.messages import (
    AssistantMessage,
    Attachment,
    DocumentPart,
    Message,
    PausedRun,
    ToolCall,
    ToolMessage,
)
from agentkit.models.base import ModelProfile
from agentkit.output import EMPTY_ANSWER, OUTPUT_TOOL_NAME, OutputValidationError
from agentkit.tools import ResumedRun, ToolArgumentsError, tool_result_content

__all__ = ["LOOP_LIMIT", "Outcome", "call_tools", "validate_text_output"]

LOOP_LIMIT = 3
"""The same tool calls this many turns in a row are stopped with feedback."""


@dataclass(slots=True)
class Outcome:
    """The answers to one turn's tool calls, what the model must fix, and the output."""

    answers: list[ToolMessage] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    has_output: bool = False
    output: Any = None
    pending: tuple[ApprovalRequest, ...] = ()
    """Calls waiting for approval (no answer yet): the run pauses."""
    waiting: set[int] = field(default_factory=set)
    """The indices of the pending calls."""
    paused_runs: list[PausedRun] = field(default_factory=list)
    """Agents used as tools that paused for approvals (their calls are pending)."""
    reused: set[int] = field(default_factory=set)
    """Calls of a resumed turn answered before it paused (no event again)."""
    after: list[Message] = field(default_factory=list)
    """Messages that go after the answers (a resumed run's prompt)."""

    def turn_message(self, message: AssistantMessage) -> AssistantMessage:
        """The turn's assistant message as the conversation keeps it: with the runs of
        the agents that paused in it (or without the ones that have now finished)."""
        if not self.paused_runs and not message.paused_runs:
            return message
        return message.model_copy(update={"paused_runs": tuple(self.paused_runs)})

    def wait(self, index: int, waiting: Waiting) -> None:
        """Keep call ``index`` waiting, on these requests."""
        self.pending += waiting.requests
        self.waiting.add(index)
        if waiting.paused is not None:
            self.paused_runs.append(waiting.paused)

    def finished(self, calls: Sequence[ToolCall]) -> list[tuple[ToolCall, ToolMessage]]:
        """Each call answered in this turn with its answer, in call order."""
        answered = [(i, c) for i, c in enumerate(calls) if i not in self.waiting]
        pairs = zip(answered, self.answers, strict=True)
        return [(c, a) for (i, c), a in pairs if i not in self.reused]


@dataclass(frozen=True, slots=True)
class _Answered:
    """A call answered without running: the answer and the failure it counts as
    (``None``: not a failure, as a denial or an answer from before a pause)."""

    answer: ToolMessage
    failure: str | None
    reused: bool = False


@dataclass(frozen=True, slots=True)
class _FinalResult:
    """A call of the final-result tool."""

    call: ToolCall


_Step = _Answered | _FinalResult | ToolInvocation | Waiting


async def call_tools(
    run: Run, message: AssistantMessage
) -> AsyncGenerator[AgentEvent | Outcome, None]:
    """Classify, execute and answer the tool calls of ``message``, as run events: the
    events the tools send while they run (an agent used as a tool), then the ``Outcome``.

    Tools that send events run in a child task; their events reach the loop through a
    memory channel. A turn without such tools runs directly.
    """
    steps = _classify(run, message.tool_calls)
    after = _end_resume(run)
    invocations = [(i, s) for i, s in enumerate(steps) if isinstance(s, ToolInvocation)]
    run.ledger.admit_tool_calls(len(invocations), run.messages)
    conversation = [*run.messages, message]
    if not any(inv.tool.emits_events for _, inv in invocations):
        results = await _execute(run, invocations, conversation) if invocations else {}
        outcome = await _answer(run, steps, results, conversation)
        outcome.after = after
        yield outcome
        return
    send_events, receive_events = anyio.create_memory_object_stream[AgentEvent](16)
    box: list[dict[int, ToolResult]] = []
    failed: list[Exception] = []

    async def execute_all() -> None:
        async with send_events:
            try:
                box.append(await _execute(run, invocations, conversation, send_events.send))
            except Exception as exc:  # re-raised below, not as an exception group
                failed.append(exc)

    async with anyio.create_task_group() as tg, receive_events:
        tg.start_soon(execute_all)
        async for event in receive_events:
            yield event
    if failed:
        raise failed[0]
    outcome = await _answer(run, steps, box[0], conversation)
    outcome.after = after
    yield outcome


def _classify(run: Run, calls: Sequence[ToolCall]) -> list[_Step]:
    """What to do with each call: answer it at once, take it as the output, or run it."""
    tools, plan = run.tools, run.plan
    repeated = _check_repeats(run, calls)
    steps: list[_Step] = []
    for index, call in enumerate(calls):
        before = _reused(run, calls, index)
        if before is not None:
            steps.append(_Answered(before, None, reused=True))
            continue
        if call.name == OUTPUT_TOOL_NAME and plan.mode == "tool":
            steps.append(_FinalResult(call))
            continue
        tool = tools.get(call.name)
        if tool is None:
            known = ", ".join(sorted(tools)) or "(none)"
            if plan.mode == "tool":
                known += f", {OUTPUT_TOOL_NAME}"
            text = f"Unknown tool {call.name!r}. The tools you can call are: {known}."
            steps.append(_Answered(_error_answer(call, text), text))
        elif repeated:
            text = (
                f"You called {call.name} with the same arguments {LOOP_LIMIT} turns in a row; "
                "the result will not change. Use the results you already have, or call a "
                "different tool or with different arguments."
            )
            steps.append(_Answered(_error_answer(call, text), text))
        else:
            try:
                invocation = ToolInvocation(call, tool, tool.validate_args(call.arguments))
            except ToolArgumentsError as exc:
                text = f"Invalid arguments for tool {call.name}: {exc}"
                steps.append(_Answered(_error_answer(call, text), text))
                _bump_retry(run, call.name)
                continue
            gated = _gate(run, index, invocation)
            steps.append(_Answered(gated, None) if isinstance(gated, ToolMessage) else gated)
    return steps


def _gate(
    run: Run, index: int, invocation: ToolInvocation
) -> ToolInvocation | Waiting | ToolMessage:
    """A call with valid arguments: run it, keep it waiting, or answer it (denied)."""
    call, tool = invocation.call, invocation.tool
    resume = run.resume
    calls = () if resume is None else resume.message.tool_calls
    if resume is not None and index < len(calls) and calls[index] is call:
        arguments = canonical_arguments(invocation.args)
        paused = resume.paused.get(index)
        if paused is not None:  # a paused agent run: resumed with its decisions, if any
            if paused.arguments != arguments:
                raise changed(
                    f"the arguments of call {call.id!r} ({arguments}) are not the ones the "
                    f"{paused.agent} agent's paused run was started with ({paused.arguments})"
                )
            child = resume.children.get(index)
            if not child:
                return waiting_on(paused)
            return replace(invocation, resumed=ResumedRun(paused, child))
        decision = resume.decisions.get(index)
        request = ApprovalRequest(call.id, call.name, arguments)
        bound = resume.bound.get(index)
        if bound is not None and bound != request:
            raise changed(
                f"the arguments of call {call.id!r} ({request.arguments}) are not the ones "
                f"approved ({bound.arguments})"
            )
        if decision is None:
            return Waiting((request,))
        if decision is True:
            return invocation
        reason = decision.reason if isinstance(decision, Denied) else Denied().reason
        return ToolMessage(tool_call_id=call.id, name=call.name, content=f"Denied: {reason}")
    needs = tool.needs_approval
    if needs is False:
        return invocation
    if needs is not True and not needs(run.context(call, index=index), invocation.args):
        return invocation
    return Waiting((ApprovalRequest(call.id, call.name, canonical_arguments(invocation.args)),))


def _reused(run: Run, calls: Sequence[ToolCall], index: int) -> ToolMessage | None:
    """The answer a resumed turn already had for call ``index`` of ``calls``, if any."""
    resume = run.resume
    if resume is None or resume.message.tool_calls is not calls:
        return None
    return resume.answered.get(index)


def _end_resume(run: Run) -> list[Message]:
    """After the resumed turn's calls are classified: stop resuming; the prompt to add
    after its answers, if any."""
    resume, run.resume = run.resume, None
    return [] if resume is None or resume.prompt is None else [resume.prompt]


async def _execute(
    run: Run,
    invocations: Sequence[tuple[int, ToolInvocation]],
    conversation: list[Message],
    emit: Callable[[AgentEvent], Awaitable[None]] | None = None,
) -> dict[int, ToolResult]:
    """Run the calls through the tool hooks, concurrently; their results by call index.

    Tools with ``emits_events`` get ``emit`` (and whether the run streams) in their
    ``RunContext``.

    An exception raised by a hook (not by the tool) cancels the other calls and ends
    the run; so does a tool's exception under ``raise_tool_errors``.
    """
    results: dict[int, ToolResult] = {}
    raised: list[Exception] = []
    raise_tool_errors = run.config.raise_tool_errors
    hooks = run.hooks
    seen = _without_thinking(conversation)

    async def run_one(index: int, invocation: ToolInvocation, stop: Callable[[], None]) -> None:
        ctx = run.context(invocation.call, index=index, messages=seen)
        if invocation.tool.emits_events:
            ctx.emit, ctx.streaming = emit, run.stream

        async def run_tool(inv: ToolInvocation) -> ToolResult:
            ctx.resumed = inv.resumed
            try:
                value = await inv.tool.run(ctx, inv.args)
                if isinstance(value, ToolResult):  # a toolset's tool answers for itself
                    return value
            except ModelRetry as retry:
                return ToolResult(retry.message, is_error=True, error=retry)
            except UsageLimitExceeded:  # a budget (an agent tool's, or this run's) is spent
                raise
            except Exception as error:
                text = f"Error: {_describe(error)}"
                return ToolResult(text, is_error=True, error=error)
            try:
                content, media = tool_result_content(value)
            except Exception as error:  # bytes that are not UTF-8, a cycle, a bad __str__
                text = (
                    f"Error: the tool's result could not be sent to the model "
                    f"({_describe(error)}). Return text, or JSON-compatible data."
                )
                return ToolResult(text, is_error=True, error=error)
            return ToolResult.with_media(content, media, value=value)

        handler = hooks.tool_chain(run, run_tool) if hooks.tools else run_tool
        try:
            result = await handler(invocation)
        except ModelRetry as retry:
            result = ToolResult(retry.message, is_error=True, error=retry)
        except Exception as error:
            raised.append(error)
            stop()
            return
        results[index] = result
        if raise_tool_errors and result.error is not None:
            if not isinstance(result.error, ModelRetry):
                stop()

    if len(invocations) == 1:
        await run_one(*invocations[0], stop=lambda: None)
    else:
        async with anyio.create_task_group() as tg:
            for index, invocation in invocations:
                tg.start_soon(run_one, index, invocation, tg.cancel_scope.cancel)
    if raised:
        raise raised[0]
    return results


async def _answer(
    run: Run,
    steps: Sequence[_Step],
    results: dict[int, ToolResult],
    conversation: list[Message],
) -> Outcome:
    """One answer per call in call order; the failures to send back; the final output."""
    outcome = Outcome()
    failed: tuple[ToolCall, Exception] | None = None
    for index, step in enumerate(steps):
        if isinstance(step, _Answered):
            outcome.answers.append(step.answer)
            if step.failure is not None:
                outcome.failures.append(step.failure)
            if step.reused:
                outcome.reused.add(index)
        elif isinstance(step, _FinalResult):
            outcome.answers.append(await _final_result(run, step.call, outcome))
        elif isinstance(step, Waiting):
            outcome.wait(index, step)
        else:
            call = step.call
            result = results.get(index)
            if result is None:
                text = "Not run: another tool call of this turn failed."
                outcome.answers.append(_error_answer(call, text))
                continue
            if result.paused is not None:  # an agent used as a tool paused for approvals
                outcome.wait(index, waiting_on(result.paused))
                continue
            content, attachments = _fitting(result, run.model.profile)
            outcome.answers.append(
                ToolMessage(
                    tool_call_id=call.id,
                    name=call.name,
                    content=_sendable(content),
                    images=result.images,
                    attachments=attachments,
                    is_error=result.is_error,
                )
            )
            error = result.error
            if isinstance(error, ModelRetry):
                outcome.failures.append(f"{call.name}: {error.message}")
                _bump_retry(run, call.name)
            elif error is not None and run.config.raise_tool_errors:
                failed = failed or (call, error)
            elif not result.is_error:
                run.tool_retries.pop(call.name, None)
    if failed is not None:
        call, cause = failed
        raise ToolExecutionError(
            f"Tool {call.name!r} raised {type(cause).__name__}: {cause}",
            tool_name=call.name,
            tool_call_id=call.id,
            messages=[*conversation, *outcome.answers],
        ) from cause
    return outcome


async def validate_text_output(run: Run, message: AssistantMessage) -> Any:
    """The output from a text answer; ``OutputValidationError`` says what to fix.

    An answer the provider's filter stopped raises ``ContentFilteredError``; an empty
    answer (no text, no tool calls) is a failure the model is asked to fix.
    """
    if message.finish_reason == "content_filter":
        raise ContentFilteredError(
            "The provider's content filter stopped the model's answer "
            "(finish_reason='content_filter'), so the run has no output. Rephrase the "
            "request or the instructions; the partial answer is the last message.",
            messages=[*run.messages],
        )
    if not message.content and run.config.output.is_text:
        raise OutputValidationError(
            f"{EMPTY_ANSWER} Answer with text" + (", or call a tool." if run.tools else ".")
        )
    text = message.content or ""
    output_schema = run.config.output
    if output_schema.is_text:
        output: Any = text
    elif run.plan.mode == "tool":
        raise OutputValidationError(
            f"You answered in plain text, but a structured answer is required: call the "
            f"{OUTPUT_TOOL_NAME} tool with the answer as its arguments."
        )
    else:
        output = output_schema.validate_text(text)
    return await _apply_validators(run, output)


async def _final_result(run: Run, call: ToolCall, outcome: Outcome) -> ToolMessage:
    """Answer a final-result tool call; on success record the output in ``outcome``."""
    if outcome.has_output:
        return ToolMessage(
            tool_call_id=call.id,
            name=call.name,
            content="Ignored: a final result was already given in this turn.",
        )
    try:
        value = run.config.output.validate_arguments(call.arguments)
        value = await _apply_validators(run, value)
    except OutputValidationError as exc:
        outcome.failures.append(str(exc))
        return _error_answer(call, str(exc))
    outcome.output = value
    outcome.has_output = True
    return ToolMessage(tool_call_id=call.id, name=call.name, content="Final result received.")


async def _apply_validators(run: Run, output: Any) -> Any:
    for fn, takes_ctx in run.config.validators:
        try:
            result = fn(run.context(), output) if takes_ctx else fn(output)
            if hasattr(result, "__await__"):
                result = await result
        except ModelRetry as exc:
            raise OutputValidationError(exc.message) from None
        output = result
    return output


def _check_repeats(run: Run, calls: Sequence[ToolCall]) -> bool:
    """Track identical tool-call turns; True when this turn is one too many.

    A turn that gives the final result is not tracked: it ends the run, or it failed
    validation, was told why, and counts against the retry budget, whose error names that
    reason (it was never told "the result will not change")."""
    if run.plan.mode == "tool" and any(c.name == OUTPUT_TOOL_NAME for c in calls):
        run.last_calls, run.repeats = (), 0
        return False
    signature = tuple((c.name, _normalized_args(c.arguments)) for c in calls)
    if signature == run.last_calls:
        run.repeats += 1
    else:
        run.last_calls = signature
        run.repeats = 1
    if run.repeats > LOOP_LIMIT:
        tool_names = sorted({c.name for c in calls})
        raise ToolLoopError(
            f"The model called {', '.join(tool_names)} with the same arguments {run.repeats} "
            "turns in a row, after being told the result will not change. Check the tool's "
            "result and the instructions.",
            tool_names=tool_names,
            messages=run.messages,
        )
    return run.repeats == LOOP_LIMIT


def _without_thinking(conversation: list[Message]) -> list[Message]:
    """The conversation as tools see it: the model's thinking is not theirs to read."""
    for m in conversation:
        if isinstance(m, AssistantMessage) and m.thinking:
            break
    else:  # no thinking in it (most conversations): the list itself
        return conversation
    return [
        m.model_copy(update={"thinking": ()})
        if isinstance(m, AssistantMessage) and m.thinking
        else m
        for m in conversation
    ]


def _bump_retry(run: Run, name: str) -> None:
    run.tool_retries[name] = run.tool_retries.get(name, 0) + 1


def _describe(error: BaseException) -> str:
    """``Type: message`` of an exception, even one whose ``__str__`` raises."""
    try:
        detail = str(error)
    except Exception:
        detail = "(its message could not be printed)"
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


def _fitting(result: ToolResult, profile: ModelProfile) -> tuple[str, tuple[Attachment, ...]]:
    """The result's text and attachments, leaving out (and saying so in the text) any
    document or audio clip larger than the model takes in a whole request: the model is
    told and can try another way, where sending it would fail every later request."""
    if not result.attachments:
        return result.content, result.attachments
    kept: list[Attachment] = []
    notes: list[str] = []
    for part in result.attachments:
        kind = "document" if isinstance(part, DocumentPart) else "audio clip"
        limit = profile.max_document_bytes if kind == "document" else profile.max_audio_bytes
        if limit is not None and part.size > limit:
            notes.append(
                f"[A {kind} of {part.size:,} bytes was left out: the model takes at most "
                f"{limit:,} bytes of them in a request.]"
            )
        else:
            kept.append(part)
    if not notes:
        return result.content, result.attachments
    return "\n".join([result.content, *notes]), tuple(kept)


def _sendable(text: str) -> str:
    """``text`` as valid UTF-8: lone surrogates (a file name from ``os.fsdecode`` of bad
    bytes) become ``?`` instead of failing the next request's encoding."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def _error_answer(call: ToolCall, text: str) -> ToolMessage:
    return ToolMessage(tool_call_id=call.id, name=call.name, content=text, is_error=True)


_SORTED_JSON = json.JSONEncoder(sort_keys=True)
"""``json.dumps(..., sort_keys=True)``, its encoder built once (not once per call)."""
_LENIENT_JSON = json.JSONDecoder(strict=False)
"""``json.loads(..., strict=False)`` (model-written JSON), its decoder built once."""


def _normalized_args(arguments: str) -> str:
    try:
        return _SORTED_JSON.encode(_LENIENT_JSON.decode(arguments))
    except ValueError:
        return arguments
