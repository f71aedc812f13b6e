"""``agentkit serve FILE.py:AGENT`` and ``agentkit demo --web`` from the command line."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

import agentkit.serve
from agentkit.cli import main

APP = str(Path(__file__).resolve().parent / "serve_app.py") + ":agent"


def test_a_public_host_without_a_token_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """``--host 0.0.0.0`` with no token exits with a usage error naming the fix; nothing binds."""
    monkeypatch.delenv("AGENTKIT_SERVE_TOKEN", raising=False)
    assert main(["--plain", "serve", APP, "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr()
    assert "--token or AGENTKIT_SERVE_TOKEN" in err.out + err.err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_command_answers_openai_clients(tmp_path: Path) -> None:
    """``agentkit serve`` in its own process answers the OpenAI SDK, keeps conversations
    in a SQLite file beside the app by default, and Ctrl-C stops it."""
    app = tmp_path / "serve_app.py"
    shutil.copy(APP.rsplit(":", 1)[0], app)
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("AGENTKIT_SERVE_TOKEN", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "agentkit.cli", "--plain", "serve", f"{app}:agent", "-p", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # the process starts (a hang guard, not a timing check)
            try:
                if httpx2.get(url + "/v1/models").status_code == 200:
                    break
            except httpx2.TransportError:
                time.sleep(0.05)
        with openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0) as api:
            answer = api.chat.completions.create(
                model="hello", messages=[{"role": "user", "content": "Hi"}]
            )
        assert answer.choices[0].message.content == "Hello from the served agent."
        page = {"conversation": "c0nversation-1", "prompt": "Hi"}
        assert httpx2.post(url + "/api/chat", json=page).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert f"the chat at http://127.0.0.1:{port}/" in out.decode()
    assert f"Conversations are kept in {tmp_path / 'serve_app.sessions.db'}" in out.decode()
    assert (tmp_path / "serve_app.sessions.db").exists()


def test_demo_web_serves_the_travel_desk(monkeypatch: pytest.MonkeyPatch) -> None:
    """``agentkit demo --web`` serves the travel-desk agent on the chosen model and address."""
    served: dict[str, Any] = {}

    def fake_serve(agent: Any, **kwargs: Any) -> None:
        served.update(kwargs, agent=agent)

    monkeypatch.setattr(agentkit.serve, "serve", fake_serve)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    argv = ["--plain", "demo", "--web", "--model", "openai:gpt-4o-mini", "--port", "8123"]
    assert main(argv) == 0
    assert served["agent"].name == "travel-desk"
    assert (served["host"], served["port"], served["token"]) == ("127.0.0.1", 8123, None)
    assert served["model"] == "openai:gpt-4o-mini"
