"""Reports: each case's run and verdicts, with totals; JSON to store, Markdown, a terminal table;
and the comparison with a baseline report that names what got worse.

The JSON file (``report.save(path)``) is the stable format: ``format`` is its version,
and a report loads back exactly (``Report.load(path)``).
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field

from agentkit._errors import ConfigurationError
from agentkit.evals._evaluators import EvaluatorResult
from agentkit.messages import Message
from agentkit.usage import Usage

__all__ = [
    "REPORT_FORMAT",
    "CaseResult",
    "Change",
    "Comparison",
    "EvaluatorTotals",
    "Report",
    "ReportSummary",
    "UsageSummary",
]

REPORT_FORMAT = 1
"""The version of the report file format."""


@dataclass(slots=True)
class UsageSummary:
    """A run's usage as stored in a report."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    tool_calls: int = 0
    cost_usd: float | None = 0.0

    @classmethod
    def of(cls, usage: Usage) -> UsageSummary:
        """From a run's ``Usage``."""
        return cls(
            usage.requests,
            usage.input_tokens,
            usage.output_tokens,
            usage.tool_calls,
            usage.cost_usd,
        )


@dataclass(slots=True)
class CaseResult:
    """One case: did it pass, what it answered, each evaluator's verdict, and its run.

    (Dataclasses, not pydantic models, so that keeping a result costs next to nothing per
    case; the ``Report`` reads and writes them as JSON all the same.)"""

    name: str
    passed: bool
    output: Any = None
    expected_output: Any = None
    error: str | None = None
    """The run's error (``"Type: message"``); the case then fails and is not evaluated."""
    results: list[EvaluatorResult] = field(default_factory=list)
    usage: UsageSummary = field(default_factory=UsageSummary)
    judge_usage: UsageSummary | None = None
    """What the case's LLM judges used (not counted in ``usage``)."""
    latency_s: float = 0.0
    not_recorded: list[str] = field(default_factory=list)
    """Tool calls the recording did not have (answered with a "not recorded" error)."""
    messages: list[Message] = field(default_factory=list)
    """The run's conversation (stored as ``dump_messages`` writes it)."""

    def result(self, evaluator: str) -> EvaluatorResult | None:
        """The verdict of the evaluator named ``evaluator``, if it ran."""
        return next((r for r in self.results if r.evaluator == evaluator), None)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


class EvaluatorTotals(BaseModel):
    """One evaluator over all the cases it judged."""

    cases: int
    passed: int
    """Checks that passed (a score without a threshold counts as neither)."""
    failed: int
    errors: int
    """Cases where the evaluator itself failed."""
    mean_score: float | None
    """The mean of its scores, when it gives scores."""


class ReportSummary(BaseModel):
    """Totals over a report's cases."""

    cases: int
    passed: int
    failed: int
    errors: int
    """Cases whose run raised."""
    pass_rate: float
    requests: int
    total_tokens: int
    cost_usd: float | None
    latency_p50_s: float
    latency_p95_s: float
    not_recorded: int
    """Tool calls, over all cases, that the recordings did not have."""
    evaluators: dict[str, EvaluatorTotals] = Field(default_factory=dict)
    """Per evaluator (by its name in the cases), its totals."""


def _evaluator_totals(cases: list[CaseResult]) -> dict[str, EvaluatorTotals]:
    grouped: dict[str, list[EvaluatorResult]] = {}
    for case in cases:
        for result in case.results:
            grouped.setdefault(result.evaluator, []).append(result)
    totals = {}
    for name, results in grouped.items():
        scores = [r.score for r in results if r.score is not None]
        totals[name] = EvaluatorTotals(
            cases=len(results),
            passed=sum(r.error is None and r.passed is True for r in results),
            failed=sum(r.error is None and r.passed is False for r in results),
            errors=sum(r.error is not None for r in results),
            mean_score=round(sum(scores) / len(scores), 4) if scores else None,
        )
    return totals


class Report(BaseModel):
    """The result of ``Dataset.evaluate``: one ``CaseResult`` per case, in dataset order."""

    model_config = ConfigDict(extra="ignore")

    format: int = REPORT_FORMAT
    name: str
    agent: str | None = None
    model: str | None = None
    tools: Literal["recorded", "live"] = "recorded"
    started_at: float = 0.0
    """When the evaluation started (Unix time)."""
    cases: list[CaseResult] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> ReportSummary:
        """Totals: passes, failures, tokens, cost, and p50/p95 latency."""
        cases = self.cases
        costs = [c.usage.cost_usd for c in cases]
        latencies = sorted(c.latency_s for c in cases)
        passed = sum(c.passed for c in cases)
        return ReportSummary(
            cases=len(cases),
            passed=passed,
            failed=len(cases) - passed,
            errors=sum(c.error is not None for c in cases),
            pass_rate=round(passed / len(cases), 4) if cases else 0.0,
            requests=sum(c.usage.requests for c in cases),
            total_tokens=sum(c.usage.input_tokens + c.usage.output_tokens for c in cases),
            cost_usd=None
            if any(c is None for c in costs)
            else round(sum(c or 0.0 for c in costs), 8),
            latency_p50_s=round(_percentile(latencies, 50), 4),
            latency_p95_s=round(_percentile(latencies, 95), 4),
            not_recorded=sum(len(c.not_recorded) for c in cases),
            evaluators=_evaluator_totals(cases),
        )

    @property
    def passed(self) -> bool:
        """Whether every case passed."""
        return all(c.passed for c in self.cases)

    def case(self, name: str) -> CaseResult:
        """The result of the case named ``name``."""
        for case in self.cases:
            if case.name == name:
                return case
        raise KeyError(f"no case named {name!r} in report {self.name!r}")

    # ----------------------------------------------------------------- files

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as JSON text (the stable format)."""
        return self.model_dump_json(indent=indent)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the report as JSON; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Report:
        """A report saved with ``save``."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"cannot read report {path}: {exc.strerror}") from None
        try:
            report = cls.model_validate_json(text)
        except ValidationError as exc:
            raise ConfigurationError(
                f"{path} is not an agentkit evaluation report (as report.save writes):\n{exc}"
            ) from None
        if report.format > REPORT_FORMAT:
            raise ConfigurationError(
                f"report {path} has format {report.format}; this agentkit reads up to "
                f"{REPORT_FORMAT}: upgrade agentkit"
            )
        return report

    # ----------------------------------------------------------------- views

    def to_markdown(self, *, details: bool = True) -> str:
        """The report as Markdown (a PR comment): totals, then a row per case."""
        s = self.summary
        cost = "unknown" if s.cost_usd is None else f"${s.cost_usd:.6f}"
        lines = [
            f"## Evaluation: {self.name}",
            "",
            f"**{s.passed}/{s.cases} passed** ({s.pass_rate:.0%}) · model `{self.model}` · "
            f"{s.requests} requests · {s.total_tokens} tokens · cost {cost} · "
            f"latency p50 {s.latency_p50_s:.2f} s, p95 {s.latency_p95_s:.2f} s"
            + (f" · {s.not_recorded} tool calls not recorded" if s.not_recorded else ""),
            "",
            "| case | result | evaluators | requests | cost | latency |",
            "|---|---|---|---:|---:|---:|",
        ]
        for case in self.cases:
            lines.append(
                f"| {_md(case.name)} | {'pass' if case.passed else 'FAIL'} | "
                f"{_md(_verdicts(case))} | {case.usage.requests} | {_cost(case.usage.cost_usd)} | "
                f"{case.latency_s:.2f} s |"
            )
        if s.evaluators:
            lines += [
                "",
                "| evaluator | passed | failed | errors | mean score |",
                "|---|---:|---:|---:|---:|",
            ]
            for name, t in s.evaluators.items():
                mean = "-" if t.mean_score is None else f"{t.mean_score:.2f}"
                lines.append(f"| {_md(name)} | {t.passed} | {t.failed} | {t.errors} | {mean} |")
        failing = [c for c in self.cases if not c.passed]
        if details and failing:
            lines += ["", "### Failures", ""]
            for case in failing:
                for why in _why(case):
                    lines.append(f"- **{_md(case.name)}**: {_md(why)}")
        return "\n".join(lines) + "\n"

    def print(self, console: Any = None) -> None:
        """Print the report as a table in the terminal (rich)."""
        from rich.console import Console
        from rich.table import Table

        console = console or Console()
        s = self.summary
        table = Table(title=f"Evaluation: {self.name} ({self.model})")
        for column in ("case", "result", "evaluators", "requests", "cost", "latency"):
            table.add_column(
                column, justify="right" if column in ("requests", "cost", "latency") else "left"
            )
        for case in self.cases:
            table.add_row(
                case.name,
                "[green]pass[/]" if case.passed else "[red]FAIL[/]",
                _verdicts(case),
                str(case.usage.requests),
                _cost(case.usage.cost_usd),
                f"{case.latency_s:.2f} s",
            )
        console.print(table)
        if s.evaluators:
            totals = Table(title="Per evaluator")
            for column in ("evaluator", "passed", "failed", "errors", "mean score"):
                totals.add_column(column, justify="left" if column == "evaluator" else "right")
            for name, t in s.evaluators.items():
                mean = "-" if t.mean_score is None else f"{t.mean_score:.2f}"
                totals.add_row(name, str(t.passed), str(t.failed), str(t.errors), mean)
            console.print(totals)
        console.print(
            f"{s.passed}/{s.cases} passed, {s.requests} requests, {s.total_tokens} tokens, "
            f"cost {_cost(s.cost_usd)}, latency p50 {s.latency_p50_s:.2f} s / "
            f"p95 {s.latency_p95_s:.2f} s"
            + (f", {s.not_recorded} tool calls not recorded" if s.not_recorded else ""),
            markup=False,
        )
        for case in self.cases:
            for why in _why(case):
                console.print(f"  {case.name}: {why}", markup=False)

    def compare(
        self,
        baseline: Report,
        *,
        score_tolerance: float = 0.1,
        cost_tolerance: float | None = 0.25,
        latency_tolerance: float | None = None,
    ) -> Comparison:
        """What changed from ``baseline`` (an earlier report of the same dataset).

        Worse: a check that passed and now fails (or errs), a case that passed and now
        fails, a score down by more than ``score_tolerance``, cost (relative, 0.25 is +25%)
        or latency (relative; off by default, it is noisy) up by more than its tolerance.
        Better: the reverse. Cases only in one report are new or gone.
        """
        changes = Comparison(baseline=baseline.name, current=self.name)
        before = {c.name: c for c in baseline.cases}
        now = {c.name: c for c in self.cases}
        changes.new = [n for n in now if n not in before]
        changes.gone = [n for n in before if n not in now]
        for name, case in now.items():
            old = before.get(name)
            if old is not None:
                _compare_case(
                    changes, old, case, score_tolerance, cost_tolerance, latency_tolerance
                )
        return changes


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _cost(value: float | None) -> str:
    return "?" if value is None else f"${value:.6f}"


def _verdicts(case: CaseResult) -> str:
    if case.error is not None:
        return "run failed"
    shown = []
    for r in case.results:
        mark = "!" if r.error else ("✓" if r.passed is not False else "✗")
        score = f" {r.score:.2f}" if r.score is not None else ""
        shown.append(f"{mark} {r.evaluator}{score}")
    return ", ".join(shown) or "-"


def _why(case: CaseResult) -> Iterator[str]:
    if case.error is not None:
        yield f"the run failed: {case.error[:300]}"
    for r in case.results:
        if r.error is not None:
            yield f"{r.evaluator} could not evaluate: {r.error[:300]}"
        elif r.passed is False:
            yield f"{r.evaluator} failed" + (f": {r.reason[:300]}" if r.reason else "")


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between a baseline and a current report, for one case."""

    case: str
    what: str
    """The evaluator's name, or ``case``, ``cost`` or ``latency``."""
    before: Any
    after: Any
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.case}: {self.what} {self.before} -> {self.after}" + (
            f" ({self.detail})" if self.detail else ""
        )


@dataclass(slots=True)
class Comparison:
    """What ``Report.compare`` found: each case that got worse or better, new or gone."""

    baseline: str
    current: str
    regressions: list[Change] = field(default_factory=list)
    improvements: list[Change] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)

    @property
    def has_regressions(self) -> bool:
        """Whether any case got worse."""
        return bool(self.regressions)

    def to_markdown(self) -> str:
        """The comparison as Markdown."""
        lines = [f"## Compared with {self.baseline}", ""]
        if not (self.regressions or self.improvements or self.new or self.gone):
            return "\n".join([*lines, "No change.", ""])
        for title, items in (
            ("Regressions", self.regressions),
            ("Improvements", self.improvements),
        ):
            if items:
                lines += [f"### {title} ({len(items)})", ""]
                lines += [f"- {_md(str(c))}" for c in items]
                lines.append("")
        if self.new:
            lines += [f"New cases: {', '.join(self.new)}", ""]
        if self.gone:
            lines += [f"Cases gone: {', '.join(self.gone)}", ""]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()


def _state(result: EvaluatorResult | None) -> str:
    if result is None:
        return "absent"
    if result.error is not None:
        return "error"
    return "fail" if result.passed is False else "pass"


def _compare_case(
    out: Comparison,
    old: CaseResult,
    new: CaseResult,
    score_tolerance: float,
    cost_tolerance: float | None,
    latency_tolerance: float | None,
) -> None:
    if old.passed != new.passed:
        target = out.regressions if old.passed else out.improvements
        detail = new.error or "; ".join(_why(new)) if old.passed else ""
        target.append(Change(new.name, "case", _passed(old), _passed(new), detail[:300]))
    for result in new.results:
        before = old.result(result.evaluator)
        if before is None:
            continue
        was, now = _state(before), _state(result)
        if was != now and "absent" not in (was, now):
            worse = was == "pass"
            (out.regressions if worse else out.improvements).append(
                Change(
                    new.name,
                    result.evaluator,
                    was,
                    now,
                    (result.error or result.reason or "")[:300],
                )
            )
        if before.score is not None and result.score is not None:
            delta = result.score - before.score
            if abs(delta) > score_tolerance:
                (out.regressions if delta < 0 else out.improvements).append(
                    Change(
                        new.name,
                        result.evaluator,
                        round(before.score, 4),
                        round(result.score, 4),
                        "score",
                    )
                )
    _relative(out, new.name, "cost", old.usage.cost_usd, new.usage.cost_usd, cost_tolerance)
    _relative(out, new.name, "latency", old.latency_s, new.latency_s, latency_tolerance)


def _relative(
    out: Comparison,
    case: str,
    what: str,
    old: float | None,
    new: float | None,
    tolerance: float | None,
) -> None:
    if tolerance is None or old is None or new is None or old <= 0:
        return
    change = (new - old) / old
    if change > tolerance:
        out.regressions.append(Change(case, what, old, new, f"+{change:.0%}"))
    elif change < -tolerance:
        out.improvements.append(Change(case, what, old, new, f"{change:.0%}"))


def _passed(case: CaseResult) -> str:
    return "pass" if case.passed else ("error" if case.error else "fail")
