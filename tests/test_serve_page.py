"""What ``agentkit serve`` sends its chat page: usage in the CLI's words, structured output
as fields, and failed turns in the user's terms, never stored (no browser here; the
page itself is tested in Chromium by ``test_serve_browser.py``)."""

from __future__ import annotations

import io
import re
import socket
from typing import Any

import httpx2
import pytest
from pydantic import BaseModel
from test_serve_api import _page_events

from agentkit import Agent
from agentkit.cli._render import PlainRenderer
from agentkit.local import local_model_available
from agentkit.models import OpenAIChatModel, RetryPolicy
from agentkit.serve import BackgroundServer
from agentkit.testing import ScriptedModel
from agentkit.testing.scripted import output_call, text
from agentkit.usage import Usage, format_usage

CONVERSATION = "c0nversation-page"


class TripAdvice(BaseModel):
    """Advice for a trip."""

    city: str
    advice: str
    days: list[str]


ADVICE = {"city": "Lyon", "advice": "Pack a light jacket, just in case.", "days": ["Mon", "Tue"]}
TRUNCATED = '{ "advice": "Pack a light jacket, just in case.'
"""What a small model sent when it ran out of tokens (the issue's example)."""


def _turn(url: str, prompt: str) -> list[dict[str, Any]]:
    body = {"conversation": CONVERSATION, "prompt": prompt}
    return _page_events(httpx2.post(url + "/api/chat", json=body, timeout=30).text)


def _items(url: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = httpx2.get(f"{url}/api/conversations/{CONVERSATION}").json()[
        "items"
    ]
    return items


def _without_seconds(line: str) -> str:
    assert re.search(r" · \d+\.\d s$", line), line
    return line.rsplit(" · ", 1)[0]


@pytest.mark.parametrize("local", [False, True])
def test_the_page_and_the_command_write_a_turns_usage_alike(local: bool) -> None:
    """For the same turn's usage, the page's ``usage_text`` is the ``agentkit`` command's
    usage line, word for word (the turn's seconds apart): "$0 (local model)" included."""
    script = [text("Rain in Lyon.", input_tokens=1200, output_tokens=30)]
    agent: Agent[Any, str] = Agent(ScriptedModel(script), name="desk")
    with BackgroundServer(agent, local_model=local) as served:
        finished = _turn(served.url, "Weather in Lyon?")[-1]
    result = Agent(ScriptedModel(script), name="desk").run_sync("Weather in Lyon?")
    shown = io.StringIO()
    PlainRenderer(shown).result(result, seconds=0.0, local=local)
    cli_line = shown.getvalue().splitlines()[-1].removeprefix("[usage] ")
    assert finished["type"] == "run_finished"
    assert _without_seconds(finished["usage_text"]) == _without_seconds(cli_line)
    assert _without_seconds(cli_line) == format_usage(result.usage, local=local)
    assert ("$0 (local model)" in cli_line) is local


def test_the_shared_usage_line_says_what_is_unknown() -> None:
    """The one usage formatter says "tokens unknown" when the server counted none, and
    never a made-up cost."""
    usage = Usage(requests=2, input_tokens=0, output_tokens=0, cost_usd=None, unreported=2)
    assert format_usage(usage) == (
        "2 requests · tokens unknown (the server reported none) · "
        "cost unknown (no price for this model)"
    )
    assert format_usage(usage, local=True, seconds=4.04) == (
        "2 requests · tokens unknown (the server reported none) · $0 (local model) · 4.0 s"
    )


def test_a_structured_answer_reaches_the_page_as_fields_live_and_stored() -> None:
    """A structured output is sent as its type and fields, and a stored conversation gives
    the same fields; the refused attempt before it is in neither."""
    model = ScriptedModel([output_call(TRUNCATED), output_call(ADVICE)])
    agent: Agent[Any, TripAdvice] = Agent(model, output_type=TripAdvice, name="desk")
    with BackgroundServer(agent) as served:
        events = _turn(served.url, "Lyon tomorrow?")
        items = _items(served.url)
    finished = events[-1]
    assert finished["structured"] == {"type": "TripAdvice", "data": ADVICE}
    assert [e["type"] for e in events] == ["run_started", "retry", "run_finished"]
    assert items == [
        {"type": "user", "text": "Lyon tomorrow?"},
        {"type": "output", "structured": {"type": "TripAdvice", "data": ADVICE}},
    ]
    assert finished["kept"] == len(items)


def test_a_failed_turn_is_not_stored_and_says_what_happened() -> None:
    """A turn that fails stores nothing: its error says in plain words what happened, the
    developer detail apart, and where the turn sits in the stored conversation."""
    script = [output_call(ADVICE), *[output_call(TRUNCATED)] * 3]
    agent: Agent[Any, TripAdvice] = Agent(
        ScriptedModel(script), output_type=TripAdvice, retries=2, name="desk"
    )
    with BackgroundServer(agent) as served:
        _turn(served.url, "Lyon tomorrow?")
        before = _items(served.url)
        failed = _turn(served.url, "And Tokyo?")[-1]
        after = _items(served.url)
    assert after == before and len(before) == 2
    assert failed["type"] == "run_error" and failed["kept"] == 2
    assert failed["error"] == "RetriesExhaustedError"
    assert "RetriesExhaustedError" not in failed["message"]
    assert failed["detail"].startswith("RetriesExhaustedError: ")
    assert TRUNCATED not in failed["message"]


def test_a_missing_key_says_who_can_fix_it_and_how(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no API key for the agent's model, the page's error names the missing key and
    tells whoever runs the server to set it or to use ``--model local``."""
    for name in ("OPPER_API_KEY", "MISTRAL_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    agent: Agent[Any, str] = Agent("mistral-small-2506", name="desk")
    with BackgroundServer(agent) as served:
        failed = _turn(served.url, "hello")[-1]
        assert _items(served.url) == []
    assert failed["type"] == "run_error" and failed["error"] == "MissingAPIKeyError"
    assert failed["message"].startswith(
        "The server has no API key for its model (mistral-small-2506), so it cannot answer. "
        "Whoever runs it: set the key the details name and restart the server"
    )
    assert ("--model local" in failed["message"]) is local_model_available()  # one fitting hint
    assert failed["detail"].startswith("MissingAPIKeyError: No API key for mistral-small-2506")
    assert "MISTRAL_API_KEY" in failed["detail"]


def test_the_embedded_model_gone_is_said_so() -> None:
    """On a server of the embedded model (``local_model``), a turn whose model server is
    gone says the embedded model stopped and to restart, not to check a base URL the user
    never gave; the connection error stays in the detail."""
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        unused_port = sock.getsockname()[1]
    model = OpenAIChatModel(
        "gemma-3-270m",
        base_url=f"http://127.0.0.1:{unused_port}/v1",
        api_key="local",
        retry=RetryPolicy(max_retries=0),
    )
    with BackgroundServer(Agent(model, name="desk"), local_model=True) as served:
        failed = _turn(served.url, "hello")[-1]
    assert failed["type"] == "run_error" and failed["error"] == "ModelConnectionError"
    assert failed["message"] == (
        "The embedded model stopped answering (its server on this machine is gone); restart "
        "the command to start it again."
    )
    assert failed["detail"].startswith(
        f"ModelConnectionError: Could not get an answer from model 'gemma-3-270m' at "
        f"http://127.0.0.1:{unused_port}/v1"
    )
