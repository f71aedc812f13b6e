"""Evals in pytest: the ``agentkit_eval`` fixture (served by agentkit's pytest plugin).

::

    @pytest.mark.anyio
    async def test_travel_desk(agentkit_eval):
        await agentkit_eval.run("evals/dataset.yaml", agent, baseline="evals/baseline.json")

``run`` evaluates the dataset, stores the report (JSON and Markdown) as an artifact under
``--agentkit-eval-reports`` (default ``.agentkit-evals/``), and fails the test when a case
got worse than in the committed baseline report (the comparison is the failure message).
``pytest --agentkit-eval-accept`` writes the new report as the baseline instead. Each case
as its own test::

    @pytest.mark.parametrize("case", eval_cases("evals/dataset.yaml"))
    async def test_case(agentkit_eval, case):
        await agentkit_eval.run(case, agent, baseline="evals/baseline.json")

A single case's report is merged into the baseline when accepted (the other cases stay).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from agentkit.evals._case import Case
from agentkit.evals._dataset import Dataset
from agentkit.evals._report import Report

if TYPE_CHECKING:
    from agentkit.agent import Agent

__all__ = ["EvalCheck", "eval_cases"]


def eval_cases(path: str | os.PathLike[str]) -> list[Any]:
    """The cases of a dataset file as ``pytest.param``s, each with the case's name as its id."""
    return [pytest.param(case, id=case.name) for case in Dataset.load(path).cases]


class EvalCheck:
    """What the ``agentkit_eval`` fixture gives a test: ``await run(...)``."""

    def __init__(self, node_id: str, reports: Path, accept: bool) -> None:
        self.node_id = node_id
        self.reports = reports
        self.accept = accept
        self.report: Report | None = None
        """The last report ``run`` made."""

    def _artifact(self) -> Path:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.node_id).strip("_")
        return self.reports / f"{name}.json"

    async def run(
        self,
        dataset: Dataset | Case | str | os.PathLike[str],
        agent: Agent[Any, Any],
        *,
        baseline: str | os.PathLike[str] | None = None,
        score_tolerance: float = 0.1,
        cost_tolerance: float | None = 0.25,
        latency_tolerance: float | None = None,
        **evaluate: Any,
    ) -> Report:
        """Evaluate ``dataset`` (a ``Dataset``, one ``Case``, or a dataset file) on ``agent``
        (``evaluate`` goes to ``Dataset.evaluate``), store the report, and fail the test on a
        regression against ``baseline`` (or, with no baseline given, on a failing case)."""
        partial = isinstance(dataset, Case)
        if isinstance(dataset, Case):
            dataset = Dataset(name=dataset.name, cases=[dataset])
        elif not isinstance(dataset, Dataset):
            dataset = Dataset.load(dataset)
        report = await dataset.evaluate(agent, **evaluate)
        self.report = report
        artifact = report.save(self._artifact())
        artifact.with_suffix(".md").write_text(report.to_markdown(), encoding="utf-8")
        if baseline is None:
            if not report.passed:
                pytest.fail(f"evaluation failed (report: {artifact}):\n{report.to_markdown()}")
            return report
        baseline = Path(baseline)
        if self.accept:
            _accept(report, baseline, partial=partial)
            return report
        if not baseline.exists():
            pytest.fail(
                f"no baseline report at {baseline}: run pytest with --agentkit-eval-accept to "
                f"write this run's report there (report: {artifact})"
            )
        comparison = report.compare(
            Report.load(baseline),
            score_tolerance=score_tolerance,
            cost_tolerance=cost_tolerance,
            latency_tolerance=latency_tolerance,
        )
        if comparison.regressions:
            pytest.fail(
                f"{len(comparison.regressions)} regression(s) against {baseline} (report: "
                f"{artifact}; accept it with --agentkit-eval-accept):\n{comparison.to_markdown()}"
            )
        return report


def _accept(report: Report, baseline: Path, *, partial: bool) -> None:
    if partial and baseline.exists():
        old = Report.load(baseline)
        mine = {c.name: c for c in report.cases}
        cases = [mine.pop(c.name, c) for c in old.cases] + list(mine.values())
        report = old.model_copy(update={"cases": cases})
    report.save(baseline)
