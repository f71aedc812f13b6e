"""``agentkit chat --session NAME``: the conversation is kept in the user's data
directory, resumed by the next chat, shown by /history and forgotten by /clear."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from agentkit.cli import main, session_path
from agentkit.sessions import SQLiteSession
from agentkit.testing.server import LocalModelServer, reply_text


def _typing(lines: list[str]) -> object:
    it: Iterator[str] = iter(lines)

    def read(prompt: str) -> str:
        for line in it:
            return line
        raise EOFError

    return read


def _chat(monkeypatch: pytest.MonkeyPatch, lines: list[str]) -> int:
    monkeypatch.setattr("builtins.input", _typing(lines))
    return main(["chat", "--model", "openai:gpt-4o-mini", "--session", "work"])


def test_chat_sessions_resume_show_and_clear(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second chat on --session work sends the first chat's turn; /history lists it;
    /clear empties the session file."""
    monkeypatch.setenv("AGENTKIT_DATA_DIR", str(tmp_path))
    assert session_path() == tmp_path / "sessions.db"
    with LocalModelServer(
        [reply_text("Hello Ada."), reply_text("You are Ada.")], style="openai"
    ) as srv:
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        assert _chat(monkeypatch, ["I am Ada."]) == 0
        assert _chat(monkeypatch, ["Who am I?", "/history"]) == 0
        second = srv.requests[1].body["messages"]
    assert [m["content"] for m in second] == ["I am Ada.", "Hello Ada.", "Who am I?"]
    out = capsys.readouterr().out
    assert "Session 'work': 2 messages so far." in out
    assert "user: Who am I?" in out and "assistant: You are Ada." in out
    stored = anyio.run(SQLiteSession(session_path(), "work").messages)
    assert len(stored) == 4
    assert _chat(monkeypatch, ["/clear"]) == 0
    assert anyio.run(SQLiteSession(session_path(), "work").messages) == []
