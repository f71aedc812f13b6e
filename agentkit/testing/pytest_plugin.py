"""agentkit's pytest plugin (registered through the ``pytest11`` entry point).

It builds on pytest-recording, which provides the ``vcr`` marker and the
``--record-mode`` option: every test marked ``@pytest.mark.vcr`` gets agentkit's
cassettes (see ``agentkit.testing.cassettes``): readable YAML, secrets scrubbed
and checked, requests matched on their normalised body with a diff when they
differ, streamed answers replayed chunk by chunk, and a test that leaves
recorded exchanges unplayed fails. The default record mode, ``none``, replays
only and never touches the network; ``--record-mode=once`` records a missing
cassette, ``--record-mode=rewrite`` records every marked test's cassette anew.

Real requests are refused. In every test, a request from an agentkit model to any
host but this machine (``localhost``, 127.0.0.0/8, ``::1``) raises
``RealRequestBlockedError`` before a connection is opened, naming the host and the
test, so no test reaches a paid API by accident. A ``vcr``-marked test is not
checked (vcrpy records, or replays and refuses what was not recorded). To let a
test through otherwise: ``@pytest.mark.agentkit_allow_network`` (any host) or
``@pytest.mark.agentkit_allow_network("api.example.com", ...)`` (those hosts), or the
ini option ``agentkit_allow_hosts``; ``agentkit_block_network = false`` turns the
check off for the whole suite.

Options:

* ``@pytest.mark.agentkit_secrets("value", ..., env=("MY_TOKEN",))`` names more
  values (or environment variables holding them) never to write to this test's cassette.
* ini ``agentkit_secret_env``: more environment variables whose values are scrubbed.
* ini ``agentkit_ignore_fields``: more request-body fields (top level) that do not
  take part in matching, for values that change on every run.
* ini ``agentkit_cassettes = false`` leaves pytest-recording's cassettes alone.
* ini ``agentkit_allow_hosts``: hosts (shell-style patterns such as ``*.corp.example``
  allowed) every test may send real requests to.
* ini ``agentkit_block_network = false``: let every test send real requests.

Evals: the ``agentkit_eval`` fixture runs a dataset in a test and fails it on a regression
against a baseline report (``agentkit.evals._pytest``); ``--agentkit-eval-accept`` writes the
baseline instead, ``--agentkit-eval-reports DIR`` says where reports are stored.

Nothing here imports vcrpy, PyYAML or httpx2 until a marked test runs, so the
plugin costs nothing in test suites that do not use it.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

import pytest

from agentkit import _guard

if TYPE_CHECKING:
    from agentkit.testing.cassettes import CassetteOptions

__all__ = [
    "agentkit_eval",
    "pytest_addoption",
    "pytest_configure",
    "pytest_recording_configure",
    "pytest_runtest_call",
    "pytest_runtest_protocol",
    "pytest_runtest_setup",
]
"""The hooks pytest finds by name; nothing here is meant to be imported."""

_CURRENT_ITEM = pytest.StashKey["pytest.Item | None"]()
_CASSETTE = pytest.StashKey["tuple[Any, int]"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register agentkit's ini and command-line options."""
    group = parser.getgroup("agentkit", "agentkit evals")
    group.addoption(
        "--agentkit-eval-accept",
        action="store_true",
        default=False,
        help="agentkit: write each evaluation's report as its baseline instead of comparing.",
    )
    group.addoption(
        "--agentkit-eval-reports",
        default=None,
        metavar="DIR",
        help="agentkit: where evaluation reports are stored (default: .agentkit-evals/).",
    )
    parser.addini(
        "agentkit_cassettes",
        type="bool",
        default=True,
        help="agentkit: give @pytest.mark.vcr tests agentkit's cassettes (default true).",
    )
    parser.addini(
        "agentkit_ignore_fields",
        type="linelist",
        default=[],
        help="agentkit: more top-level request-body fields left out when matching requests.",
    )
    parser.addini(
        "agentkit_block_network",
        type="bool",
        default=True,
        help="agentkit: refuse real model requests to non-loopback hosts in tests "
        "not marked vcr (default true).",
    )
    parser.addini(
        "agentkit_allow_hosts",
        type="linelist",
        default=[],
        help="agentkit: hosts (shell-style patterns allowed) that tests may send "
        "real model requests to.",
    )
    parser.addini(
        "agentkit_secret_env",
        type="linelist",
        default=[],
        help="agentkit: more environment variables whose values are never written to cassettes.",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``agentkit_secrets`` and ``agentkit_allow_network`` markers."""
    config.addinivalue_line(
        "markers",
        "agentkit_secrets(*values, env=()): values (or environment variables holding them) "
        "that are never written to this test's cassette.",
    )
    config.addinivalue_line(
        "markers",
        "agentkit_allow_network(*hosts): let this test send real model requests "
        "(to these hosts only, if any are named).",
    )


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getini("agentkit_cassettes"))


def _options(config: pytest.Config, item: pytest.Item | None) -> CassetteOptions:
    from agentkit.testing.cassettes import DEFAULT_IGNORED_FIELDS, KEY_ENV_VARS, CassetteOptions

    secrets: list[str] = []
    env = [*KEY_ENV_VARS, *config.getini("agentkit_secret_env")]
    if item is not None:
        for mark in item.iter_markers("agentkit_secrets"):
            secrets.extend(str(value) for value in mark.args)
            named = mark.kwargs.get("env", ())
            env.extend([named] if isinstance(named, str) else named)
    ignored = (*DEFAULT_IGNORED_FIELDS, *config.getini("agentkit_ignore_fields"))
    return CassetteOptions(secrets=tuple(secrets), secret_env=tuple(env), ignore_fields=ignored)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """Remember which test is being set up, for ``pytest_recording_configure``."""
    item.config.stash[_CURRENT_ITEM] = item
    try:
        return (yield)
    finally:
        item.config.stash[_CURRENT_ITEM] = None


@pytest.hookimpl(optionalhook=True)
def pytest_recording_configure(config: pytest.Config, vcr: Any) -> None:
    """pytest-recording's hook: give its ``VCR`` agentkit's cassette behaviour."""
    if not _enabled(config):
        return
    from agentkit.testing.cassettes import configure_vcr

    configure_vcr(vcr, _options(config, config.stash.get(_CURRENT_ITEM, None)))


@pytest.fixture(autouse=True)
def _agentkit_cassette(request: pytest.FixtureRequest) -> Iterator[None]:
    """Around a ``vcr``-marked test: replay streams in chunks, explain mismatches."""
    if request.node.get_closest_marker("vcr") is None or not _enabled(request.config):
        yield
        return
    manager = request.config.pluginmanager
    if not (manager.has_plugin("recording") or manager.has_plugin("pytest_recording.plugin")):
        pytest.fail(
            "@pytest.mark.vcr needs pytest-recording, which is not installed: "
            "pip install -e '.[test]' in the agentkit clone (or pytest-recording and vcrpy)",
            pytrace=False,
        )
    cassette = request.getfixturevalue("vcr")
    if cassette is None:  # --disable-recording
        yield
        return
    from agentkit.testing.cassettes import _replay_streams

    request.node.stash[_CASSETTE] = (cassette, len(cassette.data))
    with _replay_streams(_options(request.config, request.node)):
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """After a passing ``vcr`` test: fail it if recorded exchanges were never played."""
    result = yield
    state = item.stash.get(_CASSETTE, None)
    if state is not None:
        cassette, loaded = state
        if str(getattr(cassette.record_mode, "value", cassette.record_mode)) != "all":
            from agentkit.testing.cassettes import UnplayedInteractionsError, _check_all_played

            try:
                _check_all_played(cassette, loaded)
            except UnplayedInteractionsError as error:
                pytest.fail(str(error), pytrace=False)
    return result


class _RefuseRealRequests:
    """The guard of one test: refuses a request unless its host is loopback or allowed."""

    __slots__ = ("allowed", "nodeid")

    def __init__(self, nodeid: str, allowed: Sequence[str]) -> None:
        self.nodeid = nodeid
        self.allowed = tuple(_host_pattern(entry) for entry in allowed if entry.strip())

    def __call__(self, url: str) -> None:
        __tracebackhide__ = True
        if _guard.is_loopback(url):
            return
        host = _guard.host_of(url)
        if any(fnmatchcase(host, pattern) for pattern in self.allowed):
            return
        shown = host or "(no host)"
        safe = _guard.safe_url(url)
        raise _guard.RealRequestBlockedError(
            f"{self.nodeid} sent a real model request to {shown} ({safe}). agentkit's "
            "pytest plugin refuses requests to hosts other than this machine in tests, so "
            "that no test reaches a real model by accident.\n"
            "To record it: mark the test @pytest.mark.vcr and run pytest "
            "--record-mode=once with the API key set; later runs replay the cassette "
            "offline.\n"
            "To allow it: mark the test @pytest.mark.agentkit_allow_network "
            f'(or agentkit_allow_network("{shown}")), or add {shown} to the ini option '
            "agentkit_allow_hosts; agentkit_block_network = false turns the check off "
            "for the whole suite.",
            url=safe,
            host=host,
        )


def _host_pattern(entry: str) -> str:
    """An allowed-host entry as a lower-case pattern; a URL or ``host:port`` counts by its host."""
    entry = entry.strip().lower()
    if "://" in entry:
        return _guard.host_of(entry)
    return entry.partition(":")[0] if entry.count(":") == 1 else entry


def _request_guard(item: pytest.Item) -> _guard.Guard | None:
    """The guard for this test, or ``None`` where real requests are let through."""
    config = item.config
    if not config.getini("agentkit_block_network") or item.get_closest_marker("vcr"):
        return None
    allowed = list(config.getini("agentkit_allow_hosts"))
    for mark in item.iter_markers("agentkit_allow_network"):
        if not mark.args:
            return None
        allowed.extend(str(host) for host in mark.args)
    return _RefuseRealRequests(item.nodeid, allowed)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, Any, Any]:
    """Install the test's request guard for its setup, call and teardown.

    A test let through installs no guard (``None``), so that an inner pytest session
    (pytester) decides for its own tests; the previous guard comes back afterwards.
    """
    with _guard.guarded(_request_guard(item)):
        return (yield)


@pytest.fixture
def agentkit_eval(request: pytest.FixtureRequest) -> Any:
    """Evaluate a dataset in a test: ``await agentkit_eval.run(dataset, agent,
    baseline="baseline.json")`` stores the report and fails the test on a regression
    (``--agentkit-eval-accept`` writes the baseline instead); see ``agentkit.evals._pytest``."""
    from pathlib import Path

    from agentkit.evals._pytest import EvalCheck

    config = request.config
    where = config.getoption("--agentkit-eval-reports")
    reports = Path(where) if where else config.rootpath / ".agentkit-evals"
    return EvalCheck(
        request.node.nodeid, reports, accept=bool(config.getoption("--agentkit-eval-accept"))
    )
