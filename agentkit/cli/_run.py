"""``agentkit run``: run an agent once, streamed, or with ``--json`` for scripts."""

from __future__ import annotations

import argparse
import json
from typing import Any

from agentkit._errors import AgentkitError
from agentkit.cli import _otlp
from agentkit.cli._load import ModelChoice, load_agent, model_scope, resolve_model
from agentkit.cli._render import Renderer, explain, to_jsonable
from agentkit.cli._turns import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, ChatSession, portal
from agentkit.events import RunResult
from agentkit.messages import dump_messages

__all__ = ["cmd_run", "result_json"]


def cmd_run(args: argparse.Namespace, renderer: Renderer) -> int:
    """``agentkit run FILE.py:AGENT PROMPT``: one run; the exit status says how it ended."""
    agent = load_agent(args.target)
    # The agent's own model, whatever keys the environment holds: only --model changes it.
    has_model = agent.model_spec is not None
    choice = (
        ModelChoice(None)
        if has_model and args.model is None and args.base_url is None
        else resolve_model(args.model, local_fallback=False, base_url=args.base_url)
    )
    quiet = args.json
    shown = _QuietRenderer() if quiet else renderer
    with (
        _otlp.from_environment() as hooks,
        model_scope(choice, shown) as model,
        portal() as loop,
    ):
        session = ChatSession(agent, loop, shown, model=model, local=choice.local, hooks=hooks)
        try:
            result = session.turn(args.prompt)
        except AgentkitError as exc:
            if quiet:
                print(json.dumps(_error_json(exc), ensure_ascii=False))
            else:
                renderer.error(explain(exc))
            return EXIT_ERROR
    if result is None:
        return EXIT_INTERRUPTED
    if quiet:
        print(json.dumps(result_json(result), ensure_ascii=False))
    return EXIT_OK


class _QuietRenderer(Renderer):
    """Shows nothing (``--json``: stdout carries only the result)."""

    def write(self, text: str) -> None:
        """Drop the text."""


def result_json(result: RunResult[Any]) -> dict[str, Any]:
    """A run result as JSON data: ``output``, ``usage``, ``messages``."""
    usage = result.usage
    return {
        "output": to_jsonable(result.output),
        "usage": {
            "requests": usage.requests,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cached_tokens": usage.cached_tokens,
            "total_tokens": usage.total_tokens,
            "cost_usd": usage.cost_usd,
        },
        "messages": json.loads(dump_messages(result.messages)),
    }


def _error_json(exc: AgentkitError) -> dict[str, Any]:
    messages = json.loads(dump_messages(exc.messages)) if exc.messages else []
    return {"error": {"type": type(exc).__name__, "message": str(exc)}, "messages": messages}
