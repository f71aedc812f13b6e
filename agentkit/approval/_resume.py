"""How a run pauses for approvals and resumes from a saved conversation.

A paused conversation ends with an assistant message whose tool calls are partly
answered (the calls that needed no approval, or were decided) and partly waiting. It is
never sent as it is. ``prepare_resume`` takes that tail off the history, checks it (one
answer per call, in call order, nothing else) and matches the decisions to the waiting
calls, failing closed on an id that is not waiting. The loop then handles the tail as a
turn of tool calls again: ``gate`` (in ``agentkit._run.tools``) reuses the answers
already given, runs the approved calls once, answers the denied ones with their reason,
and keeps the undecided ones waiting. The answers go back in call order, whatever order
the decisions came in.

A waiting call can be an agent used as a tool whose own run paused: its ``PausedRun``
rides on the paused assistant message. Decisions addressed through it (``via`` or a
``"p1/c1"`` key) are checked against the calls it waits on here, before anything runs,
and handed to it when the call runs again (``ResumedRun``); with none, it keeps waiting.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agentkit._errors import ApprovalError
from agentkit.approval._types import ApprovalRequest, Decision, Denied, canonical_arguments
from agentkit.messages import (
    AssistantMessage,
    Message,
    PausedCall,
    PausedRun,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from agentkit.tools import Tool, ToolArgumentsError

__all__ = [
    "Resume",
    "Waiting",
    "changed",
    "check_approvals",
    "paused_calls",
    "pending_approvals",
    "pending_tail",
    "prepare_resume",
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


def changed(why: str) -> ApprovalError:
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
            raise changed(
                f"the tool message for {answer.tool_call_id!r} answers no call of the paused "
                "turn, or is out of call order"
            )
        answered[index] = answer
        position = index + 1
    waiting = {calls[i].id: i for i in range(len(calls)) if i not in answered}
    if len(waiting) != len(calls) - len(answered):
        raise changed("two waiting tool calls share an id")
    resume = Resume(message=message, answered=answered, prompt=prompt)
    for run in message.paused_runs:
        if run.tool_call_id not in waiting:
            raise changed(f"the paused agent run of call {run.tool_call_id!r} has no waiting call")
        index = waiting[run.tool_call_id]
        if calls[index].name != run.tool_name:
            raise changed(
                f"call {run.tool_call_id!r} now calls {calls[index].name!r}, but the agent run "
                f"paused under it was started by {run.tool_name or 'an unnamed call'!r}"
            )
        resume.paused[index] = run
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
                raise changed(
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


def pending_approvals(
    messages: Sequence[Message], tools: Mapping[str, Tool[Any]] | None = None
) -> tuple[ApprovalRequest, ...]:
    """The calls a paused conversation waits on (``result.approvals_needed`` of the run
    that paused), read back from its messages: for a conversation stored or sent
    elsewhere. Empty when nothing waits.

    With ``tools`` (the agent's, ``agent.tools``), a call's arguments are validated as
    the run validates them, so a decision keyed by the request binds exactly what will
    run. Without them (or for a tool not among them) they are the model's arguments in
    canonical JSON, which a run's validation may still change (defaults filled in):
    then the decision fails closed with ``ApprovalError``."""
    tail = pending_tail(list(messages))
    if tail is None:
        return ()
    _, message, answers = tail
    answered = {a.tool_call_id for a in answers}
    paused = {run.tool_call_id: run for run in message.paused_runs}
    requests: list[ApprovalRequest] = []
    for call in message.tool_calls:
        if call.id in answered:
            continue
        run = paused.get(call.id)
        if run is not None:
            requests.extend(waiting_on(run).requests)
            continue
        requests.append(ApprovalRequest(call.id, call.name, _arguments(call, tools)))
    return tuple(requests)


def _arguments(call: ToolCall, tools: Mapping[str, Tool[Any]] | None) -> str:
    """A waiting call's arguments as canonical JSON: validated by its tool when known."""
    tool = None if tools is None else tools.get(call.name)
    if tool is not None:
        try:
            return canonical_arguments(tool.validate_args(call.arguments))
        except ToolArgumentsError:
            pass
    try:
        data = json.loads(call.arguments or "{}", strict=False)  # model-written
    except ValueError:
        return call.arguments
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def check_approvals(messages: Sequence[Message], approvals: Mapping[Any, Any]) -> None:
    """Raise ``ApprovalError`` unless ``approvals`` fit the calls ``messages`` waits on
    (each key waiting, each decision ``True``, ``False`` or ``Denied``), as resuming with
    them would; nothing runs. For checking decisions before sending them elsewhere."""
    prepare_resume(list(messages), approvals, None)
