"""The public surface: one error base and a light import (`__all__`: test_exported_members.py)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing

import pytest

import agentkit


def test_every_error_derives_from_agentkit_error() -> None:
    """AgentkitError is the base of every error class agentkit exports (ModelRetry aside)."""
    for name in agentkit.__all__:
        obj = getattr(agentkit, name)
        if isinstance(obj, type) and issubclass(obj, Exception) and obj is not agentkit.ModelRetry:
            assert issubclass(obj, agentkit.AgentkitError), name


def test_import_does_not_load_heavy_optional_dependencies() -> None:
    """`import agentkit` loads neither openai nor httpx2, rich, vcr or llama_cpp."""
    code = (
        "import sys, agentkit; "
        "print(sorted(m for m in ('openai', 'httpx2', 'rich', 'vcr', 'llama_cpp', "
        "'mistral_common', 'docstring_parser') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


LOADED_ON_FIRST_USE = (
    "agentkit._run",
    "agentkit.approval",
    "agentkit.context",
    "agentkit.events",
    "agentkit.hooks",
    "agentkit.limits",
    "agentkit.models",
    "agentkit.output",
    "agentkit.schema",
    "agentkit.sessions",
    "anyio",
    "json",
    "mimetypes",
    "pydantic.type_adapter",
    "sqlite3",
)
"""What `import agentkit` leaves to the first `Agent(...)`, run or lazy name (the run core,
the model layer, events, anyio), so that importing stays cheap (-X importtime)."""


def test_import_leaves_the_run_core_to_first_use() -> None:
    """`import agentkit` loads none of the run core; the first `Agent(...)` loads it."""
    code = (
        "import sys, agentkit; "
        f"print(sorted(m for m in {LOADED_ON_FIRST_USE!r} if m in sys.modules)); "
        "agentkit.Agent(None); "
        "print('agentkit._run' in sys.modules and 'agentkit.events' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "True"]


def test_lazy_names_are_served_from_their_modules() -> None:
    """A name `import agentkit` serves lazily is the object its module defines, cached."""
    from agentkit import RunResult, Session, count_tokens
    from agentkit._run.history import Session as DefinedSession
    from agentkit.context import count_tokens as defined_count_tokens
    from agentkit.events import RunResult as DefinedRunResult

    assert (RunResult, Session, count_tokens) == (
        DefinedRunResult,
        DefinedSession,
        defined_count_tokens,
    )
    assert "RunResult" in vars(agentkit) and "RunResult" in dir(agentkit)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        agentkit.Nope  # noqa: B018


def test_public_dataclass_annotations_resolve() -> None:
    """`typing.get_type_hints` resolves every public dataclass agentkit exports (no name
    is left to an import under TYPE_CHECKING where a dataclass's annotations need it)."""
    for name in agentkit.__all__:
        obj = getattr(agentkit, name)
        if dataclasses.is_dataclass(obj) and isinstance(obj, type):
            typing.get_type_hints(obj)
