"""Approvals: the calls a run paused for, and the decisions that resume it.

A tool made with ``@tool(needs_approval=True)`` (or a callable ``(ctx, args) -> bool``
deciding per call) does not run when the model calls it: the other calls of the turn
run, then the run pauses. ``result.approvals_needed`` lists one ``ApprovalRequest`` per
waiting call; ``result.messages`` holds the paused conversation (dump it, load it in
another process). Resume with ``agent.run(message_history=saved, approvals={...})``,
mapping each request (or a bare tool-call id) to ``True``, ``False`` or
``Denied("reason")``.

A decision keyed by the ``ApprovalRequest`` applies only to a call with the same id,
tool name and canonical arguments; one keyed by a bare id approves whatever call has
that id in the history it is given.

**Agents used as tools** (``Agent.as_tool``): when a child agent's call waits for
approval, the child pauses, and so does the parent. The parent's
``result.approvals_needed`` lists the child's requests, each with ``agent`` (the child's
name) and ``via`` (the parent's tool-call ids it runs under, outermost first); decide
them like any other, and resuming the parent resumes the child where it stopped. The
bare-string key of such a request is ``request.key`` (``"<parent call id>/<call id>"``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pydantic_core

__all__ = ["ApprovalRequest", "Approvals", "Decision", "Denied", "canonical_arguments"]


def canonical_arguments(args: Mapping[str, Any]) -> str:
    """Validated arguments as canonical JSON: sorted keys, no spaces."""
    data = json.loads(pydantic_core.to_json(dict(args), fallback=str))
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """A tool call waiting for a decision: its id, the tool, and the arguments that will
    run, validated, as canonical JSON. Hashable: use it as the key of ``approvals``."""

    tool_call_id: str
    tool_name: str
    arguments: str
    """The validated arguments as canonical JSON (sorted keys)."""
    via: tuple[str, ...] = ()
    """For a call of an agent used as a tool: the ids of the agent-tool calls it runs
    under, outermost first (empty for the run's own calls)."""
    agent: str | None = None
    """For a call of an agent used as a tool: that agent's name (``None`` for the run's
    own calls)."""

    @property
    def key(self) -> str:
        """The bare-string key of this request in ``approvals``: the tool-call id, after
        the ids in ``via`` (``"p1/c1"``)."""
        return "/".join((*self.via, self.tool_call_id))

    @property
    def args(self) -> dict[str, Any]:
        """The arguments as a dict."""
        value: dict[str, Any] = json.loads(self.arguments)
        return value


@dataclass(frozen=True, slots=True)
class Denied:
    """A denial with the reason the model is told (the tool does not run)."""

    reason: str = "The user denied this tool call."


Decision = bool | Denied
"""``True`` runs the call; ``False`` or ``Denied(reason)`` answers the model instead."""

Approvals = Mapping[Any, Decision]
"""Decisions keyed by tool-call id (``str``) or by ``ApprovalRequest`` (mixed keys are
fine; any other key is an ``ApprovalError`` when the run starts)."""
