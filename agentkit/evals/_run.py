"""Running a dataset: every case on the agent, at most N at once, each failure kept to its case.

Tools are replayed by default (``ReplayedTools``, a hook around each tool call): a call
is answered with the case's recorded result for the same tool and arguments, and the
tool function is never called; a call the recording does not have is answered with a
"not recorded" error the model sees, and counted on the case.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import anyio

from agentkit.evals._case import Case, RecordedTool, ToolMode, arguments_data
from agentkit.evals._evaluators import (
    EvaluationReason,
    EvaluatorContext,
    EvaluatorResult,
    _Evaluator,
    as_jsonable,
)
from agentkit.evals._report import CaseResult, Report, UsageSummary
from agentkit.hooks import Hooks, RunInfo, ToolHandler, ToolInvocation, ToolResult
from agentkit.messages import AssistantMessage, Message, ToolCall, UserMessage
from agentkit.usage import Usage

if TYPE_CHECKING:
    from agentkit.agent import Agent
    from agentkit.evals._dataset import Dataset
    from agentkit.usage import UsageLimits

__all__ = ["NOT_RECORDED", "ReplayedTools", "evaluate_dataset"]

NOT_RECORDED = "not recorded"
"""What a replayed tool call the recording does not have answers (the start of its text)."""

_ERROR_CHARS = 2000


def _recorded_answer(
    recorded: Sequence[RecordedTool], not_recorded: list[str], call: ToolCall
) -> ToolResult:
    """The recorded answer for this tool and these arguments, or a "not recorded" error
    (the call then added to ``not_recorded``)."""
    name, args = call.name, arguments_data(call.arguments)
    for item in recorded:
        if item.tool == name and item.args == args:
            return ToolResult(content=item.content, is_error=item.is_error)
    shown = f"{name}({call.arguments})"
    not_recorded.append(shown)
    known = sorted({f"{r.tool}({json.dumps(r.args)})" for r in recorded if r.tool == name})
    hint = f" Recorded calls of {name}: {', '.join(known)}." if known else ""
    return ToolResult(
        content=f"Error: {NOT_RECORDED}: the recording has no result for {shown}.{hint}",
        is_error=True,
    )


class ReplayedTools(Hooks):
    """Answers every tool call from recorded results; never calls a tool function.

    ``not_recorded`` lists the calls that had no recorded answer (``name(args)``).
    """

    def __init__(self, recorded: Sequence[RecordedTool]) -> None:
        self.recorded = list(recorded)
        self.not_recorded: list[str] = []

    async def wrap_tool_call(
        self, run: RunInfo, invocation: ToolInvocation, handler: ToolHandler
    ) -> ToolResult:
        """The recorded answer for this tool and these arguments, or a "not recorded" error."""
        return _recorded_answer(self.recorded, self.not_recorded, invocation.call)


_replaying: ContextVar[tuple[Sequence[RecordedTool], list[str]]] = ContextVar(
    "agentkit.evals.replaying"
)
"""The running case's recorded tool results, and its calls that were not recorded (set by
``_run_case`` around the case's run: the task's own, and its tool calls' tasks')."""


class _CaseReplay(Hooks):
    """The one hook every replayed run gets: it answers each tool call from the running
    case's recording (``_replaying``). Every run passing this same object lets the run core
    reuse the run's hook set instead of building one per case."""

    async def wrap_tool_call(
        self, run: RunInfo, invocation: ToolInvocation, handler: ToolHandler
    ) -> ToolResult:
        """The running case's recorded answer (never the tool itself)."""
        recorded, not_recorded = _replaying.get()
        return _recorded_answer(recorded, not_recorded, invocation.call)


_CASE_REPLAY = _CaseReplay()


def _label_all(evaluators: Sequence[_Evaluator]) -> list[tuple[str, _Evaluator]]:
    if len(evaluators) == 1:
        return [(evaluators[0].label(), evaluators[0])]
    seen: dict[str, int] = {}
    out = []
    for evaluator in evaluators:
        label = evaluator.label()
        seen[label] = seen.get(label, 0) + 1
        out.append((label if seen[label] == 1 else f"{label}#{seen[label]}", evaluator))
    return out


async def _evaluate_one(
    label: str, evaluator: _Evaluator, ctx: EvaluatorContext
) -> EvaluatorResult:
    """The evaluator's verdict: a check (a bool), or a score (a number) that passes at the
    evaluator's ``pass_at()``; its own failure (NaN included) an error of this case only."""
    try:
        value = await evaluator.evaluate(ctx)
        if isinstance(value, EvaluationReason):
            raw, reason = value.value, value.reason
        else:
            raw, reason = value, None
        if isinstance(raw, bool):
            return EvaluatorResult(label, raw, None, reason)
        score = float(raw)
        if math.isnan(score):
            raise ValueError("the evaluator returned NaN")
        pass_at = evaluator.pass_at()
        return EvaluatorResult(label, None if pass_at is None else score >= pass_at, score, reason)
    except Exception as exc:  # the evaluator's own failure fails this case only
        return EvaluatorResult(evaluator=label, error=_error_text(exc))


def _unknown_usage(messages: list[Message], start: int) -> Usage:
    """What a failed run is known to have used: its answers so far, tokens and cost unknown
    (never a made-up zero)."""
    answers = sum(isinstance(m, AssistantMessage) for m in messages[start:])
    return Usage(requests=answers, cost_usd=None, unreported=answers)


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 3] + "..."


class _CaseTimedOut(Exception):
    """The case ran over ``case_timeout`` (the deadline's scope caught the cancel)."""


async def _run_case(
    case: Case,
    agent: Agent[Any, Any],
    dataset: Dataset,
    options: dict[str, Any],
) -> CaseResult:
    not_recorded: list[str] = []
    hooks: tuple[Hooks, ...] = ()
    if options["tools"] == "recorded":
        hooks = (_CASE_REPLAY,)  # the same object every run: its hook set is reused
    output: Any = None
    messages: list[Message]
    new_index = len(case.history)
    usage: Usage
    error: str | None = None
    prompt: str | UserMessage | None = case.prompt
    history = case.history
    if prompt is None and history and isinstance(history[-1], UserMessage):
        prompt, history = history[-1], history[:-1]  # a prompt with images, say
    timeout = options["timeout"]
    started = time.perf_counter()
    replaying = _replaying.set((case.tool_results, not_recorded)) if hooks else None
    try:
        running = agent.run(
            prompt,
            message_history=history or None,
            model=options["model"],
            deps=options["deps"],
            hooks=hooks,
            usage_limits=options["usage_limits"],
        )
        if timeout is None:
            result = await running
        else:
            with anyio.move_on_after(timeout) as deadline:
                result = await running
            if deadline.cancelled_caught:
                raise _CaseTimedOut
        output, messages, new_index, usage = (
            result.output,
            result.messages,
            result.new_message_index,
            result.usage,
        )
    except _CaseTimedOut:  # not a TimeoutError the run raised itself: that is its error
        error = f"TimeoutError: the case ran over its timeout of {timeout} s"
        messages = list(case.history)
        usage = _unknown_usage(messages, new_index)
    except Exception as exc:  # one case's failure never stops the others
        error = _error_text(exc)
        conversation = getattr(exc, "messages", None)
        messages = conversation if isinstance(conversation, list) else list(case.history)
        run_usage = getattr(exc, "usage", None)
        usage = run_usage if isinstance(run_usage, Usage) else _unknown_usage(messages, new_index)
    finally:
        if replaying is not None:
            _replaying.reset(replaying)
    latency = time.perf_counter() - started
    results: list[EvaluatorResult] = []
    passed = error is None
    judge_usage = None
    evaluators = case.evaluators
    if options["shared"]:  # the dataset's and the run's, for every case
        evaluators = [*evaluators, *options["shared"]]
    if error is None and evaluators:
        ctx = EvaluatorContext(
            case,
            output,
            messages,
            new_index,
            usage,
            latency,
            None,
            list(not_recorded),
            options["judge_model"],
        )
        for label, evaluator in _label_all(evaluators):
            verdict = await _evaluate_one(label, evaluator, ctx)
            results.append(verdict)
            passed = passed and verdict.ok
        if ctx.judge_usage.requests:
            judge_usage = UsageSummary.of(ctx.judge_usage)
    return CaseResult(
        case.name,
        passed,
        as_jsonable(output),
        case.expected_output,
        error,
        results,
        UsageSummary.of(usage),
        judge_usage,
        latency,
        not_recorded,
        messages,
    )


@contextmanager
def _progress(total: int, show: bool | None, title: str) -> Iterator[Callable[[], None] | None]:
    """A rich progress bar on a terminal (``advance()`` per case), or ``None``."""
    if show is None:
        show = sys.stderr.isatty()
    if show:
        try:
            from rich.progress import Progress
        except ImportError:
            show = False
    if not show:
        yield None
        return
    with Progress(transient=True) as bar:
        task = bar.add_task(title, total=total)
        yield lambda: bar.advance(task)


async def evaluate_dataset(
    dataset: Dataset,
    agent: Agent[Any, Any],
    *,
    model: Any,
    concurrency: int,
    tools: ToolMode,
    usage_limits: UsageLimits | None,
    judge_model: Any,
    evaluators: list[_Evaluator],
    deps: Any,
    case_timeout: float | None,
    progress: bool | None,
    name: str | None,
) -> Report:
    """Run and evaluate every case of ``dataset`` (see ``Dataset.evaluate``)."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be 1 or more, got {concurrency}")
    if tools not in ("recorded", "live"):
        raise ValueError(f"tools must be 'recorded' or 'live', got {tools!r}")
    options = {
        "model": model,
        "tools": tools,
        "usage_limits": usage_limits,
        "judge_model": judge_model,
        "shared": [*dataset.evaluators, *evaluators],
        "deps": deps,
        "timeout": case_timeout,
    }
    results: list[CaseResult | None] = [None] * len(dataset.cases)
    queue = iter(enumerate(dataset.cases))
    started = time.time()
    with _progress(len(dataset.cases), progress, f"evaluating {dataset.name}") as advance:

        async def worker() -> None:
            for index, case in queue:  # shared: each case is taken by one worker
                results[index] = await _run_case(case, agent, dataset, options)
                if advance is not None:
                    advance()

        workers = min(concurrency, len(dataset.cases))
        if workers == 1:
            await worker()  # in this task: no task group to pay for
        else:
            async with anyio.create_task_group() as group:
                for _ in range(workers):
                    group.start_soon(worker)
    model_name = model if isinstance(model, str) else getattr(model, "name", None)
    if model_name is None:
        spec = agent.model_spec
        model_name = spec if isinstance(spec, str) else getattr(spec, "name", None)
    return Report(
        name=name or dataset.name,
        agent=getattr(agent, "name", None),
        model=model_name,
        tools=tools,
        started_at=started,
        cases=[r for r in results if r is not None],
    )
