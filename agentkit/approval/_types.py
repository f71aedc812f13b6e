"""The vocabulary of approvals: requests, decisions, canonical arguments."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pydantic
import pydantic_core

__all__ = ["ApprovalRequest", "Approvals", "Decision", "Denied", "canonical_arguments"]


def canonical_arguments(args: Mapping[str, Any]) -> str:
    """Validated arguments as canonical JSON: sorted keys, no spaces, and the members of a
    set (or frozenset) sorted by their own canonical JSON, so the same arguments give the
    same text in every process (a set's own order depends on the hash seed)."""
    data = json.loads(pydantic_core.to_json(_ordered(dict(args)), fallback=str))
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _ordered(value: Any) -> Any:
    """``value`` with every set turned into a list in a canonical order."""
    if isinstance(value, set | frozenset):
        items = [_ordered(v) for v in value]
        return sorted(items, key=lambda v: pydantic_core.to_json(v, fallback=str))
    if isinstance(value, dict):
        return {k: _ordered(v) for k, v in value.items()}
    if isinstance(value, pydantic.BaseModel):  # a model's fields may hold sets too
        return _ordered(value.model_dump())
    if isinstance(value, list | tuple):
        return [_ordered(v) for v in value]
    return value


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
        value: dict[str, Any] = json.loads(self.arguments, strict=False)  # model-written
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
