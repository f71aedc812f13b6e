"""The pytest plugin refuses real model requests to non-loopback hosts unless recording.

Most tests run an inner pytest session (pytester) whose tests call
``agentkit._guard.GUARD`` with a URL, exactly as the model does before each HTTP
request. Two go through a real ``OpenAIChatModel``; inner sockets are patched so
that no test here can reach the network even if the guard were missing.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentkit import _guard
from agentkit._errors import UserError
from agentkit.testing.server import LocalModelServer, reply_text

pytest_plugins = ("pytester",)

# Imported once here, so the inner pytest sessions (which restore sys.modules) are fast.
for _module in ("openai", "vcr", "agentkit.agent", "agentkit.models.openai"):
    importlib.import_module(_module)

MISTRAL = "https://api.mistral.ai/v1/chat/completions"

# In every inner session: a socket connection or DNS lookup for anything but this
# machine fails the test loudly.
CONFTEST = """
import socket

import pytest

from agentkit._guard import is_loopback

TOUCHED = []


def _refusing(real, host_of):
    def check(*args, **kwargs):
        host = host_of(args)
        if isinstance(host, bytes):
            host = host.decode()
        if not (isinstance(host, str) and is_loopback(f"http://[{host}]" if ":" in host else f"http://{host}")):
            TOUCHED.append(args)
            raise OSError(f"test_plugin_guard: the network was touched ({host!r})")
        return real(*args, **kwargs)

    return check


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    for name in ("connect", "connect_ex"):
        real = getattr(socket.socket, name)
        monkeypatch.setattr(socket.socket, name, _refusing(real, lambda a: a[1][0]))
    monkeypatch.setattr(socket, "getaddrinfo", _refusing(socket.getaddrinfo, lambda a: a[0]))
    yield
    assert TOUCHED == [], f"the network was touched: {TOUCHED}"


@pytest.fixture
def anyio_backend():
    return "asyncio"
"""

GUARD_TESTS = f'''
import pytest

from agentkit import _guard

MISTRAL = "{MISTRAL}"


def call(url):
    guard = _guard.GUARD
    if guard is not None:
        guard(url)


def test_plain():
    call(MISTRAL)


def test_loopback():
    for url in (
        "http://127.0.0.1:8080/v1/chat/completions",
        "http://127.5.6.7/v1/chat/completions",
        "http://localhost:11434/v1/chat/completions",
        "http://[::1]:8000/v1/chat/completions",
    ):
        call(url)


@pytest.mark.agentkit_allow_network
def test_allowed_everywhere():
    call(MISTRAL)
    call("https://api.opper.ai/v3/compat/chat/completions")


@pytest.mark.agentkit_allow_network("api.mistral.ai")
def test_allowed_mistral():
    call(MISTRAL)


@pytest.mark.agentkit_allow_network("api.mistral.ai")
def test_allowed_mistral_not_opper():
    call("https://api.opper.ai/v3/compat/chat/completions")


@pytest.mark.agentkit_allow_network
class TestAllowedClass:
    def test_in_class(self):
        call(MISTRAL)


@pytest.mark.vcr
def test_recording():
    assert _guard.GUARD is None
    call(MISTRAL)
'''


@pytest.fixture
def guard_tests(pytester: pytest.Pytester) -> pytest.Pytester:
    """An inner session holding the network-refusing conftest and the guard tests."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_inner=GUARD_TESTS)
    return pytester


# -- is_loopback and friends ---------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "http://127.255.0.9/v1",
        "http://localhost/v1",
        "http://LOCALHOST:1234/v1",
        "http://[::1]:8000/v1",
        "http://user:pw@127.0.0.1/v1",
    ],
)
def test_is_loopback_true(url: str) -> None:
    """localhost, 127.0.0.0/8 and ::1 are loopback, whatever the port, case or credentials."""
    assert _guard.is_loopback(url)


@pytest.mark.parametrize(
    "url",
    [
        MISTRAL,
        "http://10.0.0.1:8000/v1",
        "http://0.0.0.0:8000/v1",
        "http://localhost.example.com/v1",
        "http://127.0.0.1.nip.io/v1",
        "http://[::2]/v1",
        "http://[::1/v1",
        "/v1/chat/completions",
        "",
    ],
)
def test_is_loopback_false(url: str) -> None:
    """Other addresses, host names that merely look local, and unparsable URLs are not loopback."""
    assert not _guard.is_loopback(url)


def test_safe_url_drops_query_and_credentials() -> None:
    """The URL shown in the error carries neither a query (api-key=...) nor userinfo."""
    url = "https://user:sk-secret@gw.example.com:8443/v1/chat/completions?api-key=abc"
    assert _guard.safe_url(url) == "https://gw.example.com:8443/v1/chat/completions"


def test_guarded_installs_and_restores() -> None:
    """guarded() installs a guard (or None) for its block and restores the previous one."""
    seen: list[str] = []
    before = _guard.GUARD
    with _guard.guarded(seen.append):
        assert _guard.GUARD == seen.append
        with _guard.guarded(None):
            assert _guard.GUARD is None
        assert _guard.GUARD == seen.append
    assert _guard.GUARD is before


def test_error_is_a_user_error() -> None:
    """RealRequestBlockedError is a UserError (the test is wrong, not the model)."""
    assert issubclass(_guard.RealRequestBlockedError, UserError)


# -- the plugin, through the guard ----------------------------------------------------


def test_non_loopback_request_is_refused_naming_host_and_test(guard_tests: pytest.Pytester) -> None:
    """An unmarked test's request to a non-loopback host fails naming host, test and ways out."""
    result = guard_tests.runpytest("-k", "test_plain")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "RealRequestBlockedError: test_inner.py::test_plain sent a real model request to " in out
    assert f"api.mistral.ai ({MISTRAL})" in out
    assert (
        "mark the test @pytest.mark.vcr and run pytest --record-mode=once with the API key set"
        in out
    )
    assert "@pytest.mark.agentkit_allow_network" in out
    assert "add api.mistral.ai to the ini option agentkit_allow_hosts" in out
    assert "agentkit_block_network = false" in out


def test_loopback_requests_pass(guard_tests: pytest.Pytester) -> None:
    """Requests to localhost, 127.0.0.0/8 and ::1 pass the guard of an unmarked test."""
    guard_tests.runpytest("-k", "test_loopback").assert_outcomes(passed=1)


def test_allow_marker_lets_requests_through(guard_tests: pytest.Pytester) -> None:
    """agentkit_allow_network allows any host, or only the hosts it names, also on a class."""
    result = guard_tests.runpytest("-k", "allowed")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_inner.py::test_allowed_mistral_not_opper - *"])
    assert "sent a real model request to api.opper.ai" in result.stdout.str()


def test_ini_allow_hosts_lets_listed_hosts_through(guard_tests: pytest.Pytester) -> None:
    """Hosts listed in agentkit_allow_hosts (names, patterns, URLs or host:port) are allowed."""
    guard_tests.makeini(
        "[pytest]\nagentkit_allow_hosts =\n    API.Mistral.ai:443\n    *.opper.ai\n"
    )
    guard_tests.runpytest("-k", "test_plain or opper").assert_outcomes(passed=2)
    guard_tests.makeini("[pytest]\nagentkit_allow_hosts = https://api.mistral.ai/v1\n")
    guard_tests.runpytest("-k", "test_plain").assert_outcomes(passed=1)


def test_ini_allow_hosts_does_not_allow_other_hosts(guard_tests: pytest.Pytester) -> None:
    """agentkit_allow_hosts allows only what it lists: another host is still refused."""
    guard_tests.makeini("[pytest]\nagentkit_allow_hosts = api.opper.ai\n")
    result = guard_tests.runpytest("-k", "test_plain")
    result.assert_outcomes(failed=1)
    assert "sent a real model request to api.mistral.ai" in result.stdout.str()


def test_block_network_false_turns_the_guard_off(guard_tests: pytest.Pytester) -> None:
    """agentkit_block_network = false lets every test of the suite send real requests."""
    guard_tests.makeini("[pytest]\nagentkit_block_network = false\n")
    guard_tests.runpytest("-k", "test_plain or opper").assert_outcomes(passed=2)


def test_vcr_marked_test_is_not_guarded(guard_tests: pytest.Pytester) -> None:
    """A vcr-marked test runs with no guard installed: vcrpy decides about its requests."""
    guard_tests.runpytest("-k", "test_recording").assert_outcomes(passed=1)


def test_guard_is_removed_after_each_test(guard_tests: pytest.Pytester) -> None:
    """The guard lives only while a test runs: after the inner session the outer one is back."""
    before = _guard.GUARD
    guard_tests.runpytest("-k", "test_plain or test_recording").assert_outcomes(passed=1, failed=1)
    assert _guard.GUARD is before


def test_this_suite_is_guarded() -> None:
    """This repository's own tests run under the guard: an unmarked test may not reach Mistral."""
    guard = _guard.GUARD
    assert guard is not None
    with pytest.raises(_guard.RealRequestBlockedError) as caught:
        guard(MISTRAL + "?api-key=abc")
    assert caught.value.host == "api.mistral.ai"
    assert caught.value.url == MISTRAL
    assert "api-key" not in str(caught.value)
    assert "tests/test_plugin_guard.py::test_this_suite_is_guarded" in str(caught.value)


# -- the plugin, through a real OpenAIChatModel -----------------------------------------

MODEL_TESTS = """
import os

import pytest

from agentkit._guard import RealRequestBlockedError
from agentkit.messages import UserMessage
from agentkit.models.base import ModelRequest, complete
from agentkit.models.openai import OpenAIChatModel, RetryPolicy


def make_model():
    return OpenAIChatModel(
        "mistral-small-2506",
        base_url=os.environ["AK_BASE_URL"],
        api_key="x",
        retry=RetryPolicy(max_retries=0),
    )


@pytest.mark.anyio
async def test_model_unmarked():
    with pytest.raises(RealRequestBlockedError) as caught:
        await complete(make_model(), ModelRequest(messages=[UserMessage(content="Hi?")]))
    assert caught.value.host == "api.mistral.ai"


@pytest.mark.vcr
@pytest.mark.anyio
async def test_model_recorded():
    response = await complete(make_model(), ModelRequest(messages=[UserMessage(content="Hi?")]))
    assert response.message.content == "Hello."
"""


def test_real_model_request_is_refused_before_connecting(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NEEDS openai.py TO CALL _guard.GUARD: an unmarked OpenAIChatModel request to Mistral
    raises RealRequestBlockedError before any socket is opened."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_model=MODEL_TESTS)
    monkeypatch.setenv("AK_BASE_URL", "https://api.mistral.ai/v1")
    result = pytester.runpytest("-k", "test_model_unmarked")
    result.assert_outcomes(passed=1)


def test_real_model_request_replays_in_a_vcr_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A vcr-marked test replays its cassette of a request to Mistral; the guard stays out."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_model=MODEL_TESTS)
    # Record against a local server, then move the cassette's exchange to api.mistral.ai.
    with LocalModelServer(style="mistral", model="mistral-small-2506") as server:
        server.add(reply_text("Hello."))
        monkeypatch.setenv("AK_BASE_URL", server.base_url)
        recorded = pytester.runpytest("--record-mode=once", "-k", "test_model_recorded")
        recorded.assert_outcomes(passed=1)
        local = server.base_url.split("://", 1)[1].split("/", 1)[0]
    cassette = Path(pytester.path, "cassettes", "test_model", "test_model_recorded.yaml")
    data = cassette.read_text()
    assert local in data
    cassette.write_text(
        data.replace(f"http://{local}/v1", "https://api.mistral.ai/v1").replace(
            local, "api.mistral.ai"
        )
    )
    monkeypatch.setenv("AK_BASE_URL", "https://api.mistral.ai/v1")
    pytester.runpytest("-k", "test_model_recorded").assert_outcomes(passed=1)


@pytest.fixture(autouse=True)
def _restore_guard() -> Iterator[None]:
    """Each test here leaves the global guard as it found it."""
    before = _guard.GUARD
    yield
    assert _guard.GUARD is before
