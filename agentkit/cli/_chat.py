"""``agentkit chat``: the interactive loop, its slash commands, y/n approvals and sessions.

In a chat, Ctrl-C cancels the current turn and the conversation goes on from the
messages before it; Ctrl-D (or ``/exit``) leaves. ``chat --session NAME`` keeps the
conversation under the user's data directory and resumes it; ``/history`` shows it and
``/clear`` forgets it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentkit._errors import AgentkitError
from agentkit.approval import ApprovalRequest, Decision, Denied
from agentkit.cli import _otlp
from agentkit.cli._elicit import ask_in_terminal
from agentkit.cli._load import check_model, load_tools, model_scope, resolve_model
from agentkit.cli._render import Renderer
from agentkit.cli._turns import EXIT_OK, ChatSession, portal
from agentkit.events import RunResult
from agentkit.hooks import Hooks, RequestHandler, RunInfo
from agentkit.messages import AssistantMessage, Message, SystemMessage, UserMessage
from agentkit.models.base import ModelRequest, ModelResponse

if TYPE_CHECKING:
    from agentkit.agent import Agent

__all__ = [
    "LOCAL_CHAT_INSTRUCTIONS",
    "LOCAL_TOOLS_NOTE",
    "LocalChatExample",
    "ask_approvals",
    "chat_agent",
    "chat_loop",
    "cmd_chat",
    "session_path",
]


def _read_prompt(read: Callable[[str], str]) -> str | None:
    """The next prompt; ``None`` on Ctrl-D. Ctrl-C at the prompt only clears the line."""
    while True:
        try:
            line = read("\nyou> ")
        except EOFError:
            return None
        except KeyboardInterrupt:
            print("\n(Ctrl-D or /exit to leave)")
            continue
        line = line.strip()
        if line in ("/exit", "/quit"):
            return None
        if line:
            return line


def chat_loop(session: ChatSession, read: Callable[[str], str]) -> int:
    """Read prompts with ``read`` and run a turn for each, until Ctrl-D or ``/exit``."""
    session.renderer.info("Ctrl-C cancels a turn, Ctrl-D leaves.")
    while True:
        _decide_waiting(session, read)
        prompt = _read_prompt(read)
        if prompt is None:
            session.renderer.info("bye")
            return EXIT_OK
        if prompt in ("/history", "/clear"):
            _history_command(session, prompt)
            continue
        _converse(session, read, prompt)


def _converse(session: ChatSession, read: Callable[[str], str], prompt: str | None) -> None:
    """Run ``prompt`` as a turn (``None``: resume the paused run the conversation ends in),
    asking y/n whenever the run pauses for approval, until it ends."""
    try:
        # A paused run resumed with no decisions pauses again at once, naming its calls.
        result = session.turn(prompt) if prompt is not None else session.turn(None, approvals={})
        while result is not None and result.approvals_needed:
            result = session.turn(None, approvals=ask_approvals(session, read, result))
    except AgentkitError as exc:
        session.renderer.failed(exc)
        session.renderer.info("The conversation goes on from before that turn.")


def _decide_waiting(session: ChatSession, read: Callable[[str], str]) -> None:
    """If the conversation ends in a run paused for approval (a stored session's, or one
    whose approved call was cancelled), ask y/n for its waiting calls and resume it: until
    they are decided, the run takes no new prompt."""
    try:
        waiting = session.waits_for_approval()
    except AgentkitError as exc:
        session.renderer.failed(exc)
        return
    if waiting:
        session.renderer.info("The conversation ends in tool calls that wait for your approval.")
        _converse(session, read, None)


def _history_command(session: ChatSession, command: str) -> None:
    """``/history`` shows the conversation, one line a message; ``/clear`` forgets it (and
    empties the ``--session`` it is kept in)."""
    if command == "/clear":
        if session.store is not None:
            session.portal.call(session.store.clear)
        session.history = []
        session.renderer.info("The conversation is cleared.")
        return
    history = session.history
    if session.store is not None:
        history = session.portal.call(session.store.messages)
    if not history:
        session.renderer.info("No messages yet.")
    for message in history:
        session.renderer.info(f"{message.role}: {_one_line(message)}")


def _one_line(message: Message) -> str:
    if isinstance(message, AssistantMessage) and message.tool_calls:
        calls = ", ".join(f"{c.name}({c.arguments})" for c in message.tool_calls)
        return f"{message.content or ''} [calls {calls}]".strip()
    content = getattr(message, "content", None) or ""
    if isinstance(content, str):
        line = content
    else:  # text, and each image, document or audio clip as [image], [document], [audio]
        line = " ".join(getattr(p, "text", f"[{p.type}]") for p in content)
    return line if len(line) <= 200 else line[:199] + "…"


def session_path() -> Path:
    """The file ``agentkit chat --session NAME`` keeps conversations in: under
    ``$AGENTKIT_DATA_DIR``, else ``$XDG_DATA_HOME/agentkit``, else ``~/.local/share/agentkit``."""
    base = os.environ.get("AGENTKIT_DATA_DIR")
    if base:
        return Path(base) / "sessions.db"
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "agentkit" / "sessions.db"


def ask_approvals(
    session: ChatSession, read: Callable[[str], str], result: RunResult[Any]
) -> dict[ApprovalRequest, Decision]:
    """Ask y/n for each call the run paused for, showing the tool and its arguments.
    Anything but y/yes denies (so does Ctrl-C or Ctrl-D)."""
    decisions: dict[ApprovalRequest, Decision] = {}
    for request in result.approvals_needed:
        try:
            answer = read(f"\nallow {request.tool_name}({request.arguments})? [y/n] ")
        except (EOFError, KeyboardInterrupt):
            answer = "n"
        allowed = answer.strip().lower() in ("y", "yes")
        decisions[request] = True if allowed else Denied("The user said no.")
        session.renderer.info(f"{request.tool_name}: {'allowed' if allowed else 'denied'}")
    return decisions


# -- the chat agent ----------------------------------------------------------------------


LOCAL_CHAT_INSTRUCTIONS = (
    "You answer questions. Reply with the answer itself, as a statement, for example: "
    "'The capital of Spain is Madrid.' Never ask a question back."
)
"""``chat``'s instructions on the embedded model when ``--instructions`` is not given."""

LOCAL_TOOLS_NOTE = (
    "The embedded model is a small base model: it seldom calls a tool on its own. "
    "agentkit demo shows an assistant built for it (its hooks name the tool to call); "
    "set MISTRAL_API_KEY or OPPER_API_KEY for a model that picks tools itself."
)
"""What ``chat --tools`` says on the embedded model, before the first prompt."""

_LOCAL_CHAT_EXAMPLE = (
    UserMessage(content="What is the capital of Spain?"),
    AssistantMessage(content="The capital of Spain is Madrid."),
)


class LocalChatExample(Hooks):
    """Puts one example exchange after the instructions of every request (not in the
    history): the embedded base model follows an example, where an instruction alone
    leaves it echoing the question back."""

    async def wrap_model_request(
        self, run: RunInfo, request: ModelRequest, handler: RequestHandler
    ) -> ModelResponse:
        """Send ``request`` with the example exchange after its system message."""
        messages = list(request.messages)
        at = 1 if messages and isinstance(messages[0], SystemMessage) else 0
        messages[at:at] = _LOCAL_CHAT_EXAMPLE
        return await handler(dataclasses.replace(request, messages=tuple(messages)))


def chat_agent(
    tools: Sequence[Any], instructions: str | None, *, local: bool
) -> tuple[Agent[Any, Any], tuple[Hooks, ...]]:
    """The agent ``chat`` talks to, and the hooks its turns run with: on the embedded model,
    ``LocalChatExample`` (with ``--instructions`` too: without the example the base model
    echoes the question whatever the instructions say), and ``LOCAL_CHAT_INSTRUCTIONS`` when
    no instructions are given."""
    from agentkit.agent import Agent

    hooks: tuple[Hooks, ...] = ()
    if local:
        hooks = (LocalChatExample(),)
        if instructions is None:
            instructions = LOCAL_CHAT_INSTRUCTIONS
    return Agent(None, instructions=instructions, tools=tools, name="chat"), hooks


def cmd_chat(args: argparse.Namespace, renderer: Renderer) -> int:
    """``agentkit chat``: an interactive assistant, with ``--tools``, maybe in a session."""
    tools = load_tools(args.tools)
    ask_in_terminal(tools, input, renderer)  # MCP servers' questions to the user
    choice = resolve_model(args.model, local_fallback=True, base_url=args.base_url)
    check_model(choice)
    agent, chat_hooks = chat_agent(tools, args.instructions, local=choice.local)
    with (
        _otlp.from_environment() as otlp_hooks,
        model_scope(choice, renderer) as model,
        portal() as loop,
    ):
        store = None
        if args.session:
            from agentkit.sessions import SQLiteSession

            store = SQLiteSession(session_path(), args.session)
        hooks = (*otlp_hooks, *chat_hooks)
        session = ChatSession(
            agent,
            loop,
            renderer,
            model=model,
            hooks=hooks,
            store=store,
        )
        if choice.local and tools:
            renderer.note(LOCAL_TOOLS_NOTE)
        if store is not None:
            session.history = loop.call(store.messages)
            renderer.info(f"Session {args.session!r}: {len(session.history)} messages so far.")
        return chat_loop(session, input)
