"""The public surface: one error base and a light import (`__all__`: test_exported_members.py)."""

from __future__ import annotations

import subprocess
import sys

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
