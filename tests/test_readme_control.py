"""The README's budgets, approvals and fallback examples run as written, on local servers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import doc_blocks
import pytest

import agentkit._run.start
import agentkit.models.openai
from agentkit.models import OpenAIChatModel, RetryPolicy
from agentkit.testing.server import (
    LocalModelServer,
    reply_error,
    reply_text,
    reply_tool_calls,
    usage,
)

README = Path(__file__).resolve().parent.parent / "README.md"


def _block(marker: str) -> str:
    blocks: list[str] = [b.text for b in doc_blocks.blocks()]
    return next(b for b in blocks if marker in b)


def _run(marker: str, namespace: dict[str, Any]) -> None:
    exec(compile(_block(marker), str(README), "exec"), namespace)


def _quickstart(monkeypatch: pytest.MonkeyPatch, server: LocalModelServer) -> dict[str, Any]:
    """The quickstart's definitions, every model string pointed at ``server``."""
    monkeypatch.setattr(
        agentkit._run.start,
        "_infer",
        lambda spec: OpenAIChatModel("mistral-small-2506", base_url=server.base_url, api_key="t"),
    )
    namespace: dict[str, Any] = {"__name__": "readme"}
    server.add(
        reply_tool_calls(("get_weather", {"city": "Paris"})),
        reply_text(json.dumps({"city": "Paris", "temperature_c": 21, "summary": "Sunny"})),
    )
    _run("run_sync", namespace)
    return namespace


def test_usage_limits_example_stops_before_the_budget(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The limits example: a 20,000-token budget stops the run before the request that
    could pass it, and prints which limit and the usage so far."""
    with LocalModelServer(style="mistral") as server:
        namespace = _quickstart(monkeypatch, server)
        capsys.readouterr()
        before = len(server.requests)
        server.add(
            *[reply_tool_calls(("get_weather", {"city": "Oslo"}), usage=usage(6000, 400))] * 5
        )
        _run("UsageLimitExceeded", namespace)
        sent = len(server.requests) - before
    out = capsys.readouterr().out
    assert out.startswith("stopped before passing total_tokens: ")
    used = int(out.split(": ")[1].split(" ")[0])
    assert used == sent * 6400 <= 20_000
    assert namespace["history"][-1].role == "tool"


def test_approvals_example_pauses_saves_and_resumes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The approvals example pauses before the 250 EUR refund, prints the request, and
    the resumed run (from the saved JSON) runs it and prints the answer."""
    with LocalModelServer(style="mistral") as server:
        namespace = _quickstart(monkeypatch, server)
        capsys.readouterr()
        server.add(
            reply_tool_calls(("refund", {"order_id": "A1", "amount_eur": 250})),
            reply_text("Refunded 250 EUR on A1."),
        )
        _run("needs_approval=lambda", namespace)
        last = server.bodies[-1]["messages"][-1]
    assert capsys.readouterr().out.splitlines() == [
        "refund {'amount_eur': 250.0, 'order_id': 'A1'}",
        "Refunded 250 EUR on A1.",
    ]
    assert last == {
        "role": "tool",
        "tool_call_id": last["tool_call_id"],
        "content": "Refunded 250.0 EUR on A1",
    }


def test_fallback_example_moves_on_when_the_first_provider_is_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fallback example, its two endpoints mapped to local servers: Mistral answers
    503, Opper answers, and the answer names the Opper model."""
    with (
        LocalModelServer(style="mistral") as quick,
        LocalModelServer([reply_error(503, "down")] * 2, style="mistral") as down,
        LocalModelServer([reply_text("Sunny.")], style="mistral") as up,
    ):
        namespace = _quickstart(monkeypatch, quick)
        local = {"https://api.mistral.ai/v1": down, "https://api.opper.ai/v3/compat": up}

        class Local(OpenAIChatModel):
            def __init__(self, model: str, *, base_url: str, api_key_env: str) -> None:
                super().__init__(
                    model,
                    base_url=local[base_url].base_url,
                    api_key="t",
                    retry=RetryPolicy(max_retries=1, initial_delay=0.001, max_delay=0.001),
                )

        monkeypatch.setattr(agentkit.models.openai, "OpenAIChatModel", Local)
        _run("FallbackModel(", namespace)
        result = namespace["steady"].run_sync("Weather?")
    assert result.output == "Sunny."
    assert (len(down.requests), len(up.requests)) == (2, 1)
    assert result.messages[-1].model_name == "mistral/mistral-small-2506"
