"""examples/document_assistant: invoices (text or PDF) in, a checked ``Invoice`` out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import load_example, readme_commands

from agentkit import ToolMessage
from agentkit.testing import ScriptedModel, output_call
from agentkit.testing.server import LocalModelServer, reply_json

ROOT = Path(__file__).resolve().parent.parent
LINES = [
    {
        "description": 'Espresso blend "Hafen", 1 kg',
        "quantity": 12,
        "unit_price": 18.5,
        "amount": 222,
    },
    {
        "description": "Single origin Yirgacheffe, 1 kg",
        "quantity": 4,
        "unit_price": 27,
        "amount": 108,
    },
    {
        "description": "Shipping (pallet, Hamburg-Lyon)",
        "quantity": 1,
        "unit_price": 45,
        "amount": 45,
    },
]
INVOICE = {
    "vendor": "Nordlicht Kaffeerösterei GmbH",
    "number": "NK-2026-0142",
    "issued": "2026-11-03",
    "currency": "EUR",
    "lines": LINES,
    "total": 375.0,
}
MODEL = ["--model", "openai:mistral-small-2506"]

documents = load_example("document_assistant")


def test_the_readme_command_extracts_the_sample_and_catches_a_missed_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's command (on a scripted model server) sends the invoice's text; a first
    answer missing the shipping line is sent back with the sums, and the corrected invoice
    is printed as JSON."""
    (command,) = readme_commands("document_assistant", "python")
    script, file = command
    assert script == "examples/document_assistant/document_assistant.py"
    missed = {**INVOICE, "lines": LINES[:2]}
    with LocalModelServer([reply_json(missed), reply_json(INVOICE)]) as server:
        monkeypatch.chdir(ROOT)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        assert documents.main([file, *MODEL]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == INVOICE
    first, second = (request.body["messages"] for request in server.requests)
    sent = json.dumps(first[-1]["content"])
    assert "INVOICE  No. NK-2026-0142" in sent and "Extract the invoice in invoice.txt." in sent
    assert second[-1]["content"].startswith(
        "The lines add up to 330.00 but the total is 375.00: read the lines and the total again"
    )


def test_a_pdf_goes_to_the_model_as_a_document(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A ``.pdf`` is sent inline as a document part (a PDF data URL), not as text."""
    pdf = tmp_path / "scan.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n")
    with LocalModelServer([reply_json(INVOICE)]) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        assert documents.main([str(pdf), *MODEL]) == 0
    ask, document = server.requests[0].body["messages"][-1]["content"]
    assert ask == {"type": "text", "text": "Extract the invoice in scan.pdf."}
    assert "data:application/pdf;base64," in json.dumps(document)


def test_a_line_that_does_not_multiply_out_goes_back() -> None:
    """A line whose quantity times unit price is not its amount is sent back naming it."""
    misread = {**INVOICE, "lines": [{**LINES[0], "quantity": 2}, *LINES[1:]]}
    model = ScriptedModel([output_call(misread), output_call(INVOICE)])
    result = documents.build_agent(model).run_sync("the invoice")
    assert result.output == documents.Invoice.model_validate(INVOICE)
    feedback = model.requests[1].messages[-1]
    assert isinstance(feedback, ToolMessage) and feedback.is_error
    assert feedback.content == (
        "'Espresso blend \"Hafen\", 1 kg': 2.0 x 18.5 is not 222.0; read this line again."
    )


def test_without_a_key_the_command_says_what_to_do_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no API key and no ``--model``, the command exits 1 with the error's one
    sentence naming the variables to set (no traceback); a missing file likewise."""
    for variable in ("MISTRAL_API_KEY", "OPPER_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(ROOT)
    assert documents.main(["examples/document_assistant/invoice.txt"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "examples/document_assistant/invoice.txt: No API key for mistral-small-2506: set "
        "MISTRAL_API_KEY or OPPER_API_KEY (export MISTRAL_API_KEY=...).\n"
    )
    assert documents.main(["nowhere.txt", *MODEL]) == 1
    assert "No such file or directory" in capsys.readouterr().err
