"""Imports go one way: each agentkit module imports only from the layers below it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "agentkit"

LAYERS: list[list[str]] = [
    ["version", "_errors"],
    ["_guard"],
    ["_pii"],
    ["messages"],
    ["usage"],
    ["schema"],
    ["tools"],
    ["output"],
    ["models.base"],
    ["models.profiles"],
    ["models._clean"],
    ["models.parse"],
    ["models.dialect"],
    ["models._transport"],
    ["models._loops"],
    ["models.openai"],
    ["models.fallback"],
    ["models.infer"],
    ["models"],
    ["approval._types"],
    ["approval._resume"],
    ["approval"],
    ["events"],
    ["hooks"],
    ["limits"],
    ["tokens"],
    ["summary"],
    ["context"],
    ["toolsearch"],
    ["_run.plan"],
    ["_run.state"],
    ["_run.history"],
    ["_run.request"],
    ["_run.tools"],
    ["_run.loop"],
    ["_run.start"],
    ["_run.nested"],
    ["_run"],
    ["agent"],
    ["sessions._base"],
    ["sessions._postgres"],
    ["mcp", "tracing", "sessions", "durable", "local", "guardrails"],
    [""],  # the package: agentkit/__init__.py
    ["testing"],
    ["evals"],
    ["serve"],
    ["cli"],
]
"""The module map, bottom to top; modules in one layer may not import each other either
(except a package's own submodules, see ``_group``). Library modules never import
testing/, cli or serve/."""

LAZY_ENTRY_POINTS = {("agent", "serve"), ("agent", "mcp"), ("testing.pytest_plugin", "evals")}
"""Upward imports allowed inside a function body only: ``Agent.to_asgi()`` hands the agent
to the optional ``serve`` package and ``Agent.to_mcp()`` to ``mcp``, imported when called
(checked lazy below); the pytest plugin's ``agentkit_eval`` fixture imports
``agentkit.evals`` when a test asks for it."""

GROUPED = ("testing", "evals", "serve", "cli", "mcp")
"""Packages whose submodules share their package's layer."""


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _group(name: str) -> str:
    for package in GROUPED:
        if name == package or name.startswith(package + "."):
            return package
    return name


def _rank(name: str) -> int:
    group = _group(name)
    for index, layer in enumerate(LAYERS):
        if group in layer:
            return index
    raise AssertionError(
        f"agentkit.{name} is not in the module map: add it to LAYERS in tests/test_layers.py "
        "(and to DESIGN.md's module map) at the layer it belongs to."
    )


def _type_checking_only(tree: ast.Module) -> set[int]:
    """The ids of import nodes under ``if TYPE_CHECKING:`` (annotations only, not a use)."""
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                ids.update(id(n) for n in ast.walk(child))
    return ids


def _imports(path: Path, own: str) -> set[str]:
    """Every agentkit module ``path`` imports, at any depth (lazy imports count too; imports
    under ``if TYPE_CHECKING:`` are annotations and do not)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package_parts = own.split(".") if path.name == "__init__.py" else own.split(".")[:-1]
    skip = _type_checking_only(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "agentkit" or alias.name.startswith("agentkit."):
                    found.add(alias.name.removeprefix("agentkit").lstrip("."))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package_parts[: len(package_parts) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            elif node.module == "agentkit" or (node.module or "").startswith("agentkit."):
                base = (node.module or "").removeprefix("agentkit").lstrip(".")
            else:
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}" if base else alias.name
                is_module = (PACKAGE / candidate.replace(".", "/")).with_suffix(".py").exists() or (
                    PACKAGE / candidate.replace(".", "/") / "__init__.py"
                ).exists()
                found.add(candidate if is_module else base)
    found.discard(own)
    return found


def _top_level(path: Path) -> set[str]:
    """The agentkit modules ``path`` imports at module level (not inside a function)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("agentkit"):
            base = (node.module or "").removeprefix("agentkit").lstrip(".")
            found.add(base)
            found.update(f"{base}.{alias.name}".lstrip(".") for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name.removeprefix("agentkit").lstrip(".") for alias in node.names)
    return found


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_is_in_the_module_map() -> None:
    """Each module of the package has a place in the layering."""
    for name in _modules():
        _rank(name)


def test_no_module_imports_from_a_layer_above_it() -> None:
    """A module's agentkit imports all point to lower layers (or inside its own package)."""
    wrong: list[str] = []
    for name, path in _modules().items():
        rank = _rank(name)
        for imported in sorted(_imports(path, name)):
            if _group(imported) == _group(name) and _group(name) in GROUPED:
                continue
            if (name, _group(imported)) in LAZY_ENTRY_POINTS and imported not in _top_level(path):
                continue
            if _rank(imported) >= rank:
                wrong.append(f"agentkit.{name or '__init__'} imports agentkit.{imported}")
    assert wrong == [], "imports that point up (or sideways) in the module map:\n" + "\n".join(
        wrong
    )


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The import reader finds lazy and relative imports (so the rule can fail)."""
    probe = PACKAGE / "tools.py"
    found = _imports(probe, "tools")
    assert "schema" in found and "_errors" in found
    assert _rank("agent") > _rank("tools")
    source = tmp_path / "x.py"
    source.write_text("def f():\n    from agentkit.agent import Agent\n    from . import hooks\n")
    assert {"agent", "hooks"} <= _imports(source, "tools")


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle in ``graph`` (module -> modules it imports), or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_circle() -> None:
    """No agentkit module reaches itself through imports, lazy ones included (imports under
    ``if TYPE_CHECKING:`` are annotations and do not count)."""
    modules = _modules()
    graph = {
        name: {i for i in _imports(path, name) if i in modules} for name, path in modules.items()
    }
    circle = _cycle(graph)
    assert circle is None, "an import circle: " + " -> ".join(f"agentkit.{m}" for m in circle)


def test_the_circle_finder_sees_a_circle() -> None:
    """The circle finder reports a circle when there is one (so the rule can fail)."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_module_sizes_and_private_top_level() -> None:
    """The loop's file stays at most 300 lines, agent.py at most 450, every module under
    800, and at most 4 private modules sit at the package's top level."""
    lengths = {name: len(path.read_text().splitlines()) for name, path in _modules().items()}
    assert lengths["_run.loop"] <= 300
    assert lengths["agent"] <= 450
    too_long = {name: n for name, n in lengths.items() if n >= 800}
    assert too_long == {}
    private = sorted(
        p.name
        for p in PACKAGE.iterdir()
        if p.name.startswith("_")
        and not p.name.startswith("__")
        and (p.suffix == ".py" or (p / "__init__.py").exists())
    )
    assert len(private) <= 4, private
