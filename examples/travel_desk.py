"""The travel desk: a small assistant with offline domain tools and a structured answer.

It looks up the weather for a trip from a built-in table (no network) and answers
with a validated ``TripAdvice``. ``agentkit demo`` runs it; so does::

    python examples/travel_desk.py "Do I need an umbrella in Oslo?"

Made to hold up on a tiny local model too (Gemma 3 270M): few tools with one or two
arguments, short instructions, a small output type, and tool errors that tell the
model exactly what to send instead.
"""

from __future__ import annotations

import sys
from typing import Any

from pydantic import BaseModel, Field

from agentkit import Agent, ModelRetry, RunContext, ToolMessage, tool

DESCRIPTION = "weather for your trip and what to pack (offline data, a validated answer)"
"""One line for the demo's banner."""

DEMO_PROMPT = "What's the weather in Lyon tomorrow?"
"""The question ``agentkit demo`` asks."""

# city -> (sky, high in Celsius, chance of rain in percent)
FORECASTS: dict[str, tuple[str, int, int]] = {
    "amsterdam": ("showers", 14, 70),
    "barcelona": ("sunny", 24, 5),
    "berlin": ("cloudy", 16, 30),
    "lisbon": ("sunny", 22, 10),
    "london": ("drizzle", 15, 80),
    "lyon": ("rain", 12, 90),
    "madrid": ("clear", 26, 0),
    "oslo": ("snow", -2, 60),
    "paris": ("partly cloudy", 18, 20),
    "rome": ("sunny", 25, 5),
    "stockholm": ("cloudy", 9, 40),
    "vienna": ("thunderstorms", 21, 75),
}

# units of each currency for one euro (a fixed table: this example is offline)
EURO_RATES: dict[str, float] = {
    "EUR": 1.0,
    "USD": 1.08,
    "GBP": 0.85,
    "SEK": 11.5,
    "NOK": 11.7,
    "CHF": 0.95,
    "JPY": 162.0,
}


def _known_city(city: str) -> str:
    key = city.strip().lower().split(",")[0].strip()
    if key not in FORECASTS:
        known = ", ".join(name.title() for name in FORECASTS)
        raise ModelRetry(f"No forecast for {city!r}. Pick one of: {known}.")
    return key


@tool
def get_weather(city: str) -> str:
    """Tomorrow's weather forecast for a city.

    Args:
        city: The city name.
    """
    key = _known_city(city)
    sky, high, rain = FORECASTS[key]
    return f"{key.title()} tomorrow: {sky}, high {high} C, {rain}% chance of rain."


@tool
def convert_currency(amount: float, from_currency: str, to_currency: str) -> str:
    """Convert money between currencies (EUR, USD, GBP, SEK, NOK, CHF, JPY).

    Args:
        amount: How much money.
        from_currency: Currency code to convert from, e.g. "EUR".
        to_currency: Currency code to convert to, e.g. "USD".
    """
    rates = EURO_RATES
    source, target = from_currency.strip().upper(), to_currency.strip().upper()
    for code in (source, target):
        if code not in rates:
            raise ModelRetry(f"Unknown currency {code!r}. Use one of: {', '.join(rates)}.")
    converted = amount / rates[source] * rates[target]
    return f"{amount:g} {source} = {converted:.2f} {target}"


class TripAdvice(BaseModel):
    """The travel desk's answer."""

    city: str = Field(description="The destination city.")
    forecast: str = Field(
        description="The weather forecast, as get_weather gave it.", max_length=100
    )
    advice: str = Field(description="What to pack or wear.", max_length=100)


INSTRUCTIONS = (
    "You are a travel desk. Call get_weather for the city, then give your answer "
    "from its result. Be brief."
)


def build_agent(model: Any = None) -> Agent[None, TripAdvice]:
    """The travel-desk agent; ``model`` as for ``Agent`` (``None``: chosen at run time)."""
    agent: Agent[None, TripAdvice] = Agent(
        model,
        instructions=INSTRUCTIONS,
        tools=[get_weather, convert_currency],
        output_type=TripAdvice,
        retries=4,
        max_turns=8,
        name="travel-desk",
    )

    @agent.output_validator
    def check_advice(ctx: RunContext[None], output: TripAdvice) -> TripAdvice:
        """The answer must rest on a forecast looked up in this run."""
        key = _known_city(output.city)
        looked_up = {
            m.content.split(" tomorrow")[0].lower()
            for m in ctx.messages
            if isinstance(m, ToolMessage) and m.name == "get_weather" and not m.is_error
        }
        if key not in looked_up:
            raise ModelRetry(f"First call get_weather for {key.title()}, then answer from it.")
        return output.model_copy(update={"city": key.title()})

    return agent


agent = build_agent()
"""For ``agentkit run examples/travel_desk.py:agent "..."``."""


if __name__ == "__main__":
    from agentkit.cli import main

    sys.exit(main(["demo", *sys.argv[1:]]))
