"""The README's sessions and context-window examples run as written, on a local server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import doc_blocks
import pytest

import agentkit._run.start
from agentkit.models import OpenAIChatModel
from agentkit.testing.server import LocalModelServer, RecordedRequest, Reply, reply_text

README = Path(__file__).resolve().parent.parent / "README.md"


def _block(marker: str) -> str:
    blocks = [b.text for b in doc_blocks.blocks()]
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


def test_compaction_example_runs_as_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    """The compaction example, on a session longer than the (small) window, asks the
    summarizer model once and sends its summary in place of the oldest turns."""
    import anyio
    from support import tool_history

    import agentkit.models.infer
    from agentkit.models.profiles import MISTRAL_PROFILE
    from agentkit.sessions import SQLiteSession

    monkeypatch.chdir(tmp_path)
    session = SQLiteSession("chats.db", "ops")
    anyio.run(lambda: session.save_turn(tool_history(40), paused=False, resumed=False))

    def answer(request: RecordedRequest) -> Reply:
        first = request.body["messages"][0]["content"]
        return reply_text("We decided to launch." if first == "Be brief." else "A summary.")

    with LocalModelServer(answer, style="mistral") as server:
        built: list[str] = []

        def model(spec: Any) -> OpenAIChatModel:
            built.append(spec)
            window = 4_000 if "medium" in spec else 128_000  # the summarizer reads it all
            profile = MISTRAL_PROFILE.with_changes(context_window=window, max_output_tokens=500)
            return OpenAIChatModel(
                spec.split(":")[1], base_url=server.base_url, api_key="t", profile=profile
            )

        monkeypatch.setattr(agentkit._run.start, "_infer", model)
        monkeypatch.setattr(agentkit.models.infer, "infer_model", model)
        exec(compile(_block('policy="compact"'), str(README), "exec"), {"__name__": "readme"})
        bodies = server.bodies
    assert capsys.readouterr().out.splitlines() == ["We decided to launch."]
    assert built == ["mistral:mistral-medium-latest", "mistral:mistral-small-latest"]
    assert [b["model"] for b in bodies] == ["mistral-small-latest", "mistral-medium-latest"]
    sent = bodies[1]["messages"]
    assert sent[1]["content"].endswith("A summary.") and len(sent) < 1 + 160
