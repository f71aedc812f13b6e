"""``agentkit eval``: run a dataset on an agent and compare with a baseline report; or start a
dataset from recorded cassettes.

::

    agentkit eval --from-cassettes tests/cassettes/ -o evals/dataset.yaml
    agentkit eval evals/dataset.yaml app.py:agent --report evals/report.json
    agentkit eval evals/dataset.yaml app.py:agent --baseline evals/baseline.json
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import anyio

from agentkit.cli._load import agent_model_choice, load_agent, model_scope
from agentkit.cli._render import Renderer, RichRenderer
from agentkit.cli._turns import EXIT_ERROR, EXIT_OK, EXIT_USAGE

__all__ = ["EVAL_EXIT_STATUS", "add_eval_parser", "cmd_eval"]

EVAL_EXIT_STATUS = (
    f"exit status: {EXIT_OK} no regression (with --baseline: no case got worse; without: every "
    f"case passed); {EXIT_ERROR} a regression (or, without --baseline, a failing case); "
    f"{EXIT_USAGE} a usage or configuration error."
)
"""What ``agentkit eval --help`` says about the exit status."""


def add_eval_parser(commands: Any, model_help: str) -> None:
    """The ``eval`` subcommand's arguments."""
    parser = commands.add_parser(
        "eval",
        help="evaluate an agent on a dataset; or start a dataset from cassettes",
        epilog=EVAL_EXIT_STATUS,
    )
    parser.add_argument("dataset", nargs="?", metavar="DATASET", help="a dataset (.yaml or .json)")
    parser.add_argument("target", nargs="?", metavar="FILE.py:AGENT", help="the agent to evaluate")
    parser.add_argument("--baseline", metavar="REPORT.json", help="compare with this report")
    parser.add_argument("--report", metavar="OUT.json", help="write the report (JSON) here")
    parser.add_argument("--markdown", metavar="OUT.md", help="write the report as Markdown here")
    parser.add_argument("--model", help=f"override the agent's model: {model_help}")
    parser.add_argument("--base-url", metavar="URL", help="send --model NAME to this server")
    parser.add_argument("--judge-model", metavar="MODEL", help="the model of LLM judges")
    parser.add_argument(
        "--concurrency", type=int, default=4, metavar="N", help="cases run at once (4)"
    )
    parser.add_argument(
        "--tools",
        choices=("recorded", "live"),
        default="recorded",
        help="answer tool calls from the recordings (default) or run the real tools",
    )
    parser.add_argument("--case-timeout", type=float, metavar="SECONDS", help="per case")
    parser.add_argument(
        "--score-tolerance",
        type=float,
        default=0.1,
        metavar="X",
        help="a score drop of at most X is no regression (0.1)",
    )
    parser.add_argument(
        "--cost-tolerance",
        type=float,
        default=0.25,
        metavar="X",
        help="relative cost increase allowed (0.25: +25%%)",
    )
    parser.add_argument(
        "--latency-tolerance",
        type=float,
        default=None,
        metavar="X",
        help="relative latency increase allowed (default: latency is not compared)",
    )
    parser.add_argument(
        "--from-cassettes",
        metavar="DIR",
        action="append",
        help="build a dataset from the cassettes in DIR (a file works too; repeatable)",
    )
    parser.add_argument("-o", "--output", metavar="DATASET.yaml", help="with --from-cassettes")
    parser.add_argument("--name", help="the dataset's (or the report's) name")


def _from_cassettes(args: argparse.Namespace, renderer: Renderer) -> int:
    from agentkit.evals import Dataset

    if args.output is None or args.dataset is not None:
        renderer.error("usage: agentkit eval --from-cassettes DIR -o DATASET.yaml")
        return EXIT_USAGE
    dataset = Dataset.from_cassettes(args.from_cassettes, name=args.name)
    path = dataset.save(args.output, schema=True)
    renderer.info(
        f"Wrote {len(dataset.cases)} cases to {path} (schema: {path.stem}.schema.json). "
        f"Evaluate them: agentkit eval {path} FILE.py:AGENT"
    )
    return EXIT_OK


def cmd_eval(args: argparse.Namespace, renderer: Renderer) -> int:
    """``agentkit eval``: the exit status says whether anything regressed."""
    if args.from_cassettes:
        return _from_cassettes(args, renderer)
    if args.dataset is None or args.target is None:
        renderer.error(
            "usage: agentkit eval DATASET FILE.py:AGENT [--baseline REPORT.json] "
            "[--report OUT.json], or agentkit eval --from-cassettes DIR -o DATASET.yaml"
        )
        return EXIT_USAGE
    if args.concurrency < 1:
        renderer.error(f"--concurrency must be 1 or more, got {args.concurrency}")
        return EXIT_USAGE
    from agentkit.evals import Dataset, Report

    dataset = Dataset.load(args.dataset)
    baseline = Report.load(args.baseline) if args.baseline else None
    agent = load_agent(args.target)
    choice = agent_model_choice(agent, args.model, args.base_url)  # no key: fails now
    with model_scope(choice, renderer) as model:

        async def evaluate() -> Any:
            return await dataset.evaluate(
                agent,
                model=model,
                concurrency=args.concurrency,
                tools=args.tools,
                judge_model=args.judge_model,
                case_timeout=args.case_timeout,
                name=args.name,
            )

        report = anyio.run(evaluate)
    _show(report, renderer)
    if args.report:
        renderer.info(f"Report: {report.save(args.report)}")
    if args.markdown:
        Path(args.markdown).write_text(report.to_markdown(), encoding="utf-8")
    if baseline is None:
        return EXIT_OK if report.passed else EXIT_ERROR
    comparison = report.compare(
        baseline,
        score_tolerance=args.score_tolerance,
        cost_tolerance=args.cost_tolerance,
        latency_tolerance=args.latency_tolerance,
    )
    renderer.write(comparison.to_markdown())
    return EXIT_ERROR if comparison.regressions else EXIT_OK


def _show(report: Any, renderer: Renderer) -> None:
    """A table in a terminal (rich), else the Markdown report."""
    if isinstance(renderer, RichRenderer):
        report.print(renderer.console)
        return
    renderer.write(report.to_markdown())
