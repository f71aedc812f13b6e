"""Evals over recorded conversations: datasets, replayed tools, evaluators, judges, reports.

::

    from agentkit.evals import Dataset, Report

    dataset = Dataset.from_cassettes("tests/cassettes/")   # a case per recorded user turn
    dataset.save("evals/dataset.yaml")
    report = await Dataset.load("evals/dataset.yaml").evaluate(agent, model="mistral-small-2603")
    report.print()                                          # a table in the terminal
    comparison = report.compare(Report.load("evals/baseline.json"))
    assert not comparison.regressions, comparison.to_markdown()

A case built from a recording checks the answer against the recorded one
(``MatchesExpected``) and replays the recorded tool results: the tool functions are
never called, and a call the recording does not have is answered with a "not recorded"
error and counted. ``tools="live"`` runs the real tools instead.

The pieces: ``_case`` (``Case``), ``_dataset`` (``Dataset``, files), ``_sources`` (cases from
cassettes, dumped runs, sessions), ``_evaluators`` and ``_judge`` (what is checked),
``_run`` (running a dataset), ``_report`` (``Report``, ``compare``), ``_pytest`` (the
pytest fixture). PyYAML (YAML files) and rich (the table, the progress bar) are imported
on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentkit.evals._case import Case, Evaluator, RecordedTool, ToolMode
    from agentkit.evals._dataset import Dataset
    from agentkit.evals._evaluators import (
        Contains,
        Equals,
        EvaluationReason,
        EvaluatorContext,
        EvaluatorFunction,
        EvaluatorResult,
        Function,
        IsInstance,
        MatchesExpected,
        NoError,
        ToolCalled,
        WithinLimits,
    )
    from agentkit.evals._judge import Judge, JudgeError, JudgeVerdict
    from agentkit.evals._pytest import EvalCheck, eval_cases
    from agentkit.evals._report import (
        CaseResult,
        Change,
        Comparison,
        EvaluatorTotals,
        Report,
        ReportSummary,
        UsageSummary,
    )
    from agentkit.evals._run import NOT_RECORDED, ReplayedTools

__all__ = [
    "NOT_RECORDED",
    "Case",
    "CaseResult",
    "Change",
    "Comparison",
    "Contains",
    "Dataset",
    "Equals",
    "EvalCheck",
    "EvaluationReason",
    "Evaluator",
    "EvaluatorContext",
    "EvaluatorFunction",
    "EvaluatorResult",
    "EvaluatorTotals",
    "Function",
    "IsInstance",
    "Judge",
    "JudgeError",
    "JudgeVerdict",
    "MatchesExpected",
    "NoError",
    "RecordedTool",
    "ReplayedTools",
    "Report",
    "ReportSummary",
    "ToolCalled",
    "ToolMode",
    "UsageSummary",
    "WithinLimits",
    "eval_cases",
]

_WHERE = {
    **dict.fromkeys(("Case", "Evaluator", "RecordedTool", "ToolMode"), "_case"),
    "Dataset": "_dataset",
    **dict.fromkeys(
        (
            "Contains",
            "Equals",
            "EvaluationReason",
            "EvaluatorContext",
            "EvaluatorFunction",
            "EvaluatorResult",
            "Function",
            "IsInstance",
            "MatchesExpected",
            "NoError",
            "ToolCalled",
            "WithinLimits",
        ),
        "_evaluators",
    ),
    **dict.fromkeys(("Judge", "JudgeError", "JudgeVerdict"), "_judge"),
    **dict.fromkeys(
        (
            "CaseResult",
            "Change",
            "Comparison",
            "EvaluatorTotals",
            "Report",
            "ReportSummary",
            "UsageSummary",
        ),
        "_report",
    ),
    **dict.fromkeys(("NOT_RECORDED", "ReplayedTools"), "_run"),
    **dict.fromkeys(("EvalCheck", "eval_cases"), "_pytest"),
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'agentkit.evals' has no attribute {name!r}")
    return getattr(importlib.import_module(f"agentkit.evals.{module}"), name)
