"""A document assistant: reads an invoice (text, or a PDF) and answers with its fields, checked.

    python examples/document_assistant/document_assistant.py examples/document_assistant/invoice.txt

- a text file goes in the prompt; a PDF goes as a ``DocumentPart``, which Mistral's and
  OpenAI's models read themselves (a model without document support refuses it up front);
- the answer is an ``Invoice`` (pydantic): dates are dates, amounts are numbers;
- an output validator checks the arithmetic: lines whose amounts do not add up to the total
  go back to the model, so a misread number is caught, not passed on.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from agentkit import Agent, AgentkitError, DocumentPart, ModelRetry, TextPart, explain_error


class Line(BaseModel):
    """One line of an invoice."""

    description: str
    quantity: float
    unit_price: float
    amount: float = Field(description="The line's amount as printed.")


class Invoice(BaseModel):
    """What the document assistant extracts from an invoice."""

    vendor: str = Field(description="Who issued the invoice.")
    number: str = Field(description="The invoice number, as printed.")
    issued: datetime.date
    currency: str = Field(description="ISO 4217 code, such as EUR.", pattern="^[A-Z]{3}$")
    lines: list[Line] = Field(min_length=1)
    total: float = Field(description="The total due, as printed.")


INSTRUCTIONS = (
    "You extract invoices. Copy every field as printed in the document; never compute or "
    "guess a value that is not there."
)

TOLERANCE = 0.01
"""How far the lines' sum may be from the total (rounding)."""


def build_agent(model: Any = None) -> Agent[None, Invoice]:
    """The document assistant on ``model`` (``None``: chosen at run time)."""
    agent: Agent[None, Invoice] = Agent(
        model, instructions=INSTRUCTIONS, output_type=Invoice, name="document-assistant"
    )

    @agent.output_validator
    def adds_up(invoice: Invoice) -> Invoice:
        """Each line is its quantity times its unit price, and the lines add up to the total."""
        for line in invoice.lines:
            if abs(line.quantity * line.unit_price - line.amount) > TOLERANCE:
                raise ModelRetry(
                    f"{line.description!r}: {line.quantity} x {line.unit_price} is not "
                    f"{line.amount}; read this line again."
                )
        lines = sum(line.amount for line in invoice.lines)
        if abs(lines - invoice.total) > TOLERANCE:
            raise ModelRetry(
                f"The lines add up to {lines:.2f} but the total is {invoice.total:.2f}: read "
                "the lines and the total again; include every line (shipping, fees, discounts "
                "as negative amounts)."
            )
        return invoice

    return agent


agent = build_agent()
"""For ``agentkit run examples/document_assistant/document_assistant.py:agent "<text>"``."""


def prompt_for(path: str | Path) -> list[TextPart | DocumentPart]:
    """The prompt for a document: a PDF as a ``DocumentPart``, any other file as its text."""
    path = Path(path)
    ask = TextPart(text=f"Extract the invoice in {path.name}.")
    if path.suffix.lower() == ".pdf":
        return [ask, DocumentPart.from_path(path)]
    return [ask, TextPart(text=path.read_text(encoding="utf-8"))]


def main(argv: list[str] | None = None) -> int:
    """Extract the invoice of each file named and print it as JSON."""
    parser = argparse.ArgumentParser(description="Extract invoices as JSON.")
    parser.add_argument("files", nargs="+", help="invoices: .pdf, or text files")
    parser.add_argument("--model", help="a model string, such as mistral:mistral-small-2506")
    args = parser.parse_args(argv)
    extractor = build_agent(args.model)
    for file in args.files:
        try:
            result = extractor.run_sync(prompt_for(file))
        except AgentkitError as exc:  # a missing key, a server out of reach...
            print(f"{file}: {explain_error(exc).summary}", file=sys.stderr)  # in a user's terms
            return 1
        except OSError as exc:  # an unreadable file
            print(f"{file}: {exc}", file=sys.stderr)
            return 1
        print(result.output.model_dump_json(indent=2))
        print(f"{file}: {result.usage.requests} request(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
