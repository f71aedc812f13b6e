"""Where thinking shows and where it must not: `agentkit chat`, the web page, the
OpenAI-compatible endpoint of `agentkit serve`."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai
from support import TextSink, get_weather, model_on

from agentkit import Agent, AssistantMessage, ThinkingDeltaEvent, ThinkingPart
from agentkit.cli._render import PlainRenderer, RichRenderer, format_usage
from agentkit.events import TextDeltaEvent, ToolCallStartedEvent
from agentkit.serve import BackgroundServer
from agentkit.testing.scripted import ScriptedModel, text, tool_calls
from agentkit.testing.server import LocalModelServer, reply_text, reply_tool_calls, usage
from agentkit.usage import Usage

SECRET = "PRIVATE-CHAIN-OF-THOUGHT"


def _thinking_replies() -> list[Any]:
    return [
        reply_tool_calls(("get_weather", {"city": "Paris"}), thinking=SECRET + " one"),
        reply_text("Sunny in Paris.", thinking=SECRET + " two", usage=usage(20, 9, None, 4)),
    ]


def test_plain_chat_shows_thinking_apart_from_the_answer() -> None:
    """The plain renderer labels thinking and ends its line before the answer or a call."""
    out = TextSink()
    renderer = PlainRenderer(out)  # type: ignore[arg-type]
    for event in (
        ThinkingDeltaEvent("Let me "),
        ThinkingDeltaEvent("think."),
        ToolCallStartedEvent(index=0, tool_call_id="c1", name="get_weather"),
        ThinkingDeltaEvent("Done thinking."),
        TextDeltaEvent("Answer."),
    ):
        renderer.event(event)
    assert out.text == (
        "[thinking] Let me think.\n[tool get_weather] \n[thinking] Done thinking.\nAnswer."
    )


def test_rich_chat_shows_thinking_dimmed() -> None:
    """In a terminal the thinking is written dim and italic, the answer plainly."""
    from rich.console import Console

    out = TextSink()
    renderer = RichRenderer(out)  # type: ignore[arg-type]
    renderer.console = Console(file=out, force_terminal=True, color_system="standard")  # type: ignore[arg-type]
    renderer.event(ThinkingDeltaEvent("pondering"))
    renderer.event(TextDeltaEvent("Answer."))
    assert "\x1b[2;3mpondering\x1b[0m" in out.text
    assert out.text.endswith("\nAnswer.")


def test_usage_line_names_the_reasoning_tokens() -> None:
    """The usage line says how many output tokens went to reasoning."""
    line = format_usage(Usage(requests=1, input_tokens=10, output_tokens=50, reasoning_tokens=40))
    assert "10 in + 50 out tokens (40 of them reasoning)" in line


def test_chat_command_streams_thinking_from_a_scripted_model() -> None:
    """A chat turn renders the scripted thinking before the tool call and the answer."""
    from anyio.from_thread import start_blocking_portal

    from agentkit.cli import ChatSession

    model = ScriptedModel(
        [tool_calls(("get_weather", {"city": "Oslo"}), thinking="Oslo?"), text("Cold.")]
    )
    out = TextSink()
    with start_blocking_portal() as portal:
        session = ChatSession(Agent(model, tools=[get_weather]), portal, PlainRenderer(out))  # type: ignore[arg-type]
        result = session.turn("Weather in Oslo?")
    assert result is not None and result.output == "Cold."
    assert out.text.index("[thinking] Oslo?\n") < out.text.index("[tool get_weather]")


def test_openai_endpoint_never_answers_with_thinking() -> None:
    """Plain and streamed completions of `agentkit serve` carry the answer only, and a
    client's copy of thinking chunks in its history is accepted and not passed on."""
    with LocalModelServer([*_thinking_replies(), *_thinking_replies()], style="mistral") as server:
        agent = Agent(model_on(server), tools=[get_weather], name="weather")
        with BackgroundServer(agent) as served:
            api = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)
            history: list[dict[str, Any]] = [
                {"role": "user", "content": "Hi"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": [{"type": "text", "text": "old"}]},
                        {"type": "text", "text": "Hello."},
                    ],
                },
                {"role": "user", "content": "Weather in Paris?"},
            ]
            plain = httpx2.post(
                served.url + "/v1/chat/completions",
                json={"model": "weather", "messages": history},
            )
            with api:
                chunks = list(
                    api.chat.completions.create(
                        model="weather",
                        messages=[{"role": "user", "content": "Weather in Paris?"}],
                        stream=True,
                    )
                )
        bodies = server.bodies
    assert plain.status_code == 200, plain.text
    assert plain.json()["choices"][0]["message"]["content"] == "Sunny in Paris."
    assert plain.json()["usage"]["completion_tokens_details"] == {"reasoning_tokens": 4}
    assert SECRET not in plain.text
    streamed = [c.model_dump_json() for c in chunks]
    assert SECRET not in "".join(streamed)
    pieces = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert pieces == "Sunny in Paris."
    assert bodies[0]["messages"][1] == {"role": "assistant", "content": "Hello."}


def _events(stream: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in stream.splitlines() if line.startswith("data: {")]


def test_the_page_gets_thinking_as_its_own_events_and_in_the_transcript() -> None:
    """The page's event stream sends thinking apart from text, and a reloaded
    conversation lists it before the answer it led to."""
    with LocalModelServer(_thinking_replies(), style="mistral") as server:
        agent = Agent(model_on(server), tools=[get_weather], name="weather")
        with BackgroundServer(agent) as served:
            body = {"conversation": "tab-thinking1", "prompt": "Weather in Paris?"}
            events = _events(httpx2.post(served.url + "/api/chat", json=body).text)
            items = httpx2.get(served.url + "/api/conversations/tab-thinking1").json()["items"]
            page = httpx2.get(served.url + "/").text
    thinking = "".join(e["delta"] for e in events if e["type"] == "thinking")
    answer = "".join(e["delta"] for e in events if e["type"] == "text")
    assert thinking == f"{SECRET} one{SECRET} two"
    (finished,) = [e for e in events if e["type"] == "run_finished"]
    assert finished["usage"]["reasoning_tokens"] == 4
    assert answer == "Sunny in Paris." and SECRET not in answer
    kinds = [i["type"] for i in items]
    assert kinds == ["user", "thinking", "tool", "thinking", "assistant"]
    assert items[1]["text"] == SECRET + " one"
    assert "<details" not in page.split("<script>")[0]  # folded blocks are built per event
    assert 'el("details", "thinking")' in page


def test_scripted_thinking_is_a_thinking_part() -> None:
    """ScriptedModel's ``thinking=`` gives the answer a ThinkingPart."""
    model = ScriptedModel([text("Hi.", thinking="Greet them.")])
    result = Agent(model).run_sync("Hello")
    message = result.messages[-1]
    assert isinstance(message, AssistantMessage)
    assert message.thinking == (ThinkingPart(text="Greet them."),)
    assert result.output == "Hi."
