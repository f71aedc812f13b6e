"""The examples under examples/ run, with a scripted model standing in for the real one."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from agentkit import RetriesExhaustedError, ToolMessage
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
    """Each example file has tests here (a new example must get some), and each example
    folder has a README.md, its own test module (tests/test_example_<folder>.py) and a
    link in the README's Examples list."""
    assert sorted(p.stem for p in EXAMPLES.glob("*.py")) == ["travel_desk"]
    folders = [
        p for p in EXAMPLES.iterdir() if p.is_dir() and p.name not in ("evals", "__pycache__")
    ]
    assert folders
    tests = Path(__file__).resolve().parent
    readme = (EXAMPLES.parent / "README.md").read_text()
    for folder in folders:
        assert (folder / "README.md").is_file(), f"{folder.name} has no README.md"
        assert (tests / f"test_example_{folder.name}.py").is_file(), f"{folder.name} has no test"
        assert f"](examples/{folder.name}/)" in readme, f"README's Examples lacks {folder.name}"


def test_travel_desk_looks_up_the_weather_and_answers(travel: Any) -> None:
    """The demo flow: get_weather is named first, its result goes back, then the final
    answer is named with the tip as the advice's description; the answer carries the
    looked-up city and forecast word for word."""
    model = ScriptedModel(
        [
            tool_calls(("get_weather", {"city": "lyon, France"})),
            output_call({"advice": "Take a raincoat. And more text the model rambled."}),
        ]
    )
    result = travel.build_agent(model).run_sync(travel.DEMO_PROMPT)
    assert result.output == travel.TripAdvice(
        city="Lyon",
        forecast="Lyon tomorrow: rain, high 12 C, 90% chance of rain.",
        advice="Take a raincoat.",
    )
    answers = [m for m in result.messages if isinstance(m, ToolMessage)]
    assert answers[0].name == "get_weather"
    assert answers[0].content == (
        "Lyon tomorrow: rain, high 12 C, 90% chance of rain. "
        "Tip: Take an umbrella and waterproof shoes."
    )
    first, second = model.requests
    assert first.tool_choice == "get_weather"
    assert [t.name for t in first.tools] == ["get_weather"]
    assert second.tool_choice == "final_result"
    (answer_tool,) = second.tools
    assert (
        answer_tool.description == "Answer for Lyon tomorrow: rain, high 12 C, 90% chance of rain."
    )
    advice = answer_tool.parameters["properties"]["advice"]
    assert advice["description"] == "Take an umbrella and waterproof shoes."
    assert advice["maxLength"] == len(advice["description"]) + 30


def test_travel_desk_answer_grammar_is_one_plain_sentence(travel: Any) -> None:
    """The advice's pattern (what a grammar-bound server lets the model write) is one
    sentence up to the cap ending in its full stop, with no "<" (llama-cpp-python stops at
    "<|im_end|>" even inside a string), quote or backslash."""
    model = ScriptedModel(
        [tool_calls(("get_weather", {"city": "Oslo"})), output_call({"advice": "Wear boots."})]
    )
    travel.build_agent(model).run_sync("Oslo?")
    advice = model.requests[1].tools[0].parameters["properties"]["advice"]
    fits = [
        "Wear warm boots and a thick coat.",
        "Boots!",
        "x" * (advice["maxLength"] - 1) + ".",
    ]
    refused = [
        "Wear boots. <|im_end|>",
        "Wear boots",
        "Wear boots. And a coat.",
        'Say "hi".',
        "x" * advice["maxLength"] + ".",
        ".",
    ]
    assert [bool(re.fullmatch(advice["pattern"], text)) for text in fits] == [True] * 3
    assert [bool(re.fullmatch(advice["pattern"], text)) for text in refused] == [False] * 6


def test_travel_desk_follow_up_answers_from_the_new_lookup(travel: Any) -> None:
    """A follow-up ("And Oslo?") names get_weather again, with the history, and answers from
    Oslo's lookup without the earlier answer (a small model would copy its advice)."""
    model = ScriptedModel(
        [
            tool_calls(("get_weather", {"city": "Lyon"})),
            output_call({"advice": "Take an umbrella."}),
            tool_calls(("get_weather", {"city": "Oslos"})),  # a small model's typo
            output_call({"advice": "Wear warm boots."}),
        ]
    )
    agent = travel.build_agent(model)
    first = agent.run_sync(travel.DEMO_PROMPT)
    result = agent.run_sync("And Oslo?", message_history=first.messages)
    assert model.requests[2].tool_choice == "get_weather"
    assert len(model.requests[2].messages) > 4  # the city is picked with the history...
    answering = model.requests[3].messages  # ...the answer from this question's lookup only
    assert [m.role for m in answering] == ["system", "user", "assistant", "tool"]
    assert answering[1].content == "And Oslo?"
    assert (result.output.city, result.output.forecast) == (
        "Oslo",
        "Oslo tomorrow: snow, high -2 C, 60% chance of rain.",
    )


def test_travel_desk_rejects_an_answer_without_a_lookup(travel: Any) -> None:
    """An answer before any forecast was looked up goes back to the model."""
    model = ScriptedModel(
        [
            output_call({"advice": "Enjoy."}),
            tool_calls(("get_weather", {"city": "Paris"})),
            output_call({"advice": "Enjoy."}),
        ]
    )
    result = travel.build_agent(model).run_sync("Paris?")
    assert result.output.forecast.startswith("Paris tomorrow: partly cloudy")
    feedback = model.requests[1].messages[-1]
    assert isinstance(feedback, ToolMessage) and feedback.is_error
    assert feedback.content == "First call get_weather for the city, then answer from it."


def test_travel_desk_rejects_another_forecasts_tip(travel: Any) -> None:
    """Advice copied from another city's tip (a small model copies the history) goes back
    with this forecast's tip."""
    model = ScriptedModel(
        [
            tool_calls(("get_weather", {"city": "Madrid"})),
            output_call({"advice": "Take an umbrella and waterproof shoes."}),
            output_call({"advice": "Bring sunglasses and a sun hat."}),
        ]
    )
    result = travel.build_agent(model).run_sync("Madrid?")
    assert result.output.advice == "Bring sunglasses and a sun hat."
    feedback = model.requests[2].messages[-1]
    assert isinstance(feedback, ToolMessage) and feedback.is_error
    assert feedback.content == "Advice for this forecast, such as: Bring sunglasses and a sun hat."


def test_travel_desk_says_it_has_no_forecast_for_an_unknown_city(travel: Any) -> None:
    """A city the question names but the table lacks ("Tokyo") gets a sentence, not an error:
    get_weather says so and lists the known cities, the answer tool shows that sentence (with a
    short cap: it replaces what the model writes), and it is the answer's advice word for
    word, with no city or forecast."""
    model = ScriptedModel(
        [
            tool_calls(("get_weather", {"city": "Tokyo"})),
            output_call({"advice": "I have no forecast."}),
        ]
    )
    result = travel.build_agent(model).run_sync("What's the weather in Tokyo tomorrow?")
    sentence = (
        "I have no forecast for Tokyo: I know tomorrow's weather in Amsterdam, Barcelona, "
        "Berlin, Lisbon, London, Lyon, Madrid, Oslo, Paris, Rome, Stockholm and Vienna only."
    )
    assert result.output == travel.TripAdvice(city="", forecast="", advice=sentence)
    answer = next(m for m in result.messages if isinstance(m, ToolMessage))
    assert (answer.is_error, answer.content) == (False, sentence)
    (answer_tool,) = model.requests[1].tools
    advice = answer_tool.parameters["properties"]["advice"]
    assert (advice["description"], advice["maxLength"]) == (sentence, travel.DESK_CAP)


@pytest.mark.parametrize(
    ("question", "city"),
    [("What can you do?", "Lyon"), ("Convert 100 EUR to USD", "EUR")],
)
def test_travel_desk_says_what_it_does_for_an_off_script_question(
    travel: Any, question: str, city: str
) -> None:
    """A question that names no city (what it can do, after the Lyon question; a currency
    conversion) gets what the desk does, whatever city the model passed: never Lyon's
    forecast copied from the history."""
    model = ScriptedModel(
        [
            tool_calls(("get_weather", {"city": "Lyon"})),
            output_call({"advice": "Take an umbrella."}),
            tool_calls(("get_weather", {"city": city})),
            output_call({"advice": "Take an umbrella."}),
        ]
    )
    agent = travel.build_agent(model)
    first = agent.run_sync(travel.DEMO_PROMPT)
    result = agent.run_sync(question, message_history=first.messages)
    assert result.output == travel.TripAdvice(advice=travel.WHAT_I_DO)
    assert travel.WHAT_I_DO.startswith("I give tomorrow's weather and what to pack for Amsterdam")


def test_travel_desk_sends_the_model_to_the_city_the_question_names(travel: Any) -> None:
    """A lookup of another city than the question names goes back to the model with the
    city to ask about."""
    model = ScriptedModel(
        [
            tool_calls(("get_weather", {"city": "Lyon"})),
            tool_calls(("get_weather", {"city": "Oslo"})),
            output_call({"advice": "Wear warm boots."}),
        ]
    )
    result = travel.build_agent(model).run_sync("Do I need boots in Oslo?")
    first = next(m for m in result.messages if isinstance(m, ToolMessage))
    assert first.is_error
    assert first.content == "The question is about Oslo: call get_weather with city='Oslo'."
    assert result.output.city == "Oslo"


def test_travel_desk_gives_up_after_its_retry_budget(travel: Any) -> None:
    """A model that never grounds its answer ends in RetriesExhaustedError, not a bad output."""
    model = ScriptedModel([output_call({"advice": "Go" + "!" * n}) for n in range(1, 6)])
    with pytest.raises(RetriesExhaustedError, match="First call get_weather for the city"):
        travel.build_agent(model).run_sync("Oslo?")


def test_travel_desk_keeps_one_sentence_of_advice(travel: Any) -> None:
    """The advice keeps its first sentence (whitespace folded); one over 200 characters is
    refused, as are an empty one and one with no sentence end (cut off)."""
    assert travel._one_sentence("Take a coat.\nThe weather is good for the 1") == "Take a coat."
    with pytest.raises(ValueError, match="over 200 characters"):
        travel._one_sentence("x" * 201 + ".")
    with pytest.raises(ValueError, match="empty"):
        travel._one_sentence("  ")
    with pytest.raises(ValueError, match="cut off"):
        travel._one_sentence("Wear warm boots and a")


def test_travel_desk_sends_cut_off_advice_back(travel: Any) -> None:
    """Advice with no sentence end goes back to the model saying so; a desk sentence (no
    forecast) is never refused for the model's wording, which it replaces."""
    model = ScriptedModel(
        [
            tool_calls(("get_weather", {"city": "Oslo"})),
            output_call({"advice": "Wear warm boots and a"}),
            output_call({"advice": "Wear warm boots."}),
            tool_calls(("get_weather", {"city": "EUR"})),
            output_call({"advice": "I give tomorrow's weather and what to pack for Amst"}),
        ]
    )
    agent = travel.build_agent(model)
    result = agent.run_sync("Oslo?")
    feedback = model.requests[2].messages[-1]
    assert isinstance(feedback, ToolMessage) and feedback.is_error
    assert feedback.content == (
        "The advice is wrong: the advice is cut off: write one short sentence, ending with a "
        "full stop."
    )
    assert result.output.advice == "Wear warm boots."
    other = agent.run_sync("Convert 100 EUR to USD")
    assert other.output == travel.TripAdvice(advice=travel.WHAT_I_DO)
    assert other.usage.requests == 2


def test_travel_desk_reads_advice_written_with_a_raw_newline(travel: Any) -> None:
    """Advice JSON with a raw newline or tab inside the string (what the embedded Gemma
    writes through llama.cpp's grammar) is read at the first try: a forecast's advice
    folded to one sentence, an off-script question answered with what the desk does."""
    model = ScriptedModel(
        [
            tool_calls(("get_weather", {"city": "Oslo"})),
            output_call('{"advice": "Wear warm\n\tboots.\n"}'),
            tool_calls(("get_weather", {"city": "EUR"})),
            output_call('{"advice": "I give\ntomorrow\t"}'),
        ]
    )
    agent = travel.build_agent(model)
    result = agent.run_sync("Do I need boots in Oslo?")
    assert (result.output.city, result.output.advice) == ("Oslo", "Wear warm boots.")
    other = agent.run_sync("Convert 100 EUR to USD")
    assert other.output == travel.TripAdvice(advice=travel.WHAT_I_DO)
    assert (result.usage.requests, other.usage.requests) == (2, 2)


def test_module_level_agent_is_ready_for_agentkit_run(travel: Any) -> None:
    """``examples/travel_desk.py:agent`` is an Agent with the travel tool and output type."""
    assert set(travel.agent.tools) == {"get_weather"}
    assert travel.agent.output_type is travel.TripAdvice
