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

from agentkit.approval._resume import check_approvals, pending_approvals
from agentkit.approval._types import (
    ApprovalRequest,
    Approvals,
    Decision,
    Denied,
    canonical_arguments,
)

__all__ = [
    "ApprovalRequest",
    "Approvals",
    "Decision",
    "Denied",
    "canonical_arguments",
    "check_approvals",
    "pending_approvals",
]
