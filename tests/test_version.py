"""The version is written once, in agentkit/version.py, and every reader takes it from there."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import agentkit
from agentkit import Agent
from agentkit.testing import ScriptedModel
from agentkit.version import __version__

ROOT = Path(__file__).resolve().parent.parent


def test_the_version_string_is_written_in_one_file() -> None:
    """Among the package's modules and pyproject.toml, only version.py holds the version."""
    quoted = f'"{__version__}"'
    files = [*sorted((ROOT / "agentkit").rglob("*.py")), ROOT / "pyproject.toml"]
    holders = [p.relative_to(ROOT).as_posix() for p in files if quoted in p.read_text()]
    assert holders == ["agentkit/version.py"]
    assert agentkit.__version__ == __version__


def test_pyproject_names_the_distribution_and_reads_the_version_from_the_package() -> None:
    """The distribution is agentkit-loop and setuptools reads its version from version.py."""
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["name"] == "agentkit-loop"
    assert project["project"]["dynamic"] == ["version"]
    assert "version" not in project["project"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "agentkit.version.__version__"}
    assert project["project"]["scripts"] == {"agentkit": "agentkit.cli:main"}


def test_an_agent_served_over_mcp_reports_agentkit_s_version() -> None:
    """The MCP server made from an agent introduces itself with agentkit's version."""
    server = Agent(ScriptedModel([]), name="desk").to_mcp()
    assert server.name == "desk"
    assert server.version == __version__
