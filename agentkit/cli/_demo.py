"""``agentkit demo`` (the travel desk) and ``agentkit serve`` (an agent on the web)."""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from agentkit._errors import AgentkitError, ConfigurationError
from agentkit.cli._chat import chat_loop
from agentkit.cli._load import (
    ModelChoice,
    check_model,
    load_agent,
    load_module,
    model_scope,
    resolve_model,
)
from agentkit.cli._render import Renderer
from agentkit.cli._turns import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, ChatSession, portal

if TYPE_CHECKING:
    from agentkit.agent import Agent

__all__ = ["cmd_demo", "cmd_serve", "serve_agent"]

_DEMO_FILE = "travel_desk.py"


def _demo_module() -> ModuleType:
    root = Path(__file__).resolve().parents[2]  # agentkit/cli/_demo.py -> the checkout
    path = root / "examples" / _DEMO_FILE
    if not path.is_file():
        raise ConfigurationError(
            f"the demo runs examples/{_DEMO_FILE} from an agentkit source checkout, and it is "
            f"not at {path}. Clone the repository and install it with pip install -e '.[local]'."
        )
    return load_module(str(path))


def _stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def cmd_demo(args: argparse.Namespace, renderer: Renderer) -> int:
    """``agentkit demo``: the travel desk answers its question, then (on a terminal) chats."""
    demo = _demo_module()
    agent = demo.build_agent()
    prompt: str = args.prompt or demo.DEMO_PROMPT
    choice = resolve_model(args.model, local_fallback=True)
    check_model(choice, agent.model_spec)
    if args.web:
        return serve_agent(agent, args, choice, renderer)
    with model_scope(choice, renderer) as model, portal() as loop:
        session = ChatSession(agent, loop, renderer, model=model)
        renderer.info(f"The travel desk: {demo.DESCRIPTION}")
        renderer.user(prompt)
        try:
            result = session.turn(prompt)
        except AgentkitError as exc:
            renderer.failed(exc)
            return EXIT_ERROR
        if result is None:
            return EXIT_INTERRUPTED
        if args.chat or (args.chat is None and _stdin_is_terminal()):
            return chat_loop(session, input)
        return EXIT_OK


def serve_agent(
    agent: Agent[Any, Any], args: argparse.Namespace, choice: ModelChoice, renderer: Renderer
) -> int:
    """Serve ``agent`` (the web chat and the OpenAI API) until Ctrl-C."""
    from agentkit.serve import check_bind, serve
    from agentkit.serve._store import redact_url

    token = check_bind(args.host, args.token)  # refused before any model starts
    check_model(choice, agent.model_spec)  # no key: fail now, not at every request
    sessions = args.sessions or _default_sessions(getattr(args, "target", None))
    _check_port_free(args.host, args.port)
    with model_scope(choice, renderer) as model:
        host = f"[{args.host}]" if ":" in args.host else args.host
        url = f"http://{host}:{args.port}"
        renderer.info(f"Serving {agent.name}: the chat at {url}/ , the OpenAI API at {url}/v1")
        if token:
            renderer.info(f"Every request needs the token (open {url}/?token=...).")
        where = redact_url(sessions) if sessions else "memory (lost when the server stops)"
        renderer.info(f"Conversations are kept in {where}.")
        renderer.info("Ctrl-C stops the server.")
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a server stops
            serve(
                agent,
                host=args.host,
                port=args.port,
                token=token,
                model=model,
                allow_origins=args.allow_origin,
                allow_hosts=args.allow_host,
                sessions=sessions,
                forget_after=None
                if args.forget_after_days is None
                else args.forget_after_days * 86_400,
                local_model=choice.local,
            )
        renderer.info("stopped")
    return EXIT_OK


def _default_sessions(target: str | None) -> str | None:
    """``agentkit serve app.py:agent`` keeps conversations in ``app.sessions.db`` beside
    the app (``agentkit-sessions.db`` here for a module); the demo, in memory."""
    if target is None:
        return None
    file = target.rsplit(":", 1)[0]
    if file.endswith(".py"):
        return str(Path(file).with_suffix(".sessions.db"))
    return "agentkit-sessions.db"


def _check_port_free(host: str, port: int) -> None:
    """A ``ConfigurationError`` now when ``host:port`` cannot be bound (in use, or not an
    address of this machine), instead of the server's own log line after the model starts."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _name, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind(address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigurationError(
            f"Cannot serve on {host}:{port} ({reason}): stop what uses it, or pick another "
            "port with --port (or another --host)."
        ) from None


def cmd_serve(args: argparse.Namespace, renderer: Renderer) -> int:
    """``agentkit serve FILE.py:AGENT``: the agent as a web chat and an OpenAI-compatible API."""
    agent = load_agent(args.target)
    choice = (
        ModelChoice(None) if args.model is None else resolve_model(args.model, local_fallback=False)
    )
    return serve_agent(agent, args, choice, renderer)
