"""``__all__`` against what each agentkit module defines and imports, both ways.

Which modules: every module under ``agentkit/``, found on disk and imported; only
``__main__`` modules (scripts, not imported) are left out. Private modules (a leading
underscore anywhere in the dotted path, like ``agentkit._run.state``) are held to the
same rule as public ones: their ``__all__`` is the seam the rest of agentkit imports
through, so it must say what they offer. A module whose optional dependency is not
installed is skipped, except under ``CI=true``, where everything is installed and a
missing one fails.

The rule, per module:

- It declares ``__all__``, sorted as ruff's RUF022 keeps it, without duplicates.
- **Defined names are listed.** A module *defines* a name when a top-level statement
  of its source binds it other than by an import: ``def``, ``async def``, ``class``, an
  assignment (plain or annotated) or a ``type`` statement, including those inside a
  top-level ``if`` or ``try``. Every defined name without a leading underscore is in
  ``__all__``, except type variables (``TypeVar``, ``ParamSpec``, ``TypeVarTuple``):
  they parametrise signatures and are not imported by users. A public helper is
  therefore either listed (public on purpose) or renamed with a leading underscore.
- **Listed names are real.** Every name in ``__all__`` is bound in the module (or
  served by its module ``__getattr__``) and importable from it, and is either defined
  there or a deliberate re-export: the same object, under the same name, listed in the
  ``__all__`` of the agentkit module that defines it. ``__all__`` never lists a
  submodule or something agentkit does not define (``typing.Any``, say).

A package also hands out lazy names from its module ``__getattr__``; for the public
packages, every public name a submodule binds that the package hands out is in its
``__all__`` (found without relying on the package's private table).

And across modules: a public name that one agentkit module imports from another is in
that module's ``__all__`` (an underscore name imported across modules is a private
crossing between agentkit's own modules, visible as such at the import).
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import sys
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "agentkit"

PACKAGES = ("agentkit", "agentkit.models", "agentkit.testing")
"""The packages whose lazy names (module ``__getattr__``) are checked too."""

_TYPING_OWN = list(vars(typing).values())
_TYPE_PARAMETERS = (typing.TypeVar, typing.ParamSpec, typing.TypeVarTuple)


def _module_names() -> list[str]:
    """Every agentkit module's dotted name, from the files on disk (nothing imported)."""
    names = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


MODULES = _module_names()


def _ruff_order(name: str) -> tuple[int, list[int | str]]:
    """The order ruff's RUF022 keeps ``__all__`` in: constants, then classes, then the rest,
    each in natural order (digit runs compare as numbers)."""
    if len(name) > 1 and name.upper() == name:
        category = 0  # SCREAMING_SNAKE_CASE
    elif name[:1].isupper():
        category = 1  # CamelCase
    else:
        category = 2
    parts = [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name) if p]
    return category, parts


def _import(name: str) -> types.ModuleType:
    """The module, or a skip naming the missing optional dependency (a failure under CI)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if _is_agentkit_module(missing) or os.environ.get("CI") == "true":
            raise
        pytest.skip(f"{name} needs {missing}, which is not installed")


@cache
def _source_tree(name: str) -> ast.Module:
    module = sys.modules[name]
    assert module.__file__ is not None
    return ast.parse(Path(module.__file__).read_text(encoding="utf-8"))


def _bound_by(statements: list[ast.stmt]) -> set[str]:
    """Names the statements bind other than by import, into the top-level block's body
    (descending into ``if`` and ``try``, not into functions or classes)."""
    names: set[str] = set()
    for statement in statements:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(statement.name)
        elif isinstance(statement, ast.Assign):
            for target in statement.targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            names.add(statement.target.id)
        elif type(statement).__name__ == "TypeAlias":  # ``type X = ...`` (Python 3.12+)
            names.add(statement.name.id)  # type: ignore[attr-defined]
        elif isinstance(statement, ast.If):
            names |= _bound_by(statement.body) | _bound_by(statement.orelse)
        elif isinstance(statement, ast.Try):
            names |= _bound_by(statement.body) | _bound_by(statement.orelse)
            names |= _bound_by(statement.finalbody)
            for handler in statement.handlers:
                names |= _bound_by(handler.body)
    return names


def _defined(module: types.ModuleType) -> set[str]:
    """Every name ``module`` defines (see the module docstring), public or not."""
    return _bound_by(_source_tree(module.__name__).body)


def _public_defined(module: types.ModuleType) -> set[str]:
    """The defined names that must be in ``__all__``: no underscore, not a type variable."""
    return {
        name
        for name in _defined(module)
        if not name.startswith("_")
        and not isinstance(getattr(module, name, None), _TYPE_PARAMETERS)
    }


def _is_agentkit_module(name: object) -> bool:
    return isinstance(name, str) and (name == "agentkit" or name.startswith("agentkit."))


def _defined_in_agentkit(value: object) -> bool:
    """Whether ``value`` is a class, function, constant or type alias agentkit defines."""
    if isinstance(value, types.ModuleType):
        return False
    if isinstance(value, (type, types.FunctionType)):
        return _is_agentkit_module(value.__module__)
    if _is_agentkit_module(type(value).__module__):  # a constant: a profile, say
        return True
    # A type alias built in agentkit (a union, literal or generic of its types), not one of
    # typing's own.
    alias = isinstance(value, (types.UnionType, types.GenericAlias))
    alias = alias or type(value).__module__ == "typing"
    return alias and not any(value is own for own in _TYPING_OWN)


_MISSING = object()


def _definers(name: str, value: object) -> list[str]:
    """The imported agentkit modules that define ``name`` as this very object."""
    found = []
    for module_name in MODULES:
        module = sys.modules.get(module_name)
        if module is None or vars(module).get(name, _MISSING) is not value:
            continue
        if name in _defined(module):
            found.append(module_name)
    return found


@pytest.fixture(params=MODULES)
def module(request: pytest.FixtureRequest) -> types.ModuleType:
    """Each agentkit module in turn, imported."""
    return _import(str(request.param))


@pytest.fixture(params=PACKAGES)
def package(request: pytest.FixtureRequest) -> types.ModuleType:
    """Each public package with lazy names in turn."""
    return importlib.import_module(str(request.param))


def test_every_module_declares_all(module: types.ModuleType) -> None:
    """Every agentkit module declares ``__all__`` as a list of strings."""
    names = getattr(module, "__all__", None)
    assert isinstance(names, list), f"{module.__name__} declares no __all__ list"
    assert all(isinstance(name, str) for name in names)


def test_all_is_sorted(module: types.ModuleType) -> None:
    """A module's ``__all__`` is sorted as ruff keeps it (RUF022) and has no duplicates."""
    names = list(module.__all__)
    assert names == sorted(set(names), key=_ruff_order)


def test_every_name_in_all_is_importable(module: types.ModuleType) -> None:
    """Every name in ``__all__`` can be imported from the module, lazy ones included."""
    for name in module.__all__:
        namespace: dict[str, Any] = {}
        exec(f"from {module.__name__} import {name}", namespace)
        assert namespace[name] is getattr(module, name), name


def test_every_public_name_defined_is_in_all(module: types.ModuleType) -> None:
    """Every public name the module defines (type variables aside) is in its ``__all__``."""
    missing = _public_defined(module) - set(module.__all__)
    assert not missing, (
        f"{module.__name__} defines public names missing from __all__: {sorted(missing)}; "
        "list each one, or rename it with a leading underscore if it is internal"
    )


def test_every_reexport_is_public_where_it_is_defined(module: types.ModuleType) -> None:
    """A name in ``__all__`` not defined in the module is an agentkit object listed, under
    the same name, in the ``__all__`` of the module that defines it."""
    for module_name in MODULES:  # the definers must be imported to be found
        if module_name != module.__name__:
            try:
                _import(module_name)
            except pytest.skip.Exception:
                continue
    defined = _defined(module)
    for name in module.__all__:
        if name in defined:
            continue
        value = getattr(module, name)
        constant = isinstance(value, (str, int, float, tuple, frozenset))  # found by definer
        assert constant or _defined_in_agentkit(value), f"{module.__name__} lists foreign {name}"
        definers = _definers(name, value)
        assert definers, f"{module.__name__}.{name} is defined nowhere in agentkit by that name"
        listed = [d for d in definers if name in sys.modules[d].__all__]
        assert listed, (
            f"{module.__name__} re-exports {name}, which {definers[0]} defines but does not "
            "list in its __all__"
        )


def test_submodules_are_not_in_all(module: types.ModuleType) -> None:
    """No submodule is listed in ``__all__``: modules are reached by their own path."""
    modules = {n for n in module.__all__ if isinstance(getattr(module, n), types.ModuleType)}
    assert not modules


def _submodule_names(package: types.ModuleType) -> set[str]:
    """Every public name bound in any imported module below ``package``."""
    names: set[str] = set()
    prefix = f"{package.__name__}."
    for module_name in MODULES:
        if not module_name.startswith(prefix):
            continue
        try:
            submodule = _import(module_name)
        except pytest.skip.Exception:  # its extra is missing: it exports nothing
            continue
        names.update(n for n in vars(submodule) if not n.startswith("_"))
    return names


def test_every_name_a_package_hands_out_is_in_all(package: types.ModuleType) -> None:
    """Every public name a package hands out (eagerly or lazily) that agentkit defines is
    listed in its ``__all__``."""
    candidates = {n for n in dir(package) if not n.startswith("_")} | _submodule_names(package)
    exported = set()
    for name in candidates:
        try:
            value: Any = getattr(package, name)
        except AttributeError:
            continue
        if not isinstance(value, types.ModuleType) and _defined_in_agentkit(value):
            exported.add(name)
    missing = exported - set(package.__all__)
    assert not missing, f"{package.__name__} exports names missing from __all__: {sorted(missing)}"


def _agentkit_imports() -> list[tuple[str, int, str, str]]:
    """``(file, line, module, name)`` for each ``from agentkit... import name`` in agentkit."""
    found: list[tuple[str, int, str, str]] = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if _is_agentkit_module(node.module):
                    relative = str(path.relative_to(PACKAGE_DIR.parent))
                    found.extend((relative, node.lineno, node.module, a.name) for a in node.names)
    return found


def test_public_names_imported_across_modules_are_in_all() -> None:
    """A public name one agentkit module imports from another is in that one's ``__all__``."""
    wrong = []
    for path, line, module_name, name in _agentkit_imports():
        if name.startswith("_") or f"{module_name}.{name}" in MODULES:
            continue  # a private crossing, or a submodule
        try:
            source = _import(module_name)
        except pytest.skip.Exception:
            continue
        if name not in getattr(source, "__all__", ()):
            wrong.append(f"{path}:{line} imports {name} from {module_name}")
    assert not wrong, "names imported across modules but not in __all__:\n" + "\n".join(wrong)
