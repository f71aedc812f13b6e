"""The ``agentkit`` command as a newcomer meets it: names resolve from where they stand,
a missing key says how to run offline, a bad ``--model`` lists every accepted form,
and configuration errors are one line (a traceback only with ``--debug``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import LocalLlamaStandIn, TextSink, line_reader

from agentkit.cli import load_object, main
from agentkit.testing.server import LocalModelServer, reply_text

ROOT = Path(__file__).resolve().parent.parent
TRAVEL_DESK = ROOT / "examples" / "travel_desk.py"
ENTRY_POINT = Path(sys.executable).parent / "agentkit"
pytestmark = pytest.mark.usefixtures("no_keys")


def _error_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("[error]")]


def test_module_tools_resolve_from_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``module:attr`` imports from the current directory even when it is not on sys.path."""
    (tmp_path / "mytools_first_run.py").write_text(
        "def shout(text: str) -> str:\n    return text\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "mytools_first_run", raising=False)
    assert load_object("mytools_first_run:shout").__name__ == "shout"


def test_readme_chat_command_finds_its_tools_through_the_console_script() -> None:
    """``agentkit chat --tools examples.travel_desk:get_weather``, run by the installed script
    from the repository root, loads the tool and sends it to the model."""
    with LocalModelServer(style="openai") as srv:
        srv.add(reply_text("Hello."))
        env = {**os.environ, "OPENAI_API_KEY": "test", "OPENAI_BASE_URL": srv.base_url}
        proc = subprocess.run(
            [
                *(str(ENTRY_POINT), "chat", "--model", "openai:gpt-4o-mini"),
                *("--tools", "examples.travel_desk:get_weather"),
            ],
            input="hi\n",
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            check=False,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        tools = srv.requests[0].body["tools"]
    assert [t["function"]["name"] for t in tools] == ["get_weather"]
    assert "Hello." in proc.stdout


def test_run_without_a_key_says_how_to_run_locally(capsys: pytest.CaptureFixture[str]) -> None:
    """``run`` with no API key fails at start (exit 2) in one line naming the keys and
    ``--model local``."""
    assert main(["run", f"{TRAVEL_DESK}:agent", "Weather in Oslo?"]) == 2
    errors = _error_lines(capsys.readouterr().out)
    assert len(errors) == 1
    assert errors[0].startswith(
        "[error] No API key for mistral-small-2506: set MISTRAL_API_KEY or OPPER_API_KEY"
    )
    assert errors[0].endswith(
        "To try it offline on the small embedded model, add --model local (it suits the demo, "
        "but most agents need a more capable model)."
    )


def test_chat_without_a_key_says_how_to_run_locally(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A chat on a Mistral model with no key fails when it starts (exit 2, no prompt read),
    naming the missing key and ``--model local``."""
    prompts: list[str] = []

    def read(prompt: str) -> str:
        prompts.append(prompt)
        raise EOFError

    monkeypatch.setattr("builtins.input", read)
    assert main(["chat", "--model", "mistral-small-2506"]) == 2
    assert prompts == []
    errors = _error_lines(capsys.readouterr().out)
    assert errors == [
        "[error] No API key for mistral-small-2506: set MISTRAL_API_KEY or OPPER_API_KEY "
        "(export MISTRAL_API_KEY=...). To try it offline on the small embedded model, add "
        "--model local (it suits the demo, but most agents need a more capable model)."
    ]


@pytest.mark.parametrize("command", ["run", "chat", "demo"])
def test_a_bad_model_lists_every_accepted_form(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``--model`` agentkit cannot route exits 2 with its reason and one hint, the command
    line's: local, each provider and bare names (not the advice for Python code)."""
    argv = {"run": ["run", f"{TRAVEL_DESK}:agent", "hi"], "chat": ["chat"], "demo": ["demo"]}
    assert main([*argv[command], "--model", "nope:thing"]) == 2
    (error,) = _error_lines(capsys.readouterr().out)
    assert error.startswith("[error] --model nope:thing: Unknown provider 'nope' in model string")
    for form in ("'local'", "'mistral:<model>'", "'opper:<model>'", "'openai:<model>'"):
        assert form in error
    assert "'mistral-small-2506'" in error
    assert main([*argv[command], "--model", "foo"]) == 2
    (error,) = _error_lines(capsys.readouterr().out)
    assert error.startswith(
        "[error] --model foo: Cannot tell where to send model 'foo'. --model accepts: 'local'"
    )
    assert "OpenAIChatModel" not in error and "write it as" not in error


def test_a_configuration_error_is_one_line_and_a_traceback_only_with_debug(
    tmp_path: Path,
) -> None:
    """From the shell a configuration error prints one line and exits 2; ``--debug`` adds
    the traceback."""
    env = dict(os.environ)
    base = [str(ENTRY_POINT)]
    plain = subprocess.run(
        [*base, "run", "no_such_module_xyz:agent", "hi"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )
    assert plain.returncode == 2
    assert plain.stderr == ""
    assert plain.stdout == (
        f"[error] no module named 'no_such_module_xyz' from {tmp_path}: run from the directory "
        "that holds it, or give a file path (path/to/file.py:attr)\n"
    )
    debug = subprocess.run(
        [*base, "--debug", "run", "no_such_module_xyz:agent", "hi"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "ConfigurationError: no module named 'no_such_module_xyz'" in debug.stderr


def test_a_failing_user_module_is_reported_not_hidden(tmp_path: Path) -> None:
    """A module that raises while importing still shows its own error (it is not a
    configuration error)."""
    (tmp_path / "broken.py").write_text(textwrap.dedent("raise ValueError('boom')\n"))
    proc = subprocess.run(
        [str(ENTRY_POINT), "run", "broken.py:agent", "hi"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "ValueError: boom" in proc.stderr


def test_local_chat_gets_instructions_and_an_example_that_stop_the_echo() -> None:
    """On the embedded model with no ``--instructions``, each chat request starts with the
    answer-don't-echo instructions and one example exchange; the history holds neither."""
    from agentkit.cli import LOCAL_CHAT_INSTRUCTIONS, chat_agent
    from agentkit.models.openai import OpenAIChatModel
    from agentkit.models.profiles import LLAMA_CPP_PROFILE

    agent, hooks = chat_agent([], None, local=True)
    with LocalModelServer(style="openai") as srv:
        srv.add(reply_text("The capital of France is Paris."))
        model = OpenAIChatModel("gemma-3-270m", base_url=srv.base_url, profile=LLAMA_CPP_PROFILE)
        result = agent.run_sync("What is the capital of France?", model=model, hooks=hooks)
        sent = srv.requests[0].body["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("system", LOCAL_CHAT_INSTRUCTIONS),
        ("user", "What is the capital of Spain?"),
        ("assistant", "The capital of Spain is Madrid."),
        ("user", "What is the capital of France?"),
    ]
    assert [m.role for m in result.messages] == ["system", "user", "assistant"]
    assert chat_agent([], None, local=False)[1] == ()


def test_local_chat_with_instructions_and_tools_keeps_the_example_and_says_what_to_expect(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``chat --tools ... --instructions "Be brief."`` on the embedded model (stood in for)
    still sends the example exchange after the user's instructions, and says before the first
    prompt that the base model seldom calls a tool itself."""
    import agentkit.local
    from agentkit.cli._chat import LOCAL_TOOLS_NOTE

    stand_in = LocalLlamaStandIn(reply_text("Brief."))
    monkeypatch.setattr(agentkit.local, "LocalLlamaServer", lambda: stand_in)
    monkeypatch.setattr(agentkit.local, "local_model_available", lambda: True)
    monkeypatch.setattr("builtins.input", line_reader(["Weather in Lyon?"], []))
    argv = ["--plain", "chat", "--model", "local", "--tools", "support:get_weather"]
    assert main([*argv, "--instructions", "Be brief."]) == 0
    out = capsys.readouterr().out
    assert out.index(LOCAL_TOOLS_NOTE) < out.index("Brief.")
    sent = stand_in.server.requests[0].body["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("system", "Be brief."),
        ("user", "What is the capital of Spain?"),
        ("assistant", "The capital of Spain is Madrid."),
        ("user", "Weather in Lyon?"),
    ]


@pytest.mark.slow  # > 3 s
def test_progress_says_what_it_waits_for_when_nothing_streams(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Off a terminal, a wait of over half a second shows one line naming it: the model
    request in flight, then the tool running, then the model again."""
    import time as _time

    from agentkit import Agent, tool
    from agentkit.cli._render import PlainRenderer
    from agentkit.testing.server import reply_tool_calls

    @tool
    def slow_lookup(city: str) -> str:
        """Look a city up slowly.

        Args:
            city: The city.
        """
        _time.sleep(1.0)
        return f"{city}: sunny"

    out = TextSink()
    renderer = PlainRenderer(out)  # type: ignore[arg-type]
    with LocalModelServer(style="openai") as srv:
        srv.add(
            reply_tool_calls(("slow_lookup", {"city": "Rome"}), delay=1.0),
            reply_text("Sunny in Rome.", delay=1.0),
        )
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        agent = Agent("openai:gpt-4o-mini", tools=[slow_lookup])
        from agentkit.cli._turns import portal as _portal

        with renderer.progress(animate=False), _portal() as portal:
            from agentkit.cli import ChatSession

            ChatSession(agent, portal, renderer).turn("Weather in Rome?")
    lines = out.text.splitlines()
    assert "[waiting for the model...]" in lines
    assert "[running slow_lookup...]" in lines
    waits = [line for line in lines if line.startswith("[waiting") or line.startswith("[running")]
    assert waits == [
        "[waiting for the model...]",
        "[running slow_lookup...]",
        "[waiting for the model...]",
    ]
    assert "Sunny in Rome." in out.text


def test_a_failed_turn_leaves_no_progress_line_waiting() -> None:
    """A turn that ends in an error (here a tool loop) waits for nothing more: no spinner
    keeps running under the next prompt (seen in a fresh-clone trial)."""
    from agentkit import Agent, AgentkitError, tool
    from agentkit.cli import ChatSession
    from agentkit.cli._render import PlainRenderer
    from agentkit.cli._turns import portal as _portal
    from agentkit.testing.scripted import ScriptedModel, tool_calls

    @tool
    def look(city: str) -> str:
        """Look a city up.

        Args:
            city: The city.
        """
        return "nothing"

    model = ScriptedModel([tool_calls(("look", {"city": "X"})) for _ in range(6)])
    renderer = PlainRenderer(TextSink())  # type: ignore[arg-type]
    with _portal() as portal:
        session = ChatSession(Agent(model, tools=[look]), portal, renderer)
        with pytest.raises(AgentkitError):
            session.turn("Weather?")
    assert renderer._waiting_for is None
