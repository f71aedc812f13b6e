"""The README's sessions and context-window examples run as written, on a local server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import agentkit._run.start
from agentkit.models import OpenAIChatModel
from agentkit.testing.server import LocalModelServer, RecordedRequest, Reply, reply_text

README = Path(__file__).resolve().parent.parent / "README.md"


def _block(marker: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return str(next(b for b in blocks if marker in b))


def _remembers(request: RecordedRequest) -> Reply:
    """Answers with the name from the first user message, once there are two."""
    users = [m["content"] for m in request.body["messages"] if m["role"] == "user"]
    return reply_text("Ada." if len(users) > 1 and "Ada" in users[0] else "Nice to meet you.")


def test_sessions_examples_run_as_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    """The session example remembers across runs, stores four messages in chats.db, and
    the context-window example counts them."""
    monkeypatch.chdir(tmp_path)
    with LocalModelServer(_remembers, style="mistral") as server:
        monkeypatch.setattr(
            agentkit._run.start,
            "_infer",
            lambda spec: OpenAIChatModel(
                "mistral-small-2506", base_url=server.base_url, api_key="t"
            ),
        )
        namespace: dict[str, Any] = {"__name__": "readme"}
        exec(compile(_block('SQLiteSession("chats.db"'), str(README), "exec"), namespace)
        exec(compile(_block("ContextWindow(policy"), str(README), "exec"), namespace)
        second = server.requests[1].body["messages"]
    assert capsys.readouterr().out.splitlines() == [
        "Ada.",
        "['user', 'assistant', 'user', 'assistant']",
        "True",
    ]
    assert second[0] == {"role": "system", "content": "Be brief."}
    assert (tmp_path / "chats.db").exists()
    assert namespace["strict"].name == "agent"
