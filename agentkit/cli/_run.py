"""``agentkit run``: run an agent once, streamed, or with ``--json`` for scripts."""

from __future__ import annotations

import argparse
import json
from typing import Any

from agentkit._errors import AgentkitError, UserError
from agentkit.cli import _otlp
from agentkit.cli._load import agent_model_choice, load_agent, model_scope
from agentkit.cli._render import Renderer, explain, to_jsonable
from agentkit.cli._turns import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PAUSED,
    EXIT_USAGE,
    ChatSession,
    portal,
)
from agentkit.events import RunResult
from agentkit.messages import dump_messages
from agentkit.usage import Usage

__all__ = ["EXIT_STATUS_HELP", "cmd_run", "error_json", "paused_json", "result_json"]

EXIT_STATUS_HELP = (
    f"exit status: {EXIT_OK} the run ended with its output; {EXIT_ERROR} the run failed; "
    f"{EXIT_USAGE} a usage or configuration error; {EXIT_PAUSED} the run paused for approval "
    "(the calls that wait did not run: allow them with --approve TOOL, or take the paused "
    f"run with --json); {EXIT_INTERRUPTED} interrupted (Ctrl-C)."
)
"""What ``agentkit run --help`` says about the exit status."""


def cmd_run(args: argparse.Namespace, renderer: Renderer) -> int:
    """``agentkit run FILE.py:AGENT PROMPT``: one run; the exit status says how it ended."""
    quiet = args.json
    try:
        agent = load_agent(args.target)
        choice = agent_model_choice(agent, args.model, args.base_url)  # no key: fails now
    except AgentkitError as exc:
        if not quiet:
            raise
        print(json.dumps(error_json(exc), ensure_ascii=False))
        return EXIT_USAGE if isinstance(exc, UserError) else EXIT_ERROR
    shown = _QuietRenderer() if quiet else renderer
    with (
        _otlp.from_environment() as hooks,
        model_scope(choice, shown) as model,
        portal() as loop,
    ):
        session = ChatSession(agent, loop, shown, model=model, hooks=hooks)
        try:
            result = session.turn(args.prompt)
            while result is not None and result.is_paused:
                allowed = {r: True for r in result.approvals_needed if r.tool_name in args.approve}
                if not allowed:
                    break
                result = session.turn(None, approvals=allowed)
        except AgentkitError as exc:
            if quiet:
                print(json.dumps(error_json(exc), ensure_ascii=False))
            else:
                renderer.failed(exc)
            return EXIT_ERROR
    if result is None:
        return EXIT_INTERRUPTED
    if result.is_paused:
        if quiet:
            print(json.dumps(paused_json(result), ensure_ascii=False))
        else:
            _explain_pause(result, renderer)
        return EXIT_PAUSED
    if quiet:
        print(json.dumps(result_json(result), ensure_ascii=False))
    return EXIT_OK


def _explain_pause(result: RunResult[Any], renderer: Renderer) -> None:
    """Name the calls a paused run waits on, and what to run to allow them."""
    requests = result.approvals_needed
    one = len(requests) == 1
    lines = [f"The run paused for approval; {'this call' if one else 'these calls'} did not run:"]
    for request in requests:
        by = f" (in agent {request.agent})" if request.agent else ""
        lines.append(f"  {request.tool_name}({request.arguments}){by}")
    names = " ".join(f"--approve {n}" for n in dict.fromkeys(r.tool_name for r in requests))
    lines.append(
        f"To allow {'it' if one else 'them'}, run the command again with {names} (the run "
        "starts over), or add --json to get the paused run (the waiting calls and the "
        "messages) and resume it from Python: "
        "agent.run(message_history=messages, approvals={id: True})."
    )
    renderer.info("\n".join(lines))


class _QuietRenderer(Renderer):
    """Shows nothing (``--json``: stdout carries only the result)."""

    def write(self, text: str) -> None:
        """Drop the text."""


def result_json(result: RunResult[Any]) -> dict[str, Any]:
    """A run result as JSON data: ``output``, ``usage``, ``messages``."""
    return {
        "output": to_jsonable(result.output),
        "usage": _usage_json(result.usage),
        "messages": json.loads(dump_messages(result.messages)),
    }


def paused_json(result: RunResult[Any]) -> dict[str, Any]:
    """A run paused for approval as JSON data: ``paused`` (true), ``approvals_needed`` (per
    waiting call: ``id``, the key a decision takes; ``tool_name``; ``arguments``; ``agent``,
    the agent used as a tool it waits in, or null), ``usage``, and ``messages``, the paused
    conversation as ``dump_messages`` writes it (resume with ``message_history=``)."""
    return {
        "paused": True,
        "approvals_needed": [
            {
                "id": request.key,
                "tool_name": request.tool_name,
                "arguments": request.args,
                "agent": request.agent,
            }
            for request in result.approvals_needed
        ],
        "usage": _usage_json(result.usage),
        "messages": json.loads(dump_messages(result.messages)),
    }


def _usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "requests": usage.requests,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cached_tokens": usage.cached_tokens,
        "total_tokens": usage.total_tokens,
        "cost_usd": usage.cost_usd,
    }


def error_json(exc: AgentkitError) -> dict[str, Any]:
    """An error as ``--json`` prints it: ``error`` (``type``; ``message``, the sentence the
    text mode shows, with the same hint; ``detail``, the full message) and ``messages``, the
    conversation so far (empty when the run never started)."""
    messages = json.loads(dump_messages(exc.messages)) if exc.messages else []
    error = {"type": type(exc).__name__, "message": explain(exc), "detail": str(exc)}
    return {"error": error, "messages": messages}
