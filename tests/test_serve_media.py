"""``agentkit serve``'s OpenAI API takes documents and audio, called by the ``openai`` SDK."""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest
from support import model_on

from agentkit import Agent
from agentkit.serve import BackgroundServer
from agentkit.testing.server import LocalModelServer, reply_text

PDF_URL = "data:application/pdf;base64," + base64.b64encode(b"%PDF-1.7 quote").decode()
WAV_B64 = base64.b64encode(b"RIFF\x24\x00\x00\x00WAVEfmt ").decode()


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)


def ask(api: openai.OpenAI, parts: list[Any]) -> Any:
    """One user message of ``parts`` to the served agent ``clerk``."""
    messages: Any = [{"role": "user", "content": parts}]
    return api.chat.completions.create(model="clerk", messages=messages)


def test_a_clients_file_and_audio_parts_reach_the_agents_model() -> None:
    """A file part (data URL, filename; or a file id) and an input_audio part go through
    the agent to its model as the same parts."""
    parts: list[Any] = [
        {"type": "text", "text": "Compare."},
        {"type": "file", "file": {"file_data": PDF_URL, "filename": "quote.pdf"}},
        {"type": "file", "file": {"file_id": "file-abc123"}},
        {"type": "input_audio", "input_audio": {"data": WAV_B64, "format": "wav"}},
    ]
    with LocalModelServer([reply_text("Same.")]) as model_server:
        agent = Agent(model_on(model_server, "gpt-4o-audio-preview"), name="clerk")
        with BackgroundServer(agent) as served, client(served.url) as api:
            answer = ask(api, parts)
    assert answer.choices[0].message.content == "Same."
    (body,) = model_server.bodies
    assert body["messages"][-1]["content"] == parts


def test_a_document_for_a_model_without_documents_is_a_400() -> None:
    """A PDF sent to an agent whose model takes no documents is a 400 unsupported_content
    naming the fix, and the model is never asked."""
    pdf = {"type": "file", "file": {"file_data": PDF_URL, "filename": "quote.pdf"}}
    with LocalModelServer([]) as model_server:
        agent = Agent(model_on(model_server, "some-local-model"), name="clerk")
        with BackgroundServer(agent) as served, client(served.url) as api:
            with pytest.raises(openai.BadRequestError) as caught:
                ask(api, [pdf])
    assert caught.value.code == "unsupported_content"
    assert "does not take documents" in caught.value.message
    assert model_server.requests == []


@pytest.mark.parametrize(
    ("part", "words"),
    [
        ({"type": "file", "file": {"file_data": PDF_URL, "file_id": "f"}}, "not both"),
        ({"type": "file", "file": {"file_data": "https://x/a.pdf"}}, "a data: URL"),
        ({"type": "input_audio", "input_audio": {"data": WAV_B64}}, "'format'"),
        ({"type": "video_url", "video_url": {"url": "x"}}, "input_audio part"),
    ],
)
def test_malformed_file_and_audio_parts_are_400s(part: dict[str, Any], words: str) -> None:
    """A file part with both or neither source, audio without a format, or an unknown part
    type is a 400 saying what to send."""
    with LocalModelServer([]) as model_server:
        agent = Agent(model_on(model_server, "gpt-4o"), name="clerk")
        with BackgroundServer(agent) as served, client(served.url) as api:
            with pytest.raises(openai.BadRequestError) as caught:
                ask(api, [part])
    assert words in caught.value.message
    assert model_server.requests == []
