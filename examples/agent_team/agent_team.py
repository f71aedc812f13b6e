"""A team of agents: a trip planner that delegates to two specialists, on one budget.

    agentkit run examples/agent_team/agent_team.py:agent "Two days in Lyon from Paris?"

- ``rail_expert`` knows the trains (its tool ``find_trains``) and ``local_guide`` the
  sights (``things_to_do``); each is an ``Agent`` with its own instructions and tools;
- the ``planner`` calls them as tools (``Agent.as_tool``), each with one argument,
  ``prompt``, and writes the plan from their answers;
- one ``UsageLimits`` budget covers the whole team: every specialist's request is checked
  against the planner's budget before it is sent and counted in it, and when the planner's
  own next request would pass it, it answers with what it has (``on_limit="answer"``).
"""

from __future__ import annotations

from typing import Any

from agentkit import Agent, ModelSettings, UsageLimits, tool

TRAINS: dict[tuple[str, str], str] = {
    ("paris", "lyon"): "TGV every hour from Paris Gare de Lyon, 1 h 56, from 35 EUR.",
    ("paris", "marseille"): "TGV every two hours from Paris Gare de Lyon, 3 h 05, from 49 EUR.",
    ("lyon", "marseille"): "TGV every hour from Lyon Part-Dieu, 1 h 40, from 29 EUR.",
}

SIGHTS: dict[str, list[str]] = {
    "lyon": ["Vieux Lyon and its traboules", "Fourviere hill", "a bouchon dinner"],
    "marseille": ["the Vieux-Port", "Notre-Dame de la Garde", "the Calanques by boat"],
}


@tool
def find_trains(origin: str, destination: str) -> str:
    """Direct trains between two French cities.

    Args:
        origin: Where the trip starts, such as Paris.
        destination: Where it goes, such as Lyon.
    """
    key = tuple(sorted((origin.strip().lower(), destination.strip().lower())))
    found = next((v for k, v in TRAINS.items() if tuple(sorted(k)) == key), None)
    return found or f"No direct train between {origin} and {destination}."


@tool
def things_to_do(city: str) -> str:
    """The sights of a city, best first.

    Args:
        city: The city, such as Lyon.
    """
    sights = SIGHTS.get(city.strip().lower())
    return "; ".join(sights) if sights else f"No guide for {city}."


BUDGET = UsageLimits(requests=12, total_tokens=60_000, on_limit="answer")
"""The whole team's budget for one question."""

SETTINGS = ModelSettings(max_tokens=600)
"""Short answers keep each request's worst case, which the budget checks, small."""


def build_team(model: Any = None, budget: UsageLimits = BUDGET) -> Agent[None, str]:
    """The planner and its two specialists, all on ``model`` (``None``: chosen at run
    time); ``budget`` covers all three."""
    rail_expert = Agent(
        model,
        name="rail_expert",
        instructions="You know French trains. Answer with find_trains' result, briefly.",
        tools=[find_trains],
        settings=SETTINGS,
    )
    local_guide = Agent(
        model,
        name="local_guide",
        instructions="You are a local guide. Answer with things_to_do's result, briefly.",
        tools=[things_to_do],
        settings=SETTINGS,
    )
    return Agent(
        model,
        name="planner",
        instructions=(
            "You plan trips in France. Ask rail_expert how to get there and local_guide what "
            "to see, then write a short day-by-day plan from their answers only."
        ),
        tools=[
            rail_expert.as_tool(description="Ask the rail expert about trains between cities."),
            local_guide.as_tool(description="Ask the local guide what to see in a city."),
        ],
        settings=SETTINGS,
        usage_limits=budget,
    )


agent = build_team()
"""For ``agentkit run examples/agent_team/agent_team.py:agent "..."``."""
