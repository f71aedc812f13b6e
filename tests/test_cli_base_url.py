"""``agentkit run/chat --base-url URL``: a model name sent to your own OpenAI-compatible server."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from agentkit.cli import ModelChoice, main, resolve_model
from agentkit.testing.server import LocalModelServer, reply_text
from agentkit.usage import Usage, format_usage

pytestmark = pytest.mark.usefixtures("no_keys")


def _lines(monkeypatch: pytest.MonkeyPatch, *typed: str) -> None:
    entries = iter(typed)

    def read(prompt: str) -> str:
        for line in entries:
            return line
        raise EOFError

    monkeypatch.setattr("builtins.input", read)


def test_chat_base_url_sends_the_name_there_with_its_profile(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``chat --base-url URL --model llama-cpp`` says where it talks and with which profile,
    sends that name with no key set (the key is ``none``), and shows the cleaned reply."""
    with LocalModelServer(style="openai") as server:
        server.add(reply_text("Hello &amp; welcome.<|im_end|>"))
        _lines(monkeypatch, "hi")
        assert main(["--plain", "chat", "--base-url", server.base_url, "--model", "llama-cpp"]) == 0
        request, url = server.requests[0], server.base_url
    out = capsys.readouterr().out
    assert f"Model: llama-cpp at {url} (llama-cpp profile)." in out
    assert "Hello & welcome." in out
    assert "<|im_end|>" not in out
    assert request.body["model"] == "llama-cpp"
    assert request.headers["authorization"] == "Bearer none"
    assert " · $0 if the server on this machine runs the model itself · " in out


def test_the_cost_of_a_server_elsewhere_or_with_a_price_is_not_called_zero() -> None:
    """Only a loopback ``--base-url`` with no known price reads as free if it runs the model;
    a price is shown as it is, and a server on another host stays "cost unknown"."""
    usage = Usage(requests=1, input_tokens=10, output_tokens=5, cost_usd=None)
    here = resolve_model("llama-cpp", local_fallback=False, base_url="http://localhost:8080/v1")
    there = resolve_model("llama-cpp", local_fallback=False, base_url="http://10.0.0.2:8080/v1")
    assert here.on_this_machine and not there.on_this_machine
    assert format_usage(usage, on_this_machine=there.on_this_machine).endswith(
        "cost unknown (no price for this model)"
    )
    priced = Usage(requests=1, input_tokens=10, output_tokens=5, cost_usd=0.0000025)
    assert format_usage(priced, on_this_machine=True).endswith(" · $0.000003")


def test_run_base_url_overrides_the_agents_model_and_uses_the_openai_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run FILE:agent --base-url URL --model openai:NAME`` replaces the agent's own model
    (the ``openai:`` prefix is dropped) and sends ``OPENAI_API_KEY``, never showing it."""
    agent_file = tmp_path / "app.py"
    agent_file.write_text(
        textwrap.dedent(
            """
            from agentkit import Agent
            agent = Agent("mistral-small-2506")
            """
        )
    )
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-for-the-test")
    with LocalModelServer(style="openai") as server:
        server.add(reply_text("Four."))
        argv = ["--plain", "run", f"{agent_file}:agent", "2+2?"]
        assert main([*argv, "--base-url", server.base_url, "--model", "openai:my-model"]) == 0
        request, url = server.requests[0], server.base_url
    out = capsys.readouterr()
    assert f"Model: my-model at {url} (openai-compatible profile)." in out.out
    assert "Four." in out.out
    assert "sk-secret" not in out.out + out.err
    assert request.body["model"] == "my-model"
    assert request.headers["authorization"] == "Bearer sk-secret-for-the-test"


def test_base_url_without_a_model_name_says_to_add_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``chat --base-url URL`` with no ``--model`` fails in one line naming ``--model NAME``."""
    _lines(monkeypatch)
    assert main(["--plain", "chat", "--base-url", "http://127.0.0.1:9/v1"]) == 2
    shown = capsys.readouterr()
    assert shown.out.strip().startswith(
        "[error] --base-url http://127.0.0.1:9/v1 needs --model NAME"
    )
    assert "Traceback" not in shown.out + shown.err
    assert len(shown.out.strip().splitlines()) == 1


def test_resolve_model_with_a_base_url() -> None:
    """``resolve_model`` keeps the base URL and the bare name, whatever keys are set."""
    choice = resolve_model("openai:llama-cpp", local_fallback=True, base_url="http://h/v1")
    assert choice == ModelChoice("llama-cpp", base_url="http://h/v1")


def test_chat_base_url_says_once_what_makes_a_server_answer_empty(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``--base-url`` server that answers with nothing (llama-cpp-python with a chat format
    that cannot call tools) gets the retry shown, then once the hint naming the chat format."""
    with LocalModelServer(style="openai") as server:
        for content in ("", "", "Hello."):
            server.add(reply_text(content))
        _lines(monkeypatch, "hi")
        assert main(["--plain", "chat", "--base-url", server.base_url, "--model", "llama-cpp"]) == 0
        assert len(server.requests) == 3
    out = capsys.readouterr().out
    assert out.count("Your answer was empty.") == 2
    assert out.count("--chat_format chatml-function-calling") == 1
    assert "The server answered with nothing." in out
    assert "Hello." in out
