"""Token usage, its cost, and limits on it.

``Usage`` is summed over every request of a run, retries included. ``cost_usd``
is ``None`` when any request's price is unknown: agentkit never reports a
made-up zero. ``format_usage`` writes a usage as one line for people: the ``agentkit``
command and the ``agentkit serve`` page both show it. ``UsageLimits`` are budgets a run
never overshoots (see ``agentkit.limits`` for how each request's worst case is checked
before it is sent).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ModelPrice", "Usage", "UsageLimits", "format_usage"]


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """Prices in US dollars per one million tokens."""

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    """Price of cached prompt tokens; ``None`` means they cost as much as other input."""

    def cost(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> float:
        """The cost in USD of one request with these token counts."""
        cached_price = (
            self.input_per_mtok
            if self.cached_input_per_mtok is None
            else self.cached_input_per_mtok
        )
        uncached = max(input_tokens - cached_tokens, 0)
        return (
            uncached * self.input_per_mtok
            + cached_tokens * cached_price
            + output_tokens * self.output_per_mtok
        ) / 1_000_000


@dataclass(slots=True)
class Usage:
    """Requests, tokens and cost, for one response or summed over a run."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    """Prompt tokens served from the provider's cache (part of ``input_tokens``)."""
    cost_usd: float | None = 0.0
    """Cost in USD; ``None`` when the price of any counted request is unknown."""
    tool_calls: int = 0
    """Tool calls run (counted by the loop, not by models)."""
    unreported: int = 0
    """Requests whose server reported no token counts (their tokens are unknown, not 0)."""
    reasoning_tokens: int = 0
    """Output tokens the model spent thinking (part of ``output_tokens``), when the server
    reports them (``completion_tokens_details.reasoning_tokens``); else 0."""

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def add(self, other: Usage) -> None:
        """Add another usage into this one, in place."""
        self.requests += other.requests
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cached_tokens += other.cached_tokens
        self.tool_calls += other.tool_calls
        self.unreported += other.unreported
        self.reasoning_tokens += other.reasoning_tokens
        if self.cost_usd is None or other.cost_usd is None:
            self.cost_usd = None
        else:
            self.cost_usd += other.cost_usd

    def __add__(self, other: Usage) -> Usage:
        total = Usage(
            self.requests,
            self.input_tokens,
            self.output_tokens,
            self.cached_tokens,
            self.cost_usd,
            self.tool_calls,
            self.unreported,
            self.reasoning_tokens,
        )
        total.add(other)
        return total


@dataclass(frozen=True, slots=True)
class UsageLimits:
    """Budgets for one run; every field is optional (``None``: no limit).

    Each model request is checked before it is sent, against its worst case (the input
    tokens, estimated from above, plus ``max_tokens`` of output, at the model's prices):
    a request that could push the run past a budget is not sent, so a budget is never
    overshot. ``tool_calls`` is checked before a turn's tools run.

    ``on_limit`` says what happens when the next request could overshoot: ``"raise"``
    (the default) raises ``UsageLimitExceeded``; ``"answer"`` sends one last request
    without tools, asking for the final answer within what is left (its ``max_tokens``
    lowered to fit), and raises only if even that cannot fit.
    """

    requests: int | None = None
    tool_calls: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cost_usd: float | None = None
    on_limit: Literal["raise", "answer"] = "raise"

    def __post_init__(self) -> None:
        for name in ("requests", "tool_calls", "input_tokens", "output_tokens", "total_tokens"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"UsageLimits.{name} must be 0 or more, got {value}")
        if self.cost_usd is not None and self.cost_usd < 0:
            raise ValueError(f"UsageLimits.cost_usd must be 0 or more, got {self.cost_usd}")
        if self.on_limit not in ("raise", "answer"):
            raise ValueError(
                f"UsageLimits.on_limit must be 'raise' or 'answer', got {self.on_limit!r}"
            )


def format_usage(
    usage: Usage,
    *,
    seconds: float | None = None,
    local: bool = False,
    on_this_machine: bool = False,
) -> str:
    """One line for people: requests, tokens, cost (``$0`` when ``local``, the embedded model;
    with ``on_this_machine``, a server on a loopback address that has no price, ``$0`` if it
    runs the model itself, as it may forward to a paid API; ``unknown`` without a price), and
    ``seconds`` when given. The ``agentkit`` command prints it after each turn and
    ``agentkit serve``'s page shows it as it is."""
    requests = f"{usage.requests} request{'s' if usage.requests != 1 else ''}"
    tokens = f"{usage.input_tokens:,} in + {usage.output_tokens:,} out tokens"
    if usage.cached_tokens:
        tokens += f" ({usage.cached_tokens:,} cached)"
    if usage.reasoning_tokens:
        tokens += f" ({usage.reasoning_tokens:,} of them reasoning)"
    if usage.unreported and usage.unreported >= usage.requests:
        tokens = "tokens unknown (the server reported none)"
    elif usage.unreported:
        plural = "s" if usage.unreported != 1 else ""
        tokens += f" (+ unknown for {usage.unreported} request{plural} the server did not count)"
    if local:
        cost = "$0 (local model)"
    elif usage.cost_usd is None and on_this_machine:
        cost = "$0 if the server on this machine runs the model itself"
    elif usage.cost_usd is None:
        cost = "cost unknown (no price for this model)"
    else:
        cost = f"${usage.cost_usd:.6f}"
    parts = [requests, tokens, cost]
    if seconds is not None:
        parts.append(f"{seconds:.1f} s")
    return " · ".join(parts)
