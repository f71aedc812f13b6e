"""Token usage, its cost, and (later) limits on it.

``Usage`` is summed over every request of a run, retries included. ``cost_usd``
is ``None`` when any request's price is unknown: agentkit never reports a
made-up zero.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ModelPrice", "Usage"]


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
        if self.cost_usd is None or other.cost_usd is None:
            self.cost_usd = None
        else:
            self.cost_usd += other.cost_usd

    def __add__(self, other: Usage) -> Usage:
        total = Usage(
            self.requests, self.input_tokens, self.output_tokens, self.cached_tokens, self.cost_usd
        )
        total.add(other)
        return total
