"""Fixtures shared by the test modules.

Async tests (``@pytest.mark.anyio``) run under asyncio. A module whose async tests
must also run under trio says so once, with ``pytestmark = pytest.mark.anyio_backends(
"asyncio", "trio")``: each of its async tests then runs once per backend.

A module that must not see a provider key or base URL from the developer's
environment uses the ``no_keys`` fixture (``pytestmark = pytest.mark.usefixtures("no_keys")``).

Under ``CI=true`` nothing skips: ``.ci/run`` installs every component the tests use, so a
skip there would hide a missing one. A skipped test (or module) fails instead.

``pytest -m "not slow"`` is the fast inner loop: ``slow`` marks the tests that start a heavy
component (browser, PostgreSQL, the embedded model, a campaign) or take more than ~3 s.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

PROVIDER_KEYS = ("OPPER_API_KEY", "MISTRAL_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL")
"""Environment variables through which a model string finds a provider."""


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``anyio_backends`` marker."""
    config.addinivalue_line(
        "markers",
        "anyio_backends(*names): run the async tests under each named anyio backend",
    )


def _fail_skip_under_ci(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Under ``CI=true``, turn a skip (not an expected failure) into a failure that says why."""
    if os.environ.get("CI") != "true" or not report.skipped or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    reason = reason.removeprefix("Skipped: ")
    report.outcome = "failed"
    report.longrepr = (
        f"skipped under CI=true ({reason}): .ci/run installs every component the tests "
        "use, so a skip there hides a missing one; install it in .ci/run, or fail instead"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A test that skips under ``CI=true`` fails."""
    report = yield
    _fail_skip_under_ci(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """A module that skips itself under ``CI=true`` (``importorskip``, say) is an error."""
    report = yield
    _fail_skip_under_ci(report)
    return report


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
