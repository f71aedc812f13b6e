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

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

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


# -- PostgreSQL: the CI's (AGENTKIT_TEST_POSTGRES_URL), or a throwaway cluster -------------


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server URL (no database part): the CI's, or a throwaway cluster."""
    given = os.environ.get("AGENTKIT_TEST_POSTGRES_URL")
    if given:
        yield given.rstrip("/")
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is not installed; .ci/run installs it (apt-get postgresql)")
        pytest.skip("PostgreSQL binaries not found (apt-get install postgresql)")
    data = Path(tempfile.mkdtemp(prefix="agentkit-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(
        [*as_user, initdb, "-D", str(data / "db"), "-U", "agentkit", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    log = str(data / "log")
    subprocess.run(
        [*as_user, pg_ctl, "-D", str(data / "db"), "-o", options, "-l", log, "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://agentkit@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*as_user, pg_ctl, "-D", str(data / "db"), "-m", "immediate", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def postgres_db(postgres_url: str) -> str:
    """The URL of a new, empty database on the test PostgreSQL server."""
    import psycopg

    name = f"agentkit_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{postgres_url}/postgres", autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    return f"{postgres_url}/{name}"
