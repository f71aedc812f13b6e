"""The built distribution: ``python -m build`` makes a wheel and an sdist of agentkit-loop,
and each installs into a fresh venv where agentkit imports, runs and serves its page."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from email.parser import Parser
from pathlib import Path
from zipfile import ZipFile

import pytest
from packaging.requirements import Requirement

from agentkit import __version__

ROOT = Path(__file__).resolve().parent.parent

SMOKE = '''
import importlib.metadata, importlib.resources, sys
import agentkit
from agentkit import Agent, tool
from agentkit.testing import ScriptedModel, text, tool_calls

assert agentkit.__file__.startswith(sys.prefix), agentkit.__file__
assert importlib.metadata.version("agentkit-loop") == agentkit.__version__
page = importlib.resources.files("agentkit") / "serve" / "chat.html"
assert "<html" in page.read_text(encoding="utf-8").lower()
assert (importlib.resources.files("agentkit") / "py.typed").is_file()


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"{city}: sunny"


model = ScriptedModel([tool_calls(("get_weather", {"city": "Lyon"})), text("Sunny in Lyon.")])
result = Agent(model, tools=[get_weather]).run_sync("Weather in Lyon?")
assert result.output == "Sunny in Lyon.", result.output
assert model.requests[1].messages[-1].content == "Lyon: sunny"
print("smoke ok", agentkit.__version__)
'''


def _run(*argv: str | Path, cwd: Path, path: Path | None = None) -> str:
    """Run a command with no PYTHONPATH (so the clone is not importable) but ``path``; its
    output."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    if path is not None:
        env["PYTHONPATH"] = str(path)
    proc = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"{argv}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _link_closure(names: list[Requirement], target: Path) -> set[str]:
    """Link the installed files of ``names`` and of everything they need (their markers
    and extras honoured) from this venv into ``target``; the distributions linked."""
    seen: set[str] = set()
    todo = [(req, "") for req in names]
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        dist = importlib.metadata.distribution(req.name)
        key = dist.metadata["Name"].lower().replace("_", "-")
        for wanted in req.extras:
            todo.extend((Requirement(r), wanted) for r in dist.requires or ())
        if key in seen:
            continue
        seen.add(key)
        todo.extend((Requirement(r), "") for r in dist.requires or ())
        for file in dist.files or ():
            top = file.parts[0]
            if top in ("..", "__pycache__") or (target / top).exists():
                continue
            (target / top).symlink_to(Path(str(dist.locate_file(top))))
    return seen


def _fresh_venv(where: Path, deps: Path) -> Path:
    """A venv without pip or this venv's packages, ``deps`` added to its ``sys.path``."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    code = "import sysconfig; print(sysconfig.get_path('purelib'))"
    purelib = _run(python, "-c", code, cwd=where)
    (Path(purelib.strip()) / "_agentkit_test_deps.pth").write_text(f"{deps}\n")
    return python


@pytest.mark.slow
def test_the_wheel_and_the_sdist_install_into_a_fresh_venv_and_run(tmp_path: Path) -> None:
    """``python -m build`` makes agentkit_loop's wheel and sdist; each, installed with only the
    wheel's declared dependencies beside it, imports agentkit, runs a ScriptedModel agent
    with a tool, ships the chat page and py.typed, and answers ``agentkit --version``."""
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, ROOT, cwd=tmp_path)
    wheel = dist / f"agentkit_loop-{__version__}-py3-none-any.whl"
    sdist = dist / f"agentkit_loop-{__version__}.tar.gz"
    assert sorted(p.name for p in dist.iterdir()) == [wheel.name, sdist.name]

    with ZipFile(wheel) as archive:
        metadata = Parser().parsestr(
            archive.read(f"agentkit_loop-{__version__}.dist-info/METADATA").decode()
        )
    assert metadata["Name"] == "agentkit-loop"
    assert metadata["Version"] == __version__
    runtime = [
        Requirement(r)
        for r in metadata.get_all("Requires-Dist") or []
        if Requirement(r).marker is None
    ]
    assert {r.name for r in runtime} >= {"openai", "pydantic", "anyio"}
    deps = tmp_path / "deps"
    deps.mkdir()
    linked = _link_closure(runtime, deps)
    assert "agentkit-loop" not in linked and "rich" not in linked  # extras stay out

    backend = tmp_path / "backend"  # setuptools, to build the sdist's wheel while installing
    backend.mkdir()
    _link_closure([Requirement("setuptools")], backend)
    for kind, artifact in (("wheel", wheel), ("sdist", sdist)):
        venv = tmp_path / kind
        python = _fresh_venv(venv, deps)
        pip: list[str | Path] = [sys.executable, "-m", "pip", "--python", python, "install", "-q"]
        pip += ["--no-deps", "--no-index", "--no-build-isolation", artifact]
        _run(*pip, cwd=tmp_path, path=backend)
        out = _run(python, "-c", SMOKE, cwd=tmp_path)
        assert out.strip() == f"smoke ok {__version__}", artifact.name
        version = _run(venv / "bin" / "agentkit", "--version", cwd=tmp_path)
        assert version.strip() == f"agentkit {__version__}", artifact.name
