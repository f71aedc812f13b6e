"""Fixtures shared by the test modules.

Async tests (``@pytest.mark.anyio``) run under asyncio. A module whose async tests
must also run under trio says so once, with ``pytestmark = pytest.mark.anyio_backends(
"asyncio", "trio")``: each of its async tests then runs once per backend.

A module that must not see a provider key or base URL from the developer's
environment uses the ``no_keys`` fixture (``pytestmark = pytest.mark.usefixtures("no_keys")``).
"""

from __future__ import annotations

import pytest

PROVIDER_KEYS = ("OPPER_API_KEY", "MISTRAL_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL")
"""Environment variables through which a model string finds a provider."""


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``anyio_backends`` marker."""
    config.addinivalue_line(
        "markers",
        "anyio_backends(*names): run the async tests under each named anyio backend",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``anyio_backend`` over the backends an ``anyio_backends`` marker names."""
    marker = metafunc.definition.get_closest_marker("anyio_backends")
    if marker is not None and "anyio_backend" in metafunc.fixturenames:
        metafunc.parametrize("anyio_backend", [str(name) for name in marker.args])


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run under asyncio unless their module names more backends."""
    return "asyncio"


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every provider key and base URL from the environment for the test."""
    for name in PROVIDER_KEYS:
        monkeypatch.delenv(name, raising=False)
