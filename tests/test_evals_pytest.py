"""The ``agentkit_eval`` fixture: a dataset evaluated in a test, against a committed baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentkit import Agent
from agentkit.evals import Case, Dataset, EvalCheck, MatchesExpected, Report
from agentkit.testing import ScriptedModel

pytest_plugins = ("pytester",)

CITIES = ("Paris", "Oslo")
DATASET = Dataset(
    cases=[Case(name=c, prompt=c, expected_output=f"Sunny in {c}") for c in CITIES],
    evaluators=[MatchesExpected(min_similarity=0.9)],
)


def _model(answer: str) -> ScriptedModel:
    """Answers ``answer`` (formatted with the city asked about) to every prompt."""

    def reply(request: Any) -> str:
        return answer.format(city=request.messages[-1].content)

    return ScriptedModel([reply] * 2)


@pytest.mark.anyio
async def test_accept_writes_the_baseline_and_a_regression_fails(tmp_path: Path) -> None:
    """Without a baseline the test fails and says how to make one; accepting writes it; the
    same answers then pass, worse ones fail with the comparison; the report is stored."""
    baseline = tmp_path / "baseline.json"
    check = EvalCheck("tests/test_x.py::test_set", tmp_path / "reports", accept=False)
    with pytest.raises(
        pytest.fail.Exception, match=r"no baseline report at .*--agentkit-eval-accept"
    ):
        await check.run(DATASET, Agent(None), model=_model("Sunny in {city}"), baseline=baseline)

    accepting = EvalCheck("tests/test_x.py::test_set", tmp_path / "reports", accept=True)
    await accepting.run(DATASET, Agent(None), model=_model("Sunny in {city}"), baseline=baseline)
    assert Report.load(baseline).passed

    report = await check.run(
        DATASET, Agent(None), model=_model("Sunny in {city}"), baseline=baseline
    )
    assert report.passed
    artifact = tmp_path / "reports" / "tests_test_x.py_test_set.json"
    assert json.loads(artifact.read_text())["summary"]["passed"] == 2
    assert "| Paris | pass |" in artifact.with_suffix(".md").read_text()

    with pytest.raises(pytest.fail.Exception, match="Paris: matches_expected pass -> fail"):
        await check.run(DATASET, Agent(None), model=_model("Snow"), baseline=baseline)


@pytest.mark.anyio
async def test_a_failing_case_fails_the_test_when_there_is_no_baseline(tmp_path: Path) -> None:
    """With no baseline named, any failing case fails the test."""
    check = EvalCheck("t", tmp_path, accept=False)
    with pytest.raises(pytest.fail.Exception, match=r"\| Oslo \| FAIL \|"):
        await check.run(DATASET, Agent(None), model=_model("Snow"))


@pytest.mark.anyio
async def test_accepting_one_case_keeps_the_others_in_the_baseline(tmp_path: Path) -> None:
    """A single case's report is merged into the baseline, not written over it."""
    baseline = tmp_path / "baseline.json"
    accepting = EvalCheck("t", tmp_path, accept=True)
    await accepting.run(DATASET, Agent(None), model=_model("Sunny in {city}"), baseline=baseline)
    oslo = DATASET.cases[1].model_copy(update={"evaluators": [MatchesExpected(min_similarity=0.9)]})
    await accepting.run(oslo, Agent(None), model=_model("Snow"), baseline=baseline)
    assert {c.name: c.passed for c in Report.load(baseline).cases} == {"Paris": True, "Oslo": False}


INNER = """
import pytest
from agentkit import Agent
from agentkit.evals import Dataset
from agentkit.evals import eval_cases
from agentkit.testing import ScriptedModel


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
@pytest.mark.parametrize("case", eval_cases("dataset.yaml"))
async def test_case(agentkit_eval, case):
    model = ScriptedModel(["Sunny in " + case.prompt])
    await agentkit_eval.run(case, Agent(None), model=model, baseline="baseline.json")
"""


def test_the_fixture_runs_each_case_as_a_test_and_takes_the_accept_flag(
    pytester: pytest.Pytester,
) -> None:
    """In a real pytest run, ``eval_cases`` gives a test id per case, the ``agentkit_eval``
    fixture honours ``--agentkit-eval-accept`` and ``--agentkit-eval-reports``."""
    DATASET.save(pytester.path / "dataset.yaml")
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest("-v", "--agentkit-eval-accept", "--agentkit-eval-reports=out")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_case?Paris?*PASSED*", "*test_case?Oslo?*PASSED*"])
    assert sorted(c.name for c in Report.load(pytester.path / "baseline.json").cases) == [
        "Oslo",
        "Paris",
    ]
    assert (pytester.path / "out" / "test_inner.py_test_case_Paris.json").exists()
    pytester.runpytest().assert_outcomes(passed=2)
