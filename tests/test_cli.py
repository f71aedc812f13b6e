"""The ``agentkit`` command: run, demo and chat, against a local test server or a scripted model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from support import TextSink, line_reader

from agentkit import Agent, ConfigurationError, tool
from agentkit.cli import ChatSession, ModelChoice, load_object, main, resolve_model
from agentkit.cli._chat import chat_loop
from agentkit.cli._render import PlainRenderer, format_usage
from agentkit.testing.scripted import ScriptedModel, output_call, text, tool_calls
from agentkit.testing.server import LocalModelServer, reply_text, reply_tool_calls
from agentkit.usage import Usage

ROOT = Path(__file__).resolve().parent.parent
# No test here sees a provider key or base URL from the developer's environment.
pytestmark = pytest.mark.usefixtures("no_keys")


AGENT_FILE = """
import os
from pydantic import BaseModel
from agentkit import Agent, tool
from agentkit.models.openai import OpenAIChatModel


@tool
def add(a: int, b: int) -> int:
    '''Add two numbers.'''
    return a + b


class Sum(BaseModel):
    total: int


model = OpenAIChatModel("gpt-4o-mini", base_url=os.environ["TEST_BASE_URL"], api_key="test")
agent = Agent(model, tools=[add], output_type=Sum)
text_agent = Agent(model, tools=[add])
not_an_agent = 42
"""


@pytest.fixture
def agent_file(tmp_path: Path) -> Path:
    path = tmp_path / "app.py"
    path.write_text(textwrap.dedent(AGENT_FILE))
    return path


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalModelServer]:
    with LocalModelServer(style="openai") as srv:
        monkeypatch.setenv("TEST_BASE_URL", srv.base_url)
        yield srv


def test_run_json_prints_output_usage_and_messages(
    agent_file: Path, server: LocalModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run FILE:agent PROMPT --json`` prints only the result: output, usage, messages."""
    server.add(reply_tool_calls(("add", {"a": 2, "b": 3})), reply_text('{"total": 5}'))
    code = main(["run", f"{agent_file}:agent", "2+3?", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)
    assert data["output"] == {"total": 5}
    assert data["usage"]["requests"] == 2
    assert (
        data["usage"]["total_tokens"]
        == data["usage"]["input_tokens"] + data["usage"]["output_tokens"]
    )
    roles = [m["role"] for m in data["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant"]
    assert data["messages"][2]["content"] == "5"


def test_run_plain_streams_tool_calls_output_and_usage(
    agent_file: Path, server: LocalModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Off a terminal, ``run`` prints plain lines: the tool call, its result, the output, usage."""
    server.add(reply_tool_calls(("add", {"a": 2, "b": 3})), reply_text('{"total": 5}'))
    assert main(["run", f"{agent_file}:agent", "2+3?"]) == 0
    out = capsys.readouterr().out
    assert '[tool add] {"a": 2, "b": 3}\n' in out
    assert "[result] add: 5\n" in out
    assert '[output Sum] {\n  "total": 5\n}\n' in out
    assert "[usage] 2 requests · " in out
    assert server.requests[0].body["stream"] is True


def test_run_streams_plain_text_once(
    agent_file: Path, server: LocalModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A text answer is printed as it streams, and not a second time at the end."""
    server.add(reply_text("Five, as it happens."))
    assert main(["run", f"{agent_file}:text_agent", "2+3?"]) == 0
    out = capsys.readouterr().out
    assert out.count("Five, as it happens.") == 1
    assert out.startswith("Five, as it happens.\n[usage] 1 request · ")


def test_run_as_a_subprocess_through_the_entry_point(
    agent_file: Path, server: LocalModelServer
) -> None:
    """``python -m agentkit.cli run ... --json`` works as a separate process with stdout a pipe."""
    server.add(reply_tool_calls(("add", {"a": 1, "b": 1})), reply_text('{"total": 2}'))
    env = {**os.environ, "TEST_BASE_URL": server.base_url}  # no keys: see no_keys
    proc = subprocess.run(
        [sys.executable, "-m", "agentkit.cli", "run", f"{agent_file}:agent", "1+1?", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["output"] == {"total": 2}


def test_run_json_reports_a_failed_run_as_json(
    agent_file: Path, server: LocalModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run that ends in an agent error prints the error and the conversation as JSON, exit 1."""
    server.add(*[reply_text("not json") for _ in range(4)])
    assert main(["run", f"{agent_file}:agent", "2+3?", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["error"]["type"] == "RetriesExhaustedError"
    assert data["messages"][0] == {"role": "user", "content": "2+3?"}


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("missing.py:agent", "no such file: missing.py"),
        ("{file}:nope", "has no attribute 'nope'; check the name after the colon"),
        ("{file}:not_an_agent", "is a int, not an agentkit Agent"),
        ("{file}", "does not name an object: write it as 'module:attr'"),
        ("no_such_module_xyz:agent", "no module named 'no_such_module_xyz'"),
    ],
)
def test_run_explains_a_bad_target(
    agent_file: Path,
    server: LocalModelServer,
    capsys: pytest.CaptureFixture[str],
    target: str,
    message: str,
) -> None:
    """A target that is not an agent exits 2 with what is wrong and how to write it."""
    assert main(["run", target.format(file=agent_file), "hi"]) == 2
    assert message in capsys.readouterr().out


def test_demo_runs_the_travel_desk_with_a_model_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``demo --no-chat`` asks the demo question, runs get_weather, prints the validated output."""
    with LocalModelServer(style="openai") as srv:
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        srv.add(
            reply_tool_calls(("get_weather", {"city": "Lyon"})),
            reply_text('{"advice": "Take a raincoat."}'),
        )
        assert main(["demo", "--no-chat"]) == 0
        assert srv.requests[0].body["model"] == "gpt-4o-mini"
    out = capsys.readouterr().out
    assert "> What's the weather in Lyon tomorrow?\n" in out
    assert (
        "[result] get_weather: Lyon tomorrow: rain, high 12 C, 90% chance of rain. "
        "Tip: Take an umbrella and waterproof shoes.\n"
    ) in out
    assert '[output TripAdvice] {\n  "city": "Lyon",' in out
    assert "Starting the embedded local model" not in out


def test_no_key_and_no_local_extra_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without an API key or the local extra, demo exits 2 naming the keys and how to install
    the extra, and not ``--model local``, which would fail the same way (one hint)."""
    import agentkit.local

    monkeypatch.setattr(agentkit.local, "local_model_available", lambda: False)
    assert main(["demo", "--no-chat"]) == 2
    out = capsys.readouterr().out
    assert "no API key is set (OPPER_API_KEY, MISTRAL_API_KEY or OPENAI_API_KEY)" in out
    assert f"in {ROOT}: pip install -e '.[local]'" in out
    assert "--model local" not in out


def test_resolve_model_follows_the_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mistral Small 3.2 with an Opper or Mistral key, OpenAI with only its key, else local."""
    assert resolve_model(None, local_fallback=True) == ModelChoice(None, local=True)
    assert resolve_model(None, local_fallback=False) == ModelChoice(None)
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    assert resolve_model(None, local_fallback=True) == ModelChoice("openai:gpt-4o-mini")
    monkeypatch.setenv("MISTRAL_API_KEY", "k")
    assert resolve_model(None, local_fallback=True) == ModelChoice("mistral-small-2506")
    assert resolve_model("LOCAL", local_fallback=False) == ModelChoice(None, local=True)
    assert resolve_model("openai:gpt-4o", local_fallback=True) == ModelChoice("openai:gpt-4o")


def test_resolve_model_rejects_a_bad_model_string_up_front() -> None:
    """A model string agentkit cannot route fails before anything starts, saying how to write it."""
    with pytest.raises(ConfigurationError, match="Unknown provider 'nope'"):
        resolve_model("nope:model", local_fallback=True)


def test_load_object_imports_module_attributes() -> None:
    """``module:attr`` with a dotted attribute resolves through the import system."""
    assert load_object("os.path:join.__name__") == "join"


def test_format_usage_says_when_the_cost_is_unknown() -> None:
    """Usage lines show tokens and cost; no price is "cost unknown", never a made-up $0."""
    usage = Usage(requests=2, input_tokens=1200, output_tokens=30, cost_usd=None)
    assert format_usage(usage) == (
        "2 requests · 1,200 in + 30 out tokens · cost unknown (no price for this model)"
    )
    priced = Usage(requests=1, input_tokens=10, output_tokens=5, cost_usd=0.0000025)
    assert format_usage(priced, seconds=1.25) == (
        "1 request · 10 in + 5 out tokens · $0.000003 · 1.2 s"
    )
    assert format_usage(priced, local=True).endswith("$0 (local model)")


# -- chat sessions: turns, Ctrl-C, Ctrl-D --------------------------------------------------


def _session(agent: Agent[Any, Any], portal: Any) -> tuple[ChatSession, TextSink]:
    out = TextSink()
    return ChatSession(agent, portal, PlainRenderer(out)), out  # type: ignore[arg-type]


def test_chat_turns_carry_the_conversation() -> None:
    """Each turn sends the whole conversation so far; usage is shown after every turn."""
    from anyio.from_thread import start_blocking_portal

    model = ScriptedModel([text("Hello!"), text("Still here.")])
    with start_blocking_portal() as portal:
        session, out = _session(Agent(model), portal)
        session.turn("hi")
        session.turn("again?")
    assert [m.role for m in model.requests[1].messages] == ["user", "assistant", "user"]
    assert len(session.history) == 4
    assert out.text.count("[usage] 1 request · ") == 2


def test_a_turn_on_the_embedded_model_costs_nothing() -> None:
    """A turn's usage line says $0 when the renderer runs the embedded model (model_scope
    tells it so for --model local), and "cost unknown" otherwise."""
    from anyio.from_thread import start_blocking_portal

    model = ScriptedModel([text("Hello!"), text("Again.")])
    with start_blocking_portal() as portal:
        session, out = _session(Agent(model), portal)
        session.turn("hi")
        assert "cost unknown" in out.text and "$0" not in out.text
        session.renderer.embedded_model = True
        session.turn("again?")
    assert out.text.count(" · $0 (local model) · ") == 1


@pytest.fixture
def sigint_raises_keyboard_interrupt() -> Iterator[None]:
    """Python's own Ctrl-C handler, whatever this process inherited (a job started in the
    background by a non-interactive shell begins with SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("sigint_raises_keyboard_interrupt")
def test_ctrl_c_cancels_the_turn_and_keeps_the_conversation() -> None:
    """SIGINT during a turn cancels only that turn; the next one starts from the history before."""
    from anyio.from_thread import start_blocking_portal

    started = threading.Event()

    @tool
    async def slow() -> str:
        """Take forever."""
        started.set()
        signal.raise_signal(signal.SIGINT)  # what Ctrl-C in the terminal does
        await anyio.sleep_forever()
        return "never"

    model = ScriptedModel([text("first"), tool_calls(("slow", {})), text("after")])
    with start_blocking_portal() as portal:
        session, out = _session(Agent(model, tools=[slow]), portal)
        assert session.turn("one") is not None
        before = list(session.history)
        assert session.turn("two") is None
        assert started.is_set()
        assert session.history == before
        result = session.turn("three")
    assert result is not None and result.output == "after"
    assert [m.role for m in model.requests[2].messages] == ["user", "assistant", "user"]
    assert model.requests[2].messages[-1].content == "three"
    assert "[cancelled] the turn was cancelled" in out.text


def test_ctrl_c_while_the_turn_is_being_started_cancels_it() -> None:
    """A Ctrl-C that lands while the turn's task is being handed to the loop (seen when
    the tool raised it at once, on a loaded machine) cancels that turn like any other,
    instead of escaping as a KeyboardInterrupt and leaving the task running."""
    from anyio.from_thread import start_blocking_portal

    @tool
    async def wait() -> str:
        """Wait."""
        await anyio.sleep_forever()
        return "never"

    class CtrlCOnStart:
        def __init__(self, portal: Any) -> None:
            self.portal = portal

        def __getattr__(self, name: str) -> Any:
            return getattr(self.portal, name)

        def start_task_soon(self, *args: Any) -> Any:
            future = self.portal.start_task_soon(*args)
            signal.raise_signal(signal.SIGINT)  # before the handle is returned
            return future

    def reply(request: Any) -> Any:  # turn one waits (if it gets this far); two answers
        return tool_calls(("wait", {})) if request.messages[-1].content == "one" else "after"

    model = ScriptedModel([reply, reply])
    with start_blocking_portal() as portal:
        session, out = _session(Agent(model, tools=[wait]), CtrlCOnStart(portal))
        assert session.turn("one") is None
        assert session.history == []
        session.portal = portal
        result = session.turn("two")
    assert result is not None and result.output == "after"
    assert "[cancelled] the turn was cancelled" in out.text


@pytest.mark.usefixtures("sigint_raises_keyboard_interrupt")
def test_ctrl_c_as_its_handler_comes_back_cancels_the_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Ctrl-C that lands just as the turn's start puts Python's Ctrl-C handler back (it
    then raises out of ``signal.signal``; seen once in 15 runs of this file) cancels that
    turn, instead of escaping from it and ending the chat."""
    from anyio.from_thread import start_blocking_portal

    real_signal = signal.signal
    fired: list[bool] = []

    def signal_then_ctrl_c(signum: int, handler: Any) -> Any:
        previous = real_signal(signum, handler)
        if handler is signal.default_int_handler and not fired:
            fired.append(True)
            raise KeyboardInterrupt  # what a SIGINT pending at this instant raises
        return previous

    with start_blocking_portal() as portal:
        session, _ = _session(Agent(ScriptedModel([text("hi")])), portal)
        monkeypatch.setattr(signal, "signal", signal_then_ctrl_c)
        try:
            result = session.turn("hello")
        except KeyboardInterrupt:
            pytest.fail("the Ctrl-C escaped the turn")
        finally:
            monkeypatch.undo()
    assert fired
    assert result is None


def test_cancel_turn_from_another_thread() -> None:
    """``cancel_turn()`` stops a running turn from any thread; the history is unchanged."""
    from anyio.from_thread import start_blocking_portal

    entered = threading.Event()

    @tool
    async def wait() -> str:
        """Wait."""
        entered.set()
        await anyio.sleep_forever()
        return "never"

    model = ScriptedModel([tool_calls(("wait", {}))])
    with start_blocking_portal() as portal:
        session, _ = _session(Agent(model, tools=[wait]), portal)

        def cancel_when_running() -> None:
            entered.wait()
            session.cancel_turn()

        canceller = threading.Thread(target=cancel_when_running)
        canceller.start()
        assert session.turn("go") is None
        canceller.join()
    assert session.history == []


def test_chat_loop_leaves_on_ctrl_d_and_survives_agent_errors() -> None:
    """The loop runs each line as a turn, reports a failed turn and goes on, and ends on EOF."""
    from anyio.from_thread import start_blocking_portal

    model = ScriptedModel([text("one"), output_call({"x": 1})])
    read = line_reader(["first", "second"], [])
    with start_blocking_portal() as portal:
        session, out = _session(Agent(model, retries=0), portal)
        assert chat_loop(session, read) == 0
    assert "one" in out.text
    assert "[error] The model did not manage a valid answer in 1 try; ask again" in out.text
    assert "The conversation goes on from before that turn." in out.text
    assert out.text.rstrip().endswith("bye")
    assert len(session.history) == 2


def test_chat_command_talks_to_a_model_string(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``chat --model ... --tools module:attr --instructions ...`` sends those, turn by turn."""
    with LocalModelServer(style="openai") as srv:
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        srv.add(reply_text("Hi there."))
        lines = iter(["hello"])

        def read(prompt: str) -> str:
            for line in lines:
                return line
            raise EOFError

        monkeypatch.setattr("builtins.input", read)
        assert (
            main(
                [
                    "chat",
                    "--model",
                    "openai:gpt-4o-mini",
                    "--tools",
                    f"{ROOT / 'examples' / 'travel_desk.py'}:get_weather",
                    "--instructions",
                    "Be nice.",
                ]
            )
            == 0
        )
        body = srv.requests[0].body
    assert body["messages"][0] == {"role": "system", "content": "Be nice."}
    assert [t["function"]["name"] for t in body["tools"]] == ["get_weather"]
    assert "Hi there." in capsys.readouterr().out
