"""The examples under examples/ run, with a scripted model standing in for the real one."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from agentkit import ModelRetry, RetriesExhaustedError, ToolMessage
from agentkit.testing.scripted import ScriptedModel, output_call, tool_calls

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def travel() -> ModuleType:
    return _load("travel_desk")


def test_every_example_is_covered() -> None:
    """Each example file has tests here (a new example must get some)."""
    assert sorted(p.stem for p in EXAMPLES.glob("*.py")) == ["travel_desk"]


def test_travel_desk_looks_up_the_weather_and_answers(travel: Any) -> None:
    """The demo flow: get_weather runs, its result goes back, the answer validates."""
    model = ScriptedModel(
        [
            tool_calls(("get_weather", {"city": "Lyon"})),
            output_call({"city": "lyon", "forecast": "rain, 12 C", "advice": "Take a raincoat."}),
        ]
    )
    result = travel.build_agent(model).run_sync(travel.DEMO_PROMPT)
    assert result.output == travel.TripAdvice(
        city="Lyon", forecast="rain, 12 C", advice="Take a raincoat."
    )
    answers = [m for m in result.messages if isinstance(m, ToolMessage)]
    assert answers[0].name == "get_weather"
    assert answers[0].content == "Lyon tomorrow: rain, high 12 C, 90% chance of rain."


def test_travel_desk_rejects_an_answer_without_a_lookup(travel: Any) -> None:
    """An answer about a city whose weather was not looked up goes back to the model."""
    model = ScriptedModel(
        [
            output_call({"city": "Paris", "forecast": "sunny", "advice": "Enjoy."}),
            tool_calls(("get_weather", {"city": "Paris"})),
            output_call({"city": "Paris", "forecast": "partly cloudy", "advice": "Enjoy."}),
        ]
    )
    result = travel.build_agent(model).run_sync("Paris?")
    assert result.output.forecast == "partly cloudy"
    feedback = model.requests[1].messages[-1]
    assert isinstance(feedback, ToolMessage) and feedback.is_error
    assert feedback.content == "First call get_weather for Paris, then answer from it."


def test_travel_desk_names_the_known_cities_for_an_unknown_one(travel: Any) -> None:
    """get_weather on an unknown city tells the model which cities it can ask about."""
    model = ScriptedModel(
        [
            tool_calls(("get_weather", {"city": "Atlantis"})),
            tool_calls(("get_weather", {"city": "Rome"})),
            output_call({"city": "Rome", "forecast": "sunny", "advice": "Sunglasses."}),
        ]
    )
    result = travel.build_agent(model).run_sync("Atlantis?")
    first = next(m for m in result.messages if isinstance(m, ToolMessage))
    assert first.is_error
    assert first.content.startswith("No forecast for 'Atlantis'. Pick one of: Amsterdam, ")


def test_travel_desk_gives_up_after_its_retry_budget(travel: Any) -> None:
    """A model that never grounds its answer ends in RetriesExhaustedError, not a bad output."""
    model = ScriptedModel(
        [output_call({"city": "Oslo", "forecast": "?" * n, "advice": "?"}) for n in range(1, 6)]
    )
    with pytest.raises(RetriesExhaustedError, match="First call get_weather for Oslo"):
        travel.build_agent(model).run_sync("Oslo?")


def test_travel_desk_rejects_an_advice_too_long(travel: Any) -> None:
    """The advice field is capped (it also caps a small model's grammar-constrained output)."""
    with pytest.raises(ValueError, match="at most 100 characters"):
        travel.TripAdvice(city="Rome", forecast="sunny", advice="x" * 101)


def test_convert_currency_converts_through_the_euro(travel: Any) -> None:
    """convert_currency uses the fixed table; unknown codes list the known ones."""
    assert travel.convert_currency(100, "eur", "usd") == "100 EUR = 108.00 USD"
    assert travel.convert_currency(85, "GBP", "EUR") == "85 GBP = 100.00 EUR"
    with pytest.raises(ModelRetry, match=r"Unknown currency 'XYZ'\. Use one of: EUR, USD"):
        travel.convert_currency(1, "XYZ", "EUR")


def test_module_level_agent_is_ready_for_agentkit_run(travel: Any) -> None:
    """``examples/travel_desk.py:agent`` is an Agent with the travel tools and output type."""
    assert set(travel.agent.tools) == {"get_weather", "convert_currency"}
    assert travel.agent.output_type is travel.TripAdvice
