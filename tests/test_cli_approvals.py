"""``agentkit chat`` asks y/n for each call that needs approval, showing the tool and
its arguments, and resumes the run with the answers."""

from __future__ import annotations

import pytest
from support import TextSink, line_reader

from agentkit import Agent, tool
from agentkit.cli import ChatSession
from agentkit.cli._chat import chat_loop
from agentkit.cli._render import PlainRenderer
from agentkit.messages import ToolMessage
from agentkit.testing.scripted import ScriptedModel, text, tool_calls

pytestmark = pytest.mark.usefixtures("no_keys")

sent: list[str] = []


@tool(needs_approval=True)
def send_email(to: str, subject: str) -> str:
    """Send an email.

    Args:
        to: The address.
        subject: The subject line.
    """
    sent.append(to)
    return f"sent to {to}"


def test_chat_asks_for_each_approval_and_resumes_with_the_answers() -> None:
    """Two waiting calls: "y" runs the first, "n" denies the second; the run then ends."""
    from anyio.from_thread import start_blocking_portal

    sent.clear()
    model = ScriptedModel(
        [
            tool_calls(
                ("send_email", {"to": "ann@example.com", "subject": "Hi"}),
                ("send_email", {"to": "bo@example.com", "subject": "Yo"}),
            ),
            text("One sent, one not."),
        ]
    )
    asked: list[str] = []
    out = TextSink()
    with start_blocking_portal() as portal:
        session = ChatSession(Agent(model, tools=[send_email]), portal, PlainRenderer(out))  # type: ignore[arg-type]
        code = chat_loop(session, line_reader(["mail them", "y", "n"], asked))
    assert code == 0
    prompts = [a for a in asked if "allow" in a]
    assert prompts == [
        '\nallow send_email({"subject":"Hi","to":"ann@example.com"})? [y/n] ',
        '\nallow send_email({"subject":"Yo","to":"bo@example.com"})? [y/n] ',
    ]
    assert sent == ["ann@example.com"]
    answers = [m.content for m in session.history if isinstance(m, ToolMessage)]
    assert answers == ["sent to ann@example.com", "Denied: The user said no."]
    assert "waiting for approval: send_email, send_email" in out.text
    assert "One sent, one not." in out.text
    assert len(model.requests) == 2


def test_ctrl_d_at_an_approval_prompt_denies() -> None:
    """No answer (end of input) at the y/n prompt denies the call; the tool never runs."""
    from anyio.from_thread import start_blocking_portal

    sent.clear()
    model = ScriptedModel(
        [tool_calls(("send_email", {"to": "cy@example.com", "subject": "S"})), text("Not sent.")]
    )
    out = TextSink()
    with start_blocking_portal() as portal:
        session = ChatSession(Agent(model, tools=[send_email]), portal, PlainRenderer(out))  # type: ignore[arg-type]
        assert chat_loop(session, line_reader(["mail cy"], [])) == 0
    assert sent == []
    assert "send_email: denied" in out.text
