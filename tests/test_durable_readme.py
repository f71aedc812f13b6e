"""The README's durable-run examples run as written, on SQLite and a local model server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import doc_blocks
import pytest
from dbos import DBOS

import agentkit._run.start
from agentkit.models import OpenAIChatModel
from agentkit.testing.server import LocalModelServer, reply_text, reply_tool_calls

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks() -> list[str]:
    return [b.text for b in doc_blocks.blocks()]


@pytest.mark.slow  # > 3 s
def test_durable_examples_run_as_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    """The durable example answers, a second run of its id sends nothing, and the approval
    example approves the waiting refund, which then runs with its idempotency key."""
    blocks = _blocks()
    quickstart = next(b for b in blocks if "run_sync" in b)
    durable_block = next(b for b in blocks if "DurableAgent(" in b)
    approval_block = next(b for b in blocks if "durable.approve(" in b)
    replies = [
        reply_tool_calls(("get_weather", {"city": "Paris"})),
        reply_text(json.dumps({"city": "Paris", "temperature_c": 21, "summary": "Sunny"})),
        reply_tool_calls(("get_weather", {"city": "Paris"})),
        reply_text("Sunny in Paris."),
        reply_tool_calls(("refund", {"order": 42})),
        reply_text("Order 42 is refunded."),
    ]
    monkeypatch.chdir(tmp_path)
    with LocalModelServer(replies, style="mistral") as server:
        monkeypatch.setattr(
            agentkit._run.start,
            "_infer",
            lambda spec: OpenAIChatModel(
                "mistral-small-2506", base_url=server.base_url, api_key="t"
            ),
        )
        namespace: dict[str, Any] = {"__name__": "readme"}
        exec(compile(quickstart, str(README), "exec"), namespace)
        try:
            exec(compile(durable_block, str(README), "exec"), namespace)
            durable = namespace["durable"]
            again = anyio.run(lambda: durable.run("Weather in Paris?", workflow_id="paris-1"))
            assert again.output == "Sunny in Paris." and len(server.requests) == 4
            exec(compile(approval_block, str(README), "exec"), namespace)
            anyio.run(namespace["refund_with_approval"])
        finally:
            DBOS.destroy(destroy_registry=True)
    out = capsys.readouterr().out
    assert "Sunny in Paris." in out
    assert "approve? refund {'order': 42}" in out
    assert "Order 42 is refunded." in out
    tool_answer = server.bodies[5]["messages"][-1]["content"]
    assert tool_answer.startswith("refunded 42 (idempotency key refund-42:")
