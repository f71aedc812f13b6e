"""The ``agentkit`` command: chat with an assistant, run an agent once, or run the demo.

::

    agentkit demo                                  # the travel-desk example, streamed
    agentkit chat --tools mytools:TOOLS            # an interactive assistant
    agentkit run path/to/app.py:agent "prompt"     # run an agent once (--json for scripts)
    agentkit serve path/to/app.py:agent            # a web chat and an OpenAI-compatible API
    agentkit eval dataset.yaml app.py:agent        # evaluate it (see agentkit.evals)
    agentkit mcp path/to/app.py:agent              # an MCP server (stdio; --http PORT)

The model is ``--model`` (``local`` for the embedded model, or a model string such
as ``mistral:mistral-small-2506``). Without ``--model``, ``chat`` and ``demo`` use
Mistral Small 3.2 when ``OPPER_API_KEY`` or ``MISTRAL_API_KEY`` is set, OpenAI when
only ``OPENAI_API_KEY`` is, and otherwise the embedded local model (the ``local``
extra); ``run`` uses the agent's own model.

In a chat, Ctrl-C cancels the current turn and the conversation goes on from the
messages before it; Ctrl-D (or ``/exit``) leaves. ``chat --session NAME`` keeps the
conversation under the user's data directory and resumes it; ``/history`` shows it and
``/clear`` forgets it.

The package: this module parses the arguments; ``_load`` loads the user's agent or tools
and picks the model; ``_turns`` runs turns (``ChatSession``); ``_chat``, ``_run``,
``_demo``, ``_eval`` and ``_mcp`` are the commands; ``_render`` draws a run in the terminal;
``_otlp`` exports traces.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from agentkit._errors import AgentkitError, UserError
from agentkit.cli._chat import LOCAL_CHAT_INSTRUCTIONS, chat_agent, cmd_chat, session_path
from agentkit.cli._demo import cmd_demo, cmd_serve
from agentkit.cli._eval import add_eval_parser, cmd_eval
from agentkit.cli._load import (
    API_KEY_VARIABLES,
    MODEL_FORMS,
    ModelChoice,
    load_object,
    resolve_model,
)
from agentkit.cli._mcp import add_mcp_parser, cmd_mcp
from agentkit.cli._render import Renderer, make_renderer
from agentkit.cli._run import EXIT_STATUS_HELP, cmd_run, result_json
from agentkit.cli._turns import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, ChatSession

__all__ = [
    "API_KEY_VARIABLES",
    "LOCAL_CHAT_INSTRUCTIONS",
    "MODEL_FORMS",
    "ChatSession",
    "ModelChoice",
    "chat_agent",
    "load_object",
    "main",
    "resolve_model",
    "result_json",
    "session_path",
]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentkit",
        description="Run agentkit assistants in the terminal.",
    )
    parser.add_argument(
        "--plain", action="store_true", help="plain text output, no colours (default off a TTY)"
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error, not only its message"
    )
    parser.add_argument("--verbose", action="store_true", help=_VERBOSE_HELP)
    parser.add_argument("--version", action="version", version=f"agentkit {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    model_help = (
        "'local' for the embedded model, or a model string such as "
        "'mistral:mistral-small-2506', 'opper:mistral/mistral-small-2506', 'openai:gpt-4o-mini'"
    )
    base_url_help = (
        "an OpenAI-compatible server (e.g. http://127.0.0.1:8080/v1) to send --model NAME to, "
        "as OPENAI_BASE_URL does; the profile follows the name"
    )

    chat = commands.add_parser("chat", help="an interactive assistant")
    chat.add_argument("--model", help=model_help)
    chat.add_argument("--base-url", metavar="URL", help=base_url_help)
    chat.add_argument(
        "--tools",
        action="append",
        default=[],
        metavar="MODULE:ATTR",
        help="a tool function, Tool, MCP server, or list of them (repeatable; file.py:attr "
        "works too)",
    )
    chat.add_argument("--instructions", help="the system instructions")
    chat.add_argument(
        "--session",
        metavar="NAME",
        help="keep the conversation under NAME and resume it next time (/history, /clear)",
    )

    run = commands.add_parser("run", help="run an agent once, streamed", epilog=EXIT_STATUS_HELP)
    run.add_argument("target", metavar="FILE.py:AGENT", help="the agent (or module:attr)")
    run.add_argument("prompt", help="the user prompt")
    run.add_argument("--model", help=f"override the agent's model: {model_help}")
    run.add_argument("--base-url", metavar="URL", help=base_url_help)
    run.add_argument(
        "--json",
        action="store_true",
        help="print only the result as JSON (output, usage, messages); a run paused for "
        "approval prints paused, approvals_needed (id, tool_name, arguments), usage, messages",
    )
    run.add_argument(
        "--approve",
        action="append",
        default=[],
        metavar="TOOL",
        help="allow the calls to TOOL when the run pauses for their approval (repeatable)",
    )

    demo = commands.add_parser("demo", help="the travel-desk example assistant")
    demo.add_argument("prompt", nargs="?", help="ask something else than the demo question")
    demo.add_argument("--model", help=model_help)
    demo.add_argument(
        "--chat",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep chatting after the demo question (default: when stdin is a terminal)",
    )
    demo.add_argument("--web", action="store_true", help="serve it as a web chat instead")
    _serve_arguments(demo)

    serve = commands.add_parser("serve", help="an agent as a web chat and an OpenAI-compatible API")
    serve.add_argument("target", metavar="FILE.py:AGENT", help="the agent (or module:attr)")
    serve.add_argument("--model", help=f"override the agent's model: {model_help}")
    _serve_arguments(serve)
    add_eval_parser(commands, model_help)
    add_mcp_parser(commands, model_help)
    for command in commands.choices.values():
        _verbose_argument(command)
    return parser


_VERBOSE_HELP = "show an error's details (its type and full message) under its one sentence"


def _version() -> str:
    from agentkit import __version__

    return __version__


def _verbose_argument(parser: argparse.ArgumentParser) -> None:
    """``--verbose`` after the command too (``agentkit chat --verbose``)."""
    parser.add_argument(
        "--verbose", action="store_true", default=argparse.SUPPRESS, help=_VERBOSE_HELP
    )


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", "-p", type=int, default=8000, help="port to bind (8000)")
    parser.add_argument(
        "--token",
        help="require this token on every request (or set AGENTKIT_SERVE_TOKEN); "
        "needed for a --host other than loopback",
    )
    parser.add_argument(
        "--sessions",
        metavar="PATH_OR_URL",
        help="where conversations are kept: a SQLite file, or a postgresql:// URL shared by "
        "several workers (default for serve: FILE.sessions.db beside the app; the demo "
        "keeps them in memory)",
    )
    parser.add_argument(
        "--forget-after-days",
        type=float,
        metavar="DAYS",
        help="forget conversations nobody used for DAYS days (checked while serving; "
        "default: keep them)",
    )
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let web pages on ORIGIN (https://app.example.com) call the server (repeatable)",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="answer requests addressed to NAME too, not only to loopback names (a proxy's "
        "or container's name; repeatable)",
    )


_COMMANDS: dict[str, Callable[[argparse.Namespace, Renderer], int]] = {
    "chat": cmd_chat,
    "run": cmd_run,
    "demo": cmd_demo,
    "serve": cmd_serve,
    "eval": cmd_eval,
    "mcp": cmd_mcp,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``agentkit`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    out = sys.stderr if args.command == "mcp" else None  # stdio: stdout is the protocol's
    renderer = make_renderer(out, plain=True if args.plain else None)
    renderer.verbose = args.verbose
    command = _COMMANDS[args.command]
    try:
        with renderer.progress():
            return command(args, renderer)
    except AgentkitError as exc:
        if args.debug:
            raise
        renderer.failed(exc)
        return EXIT_USAGE if isinstance(exc, UserError) else EXIT_ERROR
    except KeyboardInterrupt:
        renderer.error("interrupted")
        return EXIT_INTERRUPTED
