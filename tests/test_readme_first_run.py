"""The README's first steps run as written: offline in Python, a scripted test server,
your own server from Python and from the command line, and no unrelated PyPI install."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import doc_blocks
import pytest
from support import LocalLlamaStandIn

import agentkit.local
from agentkit.models import LLAMA_CPP_PROFILE
from agentkit.testing.server import LocalModelServer, reply_text

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
pytestmark = pytest.mark.usefixtures("no_keys")


def _block(lang: str, needle: str) -> str:
    return doc_blocks.block(needle, lang)


def test_offline_python_example_runs_as_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The LocalLlamaServer example runs verbatim (the server stood in for), sends the example
    exchange between its instructions and the question, and prints the cleaned answer."""
    # a test server answering as llama.cpp does (entities and a leaked template token included)
    stand_in = LocalLlamaStandIn(
        reply_text("The capital of France is Paris.<|im_end|>\n<|im_start|>user")
    )
    monkeypatch.setattr(agentkit.local, "LocalLlamaServer", lambda: stand_in)
    exec(compile(_block("python", "LocalLlamaServer"), str(README), "exec"), {"__name__": "r"})
    assert capsys.readouterr().out == "The capital of France is Paris.\n"
    sent = stand_in.server.requests[0].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1]["content"] == "What is the capital of Spain?"
    assert sent[2]["content"] == "The capital of Spain is Madrid."
    assert sent[3]["content"] == "What is the capital of France?"


def test_local_model_server_example_runs_as_written() -> None:
    """The LocalModelServer example runs verbatim, its assertion included."""
    exec(compile(_block("python", "LocalModelServer"), str(README), "exec"), {"__name__": "r"})


def test_own_server_example_speaks_the_llama_cpp_dialect() -> None:
    """The own-server example, pointed at a test server, answers through it with the
    llama.cpp profile (its template's leaked token cut off)."""
    code = _block("python", "profile=LLAMA_CPP_PROFILE")
    assert "http://127.0.0.1:8080/v1" in code
    with LocalModelServer([reply_text("Hello.<|im_end|>")], style="openai") as server:
        namespace: dict[str, Any] = {"__name__": "r"}
        code = code.replace("http://127.0.0.1:8080/v1", server.base_url)
        exec(compile(code, str(README), "exec"), namespace)
        assert namespace["model"].profile is LLAMA_CPP_PROFILE
        assert namespace["agent"].run_sync("hi").output == "Hello."
        assert server.requests[0].body["model"] == "gemma-3-270m"


def test_own_server_command_runs_as_written() -> None:
    """``OPENAI_BASE_URL=... agentkit chat --model openai:llama-cpp`` talks to that server
    with the llama.cpp profile (the tool-less chat is streamed, the reply shown cleaned)."""
    command = _block("bash", "OPENAI_BASE_URL")
    words = command.split()
    env_words = [w for w in words if "=" in w and not w.startswith("-")]
    argv = [w for w in words if w not in env_words]
    assert argv[:2] == ["agentkit", "chat"]
    with LocalModelServer(style="openai") as server:
        server.add(reply_text("Hello &amp; welcome.<|im_end|>"))
        env = {**os.environ, **dict(w.split("=", 1) for w in env_words)}
        env["OPENAI_BASE_URL"] = server.base_url
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "agentkit"), *argv[1:]],
            input="hi\n",
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=120,
        )
        assert server.requests[0].body["model"] == "llama-cpp"
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Hello & welcome." in proc.stdout
    assert "<|im_end|>" not in proc.stdout


def test_base_url_command_runs_as_written() -> None:
    """``agentkit chat --base-url URL --model llama-cpp`` talks to that server with the
    llama.cpp profile and says so, with no key set."""
    command = _block("bash", "--base-url")
    assert "http://127.0.0.1:8080/v1" in command
    with LocalModelServer(style="openai") as server:
        server.add(reply_text("Hello &amp; welcome.<|im_end|>"))
        argv = command.replace("http://127.0.0.1:8080/v1", server.base_url).split()
        assert argv[:2] == ["agentkit", "chat"]
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "agentkit"), "--plain", *argv[1:]],
            input="hi\n",
            capture_output=True,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")},
            check=False,
            timeout=120,
        )
        url, request = server.base_url, server.requests[0]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Model: llama-cpp at {url} (llama-cpp profile)." in proc.stdout
    assert "Hello & welcome." in proc.stdout
    assert request.body["model"] == "llama-cpp"
    assert request.headers["authorization"] == "Bearer none"


def test_own_llama_cpp_server_command_uses_the_flags_local_llama_server_uses() -> None:
    """The README's command to start llama-cpp-python's server runs the module
    LocalLlamaServer runs, with its tool-calling chat format and only flags it passes too."""
    words = _block("bash", "llama_cpp.server").replace("\\\n", " ").split()
    assert words[:3] == ["python", "-m", "llama_cpp.server"]
    ours = agentkit.local.LocalLlamaServer()._command(Path("m.gguf"), 8080)
    assert "llama_cpp.server" in ours[2]  # the child's bootstrap runs that module
    flags = {w: words[i + 1] for i, w in enumerate(words) if w.startswith("--")}
    assert flags["--chat_format"] == "chatml-function-calling"
    assert ours[ours.index("--chat_format") + 1] == "chatml-function-calling"
    assert set(flags) <= {w for w in ours if w.startswith("--")}


def test_the_readme_never_installs_the_unrelated_pypi_package() -> None:
    """No README command installs ``agentkit`` from PyPI (an unrelated project there); the
    chosen distribution name is stated."""
    readme = README.read_text()
    assert not re.search(r"pip install\s+['\"]?agentkit(\[|['\"\s]|$)", readme)
    assert "`agentkit-loop`" in readme
    setup = re.findall(r"```bash\n(.*?)```", readme, flags=re.DOTALL)[:2]
    assert setup[0].strip() == (
        "python3 -m venv .venv && .venv/bin/pip install -e '.[local]' && .venv/bin/agentkit demo"
    )
    assert setup[1].strip() == (
        "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test,local]' "
        "&& .venv/bin/python -m pytest -q"
    )
