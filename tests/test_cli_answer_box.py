"""The validated answer in ``agentkit chat``: its box draws the fields that have a value,
and the model's raw output-tool arguments never show above it (unless ``--verbose``)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from support import TextSink

from agentkit.cli import _render
from agentkit.cli._render import WRITING_THE_ANSWER, PlainRenderer, Renderer, RichRenderer
from agentkit.events import ToolCallArgsDeltaEvent, ToolCallStartedEvent
from agentkit.output import OUTPUT_TOOL_NAME


class TripAdvice(BaseModel):
    """Advice for a trip (the travel desk's shape)."""

    city: str = ""
    forecast: str | None = None
    advice: str
    days: list[str] = []


def _rich() -> tuple[RichRenderer, TextSink]:
    from rich.console import Console

    out = TextSink()
    renderer = RichRenderer(out)  # type: ignore[arg-type]
    renderer.console = Console(file=out, width=80, color_system=None)  # type: ignore[arg-type]
    return renderer, out


def test_the_box_leaves_out_fields_without_a_value() -> None:
    """A field that is empty or None draws no row; the others, even an empty list, do."""
    renderer, out = _rich()
    renderer.output(TripAdvice(advice="I give tomorrow's weather."))
    rows = [line.strip("│ ").split()[0] for line in out.text.splitlines()[1:-1]]
    assert rows == ["advice", "days"]
    assert "TripAdvice · validated" in out.text


def test_plain_output_stays_the_whole_json() -> None:
    """Off a terminal the output is the data as JSON, every field in it."""
    out = TextSink()
    PlainRenderer(out).output(TripAdvice(advice="Go."))  # type: ignore[arg-type]
    assert '"city": ""' in out.text and '"forecast": null' in out.text


def _stream_an_answer(renderer: Renderer) -> None:
    for event in (
        ToolCallStartedEvent(index=0, tool_call_id="c1", name="get_weather"),
        ToolCallArgsDeltaEvent(index=0, delta='{"city": "Lyon"}'),
        ToolCallStartedEvent(index=1, tool_call_id="c2", name=OUTPUT_TOOL_NAME),
        ToolCallArgsDeltaEvent(index=1, delta='{ "advice": "Take an umbrella. '),
        ToolCallArgsDeltaEvent(index=0, delta=""),
        ToolCallArgsDeltaEvent(index=1, delta='The weather is good for the 1" }'),
    ):
        renderer.event(event)


def test_the_raw_answer_arguments_are_not_shown_above_the_box(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A tool call's arguments stream as before; the answer's raw arguments do not (the box
    shows the validated answer), in a terminal and off one: the progress line says the
    model writes the answer."""
    monkeypatch.setattr(_render, "PROGRESS_AFTER", 0.0)
    rich, rich_out = _rich()
    plain_out = TextSink()
    plain = PlainRenderer(plain_out)  # type: ignore[arg-type]
    for renderer, out in ((rich, rich_out), (plain, plain_out)):
        _stream_an_answer(renderer)
        assert '{"city": "Lyon"}' in out.text
        assert "Take an umbrella" not in out.text and "answer" not in out.text
        assert renderer._waiting_for == WRITING_THE_ANSWER
    plain._tick("⠋", animate=False)
    assert plain_out.text.endswith("\n[writing the answer...]\n")


def test_verbose_still_shows_the_raw_answer_arguments() -> None:
    """With ``--verbose`` the model's raw answer streams as it comes."""
    out = TextSink()
    renderer = PlainRenderer(out)  # type: ignore[arg-type]
    renderer.verbose = True
    _stream_an_answer(renderer)
    assert '[answer] { "advice": "Take an umbrella. The weather is good for the 1" }' in out.text
