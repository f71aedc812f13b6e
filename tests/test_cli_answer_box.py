"""The validated answer in ``agentkit chat``: its box draws the fields that have a value,
and the model's raw output-tool arguments never show above it (unless ``--verbose``)."""

from __future__ import annotations

from pydantic import BaseModel
from support import TextSink

from agentkit.cli._render import PlainRenderer, RichRenderer


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
