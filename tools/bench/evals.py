"""The evaluation harness's own overhead per case: ``Dataset.evaluate`` against plain
``agent.run`` in a loop (issue 23's bound: at most 1.1x, with a scripted model).

Both sides run the same cases on a scripted model (no HTTP, so only agentkit's own work is
measured): a tool call, its result, then the answer. The loop calls ``agent.run`` once a
case with the real (async) tool and keeps the results; ``evaluate`` runs the cases one at a time
(``concurrency=1``, as the loop does), the recorded answer checked (``MatchesExpected``),
each run kept in the report (messages dumped as JSON), with tools answered from the
recording (its default) and, in a second row, run live (the harness alone). CPU
time, best of ``--rounds`` (the least disturbed by other processes). The bound is on the
harness's own overhead (the first row: cases run and kept, no evaluator); the other rows
add what the default evaluation does. Exit status 1 when the first row is over it::

    .venv/bin/python tools/bench/evals.py                 # 200 cases x 5 rounds
    .venv/bin/python tools/bench/evals.py --cases 20 --rounds 1
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import anyio

from agentkit import Agent, UserMessage, tool
from agentkit.evals import Case, Dataset, RecordedTool, ToolMode
from agentkit.models.base import ModelRequest
from agentkit.testing import ScriptedModel, tool_calls


@tool
async def get_weather(city: str) -> str:
    """The weather in a city (async: no worker thread on either side)."""
    return f"{city}: sunny, 21 C"


def _answer(request: ModelRequest) -> Any:
    """A tool call for a new question, then the answer."""
    last = request.messages[-1]
    if isinstance(last, UserMessage):
        return tool_calls(("get_weather", {"city": str(last.content)}))
    return f"It is sunny in {request.messages[-3].content}."


def _dataset(n: int) -> Dataset:
    cities = [f"City{i}" for i in range(n)]
    return Dataset(
        name="bench",
        cases=[
            Case(
                name=city,
                prompt=city,
                expected_output=f"It is sunny in {city}.",
                tool_results=[
                    RecordedTool(tool="get_weather", args={"city": city}, content=f"{city}: sunny")
                ],
                evaluators=[{"type": "matches_expected"}],  # type: ignore[list-item]
            )
            for city in cities
        ],
    )


def plain_loop(dataset: Dataset) -> float:
    """CPU seconds for ``agent.run`` over every case, in a loop that keeps each result (as
    any evaluation must: a result dropped at once leaves its memory to the next run)."""
    agent = Agent(None, tools=[get_weather])
    model = ScriptedModel([_answer] * (2 * len(dataset.cases)))
    results: list[Any] = []

    async def go() -> None:
        for case in dataset.cases:
            results.append(await agent.run(case.prompt, model=model))

    start = time.process_time()
    anyio.run(go)
    return time.process_time() - start


def harness(dataset: Dataset, tools: ToolMode = "recorded") -> float:
    """CPU seconds for ``dataset.evaluate`` over the same cases."""
    agent = Agent(None, tools=[get_weather])
    model = ScriptedModel([_answer] * (2 * len(dataset.cases)))

    async def go() -> None:
        report = await dataset.evaluate(
            agent, model=model, concurrency=1, progress=False, tools=tools
        )
        assert report.passed, report.to_markdown()

    start = time.process_time()
    anyio.run(go)
    return time.process_time() - start


def main(argv: list[str] | None = None) -> int:
    """Measure both, print the row."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    dataset = _dataset(args.cases)
    bare = Dataset(cases=[c.model_copy(update={"evaluators": []}) for c in dataset.cases])
    plain_loop(_dataset(10)), harness(_dataset(10))  # warm up: imports, validators
    rows = {
        "harness only (tools live, no evaluator)": (bare, "live"),
        "tools live, recorded answer checked": (dataset, "live"),
        "tools recorded (the default), answer checked": (dataset, "recorded"),
    }
    best = dict.fromkeys(["loop", *rows], float("inf"))
    for _ in range(args.rounds):  # interleaved, so that a busy moment hits every side alike
        best["loop"] = min(best["loop"], plain_loop(dataset))
        for label, (cases, tools) in rows.items():
            best[label] = min(best[label], harness(cases, tools))  # type: ignore[arg-type]
    n, loop = args.cases, best["loop"]
    print(f"{n} cases, CPU per case, best of {args.rounds} rounds")
    print("| Dataset.evaluate | agent.run loop | evaluate | ratio | bound 1.1x |")
    print("|---|---|---|---|---|")
    over = False
    for label in rows:
        ratio = best[label] / loop
        print(
            f"| {label} | {loop / n * 1e3:.3f} ms | {best[label] / n * 1e3:.3f} ms | "
            f"{ratio:.2f}x | {'within' if ratio <= 1.1 else 'over'} |"
        )
        over = over or (ratio > 1.1 and label.startswith("harness only"))
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
