"""Runs paused for approval, in the ``agentkit`` command: ``chat`` asks y/n for the calls a
stored session (or a cancelled approved call) left waiting and resumes the run, and
``agentkit run`` reports a paused run (as JSON with ``--json``) with its own exit status."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from support import TextSink, line_reader

from agentkit import Agent
from agentkit.cli import ChatSession, load_object
from agentkit.cli._chat import chat_loop
from agentkit.cli._render import PlainRenderer
from agentkit.messages import ToolMessage
from agentkit.sessions import SQLiteSession
from agentkit.testing.scripted import ScriptedModel, text, tool_calls
from agentkit.testing.server import LocalModelServer, reply_text, reply_tool_calls

pytestmark = pytest.mark.usefixtures("no_keys")

ROOT = Path(__file__).resolve().parent.parent

MAIL_TOOLS = '''
import os
from pathlib import Path

import anyio

from agentkit import Agent, tool
from agentkit.models.openai import OpenAIChatModel


@tool(needs_approval=True)
async def send_email(to: str, subject: str) -> str:
    """Send an email.

    Args:
        to: The address.
        subject: The subject line.
    """
    log = Path(os.environ["MAIL_LOG"])
    with log.open("a") as f:
        f.write(f"start {to}\\n")
    if os.environ.get("MAIL_HANG"):
        await anyio.sleep_forever()  # until Ctrl-C cancels it
    with log.open("a") as f:
        f.write(f"sent {to}\\n")
    return f"sent to {to}"


def mailer() -> Agent:
    model = OpenAIChatModel("gpt-4o-mini", base_url=os.environ["TEST_BASE_URL"], api_key="test")
    return Agent(model, tools=[send_email])
'''

ANN = {"to": "ann@example.com", "subject": "Hi"}
ALLOW_ANN = 'allow send_email({"subject":"Hi","to":"ann@example.com"})? [y/n]'


@pytest.fixture
def mail_tools(tmp_path: Path) -> Path:
    path = tmp_path / "mail_tools.py"
    path.write_text(textwrap.dedent(MAIL_TOOLS))
    return path


def _agentkit() -> list[str]:
    """The console script next to this Python (``python -m agentkit.cli`` without one), run
    with Ctrl-C (SIGINT) raising as in a terminal, whatever this process inherited."""
    script = Path(sys.executable).parent / "agentkit"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "agentkit.cli"]
    reset = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    reset += "os.execvp(sys.argv[1], sys.argv[1:])"
    return [sys.executable, "-c", reset, *command]


def _env(tmp_path: Path, server: LocalModelServer, **more: str) -> dict[str, str]:
    return {
        **os.environ,
        "AGENTKIT_DATA_DIR": str(tmp_path),
        "OPENAI_API_KEY": "test",
        "OPENAI_BASE_URL": server.base_url,
        "TEST_BASE_URL": server.base_url,
        "MAIL_LOG": str(tmp_path / "mail.log"),
        **more,
    }


def _pause_session(tmp_path: Path, mail_tools: Path) -> SQLiteSession:
    """Session 'work' holds a run paused on send_email to ann (as a crashed chat leaves it)."""
    send_email = load_object(f"{mail_tools}:send_email")
    store = SQLiteSession(tmp_path / "sessions.db", "work")
    agent = Agent(ScriptedModel([tool_calls(("send_email", ANN))]), tools=[send_email])
    result = agent.run_sync("Mail Ann.", session=store)
    assert result.is_paused
    assert anyio.run(store.load).paused
    return store


def _chat_command(mail_tools: Path) -> list[str]:
    return [
        *_agentkit(),
        "--plain",
        "chat",
        "--session",
        "work",
        "--tools",
        f"{mail_tools}:send_email",
        "--model",
        "openai:gpt-4o-mini",
    ]


def test_chat_on_a_paused_session_asks_and_resumes(tmp_path: Path, mail_tools: Path) -> None:
    """``chat --session`` on a session paused for approval shows the waiting call, asks y/n,
    and a "y" runs it and resumes the run (it used to refuse every prompt)."""
    store = _pause_session(tmp_path, mail_tools)
    with LocalModelServer([reply_text("Sent to Ann.")], style="openai") as server:
        proc = subprocess.run(
            _chat_command(mail_tools),
            input="y\n",
            capture_output=True,
            text=True,
            env=_env(tmp_path, server),
            cwd=ROOT,
            timeout=120,
            check=False,
        )
        requests = [r.body["messages"] for r in server.requests]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "waiting for approval: send_email" in proc.stdout
    assert ALLOW_ANN in proc.stdout
    assert "still wait" not in proc.stdout
    assert (tmp_path / "mail.log").read_text() == "start ann@example.com\nsent ann@example.com\n"
    assert len(requests) == 1
    assert requests[0][-1]["role"] == "tool"
    assert requests[0][-1]["content"] == "sent to ann@example.com"
    assert "Sent to Ann." in proc.stdout
    stored = anyio.run(store.load)
    assert stored.paused == []
    assert getattr(stored.messages[-1], "content", None) == "Sent to Ann."


def _wait_for(path: Path, text: str) -> None:
    deadline = time.monotonic() + 60
    while not (path.exists() and text in path.read_text()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never said {text!r}")
        time.sleep(0.05)


def test_ctrl_c_in_an_approved_call_asks_again(tmp_path: Path, mail_tools: Path) -> None:
    """Ctrl-C while an approved call runs cancels it; the chat then asks y/n for the same
    call again (the session still waits on it), and "n" resumes the run with a denial."""
    store = _pause_session(tmp_path, mail_tools)
    log = tmp_path / "mail.log"
    with LocalModelServer([reply_text("Not sent.")], style="openai") as server:
        proc = subprocess.Popen(
            _chat_command(mail_tools),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(tmp_path, server, MAIL_HANG="1"),
            cwd=ROOT,
        )
        try:
            assert proc.stdin is not None
            proc.stdin.write("y\n")
            proc.stdin.flush()
            _wait_for(log, "start ann@example.com")  # the approved call is running
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate("n\n", timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        requests = [r.body["messages"] for r in server.requests]
    assert proc.returncode == 0, out + err
    assert out.count(ALLOW_ANN) == 2
    assert "[cancelled]" in out
    assert "send_email: denied" in out
    assert log.read_text() == "start ann@example.com\n"
    assert len(requests) == 1
    assert requests[0][-1]["content"] == "Denied: The user said no."
    assert "Not sent." in out
    assert anyio.run(store.load).paused == []


def test_a_cancelled_approved_call_is_asked_again_without_a_session() -> None:
    """Without a session too, a turn cancelled while its approved call ran leaves the run
    paused: the chat asks y/n again before the next prompt instead of failing it."""
    from anyio.from_thread import start_blocking_portal

    from agentkit import tool

    entered = threading.Event()

    @tool(needs_approval=True)
    async def deploy(target: str) -> str:
        """Deploy.

        Args:
            target: Where to.
        """
        entered.set()
        await anyio.sleep_forever()
        return "never"

    model = ScriptedModel([tool_calls(("deploy", {"target": "prod"})), text("Not deployed.")])
    asked: list[str] = []
    read = line_reader(["deploy it", "y", "n"], asked)

    out = TextSink()
    with start_blocking_portal() as portal:
        session = ChatSession(Agent(model, tools=[deploy]), portal, PlainRenderer(out))  # type: ignore[arg-type]

        def cancel_when_running() -> None:
            entered.wait()
            session.cancel_turn()  # what Ctrl-C does

        canceller = threading.Thread(target=cancel_when_running)
        canceller.start()
        assert chat_loop(session, read) == 0
        canceller.join()
    allow = [a for a in asked if "allow" in a]
    assert allow == ['\nallow deploy({"target":"prod"})? [y/n] '] * 2
    assert "[cancelled]" in out.text
    answers = [m.content for m in session.history if isinstance(m, ToolMessage)]
    assert answers == ["Denied: The user said no."]
    assert "Not deployed." in out.text
    assert len(model.requests) == 2


def _run(
    tmp_path: Path, server: LocalModelServer, mail_tools: Path, *more: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_agentkit(), "--plain", "run", f"{mail_tools}:mailer", "Mail Ann.", *more],
        capture_output=True,
        text=True,
        env=_env(tmp_path, server),
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_run_json_prints_a_paused_run_as_json(tmp_path: Path, mail_tools: Path) -> None:
    """``run --json`` on a run that pauses prints the waiting calls (id, tool, arguments)
    and the paused messages as JSON, and exits with the paused status (3)."""
    from agentkit import load_messages

    with LocalModelServer([reply_tool_calls(("send_email", ANN))], style="openai") as server:
        proc = _run(tmp_path, server, mail_tools, "--json")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    assert data["paused"] is True
    [request] = data["approvals_needed"]
    assert request["tool_name"] == "send_email"
    assert request["arguments"] == ANN
    messages = load_messages(json.dumps(data["messages"]))
    call = messages[-1].tool_calls[0]  # type: ignore[union-attr]
    assert request["id"] == call.id
    assert data["usage"]["requests"] == 1
    assert not (tmp_path / "mail.log").exists()


def test_run_says_how_to_approve_a_paused_run(tmp_path: Path, mail_tools: Path) -> None:
    """Without ``--json``, a paused run names the waiting call and what to run to approve
    it, and exits with the paused status (3), which ``run --help`` documents."""
    with LocalModelServer([reply_tool_calls(("send_email", ANN))], style="openai") as server:
        proc = _run(tmp_path, server, mail_tools)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert '  send_email({"subject":"Hi","to":"ann@example.com"})' in proc.stdout
    assert "--approve send_email" in proc.stdout
    assert "[error]" not in proc.stdout
    assert not (tmp_path / "mail.log").exists()
    helped = subprocess.run(
        [*_agentkit(), "run", "--help"], capture_output=True, text=True, check=False
    )
    assert "3 the run paused for approval" in " ".join(helped.stdout.split())


def test_run_approve_runs_the_named_tool(tmp_path: Path, mail_tools: Path) -> None:
    """``run --approve send_email`` allows the calls to that tool when the run pauses for
    them, and the run goes on to its answer (exit 0)."""
    replies = [reply_tool_calls(("send_email", ANN)), reply_text("Sent.")]
    with LocalModelServer(replies, style="openai") as server:
        proc = _run(tmp_path, server, mail_tools, "--approve", "send_email")
        last = server.requests[-1].body["messages"][-1]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "mail.log").read_text() == "start ann@example.com\nsent ann@example.com\n"
    assert last["content"] == "sent to ann@example.com"
    assert "Sent." in proc.stdout
