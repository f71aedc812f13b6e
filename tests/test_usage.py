"""Usage: sums over requests, cost from prices, unknown price stays unknown."""

from __future__ import annotations

import pytest

from agentkit.usage import ModelPrice, Usage

MISTRAL_SMALL = ModelPrice(input_per_mtok=0.10, output_per_mtok=0.30)


def test_cost_uses_prices_per_million_tokens() -> None:
    """1M input and 1M output tokens of Mistral Small 3.2 cost $0.10 + $0.30."""
    assert MISTRAL_SMALL.cost(1_000_000, 1_000_000) == pytest.approx(0.40)


def test_cached_tokens_use_the_cached_price() -> None:
    """Cached prompt tokens are billed at the cached price when one is set."""
    price = ModelPrice(input_per_mtok=1.0, output_per_mtok=2.0, cached_input_per_mtok=0.5)
    assert price.cost(1_000_000, 0, cached_tokens=500_000) == pytest.approx(0.75)


def test_usage_adds_up_and_unknown_cost_stays_none() -> None:
    """Adding a usage with an unknown cost makes the total cost unknown, never zero."""
    total = Usage()
    total.add(Usage(requests=1, input_tokens=10, output_tokens=2, cost_usd=0.5))
    total.add(Usage(requests=1, input_tokens=5, output_tokens=1, cached_tokens=3, cost_usd=0.25))
    assert (total.requests, total.input_tokens, total.output_tokens) == (2, 15, 3)
    assert total.cached_tokens == 3
    assert total.cost_usd == pytest.approx(0.75)
    assert total.total_tokens == 18
    total.add(Usage(requests=1, cost_usd=None))
    assert total.cost_usd is None
    assert (total + Usage(requests=1, cost_usd=1.0)).cost_usd is None
