"""The request guard: one hook every real model request passes before it is sent.

``GUARD`` is ``None`` (the default: nothing is checked) or a callable that the model
calls with the full URL of each HTTP request it is about to send, before any
connection is opened. A guard refuses a request by raising, normally
``RealRequestBlockedError``. agentkit's pytest plugin installs one per test so that a
test never reaches a real model by accident (see ``agentkit.testing.pytest_plugin``).

The model reads the global once per request::

    guard = _guard.GUARD
    if guard is not None:
        guard(url)

This module imports nothing from agentkit but the error tree, so the model layer and
the pytest plugin can both use it cheaply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from agentkit._errors import UserError, loopback_host

__all__ = [
    "GUARD",
    "Guard",
    "RealRequestBlockedError",
    "guarded",
    "host_of",
    "is_loopback",
    "safe_url",
]

Guard = Callable[[str], None]
"""A guard: called with a request's full URL; raises to refuse the request."""

GUARD: Guard | None = None
"""The guard every model request passes, or ``None`` (no check). Set it with ``guarded``."""


class RealRequestBlockedError(UserError):
    """A real model request was refused by the request guard (in tests: the pytest plugin).

    ``.url`` is the request's URL without its query or credentials, ``.host`` its host.
    """

    def __init__(self, message: str, *, url: str, host: str) -> None:
        super().__init__(message)
        self.url = url
        self.host = host


@contextmanager
def guarded(guard: Guard | None) -> Iterator[None]:
    """Install ``guard`` (``None``: none) for the ``with`` block, then restore the previous one."""
    global GUARD
    previous = GUARD
    GUARD = guard
    try:
        yield
    finally:
        GUARD = previous


def host_of(url: str) -> str:
    """The URL's host, lower-cased and without brackets, port or credentials ("" if none)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:  # a malformed netloc, e.g. an unclosed "[" of an IPv6 address
        return ""


def is_loopback(url: str) -> bool:
    """Whether the URL's host is this machine: ``localhost``, 127.0.0.0/8 or ``::1``.

    Any other host name is not loopback, even one that resolves to 127.0.0.1: the
    check never touches DNS. A URL that cannot be parsed is not loopback.
    """
    return loopback_host(host_of(url))


def safe_url(url: str) -> str:
    """The URL reduced to scheme, host, port and path, so no key in a query or userinfo shows."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
    except ValueError:
        scheme, sep, rest = url.split("?", 1)[0].partition("://")
        return scheme + sep + rest.rpartition("@")[2] if sep else url.split("?", 1)[0]
    return f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else f"{netloc}{parts.path}"
