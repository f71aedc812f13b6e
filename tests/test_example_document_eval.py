"""examples/document_eval: the document assistant's dataset, its committed baseline, and the
README's two ``agentkit eval`` commands, offline against a scripted model server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import load_example, readme_commands

from agentkit.cli import main
from agentkit.evals import Dataset, Report
from agentkit.testing import ScriptedModel, output_call
from agentkit.testing.server import LocalModelServer, RecordedRequest, Reply, reply_json

ROOT = Path(__file__).resolve().parent.parent
DATASET = Dataset.load(ROOT / "examples" / "document_eval" / "invoices.yaml")
BASELINE = ROOT / "examples" / "document_eval" / "baseline.json"
MODEL = "scripted-extractor"


def extractor(misread: dict[str, Any] | None = None) -> Callable[[RecordedRequest], Reply]:
    """A model server's answers: each case's expected invoice, with the fields of
    ``misread`` changed in the case of its number."""
    by_number = {c.expected_output["number"]: c.expected_output for c in DATASET.cases}

    def answer(request: RecordedRequest) -> Reply:
        prompt = request.body["messages"][-1]["content"]
        number = next(n for n in by_number if n in json.dumps(prompt, ensure_ascii=False))
        invoice = by_number[number]
        if misread and misread["number"] == number:
            invoice = {**invoice, **misread}
        return reply_json(invoice)

    return answer


def _eval(command: list[str], server: LocalModelServer) -> int:
    return main(["--plain", *command, "--base-url", server.base_url, "--model", MODEL])


def test_the_expected_invoices_are_answers_the_assistant_accepts() -> None:
    """Every case's expected output, given as the answer, is the assistant's output at the
    first request: it passes the ``Invoice`` type and the arithmetic check, so a perfect
    model can pass every case."""
    documents = load_example("document_assistant")
    assert DATASET.cases  # an empty dataset would check nothing
    for case in DATASET.cases:
        model = ScriptedModel([output_call(case.expected_output)])
        result = documents.build_agent(model).run_sync(case.prompt)
        assert result.output == documents.Invoice.model_validate(case.expected_output)
        assert result.usage.requests == 1


def test_the_readme_commands_reproduce_the_baseline_and_catch_a_regression(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's ``--baseline`` command passes (exit 0) for answers as good as the
    baseline's, and exits 1 naming the case when one vendor is misread; its ``--report``
    command writes a report of every case, all passing."""
    compare, write = readme_commands("document_eval", "agentkit")
    assert compare[compare.index("--baseline") + 1] == "examples/document_eval/baseline.json"
    report = write.index("--report") + 1
    write[report] = str(tmp_path / "report.json")
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with LocalModelServer(extractor()) as server:
        assert _eval(write, server) == 0
        assert _eval(compare, server) == 0, capsys.readouterr().out
    written = Report.load(tmp_path / "report.json")
    assert written.summary.passed == 3 and written.model == MODEL
    capsys.readouterr()
    misread = {"number": "GW-88213", "vendor": "Grindworks Supply"}
    with LocalModelServer(extractor(misread)) as server:
        assert _eval(compare, server) == 1
    out = capsys.readouterr().out
    assert "us-parts-discount-usd" in out and "equals" in out


def test_the_committed_baseline_passes_every_case_with_every_check() -> None:
    """``baseline.json`` is a report of this dataset: every case, each with the three
    checks, all passing, made on the scripted model the README names."""
    baseline = Report.load(BASELINE)
    assert [c.name for c in baseline.cases] == [c.name for c in DATASET.cases]
    assert baseline.model == MODEL and baseline.agent == "document-assistant"
    for case in baseline.cases:
        assert case.passed and case.error is None
        assert [r.evaluator for r in case.results] == [
            "equals",
            "matches_expected",
            "within_limits",
        ]
