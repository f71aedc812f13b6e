"""The README's thinking example runs as written against a local reasoning server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import doc_blocks
import pytest

import agentkit._run.start
from agentkit.models import OpenAIChatModel
from agentkit.testing.server import LocalModelServer, reply_text, usage

README = Path(__file__).resolve().parent.parent / "README.md"


def test_thinking_example_shows_thinking_dimmed_apart_from_the_answer(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """The example prints the streamed thinking dimmed, then the answer, and counts both."""
    blocks: list[str] = [b.text for b in doc_blocks.blocks()]
    block = next(b for b in blocks if "ThinkingDeltaEvent" in b)
    reply = reply_text("132.", thinking="12 x 11 = 132.", usage=usage(20, 30, reasoning_tokens=9))
    with LocalModelServer([reply], style="mistral") as server:
        monkeypatch.setattr(
            agentkit._run.start,
            "_infer",
            lambda spec: OpenAIChatModel(
                spec.split(":", 1)[-1], base_url=server.base_url, api_key="t"
            ),
        )
        namespace: dict[str, Any] = {"__name__": "readme"}
        exec(compile(block, str(README), "exec"), namespace)
        output = anyio.run(namespace["ask"], "What is 12 times 11?")
    assert output == "132."
    printed = capsys.readouterr().out
    assert printed.startswith("\x1b[2m12 x 11 \x1b[0m\x1b[2m= 132.\x1b[0m")
    assert "\x1b[0m132.\n1 thought(s), 9 reasoning tokens" in printed
