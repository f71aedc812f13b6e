"""The travel desk: a small assistant with offline domain tools and a structured answer.

It looks up the weather for a trip from a built-in table (no network) and answers
with a validated ``TripAdvice``. ``agentkit demo`` runs it; so does::

    python examples/travel_desk.py "Do I need an umbrella in Oslo?"

Made to hold up on a tiny local model too (Gemma 3 270M, a base model that copies
whatever text it is shown; scored by ``tools/demo_eval.py``):

- one tool, ``get_weather``, whose answer carries the forecast and a packing tip;
- each request names the one tool to call (``LookUpThenAnswer``): ``get_weather`` for
  a new question, then the final answer, so a question takes two requests and cannot
  loop; the final-answer tool is shown with the forecast and the tip, and its advice
  is capped in length and held to one plain sentence (no "<", where a small model would
  write the server's stop sequence), so what the model copies is right and its JSON
  always closes;
- the model writes only the advice (its first sentence is kept): the answer's ``city``
  and ``forecast`` are the looked-up data, filled in by the output validator.

It knows the cities of its table only, and says so in a sentence, not an error: asked
about another city ("Tokyo"), about something else ("Convert 100 EUR to USD") or what it
can do, ``get_weather`` answers with what the desk does and the cities it knows (a small
model picks a city whatever the question, so the tool gives a forecast only for a city the
question names), and that sentence is the answer's advice, word for word.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from agentkit import (
    Agent,
    Hooks,
    Message,
    ModelRetry,
    RunContext,
    RunInfo,
    SystemMessage,
    ToolMessage,
    UserMessage,
    tool,
)
from agentkit.hooks import RequestHandler
from agentkit.models.base import ModelRequest, ModelResponse, ModelSettings
from agentkit.tools import ToolDefinition

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

# sky -> what to pack (the hint get_weather gives with its forecast)
PACKING: dict[str, str] = {
    "showers": "Take an umbrella and a raincoat.",
    "sunny": "Bring sunglasses and sunscreen.",
    "cloudy": "Pack a light jacket.",
    "drizzle": "A hooded jacket will do.",
    "rain": "Take an umbrella and waterproof shoes.",
    "clear": "Bring sunglasses and a sun hat.",
    "snow": "Wear warm boots and a thick coat.",
    "partly cloudy": "Pack a light jacket, just in case.",
    "thunderstorms": "Pack an umbrella and plan indoor visits.",
}

_TIP = "Tip: "

CITIES = tuple(name.title() for name in FORECASTS)
"""The cities with a forecast, as ``get_weather`` accepts them."""


def _cities_in(text: str) -> list[str]:
    """The table's keys ``text`` names, in order ("Lyon", "lyon, France", "Lyon tomorrow",
    "Lyons" all name lyon)."""
    words: list[str] = re.findall(r"[a-z]+", text.lower())
    close = (difflib.get_close_matches(word, FORECASTS, n=1, cutoff=0.8) for word in words)
    return list(dict.fromkeys(match[0] for match in close if match))  # "Oslos" is Oslo


def _known_city(city: str) -> str:
    """The table's key for ``city``; ``ModelRetry`` listing the cities when it has none."""
    keys = _cities_in(city)
    if not keys:
        raise ModelRetry(f"No forecast for {city!r}. Pick one of: {', '.join(CITIES)}.")
    return keys[0]


_KNOWN = f"{', '.join(CITIES[:-1])} and {CITIES[-1]}"

WHAT_I_DO = f"I give tomorrow's weather and what to pack for {_KNOWN}."
"""The desk's answer to a question about no city it knows (what it can do)."""


def no_forecast(place: str) -> str:
    """The desk's answer about a place it has no forecast for."""
    return f"I have no forecast for {place}: I know tomorrow's weather in {_KNOWN} only."


def _place_named(city: str, question: str) -> str | None:
    """The words of ``city`` the question names as a place: capitalized there, not at its
    start, not an acronym ("Tokyo" in "What's the weather in Tokyo?"; not "EUR")."""
    named = re.findall(r"(?<=[\w,;:] )[A-Z][a-z][\w'-]*", question)
    wanted = {word.lower() for word in re.findall(r"[A-Za-z][\w'-]*", city)}
    words = [word for word in named if word.lower() in wanted]
    return " ".join(list(dict.fromkeys(words))[:3]) or None


def forecast_text(city: str) -> str:
    """The forecast line for a city of the table, as ``get_weather`` answers it."""
    key = _known_city(city)
    sky, high, rain = FORECASTS[key]
    return f"{key.title()} tomorrow: {sky}, high {high} C, {rain}% chance of rain."


def _question(messages: Sequence[Message]) -> str:
    """The text of the last user message ("" when there is none, or it is not text)."""
    last = next((m for m in reversed(messages) if isinstance(m, UserMessage)), None)
    return last.content if last is not None and isinstance(last.content, str) else ""


@tool
def get_weather(ctx: RunContext[Any], city: str) -> str:
    """Tomorrow's weather forecast for a city.

    Args:
        city: The city the question is about.
    """
    question = _question(ctx.messages)
    named = _cities_in(question)
    key = next(iter(_cities_in(city)), None)
    if key is not None and key in named:
        sky = FORECASTS[key][0]
        return f"{forecast_text(key)} {_TIP}{PACKING[sky]}"
    if named:  # the question is about a city of the table, not this one
        other = named[0].title()
        raise ModelRetry(f"The question is about {other}: call get_weather with city={other!r}.")
    place = _place_named(city, question)
    return no_forecast(place) if place else WHAT_I_DO


ADVICE_DESCRIPTION = "What to wear or bring, in one short sentence."
"""What the model is told the advice is."""

ANSWER_TOKENS = 80
"""The most tokens a step's tool call (a city, or one sentence of advice, as JSON) may take."""

DESK_CAP = 40
"""The advice's length cap when the desk's own sentence will replace it (no forecast)."""

ADVICE_LIMIT = 200
"""The most characters an advice may have."""


def _one_sentence(advice: str) -> str:
    text = " ".join(advice.split())
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    if not text:
        raise ValueError("the advice is empty: write one short sentence")
    if match is None:
        raise ValueError("the advice is cut off: write one short sentence, ending with a full stop")
    sentence = match.group(1)
    if len(sentence) > ADVICE_LIMIT:
        raise ValueError(f"the advice is over {ADVICE_LIMIT} characters: write one short sentence")
    return sentence


class TripAdvice(BaseModel):
    """The travel desk's answer."""

    city: SkipJsonSchema[str] = ""
    """The city looked up (filled in from the ``get_weather`` result)."""
    forecast: SkipJsonSchema[str] = ""
    """Its forecast, as ``get_weather`` gave it (filled in likewise)."""
    advice: str = Field(description=ADVICE_DESCRIPTION)
    """One sentence (``from_the_lookup`` keeps the first and refuses a cut-off one)."""


INSTRUCTIONS = (
    "You are a travel desk. Call get_weather for the city in the last question, "
    "then answer with its tip."
)


def _is_forecast(looked_up: str) -> bool:
    """Whether ``get_weather`` gave a forecast (else: the desk's sentence about what it does)."""
    return f" {_TIP}" in looked_up


def _looked_up(messages: Any) -> str | None:
    """What ``get_weather`` answered since the last user message (a forecast, or the desk's
    sentence when it has none), if it answered."""
    for message in reversed(list(messages)):
        if isinstance(message, UserMessage):
            return None
        if isinstance(message, ToolMessage) and message.name == "get_weather":
            if not message.is_error:
                return message.content
    return None


def _this_question(messages: Sequence[Message]) -> tuple[Message, ...]:
    """The instructions and the messages from the last user message on: earlier answers
    left out, so that a small model does not copy an earlier city's advice."""
    last = max(i for i, m in enumerate(messages) if isinstance(m, UserMessage))
    head = tuple(m for m in messages[:last] if isinstance(m, SystemMessage))
    return (*head, *messages[last:])


def _with_tip(definition: ToolDefinition, looked_up: str | None) -> ToolDefinition:
    """The final-answer tool with the looked-up forecast in its description and the tip
    as the advice's description (or the desk's sentence, when it has no forecast): a small
    model copies from what it is shown, so what it is shown is right."""
    if looked_up is None:
        return definition
    if _is_forecast(looked_up):
        forecast, tip = looked_up.split(f" {_TIP}", 1)
        cap = len(tip) + 30
    else:  # the desk's sentence replaces the advice: a short cap, so the JSON always closes
        forecast, tip, cap = "a question the desk has no forecast for", looked_up, DESK_CAP
    parameters = dict(definition.parameters)
    properties = dict(parameters.get("properties", {}))
    # The cap closes the string (and the JSON) in time, and the pattern makes it one sentence
    # (a grammar-bound model writes its full stop by the cap at the latest) with no "<":
    # llama-cpp-python stops every answer at "<|im_end|>", which a small model writes inside
    # the string as text, cutting the JSON short. No quote or backslash: plain text.
    pattern = f'^[^<"\\\\.!?]{{1,{cap - 1}}}[.!?]$'
    advice = {"type": "string", "description": tip, "maxLength": cap, "pattern": pattern}
    properties["advice"] = advice
    parameters["properties"] = properties
    return dataclasses.replace(
        definition, description=f"Answer for {forecast}", parameters=parameters
    )


class LookUpThenAnswer(Hooks):
    """Names the tool each request must call: ``get_weather`` until a forecast for the
    current question is in, then the final-answer tool (when the output is asked for as
    a tool). Only that tool is offered, which keeps a small model's prompt short."""

    async def wrap_model_request(
        self, run: RunInfo, request: ModelRequest, handler: RequestHandler
    ) -> ModelResponse:
        """Send ``request`` with ``tool_choice`` naming the next step's tool."""
        wanted, looked_up = "get_weather", _looked_up(request.messages)
        if looked_up is not None:
            output = request.output
            if output is None or output.mode != "tool":
                return await handler(request)
            wanted = output.name
        tools = tuple(_with_tip(t, looked_up) for t in request.tools if t.name == wanted)
        if not tools:
            return await handler(request)
        # A named tool's arguments are grammar-bound JSON, which ends by itself: a stop
        # sequence the model writes inside a string would only cut the JSON short.
        settings = request.settings.merged(ModelSettings(stop=(), max_tokens=ANSWER_TOKENS))
        messages = request.messages
        if looked_up is not None:  # answering: from this question's lookup, not the history
            messages = _this_question(messages)
        step = dataclasses.replace(
            request, messages=messages, tools=tools, tool_choice=wanted, settings=settings
        )
        return await handler(step)


def build_agent(model: Any = None) -> Agent[None, TripAdvice]:
    """The travel-desk agent; ``model`` as for ``Agent`` (``None``: chosen at run time)."""
    agent: Agent[None, TripAdvice] = Agent(
        model,
        instructions=INSTRUCTIONS,
        tools=[get_weather],
        output_type=TripAdvice,
        retries=3,
        max_turns=6,
        name="travel-desk",
        hooks=[LookUpThenAnswer()],
    )

    @agent.output_validator
    def from_the_lookup(ctx: RunContext[None], output: TripAdvice) -> TripAdvice:
        """The answer is about the forecast looked up for this question, word for word."""
        forecast = _looked_up(ctx.messages)
        if forecast is None:
            raise ModelRetry("First call get_weather for the city, then answer from it.")
        if not _is_forecast(forecast):  # the desk's own words: a small model's rewording errs
            return TripAdvice(advice=forecast)
        forecast = forecast.split(f" {_TIP}")[0]
        try:
            advice = _one_sentence(output.advice)
        except ValueError as exc:
            raise ModelRetry(f"The advice is wrong: {exc}.") from None
        copied = advice.lower().strip(" .")
        prompts = (ADVICE_DESCRIPTION, INSTRUCTIONS, TripAdvice.__doc__ or "")
        tip = PACKING[FORECASTS[_known_city(forecast)][0]]
        others = (other.lower().strip(" .") for other in PACKING.values() if other != tip)
        if any(copied in text.lower() for text in prompts) or copied in others:
            raise ModelRetry(f"Advice for this forecast, such as: {tip}")
        city = forecast.split(" tomorrow")[0]
        return TripAdvice(city=city, forecast=forecast, advice=advice)

    return agent


agent = build_agent()
"""For ``agentkit run examples/travel_desk.py:agent "..."``."""


if __name__ == "__main__":
    from agentkit.cli import main

    sys.exit(main(["demo", *sys.argv[1:]]))
