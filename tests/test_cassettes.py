"""The pytest plugin end to end: record a real exchange with a local server, then replay it.

Each test runs an inner pytest session (pytester) whose test drives an agent
through ``OpenAIChatModel`` against a real ``LocalModelServer`` on 127.0.0.1,
records with ``--record-mode=once``, and then checks what the default mode
(replay only) does with the cassette.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentkit.testing.cassettes import KEY_ENV_VARS, load_cassette_data
from agentkit.testing.server import LocalModelServer, reply_text, reply_tool_calls

pytest_plugins = ("pytester",)

# Imported once here, so the inner pytest sessions (which restore sys.modules) are fast.
for _module in ("openai", "vcr", "agentkit.agent", "agentkit.models.openai"):
    importlib.import_module(_module)

KEY = "sk-proj-" + "Qx7bK2mZ9vR4tY8wN3cF6hJ1pL5sD0gA" + "e4Uo9Wi2Ty7Rq"
ORG = "org-Zr81kQw3mYxT5nB0"
PROJECT = "proj_Hd72LsPq09XeVb3"
COOKIE = "__cf_bm=a8F3kLm29QzXw7Rt5YuI0oPl4Nc6Vb1"

INNER = '''
import os

import pytest
from openai import AsyncOpenAI

from agentkit.agent import Agent
from agentkit.events import TextDeltaEvent
from agentkit.messages import UserMessage
from agentkit.models.base import ModelRequest, complete
from agentkit.models.openai import OpenAIChatModel
from agentkit.tools import tool

CALLS = []


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    CALLS.append(city)
    return f"Sunny, 24 C in {city}"


@pytest.fixture
def anyio_backend():
    return "asyncio"


def make_model():
    client = AsyncOpenAI(
        base_url=os.environ["AK_BASE_URL"],
        api_key=os.environ["AK_KEY"],
        organization=os.environ["AK_ORG"],
        project=os.environ["AK_PROJECT"],
        max_retries=0,
    )
    return OpenAIChatModel("mistral-small-2506", client=client)


@pytest.mark.vcr
@pytest.mark.anyio
async def test_weather():
    agent = Agent(make_model(), instructions="Answer briefly.", tools=[get_weather])
    result = await agent.run(os.environ.get("AK_PROMPT", "What is the weather in Paris?"))
    assert result.output == "It is sunny in Paris."
    assert CALLS == ["Paris"]


@pytest.mark.vcr
@pytest.mark.agentkit_secrets("acct-93f1c2d4e5b6")
@pytest.mark.anyio
async def test_named_secret():
    model = make_model()
    prompt = "Summarise account acct-93f1c2d4e5b6."
    response = await complete(model, ModelRequest(messages=[UserMessage(content=prompt)]))
    assert response.message.content == "Done."


@pytest.mark.vcr
@pytest.mark.anyio
async def test_requests():
    model = make_model()
    for n in range(int(os.environ.get("AK_REQUESTS", "2"))):
        message = UserMessage(content=f"Question {n + 1}?")
        await complete(model, ModelRequest(messages=[message]))


@pytest.mark.vcr
@pytest.mark.anyio
async def test_stream():
    agent = Agent(make_model(), instructions="Answer briefly.")
    async with agent.run_stream("Describe Paris in one sentence.") as stream:
        deltas = [e.text for e in [e async for e in stream] if isinstance(e, TextDeltaEvent)]
    assert "".join(deltas) == "Paris is the sunny capital of France."
    assert len(deltas) > 1
'''

REPLIES = {
    "test_weather": [
        reply_tool_calls(("get_weather", {"city": "Paris"})),
        reply_text("It is sunny in Paris."),
    ],
    "test_named_secret": [reply_text("Done.")],
    "test_requests": [reply_text("One."), reply_text("Two.")],
    "test_stream": [reply_text("Paris is the sunny capital of France.")],
}


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalModelServer]:
    """A Mistral-style local server; ``record()`` gives it the replies of the inner test."""
    with LocalModelServer(style="mistral", model="mistral-small-2506") as srv:
        monkeypatch.setenv("AK_BASE_URL", srv.base_url)
        monkeypatch.setenv("AK_KEY", KEY)
        monkeypatch.setenv("AK_ORG", ORG)
        monkeypatch.setenv("AK_PROJECT", PROJECT)
        yield srv


def record(pytester: pytest.Pytester, server: LocalModelServer, test: str) -> Path:
    """Record ``test`` against the server with --record-mode=once; return its cassette."""
    pytester.makepyfile(test_inner=INNER)
    # Every answer carries a cookie and an organisation id, as real endpoints' do.
    headers = {"set-cookie": COOKIE, "openai-organization": ORG}
    server.add(*[dataclasses.replace(r, headers=headers) for r in REPLIES[test]])
    result = pytester.runpytest("--record-mode=once", "-k", test)
    result.assert_outcomes(passed=1)
    cassette = pytester.path / "cassettes" / "test_inner" / f"{test}.yaml"
    assert cassette.is_file()
    return cassette


def test_recorded_cassette_holds_no_secret(
    pytester: pytest.Pytester, server: LocalModelServer
) -> None:
    """After recording with a real-looking key, org, project and cookie, none is in the file."""
    cassette = record(pytester, server, "test_weather")
    content = cassette.read_text()
    for secret in (KEY, ORG, PROJECT, COOKIE, "sk-proj-", "Bearer"):
        assert secret not in content
    data = load_cassette_data(cassette)
    first = data["interactions"][0]
    assert first["request"]["headers"]["authorization"] == ["<scrubbed>"]
    assert first["request"]["headers"]["openai-organization"] == ["<scrubbed>"]
    assert first["request"]["headers"]["openai-project"] == ["<scrubbed>"]
    assert first["response"]["headers"]["set-cookie"] == ["<scrubbed>"]
    # JSON bodies are stored as data, not as escaped strings.
    sent = first["request"]["body"]["json"]["messages"]
    assert sent[-1] == {"role": "user", "content": "What is the weather in Paris?"}
    answer = data["interactions"][1]["response"]["body"]["json"]
    assert answer["choices"][0]["message"]["content"] == "It is sunny in Paris."


def test_replay_passes_with_the_server_stopped(
    pytester: pytest.Pytester, server: LocalModelServer
) -> None:
    """In the default mode the recorded run replays offline: the tool runs, no request is sent."""
    record(pytester, server, "test_weather")
    sent_while_recording = len(server.requests)
    server.stop()
    result = pytester.runpytest("-k", "test_weather")
    result.assert_outcomes(passed=1)
    assert len(server.requests) == sent_while_recording == 2


def test_changed_prompt_fails_with_a_diff(
    pytester: pytest.Pytester, server: LocalModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that differs from the recording fails with a diff; no old answer is replayed."""
    record(pytester, server, "test_weather")
    server.stop()
    monkeypatch.setenv("AK_PROMPT", "What is the weather in Lyon?")
    result = pytester.runpytest("-k", "test_weather")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "CassetteMismatchError" in out
    assert "differs from recorded exchange #1" in out
    assert '-      "content": "What is the weather in Paris?",' in out
    assert '+      "content": "What is the weather in Lyon?",' in out


def test_stream_replays_through_the_agent(
    pytester: pytest.Pytester, server: LocalModelServer
) -> None:
    """A streamed run records as a list of events and replays as several text deltas."""
    cassette = record(pytester, server, "test_stream")
    body = load_cassette_data(cassette)["interactions"][0]["response"]["body"]
    assert body["sse"][-1] == {"data": "[DONE]"}
    assert len(body["sse"]) > 3
    server.stop()
    result = pytester.runpytest("-k", "test_stream")
    result.assert_outcomes(passed=1)


def test_unplayed_exchanges_fail(
    pytester: pytest.Pytester, server: LocalModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test that sends fewer requests than were recorded fails, naming the unplayed ones."""
    record(pytester, server, "test_requests")
    server.stop()
    monkeypatch.setenv("AK_REQUESTS", "1")
    result = pytester.runpytest("-k", "test_requests")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "1 of 2 recorded exchanges" in out
    assert "were never played" in out
    assert "#2 POST http://127.0.0.1:" in out
    assert "Question 2?" in out


def test_one_request_too_many_fails(
    pytester: pytest.Pytester, server: LocalModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request past the end of the recording fails instead of reaching the network."""
    record(pytester, server, "test_requests")
    recorded = len(server.requests)
    monkeypatch.setenv("AK_REQUESTS", "3")
    result = pytester.runpytest("-k", "test_requests")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "the code sent one request more than cassette" in out
    assert "(2 exchanges, all played already): POST http://127.0.0.1:" in out
    assert "Question 3?" in out
    assert len(server.requests) == recorded


def test_tampered_cassette_with_a_key_fails_to_load(
    pytester: pytest.Pytester, server: LocalModelServer
) -> None:
    """A cassette edited to hold a key fails loudly, naming the file and the field."""
    cassette = record(pytester, server, "test_weather")
    content = cassette.read_text()
    start = content.index("authorization:")
    tampered = content[start:].replace("- <scrubbed>", f"- Bearer {KEY}", 1)
    cassette.write_text(content[:start] + tampered)
    server.stop()
    result = pytester.runpytest("-k", "test_weather")
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    assert "CassetteSecretError" in out
    assert str(cassette) in out
    assert "interactions[0].request.headers.authorization[0]" in out


def test_key_inside_a_body_fails_to_load(
    pytester: pytest.Pytester, server: LocalModelServer
) -> None:
    """A key pasted into a recorded message is found too, by its shape."""
    cassette = record(pytester, server, "test_weather")
    content = cassette.read_text()
    cassette.write_text(content.replace("What is the weather in Paris?", f"key {KEY}", 1))
    result = pytester.runpytest("-k", "test_weather")
    result.assert_outcomes(errors=1)
    assert "interactions[0].request.body.json.messages[1].content" in result.stdout.str()
    assert "an API key (sk-...)" in result.stdout.str()


def test_named_secret_is_scrubbed_and_still_replays(
    pytester: pytest.Pytester, server: LocalModelServer
) -> None:
    """A value named with agentkit_secrets never reaches the file, and the replay still matches."""
    cassette = record(pytester, server, "test_named_secret")
    content = cassette.read_text()
    assert "acct-93f1c2d4e5b6" not in content
    assert "Summarise account <scrubbed>." in content
    server.stop()
    pytester.runpytest("-k", "test_named_secret").assert_outcomes(passed=1)


def test_missing_cassette_fails_without_touching_the_network(
    pytester: pytest.Pytester, server: LocalModelServer
) -> None:
    """With no cassette the default mode fails with what to do, and sends nothing."""
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest("-k", "test_requests")
    result.assert_outcomes(failed=1)
    assert "does not exist" in result.stdout.str()
    assert "--record-mode=once" in result.stdout.str()
    assert server.requests == []


def test_vcr_marker_without_pytest_recording_says_what_to_install(
    pytester: pytest.Pytester, server: LocalModelServer
) -> None:
    """If pytest-recording is disabled, a vcr-marked test fails saying what to install."""
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest("-p", "no:recording", "-k", "test_requests")
    result.assert_outcomes(errors=1)
    assert "needs pytest-recording" in result.stdout.str()
    assert server.requests == []


RECORD_TOOL = Path(__file__).parent.parent / "tools" / "record_cassettes.py"


def _tool_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in KEY_ENV_VARS}
    return {**env, **extra}


def test_record_command_refuses_without_a_key(pytester: pytest.Pytester) -> None:
    """The record command refuses to start when no API key is set, saying what to export."""
    result = subprocess.run(
        [sys.executable, str(RECORD_TOOL), "tests"],
        env=_tool_env(),
        capture_output=True,
        text=True,
        cwd=pytester.path,
        check=False,
    )
    assert result.returncode == 2
    assert "refusing to record: no API key is set" in result.stderr
    assert "MISTRAL_API_KEY" in result.stderr


@pytest.mark.slow  # records, then replays, in two pytest subprocesses
def test_record_command_records_then_replays(
    pytester: pytest.Pytester, server: LocalModelServer
) -> None:
    """One command records the marked tests' cassettes and then replays them offline."""
    pytester.makepyfile(test_inner=INNER)
    server.add(*REPLIES["test_requests"])
    result = subprocess.run(
        [sys.executable, str(RECORD_TOOL), "--no-key", "test_inner.py", "-k", "test_requests"],
        env=_tool_env(),
        capture_output=True,
        text=True,
        cwd=pytester.path,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "replaying offline" in result.stdout
    assert len(server.requests) == 2  # recorded once; the replay sent nothing
    cassette = pytester.path / "cassettes" / "test_inner" / "test_requests.yaml"
    assert KEY not in cassette.read_text()


def test_opting_out_leaves_pytest_recording_alone(
    pytester: pytest.Pytester, server: LocalModelServer
) -> None:
    """With agentkit_cassettes = false, pytest-recording's own cassette format is used."""
    pytester.makeini("[pytest]\nagentkit_cassettes = false\n")
    cassette = record(pytester, server, "test_named_secret")
    body = load_cassette_data(cassette)["interactions"][0]["request"]["body"]
    assert isinstance(body, str)  # vcrpy's escaped string, not agentkit's data
    assert "Summarise account acct-93f1c2d4e5b6." in body
