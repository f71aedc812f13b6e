"""The public packages' ``__all__`` against what they export, both ways.

A package exports a name eagerly (bound in its namespace) or lazily (served by its
module ``__getattr__``). Lazy names are found without relying on a private table:
every public name defined in one of the package's submodules is a candidate, and it
is exported if the package hands it out.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import types
import typing
from typing import Any

import pytest

PACKAGES = ("agentkit", "agentkit.models", "agentkit.testing")

_TYPING_OWN = list(vars(typing).values())


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
    # A type alias built in agentkit (a union or literal of its types), not one of typing's own.
    alias = isinstance(value, types.UnionType) or type(value).__module__ == "typing"
    return alias and not any(value is own for own in _TYPING_OWN)


def _submodule_names(package: types.ModuleType) -> set[str]:
    """Every public name bound in any module below ``package`` (importing them all)."""
    names: set[str] = set()
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        try:
            module = importlib.import_module(info.name)
        except ModuleNotFoundError:  # needs an extra that is not installed: it exports nothing
            continue
        names.update(n for n in vars(module) if not n.startswith("_"))
    return names


def _exported(package: types.ModuleType) -> set[str]:
    """The public names ``package`` hands out that agentkit defines, eager or lazy."""
    candidates = {n for n in dir(package) if not n.startswith("_")} | _submodule_names(package)
    exported = set()
    for name in candidates:
        try:
            value: Any = getattr(package, name)
        except AttributeError:
            continue
        if _defined_in_agentkit(value):
            exported.add(name)
    return exported


@pytest.fixture(params=PACKAGES)
def package(request: pytest.FixtureRequest) -> types.ModuleType:
    """Each public package in turn."""
    return importlib.import_module(str(request.param))


def test_all_is_sorted(package: types.ModuleType) -> None:
    """A package's ``__all__`` is sorted as ruff keeps it (RUF022) and has no duplicates."""
    names = list(package.__all__)
    assert names == sorted(set(names), key=_ruff_order)


def test_every_name_in_all_is_importable(package: types.ModuleType) -> None:
    """Every name in ``__all__`` can be imported from the package, lazy ones included."""
    for name in package.__all__:
        namespace: dict[str, Any] = {}
        exec(f"from {package.__name__} import {name}", namespace)
        assert namespace[name] is getattr(package, name), name


def test_every_exported_name_is_in_all(package: types.ModuleType) -> None:
    """Every public name the package exports that agentkit defines is listed in ``__all__``."""
    missing = _exported(package) - set(package.__all__)
    assert not missing, f"{package.__name__} exports names missing from __all__: {sorted(missing)}"


def test_all_names_only_what_agentkit_defines(package: types.ModuleType) -> None:
    """``__all__`` lists only classes, functions, constants and aliases agentkit defines."""
    foreign = {n for n in package.__all__ if not _defined_in_agentkit(getattr(package, n))}
    assert not foreign, f"{package.__name__}.__all__ lists names not from agentkit: {foreign}"


def test_submodules_are_not_in_all(package: types.ModuleType) -> None:
    """No submodule is listed in ``__all__``: modules are reached by their own path."""
    modules = {n for n in package.__all__ if isinstance(getattr(package, n), types.ModuleType)}
    assert not modules
