"""Type checkers see what users get: RunResult.output has the agent's output type."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SNIPPET = """
from pydantic import BaseModel
from agentkit import Agent
from agentkit.testing import ScriptedModel

class Report(BaseModel):
    city: str

async def main() -> None:
    structured = Agent(ScriptedModel([]), output_type=Report)
    reveal_type((await structured.run("x")).output)
    plain = Agent(ScriptedModel([]))
    reveal_type((await plain.run("x")).output)
    listed = Agent(ScriptedModel([]), output_type=list[int])
    reveal_type(listed.run_sync("x").output)
    union = Agent(ScriptedModel([]), output_type=Report | int)
    reveal_type(union.run_sync("x").output)
"""


@pytest.mark.slow  # runs mypy --strict
def test_mypy_infers_the_output_type(tmp_path: Path) -> None:
    """mypy --strict infers Report, str (the default), list[int], and Any for a union."""
    source = tmp_path / "snippet.py"
    source.write_text(SNIPPET)
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(source)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    revealed = [
        line.split("Revealed type is ", 1)[1] for line in out.splitlines() if "Revealed" in line
    ]
    assert revealed == [
        '"snippet.Report"',
        '"str"',
        '"list[int]"',
        '"Any"',
    ], out
    assert "error" not in out, out
