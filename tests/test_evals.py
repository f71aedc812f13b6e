"""agentkit.evals: datasets from recordings, replayed tools, evaluators, running and reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import BaseModel
from rich.console import Console
from support import model_on, weather_tool

from agentkit import Agent, AssistantMessage, Hooks, RunInfo, ToolMessage, UserMessage
from agentkit._errors import ConfigurationError
from agentkit.evals import (
    NOT_RECORDED,
    Case,
    Contains,
    Dataset,
    Equals,
    EvaluationReason,
    EvaluatorContext,
    Function,
    IsInstance,
    MatchesExpected,
    RecordedTool,
    ReplayedTools,
    Report,
    ToolCalled,
    WithinLimits,
)
from agentkit.messages import dump_messages
from agentkit.sessions import SQLiteSession
from agentkit.testing import ScriptedModel, output_call, tool_calls
from agentkit.testing.server import LocalModelServer, reply_text, reply_tool_calls

pytestmark = pytest.mark.anyio

CASSETTES = Path(__file__).parent / "cassettes"
WEATHER_CASSETTE = CASSETTES / "test_cassettes_recorded" / "test_agent_with_a_tool.yaml"
RECORDED_ANSWER = "Paris is sunny at 24 C; Oslo has snow at -3 C."
RECORDED_CALLS = (("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Oslo"}))


def weather_agent(calls: list[str] | None = None) -> Agent[None, str]:
    """The agent the weather cassette was recorded with (its tool counts real calls)."""
    return Agent(None, instructions="Answer briefly.", tools=[weather_tool(calls=calls)])


def test_a_cassette_gives_a_case_per_user_turn_with_its_recorded_answer() -> None:
    """``Dataset.from_cassettes`` reads the prompt, the recorded answer and tool results."""
    dataset = Dataset.from_cassettes([WEATHER_CASSETTE])
    (case,) = dataset.cases
    assert case.name == "test_agent_with_a_tool"
    assert case.prompt == "Compare the weather in Paris and Oslo."
    assert case.expected_output == RECORDED_ANSWER
    assert case.metadata["system"] == "Answer briefly."
    assert [(r.tool, r.args, r.content) for r in case.tool_results] == [
        ("get_weather", {"city": "Paris"}, "Sunny, 24 C"),
        ("get_weather", {"city": "Oslo"}, "Snow, -3 C"),
    ]
    assert case.evaluators == [MatchesExpected()]


def test_a_directory_of_cassettes_gives_every_conversation_once() -> None:
    """A directory is searched for cassettes; streamed and structured answers are read too."""
    dataset = Dataset.from_cassettes(CASSETTES / "test_cassettes_recorded")
    by_name = {c.name: c for c in dataset.cases}
    assert {"test_agent_with_a_tool", "test_streamed_answer", "test_structured_output"} <= set(
        by_name
    )
    assert by_name["test_streamed_answer"].expected_output.startswith("Bonjour! Paris")


def test_the_exchanges_of_a_conversation_join_into_one_case_per_turn() -> None:
    """A three-turn conversation recorded as six exchanges (with thinking the server does not
    get back, and streamed or not) gives three cases, each with the turns before it."""
    for name in ("test_reasoning_conversation", "test_reasoning_conversation_streamed"):
        dataset = Dataset.from_cassettes(CASSETTES / "test_cassettes_recorded" / f"{name}.yaml")
        prompts = [(c.name, c.prompt, len(c.history)) for c in dataset.cases]
        assert prompts == [
            (f"{name}-turn1", "Weather in Paris?", 0),
            (f"{name}-turn2", "And Oslo?", 4),
            (f"{name}-turn3", "Which is warmer?", 8),
        ]
        last = dataset.cases[-1]
        assert last.expected_output == "Paris is warmer."
        assert [r.args for r in last.tool_results] == [{"city": "Paris"}, {"city": "Oslo"}]
        answer = last.history[1]
        assert isinstance(answer, AssistantMessage) and answer.thinking  # kept as recorded


def test_a_missing_cassette_path_is_a_clear_error(tmp_path: Path) -> None:
    """A path with nothing to read names what is missing."""
    with pytest.raises(ConfigurationError, match="no cassettes"):
        Dataset.from_cassettes(tmp_path / "nothing.yaml")
    with pytest.raises(ConfigurationError, match="no cassettes found"):
        Dataset.from_cassettes(tmp_path)


async def test_the_recorded_answers_pass_and_a_worse_model_regresses() -> None:
    """On a real server, the recorded answers pass every check; a model answering worse
    fails the case, and ``compare`` names the case and the evaluator that got worse."""
    dataset = Dataset.from_cassettes([WEATHER_CASSETTE])
    calls: list[str] = []
    agent = weather_agent(calls)
    recorded = [reply_tool_calls(*RECORDED_CALLS), reply_text(RECORDED_ANSWER)]
    with LocalModelServer(recorded, style="mistral") as server:
        baseline = await dataset.evaluate(agent, model=model_on(server))
    assert [(c.name, c.passed) for c in baseline.cases] == [("test_agent_with_a_tool", True)]
    assert baseline.compare(baseline).regressions == []

    worse = [reply_tool_calls(("get_weather", {"city": "Paris"})), reply_text("No idea, sorry.")]
    with LocalModelServer(worse, style="mistral") as server:
        report = await dataset.evaluate(agent, model=model_on(server))
    assert not report.cases[0].passed
    comparison = report.compare(baseline)
    assert {(c.case, c.what) for c in comparison.regressions} >= {
        ("test_agent_with_a_tool", "case"),
        ("test_agent_with_a_tool", "matches_expected"),
    }
    assert calls == []  # replayed: the real tool was never called


async def test_replayed_tools_never_call_the_tool_and_count_unrecorded_calls() -> None:
    """A recorded call is answered from the recording; an unknown one gets a "not recorded"
    error the model sees, counted on the case; the tool function runs in neither."""
    calls: list[str] = []
    dataset = Dataset.from_cassettes([WEATHER_CASSETTE])
    model = ScriptedModel(
        [
            tool_calls(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})),
            RECORDED_ANSWER,
        ]
    )
    report = await dataset.evaluate(weather_agent(calls), model=model)
    assert calls == []
    (case,) = report.cases
    assert case.not_recorded == ['get_weather({"city": "Rome"})']
    assert report.summary.not_recorded == 1
    results = [m for m in model.requests[1].messages if isinstance(m, ToolMessage)]
    assert results[0].content == "Sunny, 24 C" and not results[0].is_error
    assert results[1].is_error and "not recorded" in results[1].content


async def test_cases_run_at_once_each_replay_their_own_recording() -> None:
    """Cases evaluated concurrently each get their own case's recorded tool results, and
    each counts only its own unrecorded calls."""

    class Pause(Hooks):
        async def wrap_model_request(self, run: RunInfo, request: Any, handler: Any) -> Any:
            await anyio.sleep(0.01)  # the other cases run in between
            return await handler(request)

    calls: list[str] = []
    agent = Agent(None, tools=[weather_tool(calls=calls)], hooks=[Pause()])
    cities = ["Paris", "Oslo", "Rome", "Lima"]
    cases = [
        Case(
            name=city,
            prompt=city,
            tool_results=[
                RecordedTool(tool="get_weather", args={"city": city}, content=f"{city}: recorded")
            ],
        )
        for city in cities
    ]

    def answer(request: Any) -> Any:
        last = request.messages[-1]
        if isinstance(last, UserMessage):  # Rome's case asks for a city it has no record of
            city = "Lima" if last.content == "Rome" else last.content
            return tool_calls(("get_weather", {"city": city}))
        return last.content  # the tool's answer, as the output

    report = await Dataset(cases=cases).evaluate(
        agent, model=ScriptedModel([answer] * 8), concurrency=4
    )
    assert calls == []
    outputs = {c.name: c.output for c in report.cases}
    assert outputs["Rome"].startswith("Error: not recorded")
    assert {name: outputs[name] for name in ("Paris", "Oslo", "Lima")} == {
        name: f"{name}: recorded" for name in ("Paris", "Oslo", "Lima")
    }
    assert {c.name: c.not_recorded for c in report.cases} == {
        "Paris": [],
        "Oslo": [],
        "Rome": ['get_weather({"city": "Lima"})'],
        "Lima": [],
    }


def test_replayed_tools_answer_as_a_hook_of_any_run() -> None:
    """``ReplayedTools`` given as a run's hook answers its calls from the recording, never
    calling the tool, and lists the calls it had no record of."""
    calls: list[str] = []
    replay = ReplayedTools(
        [RecordedTool(tool="get_weather", args={"city": "Paris"}, content="Wet")]
    )
    model = ScriptedModel(
        [tool_calls(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})), "ok"]
    )
    Agent(model, tools=[weather_tool(calls=calls)]).run_sync("Weather?", hooks=[replay])
    assert calls == []
    assert replay.not_recorded == ['get_weather({"city": "Rome"})']
    answers = [m for m in model.requests[1].messages if isinstance(m, ToolMessage)]
    assert answers[0].content == "Wet" and not answers[0].is_error
    assert answers[1].is_error and NOT_RECORDED in answers[1].content


async def test_live_tools_run_the_real_functions() -> None:
    """``tools="live"`` is the explicit choice to run the agent's own tools."""
    calls: list[str] = []
    dataset = Dataset.from_cassettes([WEATHER_CASSETTE])
    model = ScriptedModel([tool_calls(*RECORDED_CALLS), RECORDED_ANSWER])
    report = await dataset.evaluate(weather_agent(calls), model=model, tools="live")
    assert sorted(calls) == ["Oslo", "Paris"]  # concurrent calls: any order
    assert report.tools == "live" and report.cases[0].not_recorded == []


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_dataset_round_trips_through_its_file(tmp_path: Path, suffix: str) -> None:
    """``save`` then ``load`` gives the same dataset, YAML or JSON by suffix, with a schema."""
    dataset = Dataset.from_cassettes(CASSETTES / "test_cassettes_recorded")
    dataset.evaluators = [Contains(value="Paris"), WithinLimits(requests=4, seconds=60)]
    dataset.cases[0].evaluators.append(ToolCalled(tool="get_weather", args={"city": "Oslo"}))
    path = dataset.save(tmp_path / f"set{suffix}", schema=True)
    assert Dataset.load(path) == dataset
    schema = json.loads((tmp_path / "set.schema.json").read_text())
    assert "Case" in schema["$defs"] and "cases" in schema["properties"]
    if suffix == ".yaml":
        assert path.read_text().startswith("# yaml-language-server: $schema=set.schema.json")
    else:
        assert json.loads(path.read_text())["$schema"] == "set.schema.json"


def test_a_bad_dataset_file_names_the_file_and_the_problem(tmp_path: Path) -> None:
    """Broken YAML, a wrong shape and a duplicate case name each give a clear error."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("cases: [\n")
    with pytest.raises(ConfigurationError, match=r"broken\.yaml is not valid YAML"):
        Dataset.load(broken)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(
        json.dumps({"cases": [{"name": "a", "prompt": "x", "evaluators": [{"type": "nope"}]}]})
    )
    with pytest.raises(ConfigurationError, match=r"wrong\.json is not a valid dataset"):
        Dataset.load(wrong)
    twice = tmp_path / "twice.json"
    twice.write_text(
        json.dumps({"cases": [{"name": "a", "prompt": "x"}, {"name": "a", "prompt": "y"}]})
    )
    with pytest.raises(ConfigurationError, match="two cases are named 'a'"):
        Dataset.load(twice)


class Forecast(BaseModel):
    """A structured output for the evaluator tests."""

    city: str
    temperature_c: int


async def _evaluate(output: Any, *evaluators: Any, expected: Any = None, calls: Any = ()) -> Report:
    """One case whose model calls ``calls`` (live tools) then answers ``output``."""
    script: list[Any] = [tool_calls(*calls)] if calls else []
    if isinstance(output, dict):
        script.append(output_call(output))
        agent: Agent[None, Any] = Agent(None, output_type=Forecast, tools=[weather_tool()])
    else:
        script.append(output)
        agent = Agent(None, tools=[weather_tool()])
    case = Case(name="one", prompt="Weather in Paris?", expected_output=expected)
    return await Dataset(cases=[case]).evaluate(
        agent, model=ScriptedModel(script), evaluators=list(evaluators), tools="live"
    )


def _verdicts(report: Report) -> dict[str, bool | None]:
    return {r.evaluator: r.passed for r in report.cases[0].results}


async def test_text_evaluators_check_equality_and_containment() -> None:
    """``Equals`` (value or expected output) and ``Contains`` (case-insensitive by default)."""
    report = await _evaluate(
        "Sunny in Paris",
        Equals(),
        Equals(value="Rainy", name="rainy"),
        Contains(value="paris"),
        Contains(value="paris", case_sensitive=True, name="exact case"),
        expected="Sunny in Paris",
    )
    assert _verdicts(report) == {
        "equals": True,
        "rainy": False,
        "contains('paris')": True,
        "exact case": False,
    }


async def test_structured_output_is_checked_against_a_type_and_the_expected_fields() -> None:
    """``IsInstance`` validates the output; ``MatchesExpected`` compares the expected fields."""
    report = await _evaluate(
        {"city": "Paris", "temperature_c": 21},
        IsInstance(of=Forecast),
        IsInstance(of="str"),
        MatchesExpected(min_similarity=1.0),
        expected={"city": "Paris"},
    )
    assert _verdicts(report) == {
        "is_instance(Forecast)": True,
        "is_instance(str)": False,
        "matches_expected": True,
    }


async def test_tool_called_matches_names_arguments_and_counts() -> None:
    """``ToolCalled`` checks a call with arguments (a subset), its absence, and how many."""
    report = await _evaluate(
        "done",
        ToolCalled(tool="get_weather", args={"city": "Oslo"}),
        ToolCalled(tool="get_weather", args={"city": "Rome"}, name="rome"),
        ToolCalled(tool="get_weather", called=False, name="never"),
        ToolCalled(tool="get_weather", times=2, name="twice"),
        calls=RECORDED_CALLS,
    )
    assert _verdicts(report) == {
        'tool_called(get_weather, {"city":"Oslo"})': True,
        "rome": False,
        "never": False,
        "twice": True,
    }


async def test_within_limits_checks_requests_tokens_and_time() -> None:
    """``WithinLimits`` fails on a budget the run went over and says which."""
    report = await _evaluate(
        "done",
        WithinLimits(requests=2, total_tokens=100, seconds=60, name="ok"),
        WithinLimits(requests=1, name="one request"),
        calls=RECORDED_CALLS[:1],
    )
    assert _verdicts(report) == {"ok": True, "one request": False}
    reason = report.cases[0].results[1].reason
    assert reason == "requests 2 > 1"


async def test_function_evaluators_give_checks_scores_and_reasons() -> None:
    """Plain functions (sync or async) return a bool, a float score or an
    ``EvaluationReason``; a score fails only under its threshold."""

    def short(ctx: EvaluatorContext) -> bool:
        return len(str(ctx.output)) < 20

    async def brevity(ctx: EvaluatorContext) -> float:
        await anyio.lowlevel.checkpoint()
        return 0.25

    def explained(ctx: EvaluatorContext) -> EvaluationReason:
        return EvaluationReason(False, "too sunny")

    report = await _evaluate(
        "Sunny in Paris",
        short,
        brevity,
        Function.of(brevity, name="strict", threshold=0.5),
        explained,
    )
    results = {r.evaluator: r for r in report.cases[0].results}
    assert results["short"].passed is True
    assert (results["brevity"].passed, results["brevity"].score) == (None, 0.25)
    assert (results["strict"].passed, results["strict"].score) == (False, 0.25)
    assert (results["explained"].passed, results["explained"].reason) == (False, "too sunny")
    assert not report.cases[0].passed


def is_polite(ctx: EvaluatorContext) -> bool:
    """A function evaluator a dataset file refers to by name."""
    return "please" in str(ctx.output).lower()


async def test_a_dataset_file_names_a_function_evaluator(tmp_path: Path) -> None:
    """``{type: function, ref: module:name}`` imports the function when it runs."""
    path = tmp_path / "set.yaml"
    path.write_text(
        "cases:\n- name: polite\n  prompt: hi\n  evaluators:\n"
        "  - {type: function, ref: 'test_evals:is_polite'}\n"
        "  - {type: function, ref: 'test_evals:nothing_here'}\n"
    )
    report = await Dataset.load(path).evaluate(Agent(None), model=ScriptedModel(["Yes, please."]))
    polite, missing = report.cases[0].results
    assert polite.passed is True
    assert missing.error is not None and "no attribute 'nothing_here'" in missing.error


async def test_one_failing_case_or_evaluator_never_stops_the_rest() -> None:
    """A run that raises and an evaluator that raises fail their own case only."""

    def boom(ctx: EvaluatorContext) -> bool:
        if ctx.case.name == "b":
            raise RuntimeError("evaluator broke")
        return True

    def answer(request: Any) -> str:
        prompt = request.messages[-1].content
        if prompt == "crash":
            raise RuntimeError("model broke")
        return f"echo {prompt}"

    model = ScriptedModel([answer] * 4)
    dataset = Dataset(cases=[Case(name=n, prompt=n) for n in ("a", "b", "crash", "d")])
    report = await dataset.evaluate(Agent(None), model=model, evaluators=[boom], concurrency=1)
    assert [(c.name, c.passed) for c in report.cases] == [
        ("a", True),
        ("b", False),
        ("crash", False),
        ("d", True),
    ]
    assert "evaluator broke" in (report.case("b").results[0].error or "")
    assert (report.case("crash").error or "").startswith("RuntimeError: model broke")
    assert report.summary.errors == 1 and report.summary.passed == 2
    crashed = report.case("crash").usage  # the run's usage is unknown: no made-up zero
    assert (crashed.requests, crashed.cost_usd) == (0, None) and report.summary.cost_usd is None


async def test_cases_run_at_most_concurrency_at_a_time() -> None:
    """``concurrency`` bounds how many cases run at once (and they do overlap up to it)."""
    active, most = 0, 0

    async def slow(city: str) -> str:
        """A tool that holds its case open for a moment."""
        nonlocal active, most
        active += 1
        most = max(most, active)
        await anyio.sleep(0.05)
        active -= 1
        return "sunny"

    from agentkit import tool

    agent = Agent(None, tools=[tool(slow)])
    cases = [Case(name=str(n), prompt="weather?") for n in range(6)]
    script = [tool_calls(("slow", {"city": "Paris"})), "sunny"]

    def answer(request: Any) -> Any:
        return script[0] if isinstance(request.messages[-1], UserMessage) else script[1]

    report = await Dataset(cases=cases).evaluate(
        agent, model=ScriptedModel([answer] * 12), concurrency=2, tools="live"
    )
    assert report.passed and most == 2


async def test_a_case_over_its_timeout_fails_alone() -> None:
    """``case_timeout`` ends a case that runs too long; its error says so."""

    async def stuck(city: str) -> str:
        """Never answers in time."""
        await anyio.sleep(30)
        return "late"

    from agentkit import tool

    agent = Agent(None, tools=[tool(stuck)])
    model = ScriptedModel([tool_calls(("stuck", {"city": "Paris"}))])
    report = await Dataset(cases=[Case(name="slow", prompt="?")]).evaluate(
        agent, model=model, tools="live", case_timeout=0.2
    )
    assert (report.cases[0].error or "").startswith("TimeoutError")


async def test_a_timeout_the_run_raises_is_its_own_error_not_the_case_timeout() -> None:
    """A ``TimeoutError`` raised inside the run (no ``case_timeout`` set) is reported as
    that error, not as the case running over a timeout it never had."""

    def answer(request: Any) -> Any:
        raise TimeoutError("the upstream proxy timed out")

    agent = Agent(None)
    report = await Dataset(cases=[Case(name="c", prompt="?")]).evaluate(
        agent, model=ScriptedModel([answer])
    )
    error = report.cases[0].error or ""
    assert "the upstream proxy timed out" in error
    assert "ran over its timeout" not in error


async def test_a_report_round_trips_and_renders(tmp_path: Path) -> None:
    """A report saves to JSON and loads back equal; Markdown and the terminal table show
    each case, its verdicts and the totals."""
    dataset = Dataset.from_cassettes([WEATHER_CASSETTE])
    model = ScriptedModel([tool_calls(*RECORDED_CALLS), "Something else entirely."])
    report = await dataset.evaluate(weather_agent(), model=model)
    path = report.save(tmp_path / "out" / "report.json")
    loaded = Report.load(path)
    assert loaded == report
    data = json.loads(path.read_text())
    assert data["summary"]["cases"] == 1 and data["format"] == 1
    assert data["cases"][0]["messages"][1] == {
        "role": "user",
        "content": "Compare the weather in Paris and Oslo.",
    }
    markdown = report.to_markdown()
    assert "| test_agent_with_a_tool | FAIL |" in markdown
    assert "matches_expected failed" in markdown
    totals = report.summary.evaluators["matches_expected"]
    assert (totals.cases, totals.passed, totals.failed, totals.errors) == (1, 0, 1, 0)
    assert totals.mean_score is not None and totals.mean_score < 0.6
    assert f"| matches_expected | 0 | 1 | 0 | {totals.mean_score:.2f} |" in markdown
    console = Console(record=True, width=200)
    report.print(console)
    shown = console.export_text()
    assert "test_agent_with_a_tool" in shown and "0/1 passed" in shown
    assert "Per evaluator" in shown


def test_a_file_that_is_not_a_report_is_a_clear_error(tmp_path: Path) -> None:
    """``Report.load`` names the file it cannot read."""
    path = tmp_path / "r.json"
    path.write_text('{"cases": 3}')
    with pytest.raises(ConfigurationError, match=r"r\.json is not an agentkit evaluation report"):
        Report.load(path)


def _report(**cases: tuple[bool, float | None, float]) -> Report:
    """A report of cases ``name=(check passed, score, cost)``."""
    from agentkit.evals import CaseResult, EvaluatorResult, UsageSummary

    return Report(
        name="r",
        cases=[
            CaseResult(
                name=name,
                passed=ok,
                results=[
                    EvaluatorResult(evaluator="check", passed=ok),
                    EvaluatorResult(evaluator="score", score=score),
                ],
                usage=UsageSummary(requests=1, cost_usd=cost),
            )
            for name, (ok, score, cost) in cases.items()
        ],
    )


def test_compare_names_what_got_worse_better_new_and_gone() -> None:
    """Failing checks, dropped scores and higher cost are regressions; the reverse are
    improvements; cases only on one side are new or gone; small changes are tolerated."""
    baseline = _report(
        a=(True, 0.9, 1.0), b=(False, 0.5, 1.0), c=(True, 0.8, 1.0), gone=(True, 1, 1)
    )
    current = _report(
        a=(False, 0.5, 1.0), b=(True, 0.9, 1.0), c=(True, 0.75, 2.0), new=(True, 1, 1)
    )
    comparison = current.compare(baseline)
    worse = {(c.case, c.what) for c in comparison.regressions}
    assert worse == {("a", "case"), ("a", "check"), ("a", "score"), ("c", "cost")}
    better = {(c.case, c.what) for c in comparison.improvements}
    assert better == {("b", "case"), ("b", "check"), ("b", "score")}
    assert (comparison.new, comparison.gone) == (["new"], ["gone"])
    assert "### Regressions (4)" in comparison.to_markdown()
    assert current.compare(baseline, cost_tolerance=None, score_tolerance=0.5).regressions != []


async def test_a_dumped_run_and_a_session_give_a_case_per_turn(tmp_path: Path) -> None:
    """``from_dumps`` and ``from_sessions`` split a two-turn conversation into two cases,
    the second with the first turn as its history."""
    model = ScriptedModel([tool_calls(("get_weather", {"city": "Paris"})), "Sunny.", "Rainy."])
    agent = weather_agent()
    session = SQLiteSession(tmp_path / "chats.db", "ada")
    await agent.run("Paris?", model=model, session=session)
    second = await agent.run("And Oslo?", model=model, session=session)
    (tmp_path / "run.json").write_bytes(dump_messages(second.messages))

    for dataset in (Dataset.from_dumps(tmp_path), await Dataset.from_sessions([session])):
        first, then = dataset.cases
        assert (first.prompt, first.expected_output, then.prompt) == (
            "Paris?",
            "Sunny.",
            "And Oslo?",
        )
        assert [m.role for m in then.history] == ["user", "assistant", "tool", "assistant"]
        assert then.tool_results == [
            RecordedTool(tool="get_weather", args={"city": "Paris"}, content="Paris: 21 C, sunny")
        ]
    assert isinstance(
        Dataset.from_messages([second.messages]).cases[1].history[1], AssistantMessage
    )


def _judge_answers(request: Any) -> Any:
    """A scripted judge: a verdict for the answer about Paris, malformed text otherwise."""
    question = str(request.messages[-1].content)
    if "Sunny in Paris" in question:
        return output_call({"score": 0.8, "reason": "It names the weather."})
    if "Raining" in question:
        return output_call({"score": 0.2, "reason": "It does not answer."})
    return "The answer is great!!!"  # not the verdict tool: malformed


async def test_an_llm_judge_scores_with_a_reason_and_a_malformed_judge_fails_its_case() -> None:
    """A judge's score and reason become the result (passing at its threshold); a judge that
    answers malformed output gives that case a clear evaluator error, the rest go on."""
    from agentkit.evals import Judge

    answers = {"a": "Sunny in Paris", "b": "Raining", "c": "Snow in Oslo"}

    def answer(request: Any) -> str:
        return answers[str(request.messages[-1].content)]

    dataset = Dataset(
        cases=[Case(name=n, prompt=n) for n in answers],
        evaluators=[
            Judge(rubric="Says what the weather is.", threshold=0.5, include_expected=True)
        ],
    )
    judge = ScriptedModel([_judge_answers] * 8)
    report = await dataset.evaluate(
        Agent(None), model=ScriptedModel([answer] * 3), judge_model=judge, concurrency=1
    )
    a, b, c = report.cases
    (verdict,) = a.results
    assert (verdict.passed, verdict.score, verdict.reason) == (True, 0.8, "It names the weather.")
    assert a.passed and a.judge_usage is not None and a.judge_usage.requests == 1
    assert (b.passed, b.results[0].score) == (False, 0.2)
    error = c.results[0].error or ""
    assert error.startswith("JudgeError: the judge model gave no usable verdict")
    assert not c.passed and c.error is None
    rubric_sent = judge.requests[0].messages[-1].content
    assert "Says what the weather is." in str(rubric_sent) and "Sunny in Paris" in str(rubric_sent)


async def test_a_judge_without_a_model_says_how_to_give_one() -> None:
    """A judge with no model and no ``judge_model`` fails its evaluator with the fix."""
    from agentkit.evals import Judge

    dataset = Dataset(cases=[Case(name="a", prompt="hi")], evaluators=[Judge(rubric="Polite.")])
    report = await dataset.evaluate(Agent(None), model=ScriptedModel(["hello"]))
    assert "judge_model=" in (report.cases[0].results[0].error or "")


def test_the_bench_row_runs_and_prints_its_table(capsys: pytest.CaptureFixture[str]) -> None:
    """``tools/bench/evals.py`` runs both sides on a few cases and prints a row for each
    (no assertion on time: the bound is read off the printed table)."""
    import importlib.util

    path = Path(__file__).parent.parent / "tools" / "bench" / "evals.py"
    spec = importlib.util.spec_from_file_location("bench_evals", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--cases", "3", "--rounds", "1"])
    out = capsys.readouterr().out
    assert "| harness only (tools live, no evaluator) |" in out
    assert "| tools recorded (the default), answer checked |" in out


async def test_each_case_runs_under_the_agents_usage_limits() -> None:
    """The agent's usage limits bound every case; a case over them fails with the limit named,
    with the usage it had, and ``usage_limits=`` replaces them for the evaluation."""
    from agentkit import UsageLimits

    agent = Agent(None, tools=[weather_tool()], usage_limits=UsageLimits(requests=1))
    dataset = Dataset(cases=[Case(name="two requests", prompt="Paris?")])

    def model() -> ScriptedModel:
        return ScriptedModel([tool_calls(("get_weather", {"city": "Paris"})), "Sunny."])

    report = await dataset.evaluate(agent, model=model(), tools="live")
    (case,) = report.cases
    assert (case.error or "").startswith("UsageLimitExceeded")
    assert case.usage.requests == 1
    relaxed = await dataset.evaluate(
        agent, model=model(), tools="live", usage_limits=UsageLimits(requests=2)
    )
    assert relaxed.passed


async def test_a_turn_whose_prompt_has_an_image_is_replayed_as_that_message() -> None:
    """A recorded user turn with an image becomes a case whose last history message is the
    prompt, and it is sent as it was (text and image)."""
    from agentkit import ImagePart
    from agentkit.messages import TextPart

    user = UserMessage(
        content=(TextPart(text="What is this?"), ImagePart(url="https://example.com/cat.png"))
    )
    dataset = Dataset.from_messages([[user, AssistantMessage(content="A cat.")]])
    (case,) = dataset.cases
    assert case.prompt is None and case.history == [user]
    from dataclasses import replace

    from agentkit.testing.scripted import SCRIPTED_PROFILE

    model = ScriptedModel(["A cat."], profile=replace(SCRIPTED_PROFILE, supports_vision=True))
    report = await dataset.evaluate(Agent(None), model=model)
    assert report.passed
    assert model.requests[0].messages[-1] == user


async def test_a_progress_bar_can_be_shown_while_cases_run() -> None:
    """``progress=True`` draws rich's progress bar and changes nothing in the report."""
    dataset = Dataset(cases=[Case(name=str(n), prompt="hi") for n in range(3)])
    report = await dataset.evaluate(
        Agent(None), model=ScriptedModel(["hello"] * 3), progress=True, concurrency=2
    )
    assert [c.passed for c in report.cases] == [True, True, True]
