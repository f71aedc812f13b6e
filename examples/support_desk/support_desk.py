"""A support desk: looks orders up, and refunds them once a person approves.

Served as a web chat and an OpenAI-compatible API, its conversations kept in SQLite::

    agentkit serve examples/support_desk/support_desk.py:agent

- ``lookup_order`` answers from the shop's orders (a dict here; your database in real life);
- ``refund`` never runs on the model's word alone: every call pauses the run until a person
  approves it (the page's Approve / Deny buttons, or ``POST /v1/approvals``), and it checks
  the order and the amount itself, whatever the model said;
- each conversation is a session in ``support_desk.sessions.db`` beside this file, so a
  paused refund survives a restart and is resumed on any worker.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from agentkit import Agent, ModelRetry, tool


@dataclass
class Order:
    """One order of the shop."""

    id: str
    customer: str
    item: str
    paid_eur: float
    status: str  # "delivered", "shipped" or "cancelled"
    refunded_eur: float = 0.0


@dataclass
class Shop:
    """The shop's orders and the refunds made (stand-ins for your database)."""

    orders: dict[str, Order] = field(default_factory=dict)
    refunds: list[tuple[str, float, str]] = field(default_factory=list)
    """(order id, amount in EUR, reason), in the order they were made."""


def sample_shop() -> Shop:
    """A shop with three orders."""
    orders = [
        Order("A1001", "Ada Lovelace", "espresso machine", 249.0, "delivered"),
        Order("A1002", "Alan Turing", "coffee grinder", 89.0, "shipped"),
        Order("A1003", "Grace Hopper", "milk frother", 39.0, "delivered"),
    ]
    return Shop(orders={o.id: o for o in orders})


INSTRUCTIONS = (
    "You are the support desk of Brew & Co, a coffee equipment shop. Look an order up with "
    "lookup_order before you say anything about it; never guess. Refund only delivered "
    "orders, at most what is left of what the customer paid; a person approves each refund. "
    "Answer in two sentences at most."
)


def build_agent(model: Any = None, shop: Shop | None = None) -> Agent[None, str]:
    """The support-desk agent on ``model`` (``None``: chosen at run time), over ``shop``."""
    shop = shop or sample_shop()

    @tool
    def lookup_order(order_id: str) -> dict[str, Any] | str:
        """Look up an order: what was bought, what was paid and refunded, its status.

        Args:
            order_id: The order id, such as A1001.
        """
        order = shop.orders.get(order_id.strip().upper())
        if order is None:
            return f"No order {order_id!r}. Ask the customer for their order id (like A1001)."
        return vars(order)

    @tool(needs_approval=True)
    def refund(order_id: str, amount_eur: float, reason: str) -> str:
        """Refund (part of) a delivered order. A person approves every refund first.

        Args:
            order_id: The order id, such as A1001.
            amount_eur: How much to refund, in EUR.
            reason: Why, in the customer's words.
        """
        order = shop.orders.get(order_id.strip().upper())
        if order is None:
            raise ModelRetry(f"no order {order_id!r}: look the order up first")
        if order.status != "delivered":
            raise ModelRetry(f"order {order.id} is {order.status}: only delivered orders")
        left = order.paid_eur - order.refunded_eur
        if not 0 < amount_eur <= left:
            raise ModelRetry(f"order {order.id} can be refunded between 0 and {left:.2f} EUR")
        order.refunded_eur += amount_eur
        shop.refunds.append((order.id, amount_eur, reason))
        return f"Refunded {amount_eur:.2f} EUR on order {order.id}."

    return Agent(
        model,
        instructions=INSTRUCTIONS,
        tools=[lookup_order, refund],
        name="support-desk",
        max_turns=8,
    )


agent = build_agent()
"""For ``agentkit serve examples/support_desk/support_desk.py:agent`` (and ``run``, ``chat``)."""


if __name__ == "__main__":
    from agentkit.cli import main

    sys.exit(main(["serve", f"{__file__}:agent", *sys.argv[1:]]))
