"""The README's documents example runs as written against a local Mistral-style server."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import doc_blocks
import pytest

import agentkit._run.start
from agentkit.models import OpenAIChatModel
from agentkit.testing.server import LocalModelServer, reply_text, reply_tool_calls

README = Path(__file__).resolve().parent.parent / "README.md"


def test_documents_example_sends_the_prompts_and_the_tools_pdfs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The prompt's PDF and the one the tool returns both reach the model as documents."""
    blocks: list[str] = [b.text for b in doc_blocks.blocks()]
    block = next(b for b in blocks if "DocumentPart" in b)
    quote, invoice = b"%PDF-1.7 quote", b"%PDF-1.7 invoice 7"
    (tmp_path / "invoices").mkdir()
    (tmp_path / "invoices" / "7.pdf").write_bytes(invoice)
    (tmp_path / "quote.pdf").write_bytes(quote)
    monkeypatch.chdir(tmp_path)
    replies = [reply_tool_calls(("fetch_invoice", {"number": 7})), reply_text("Yes.")]
    with LocalModelServer(replies, style="mistral") as server:
        monkeypatch.setattr(
            agentkit._run.start,
            "_infer",
            lambda spec: OpenAIChatModel(
                spec.split(":", 1)[-1], base_url=server.base_url, api_key="t"
            ),
        )
        namespace: dict[str, Any] = {"__name__": "readme"}
        exec(compile(block, str(README), "exec"), namespace)
        assert namespace["matches"]("quote.pdf", 7) == "Yes."
    wire = server.bodies[1]["messages"]

    def data_url(pdf: bytes) -> str:
        return "data:application/pdf;base64," + base64.b64encode(pdf).decode()

    assert wire[0]["content"][1] == {
        "type": "document_url",
        "document_url": data_url(quote),
        "document_name": "quote.pdf",
    }
    assert wire[-1]["content"][1] == {
        "type": "document_url",
        "document_url": data_url(invoice),
        "document_name": "invoice-7.pdf",
    }
