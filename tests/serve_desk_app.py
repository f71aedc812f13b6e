"""An agent for the multi-worker ``agentkit serve`` tests: its model is the
``LocalModelServer`` at ``AGENTKIT_TEST_MODEL_URL`` (the test process holds it, so every
worker's requests land in one log), and its ``refund`` tool needs approval."""

from __future__ import annotations

import os
from typing import Any

from agentkit import Agent, tool
from agentkit.models import OpenAIChatModel


@tool(needs_approval=True)
def refund(order_id: str) -> str:
    """Refund an order (needs approval).

    Args:
        order_id: The order to refund.
    """
    return f"refunded {order_id} (worker {os.getpid()})"


agent: Agent[Any, str] = Agent(
    OpenAIChatModel(
        "mistral-small-2506",
        base_url=os.environ.get("AGENTKIT_TEST_MODEL_URL", "http://127.0.0.1:9/v1"),
        api_key="test-key",
    ),
    tools=[refund],
    name="desk",
)
