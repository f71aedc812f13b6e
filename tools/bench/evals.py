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
    .venv/bin/python tools/bench/evals.py --instructions  # callgrind: load-independent

``--instructions`` counts instructions instead of CPU time: each side runs in a fresh
process under ``valgrind --tool=callgrind``, warmed up on a few cases, then counted only
while ``functools.reduce`` is on the stack (``--toggle-collect``, as ``instructions.py``
does), so imports and warm-up are left out. On a loaded machine the count moves by well
under 1% between runs, where CPU time moves by 5-10%.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
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


ROWS: dict[str, tuple[bool, ToolMode]] = {  # label: (answer checked, tools)
    "harness only (tools live, no evaluator)": (False, "live"),
    "tools live, recorded answer checked": (True, "live"),
    "tools recorded (the default), answer checked": (True, "recorded"),
}


def _side(label: str, n: int) -> Any:
    """What measures one side (``"loop"`` or a row's label) over ``n`` cases."""
    dataset = _dataset(n)
    if label == "loop":
        return functools.partial(plain_loop, dataset)
    checked, tools = ROWS[label]
    if not checked:
        dataset = Dataset(cases=[c.model_copy(update={"evaluators": []}) for c in dataset.cases])
    return functools.partial(harness, dataset, tools)


def _child(label: str, n: int) -> None:
    """In the process under valgrind: warm up, then one counted pass."""
    _side(label, 10)()  # imports, validators, first-call caches
    measure = _side(label, n)
    functools.reduce(lambda _a, _b: measure(), [0, 1])  # callgrind counts while this runs


def _instructions(label: str, n: int) -> int:
    """Instructions per case of one side, counted by callgrind in a fresh process."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from instructions import callgrind_count

    return callgrind_count([__file__, "--child", label, str(n)], n)


def _print(loop: float, sides: Mapping[str, float], show: Any) -> bool:
    print("| Dataset.evaluate | agent.run loop | evaluate | ratio | bound 1.1x |")
    print("|---|---|---|---|---|")
    over = False
    for label, value in sides.items():
        ratio = value / loop
        print(
            f"| {label} | {show(loop)} | {show(value)} | "
            f"{ratio:.2f}x | {'within' if ratio <= 1.1 else 'over'} |"
        )
        over = over or (ratio > 1.1 and label.startswith("harness only"))
    return over


def main(argv: list[str] | None = None) -> int:
    """Measure both, print the row."""
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], int(sys.argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions (callgrind), not CPU"
    )
    parser.add_argument("--jobs", type=int, default=2, help="valgrind processes at once")
    args = parser.parse_args(argv)
    n = args.cases
    if args.instructions:
        labels = ["loop", *ROWS]
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:  # counts ignore the load
            found = pool.map(lambda s: _instructions(s, n), labels)
            counts: dict[str, float] = dict(zip(labels, found, strict=True))
        print(f"{n} cases, instructions per case (callgrind)")
        count = counts.pop("loop")
        return 1 if _print(count, counts, lambda v: f"{v:,.0f}") else 0
    sides = {label: _side(label, n) for label in ["loop", *ROWS]}
    for label in sides:
        _side(label, 10)()  # warm up: imports, validators
    best = dict.fromkeys(sides, float("inf"))
    for _ in range(args.rounds):  # interleaved, so that a busy moment hits every side alike
        for label, measure in sides.items():
            best[label] = min(best[label], measure())
    loop = best.pop("loop")
    print(f"{n} cases, CPU per case, best of {args.rounds} rounds")
    return 1 if _print(loop, best, lambda v: f"{v / n * 1e3:.3f} ms") else 0


if __name__ == "__main__":
    raise SystemExit(main())
