"""The llama.cpp profile cleans what the server's template leaks: HTML entities in
arguments and text, chat-template tokens, and token counts it never sent (unknown, not 0)."""

from __future__ import annotations

import itertools

import pytest
from support import model_on, weather_tool

from agentkit import Agent
from agentkit.cli._render import format_usage
from agentkit.events import TextDeltaEvent
from agentkit.models._clean import OutputCleaner, clean_text
from agentkit.models.openai import OpenAIChatModel
from agentkit.models.profiles import GENERIC_PROFILE, LLAMA_CPP_PROFILE
from agentkit.testing.server import LocalModelServer, Reply, reply_text, reply_tool_calls, usage

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_keys")]

CITIES: list[str] = []
get_weather = weather_tool("{city}: snow, high -2 C.", calls=CITIES)


def _llama(server: LocalModelServer) -> OpenAIChatModel:
    """Gemma behind llama.cpp's server, as a user points agentkit at it."""
    return model_on(server, "gemma-3-270m", profile=LLAMA_CPP_PROFILE)


async def test_escaped_arguments_and_leaked_tokens_are_cleaned() -> None:
    """``&#34;`` in tool arguments is undone before they are parsed, and the answer text
    loses its entities and is cut at the template token where the model went on."""
    CITIES.clear()
    with LocalModelServer(style="openai") as server:
        server.add(
            reply_tool_calls(("get_weather", "{&#34;city&#34;: &#34;Oslo&#34;}")),
            reply_text("Snow in Oslo &amp;amp; cold.<|im_end|>\n<|im_start|>user\nAnd Lyon?"),
        )
        agent = Agent(_llama(server), tools=[get_weather])
        result = await agent.run("Weather in Oslo?")
    assert CITIES == ["Oslo"]
    assert result.output == "Snow in Oslo & cold."


async def test_streamed_text_is_cleaned_and_unreported_usage_is_unknown() -> None:
    """Streamed deltas never show a template token or an entity, join to the output, and a
    stream without usage counts as unknown tokens, not 0."""
    with LocalModelServer(style="openai") as server:
        # llama.cpp's stream sends no usage chunk: a reply with none.
        server.add(
            Reply(
                content="<|im_start|>assistant\nParis is &#39;the&#39; capital.<|im_end|>",
                usage=None,
            )
        )
        agent = Agent(_llama(server))
        shown: list[str] = []
        async with agent.run_stream("Capital of France?") as stream:
            async for event in stream:
                if isinstance(event, TextDeltaEvent):
                    shown.append(event.text)
        result = stream.result
    assert result is not None
    assert "".join(shown) == result.output == "Paris is 'the' capital."
    assert result.usage.unreported == 1
    assert format_usage(result.usage, local=True) == (
        "1 request · tokens unknown (the server reported none) · $0 (local model)"
    )


async def test_usage_the_server_reports_is_used() -> None:
    """When llama.cpp reports usage (unstreamed answers do), its counts are shown."""
    with LocalModelServer(style="openai") as server:
        server.add(reply_text("Paris.", usage=usage(prompt_tokens=40, completion_tokens=3)))
        result = await Agent(_llama(server)).run("Capital of France?")
    assert (result.usage.input_tokens, result.usage.output_tokens) == (40, 3)
    assert result.usage.unreported == 0
    assert "40 in + 3 out tokens" in format_usage(result.usage)


async def test_other_profiles_keep_the_text_as_sent() -> None:
    """Without the flags (any other profile), entities and tokens pass through untouched."""
    raw = "a &#34;b&#34; <|im_end|> c"
    with LocalModelServer(style="openai") as server:
        server.add(reply_text(raw))
        model = OpenAIChatModel("x", base_url=server.base_url, api_key="k", profile=GENERIC_PROFILE)
        result = await Agent(model).run("hi")
    assert result.output == raw


@pytest.mark.parametrize(
    "raw",
    [
        "<|im_start|>assistant\nHello &amp; welcome.<|im_end|>\nmore",
        "It is &#34;cold&#34; &amp;#34;x&amp;#34; there <end_of_turn>",
        "plain text, nothing to clean",
        "  <start_of_turn>model\nhi\n\n<end_of_turn><start_of_turn>user",
    ],
)
def test_streamed_cleaning_matches_whole_cleaning_at_every_split(raw: str) -> None:
    """However the text is split into two or three deltas, the cleaned pieces join to
    the cleaned whole (a token or entity split over deltas is held back, never shown)."""
    whole = clean_text(raw, LLAMA_CPP_PROFILE)
    assert "<|" not in whole and "&#" not in whole
    for i, j in itertools.combinations(range(len(raw) + 1), 2):
        cleaner = OutputCleaner(LLAMA_CPP_PROFILE)
        pieces = [cleaner.feed(raw[:i]), cleaner.feed(raw[i:j]), cleaner.feed(raw[j:])]
        joined = "".join(pieces) + cleaner.flush()
        assert joined == whole, (i, j, pieces)
        assert "<|" not in joined and "&#" not in joined
