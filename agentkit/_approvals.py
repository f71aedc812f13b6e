"""How a run pauses for approvals and resumes from a saved conversation.

A paused conversation ends with an assistant message whose tool calls are partly
answered (the calls that needed no approval, or were decided) and partly waiting. It is
never sent as it is. ``prepare_resume`` takes that tail off the history, checks it (one
answer per call, in call order, nothing else) and matches the decisions to the waiting
calls, failing closed on an id that is not waiting. The loop then handles the tail as a
turn of tool calls again: ``gate`` (called by ``_answers.classify``) reuses the answers
already given, runs the approved calls once, answers the denied ones with their reason,
and keeps the undecided ones waiting. The answers go back in call order, whatever order
the decisions came in.

A waiting call can be an agent used as a tool whose own run paused: its ``PausedRun``
rides on the paused assistant message. Decisions addressed through it (``via`` or a
``"p1/c1"`` key) are checked against the calls it waits on here, before anything runs,
and handed to it when the call runs again (``ResumedRun``); with none, it keeps waiting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from agentkit._errors import ApprovalError
from agentkit.approval import ApprovalRequest, Decision, Denied, canonical_arguments
from agentkit.hooks import ToolInvocation
from agentkit.messages import (
    AssistantMessage,
    Message,
    PausedCall,
    PausedRun,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from agentkit.tools import ResumedRun, RunContext

if TYPE_CHECKING:
    from agentkit._plan import RunPlan, RunState

__all__ = [
    "Resume",
    "Waiting",
    "end_resume",
    "gate",
    "paused_calls",
    "pending_tail",
    "prepare_resume",
    "reused",
    "waiting_on",
]


@dataclass(slots=True)
class Resume:
    """The paused turn being resumed: its assistant message, the answers it already
    has and the decisions for its waiting calls (both by call index)."""

    message: AssistantMessage
    answered: dict[int, ToolMessage] = field(default_factory=dict)
    decisions: dict[int, Decision] = field(default_factory=dict)
    bound: dict[int, ApprovalRequest] = field(default_factory=dict)
    """Decisions keyed by an ``ApprovalRequest``: the call must still match it."""
    prompt: UserMessage | None = None
    """Added after the turn's answers, once no call waits any more."""
    paused: dict[int, PausedRun] = field(default_factory=dict)
    """Waiting calls that are paused agent-as-tool runs."""
    children: dict[int, dict[Any, Decision]] = field(default_factory=dict)
    """Decisions for the calls a paused run waits on, keyed relative to that run."""


@dataclass(frozen=True, slots=True)
class Waiting:
    """A call that stays unanswered: the requests it waits on (one for a call needing
    approval; the child's for an agent used as a tool that paused, with its run)."""

    requests: tuple[ApprovalRequest, ...]
    paused: PausedRun | None = None


def waiting_on(run: PausedRun) -> Waiting:
    """A paused agent-as-tool run as the parent's waiting call: its requests, addressed
    through the parent's call."""
    requests = tuple(
        ApprovalRequest(
            c.tool_call_id,
            c.tool_name,
            c.arguments,
            via=(run.tool_call_id, *c.via),
            agent=c.agent or run.agent,
        )
        for c in run.waiting
    )
    return Waiting(requests, run)


def paused_calls(requests: Sequence[ApprovalRequest]) -> tuple[PausedCall, ...]:
    """A paused run's requests as its ``PausedRun`` keeps them."""
    return tuple(
        PausedCall(
            tool_call_id=r.tool_call_id,
            tool_name=r.tool_name,
            arguments=r.arguments,
            via=r.via,
            agent=r.agent,
        )
        for r in requests
    )


def pending_tail(history: list[Message]) -> tuple[int, AssistantMessage, list[ToolMessage]] | None:
    """Where a paused turn starts in ``history``, its message and answers; ``None`` when
    the history does not end with tool calls waiting for answers."""
    end = len(history)
    start = end
    while start > 0 and isinstance(history[start - 1], ToolMessage):
        start -= 1
    if start == 0:
        return None
    message = history[start - 1]
    if not isinstance(message, AssistantMessage) or not message.tool_calls:
        return None
    answers = [m for m in history[start:] if isinstance(m, ToolMessage)]
    if len(answers) >= len(message.tool_calls):
        return None
    return start - 1, message, answers


def _changed(why: str) -> ApprovalError:
    return ApprovalError(
        f"The saved conversation was changed since the run paused: {why}. Nothing was run "
        "or sent. Resume from the messages of the paused result as they were."
    )


def prepare_resume(
    history: list[Message], approvals: Mapping[Any, Any] | None, prompt: UserMessage | None
) -> tuple[list[Message], Resume | None]:
    """The history without its paused turn, and that turn with its decisions; or the
    history unchanged and ``None`` when nothing waits (decisions are then an error)."""
    approvals = dict(approvals or {})
    tail = pending_tail(history)
    if tail is None:
        if approvals:
            keys = ", ".join(sorted(_key_id(k) for k in approvals))
            raise ApprovalError(
                f"approvals were given for {keys}, but no tool call is waiting for approval "
                "in message_history. Pass the messages of the paused run (result.messages)."
            )
        return history, None
    start, message, answers = tail
    calls = message.tool_calls
    answered: dict[int, ToolMessage] = {}
    position = 0
    for answer in answers:
        index = next(
            (i for i in range(position, len(calls)) if calls[i].id == answer.tool_call_id), None
        )
        if index is None or calls[index].name != answer.name:
            raise _changed(
                f"the tool message for {answer.tool_call_id!r} answers no call of the paused "
                "turn, or is out of call order"
            )
        answered[index] = answer
        position = index + 1
    waiting = {calls[i].id: i for i in range(len(calls)) if i not in answered}
    if len(waiting) != len(calls) - len(answered):
        raise _changed("two waiting tool calls share an id")
    resume = Resume(message=message, answered=answered, prompt=prompt)
    for run in message.paused_runs:
        if run.tool_call_id not in waiting:
            raise _changed(f"the paused agent run of call {run.tool_call_id!r} has no waiting call")
        resume.paused[waiting[run.tool_call_id]] = run
    undecided = _waiting_keys(waiting, resume.paused)
    decided: set[str] = set()
    for key, decision in approvals.items():
        if not isinstance(decision, bool | Denied):
            raise ApprovalError(
                f"the decision for {_key_id(key)} is {decision!r}; decide with True, False "
                'or Denied("reason").'
            )
        full = _key_id(key)
        if full not in undecided:
            raise _not_waiting(full, undecided, waiting, resume.paused)
        if full in decided:
            raise ApprovalError(f"approvals decides {full!r} twice (by id and request).")
        decided.add(full)
        if full not in waiting:  # a call a paused agent run waits on: it decides it
            head, _, rest = full.partition("/")
            index = waiting[head]
            child_key: Any = rest
            if isinstance(key, ApprovalRequest):
                child_key = replace(key, via=key.via[1:], agent=key.agent if key.via[1:] else None)
            resume.children.setdefault(index, {})[child_key] = decision
            continue
        index = waiting[full]
        if isinstance(key, ApprovalRequest):
            if key.tool_name != calls[index].name:
                raise _changed(
                    f"call {key.tool_call_id!r} now calls {calls[index].name!r}, but the "
                    f"approval was for {key.tool_name!r}"
                )
            resume.bound[index] = key
        resume.decisions[index] = decision
    if prompt is not None and len(decided) < len(undecided):
        raise ApprovalError(
            f"{len(undecided) - len(decided)} tool calls still wait for approval, so "
            "the run cannot take a new prompt yet. Decide every call in "
            "result.approvals_needed, or resume without a prompt."
        )
    return history[:start], resume


def _waiting_keys(waiting: dict[str, int], paused: dict[int, PausedRun]) -> set[str]:
    """The key of every call that waits for a decision, a paused run's calls included."""
    keys = {call_id for call_id, i in waiting.items() if i not in paused}
    for run in paused.values():
        keys.update(r.key for r in waiting_on(run).requests)
    return keys


def _not_waiting(
    key: str, keys: set[str], waiting: dict[str, int], paused: dict[int, PausedRun]
) -> ApprovalError:
    known = ", ".join(repr(k) for k in sorted(keys)) or "(none)"
    if waiting.get(key) in paused:
        return ApprovalError(
            f"approvals has a decision for {key!r}, the call of an agent used as a tool, "
            f"which waits on that agent's own calls (waiting: {known}). Nothing was run or "
            "sent: decide the calls in result.approvals_needed."
        )
    return ApprovalError(
        f"approvals has a decision for {key!r}, which is not waiting for approval "
        f"(waiting: {known}). Nothing was run or sent: decide only the calls in "
        "result.approvals_needed."
    )


def _key_id(key: Any) -> str:
    if isinstance(key, ApprovalRequest):
        return key.key
    if isinstance(key, str):
        return key
    raise ApprovalError(
        f"approvals keys are tool-call ids or ApprovalRequest objects, got {key!r}."
    )


def gate(
    plan: RunPlan, state: RunState, index: int, invocation: ToolInvocation
) -> ToolInvocation | Waiting | ToolMessage:
    """A call with valid arguments: run it, keep it waiting, or answer it (denied)."""
    call, tool = invocation.call, invocation.tool
    resume = state.resume
    calls = () if resume is None else resume.message.tool_calls
    if resume is not None and index < len(calls) and calls[index] is call:
        run = resume.paused.get(index)
        if run is not None:  # a paused agent run: resumed with its decisions, if any
            child = resume.children.get(index)
            if not child:
                return waiting_on(run)
            return replace(invocation, resumed=ResumedRun(run, child))
        decision = resume.decisions.get(index)
        request = ApprovalRequest(call.id, call.name, canonical_arguments(invocation.args))
        bound = resume.bound.get(index)
        if bound is not None and bound != request:
            raise _changed(
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
    if needs is not True:
        ctx = RunContext(
            deps=state.deps,
            usage=state.usage,
            messages=state.messages,
            tool_call_id=call.id,
            tool_name=call.name,
            turn=state.turn,
            model=plan.model,
        )
        if not needs(ctx, invocation.args):
            return invocation
    return Waiting((ApprovalRequest(call.id, call.name, canonical_arguments(invocation.args)),))


def reused(state: RunState, calls: Sequence[ToolCall], index: int) -> ToolMessage | None:
    """The answer a resumed turn already had for call ``index`` of ``calls``, if any."""
    resume = state.resume
    if resume is None or resume.message.tool_calls is not calls:
        return None
    return resume.answered.get(index)


def end_resume(state: RunState) -> list[Message]:
    """After the resumed turn's calls are classified: stop resuming; the prompt to add
    after its answers, if any."""
    resume, state.resume = state.resume, None
    return [] if resume is None or resume.prompt is None else [resume.prompt]
