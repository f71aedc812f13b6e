"""``agentkit serve``: any agent as a local web chat and an OpenAI-compatible API.

::

    agentkit serve app.py:agent                  # http://127.0.0.1:8000
    app = agent.to_asgi()                        # the same app, for any ASGI server

``GET /`` is a chat page (one self-contained HTML file: no CDN, no build step) that
shows what it waits for, streams answers and tool calls, draws a structured output as
fields, shows usage per turn (in the CLI's words) and asks Approve / Deny for
tool calls that need approval. ``POST /v1/chat/completions`` and ``GET /v1/models``
speak the OpenAI API, so any OpenAI client or chat UI can use the agent. ``POST /ag-ui``
(AG-UI events, for CopilotKit and ``@ag-ui/client``) and ``POST /ai-sdk/chat`` (the
Vercel AI SDK's UI message stream, for ``useChat``) serve front-end frameworks.

It binds to 127.0.0.1 by default; any other host needs a token (``token=`` or
``AGENTKIT_SERVE_TOKEN``), then checked on every request. Browsers cannot use it behind
their user's back: ``POST`` takes only ``application/json``, pages on other origins are
refused unless allowed (``allow_origins``, with CORS), and without a token only requests
addressed to a loopback name are answered (``allow_hosts`` adds names), which stops DNS
rebinding. Needs the ``web`` extra (Starlette and uvicorn), imported only when a server
is made.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Self

from agentkit._errors import ConfigurationError, loopback_host

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from agentkit.agent import Agent
    from agentkit.models.base import Model
    from agentkit.serve._store import SessionsOption

__all__ = [
    "TOKEN_VARIABLE",
    "BackgroundServer",
    "check_bind",
    "create_app",
    "require_token",
    "serve",
]

TOKEN_VARIABLE = "AGENTKIT_SERVE_TOKEN"
"""The environment variable a token is read from when none is given."""


def create_app(
    agent: Agent[Any, Any],
    *,
    model: Model | str | None = None,
    token: str | None = None,
    max_body_bytes: int | None = None,
    allow_origins: Sequence[str] = (),
    allow_hosts: Sequence[str] = (),
    sessions: SessionsOption = None,
    local_model: bool = False,
    forget_after: float | None = None,
) -> ASGIApp:
    """The ASGI app serving ``agent``: the chat page, its event stream and the OpenAI API.

    ``model`` overrides the agent's model for every run; with ``token`` set, every request
    must carry it (``Authorization: Bearer <token>``); bodies over ``max_body_bytes``
    (default 1 MB) are refused with 413. Pages on ``allow_origins``
    (``"https://app.example.com"``) may call it; without a token, it answers requests
    addressed to loopback names and ``allow_hosts`` only. ``sessions`` keeps the
    conversations: in memory by default, or a SQLite path, a ``postgresql://`` URL, or a
    function from a conversation id to a ``Session`` (see ``agentkit.serve._store``).
    ``forget_after`` (seconds) forgets conversations idle that long (never one in use).
    ``local_model`` says the model runs on this machine (the embedded model): the page's
    usage line then says its cost is $0, as the ``agentkit`` command does.
    """
    try:
        from agentkit.serve._app import DEFAULT_MAX_BODY_BYTES
        from agentkit.serve._app import create_app as make
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("starlette", "uvicorn"):
            raise ConfigurationError(
                "agentkit serve needs Starlette and uvicorn, which are not installed. "
                "Install the web extra: pip install -e '.[web]' in the agentkit clone"
            ) from None
        raise
    limit = DEFAULT_MAX_BODY_BYTES if max_body_bytes is None else max_body_bytes
    return make(
        agent,
        model=model,
        token=token,
        max_body_bytes=limit,
        allow_origins=allow_origins,
        allow_hosts=allow_hosts,
        sessions=sessions,
        local_model=local_model,
        forget_after=forget_after,
    )


def _is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    return loopback_host(host.strip().lower().strip("[]"))


def check_bind(host: str, token: str | None) -> str | None:
    """The token to use for binding ``host`` (``token``, else ``AGENTKIT_SERVE_TOKEN``);
    raises ``ConfigurationError`` for a non-loopback host without one."""
    token = token or os.environ.get(TOKEN_VARIABLE) or None
    if token is None and not _is_loopback(host):
        raise ConfigurationError(
            f"Refusing to serve on {host}: that address is reachable from other machines, and "
            "no token is set, so anyone there could use the agent (and its model key). Set a "
            f"token with --token or {TOKEN_VARIABLE}, or serve on 127.0.0.1 (the default)."
        )
    return token


def require_token(app: ASGIApp, token: str) -> ASGIApp:
    """``app`` behind the token check ``create_app(token=...)`` uses: any HTTP request
    without ``Authorization: Bearer <token>`` gets 401 (``agentkit mcp --http`` uses it)."""
    from agentkit.serve._app import _TokenCheck

    return _TokenCheck(app, token)


def _uvicorn_server(app: ASGIApp) -> Any:
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    return uvicorn.Server(config)


def serve(
    agent: Agent[Any, Any],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    model: Model | str | None = None,
    allow_origins: Sequence[str] = (),
    allow_hosts: Sequence[str] = (),
    sessions: SessionsOption = None,
    local_model: bool = False,
    forget_after: float | None = None,
) -> None:
    """Serve ``agent`` with uvicorn until interrupted (what ``agentkit serve`` runs)."""
    token = check_bind(host, token)
    app = create_app(
        agent,
        model=model,
        token=token,
        allow_origins=allow_origins,
        allow_hosts=allow_hosts,
        sessions=sessions,
        local_model=local_model,
        forget_after=forget_after,
    )
    server = _uvicorn_server(app)
    server.config.host, server.config.port = host, port
    server.run()


class BackgroundServer:
    """``agent`` served by uvicorn in a background thread, for tests and notebooks::

        with BackgroundServer(agent) as server:
            client = OpenAI(base_url=server.url + "/v1", api_key="unused")

    It binds 127.0.0.1 on a free port unless told otherwise; leaving the block stops
    the server (the agent's connections are closed by the app's shutdown).
    """

    def __init__(
        self,
        agent: Agent[Any, Any],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        model: Model | str | None = None,
        allow_origins: Sequence[str] = (),
        allow_hosts: Sequence[str] = (),
        sessions: SessionsOption = None,
        local_model: bool = False,
        forget_after: float | None = None,
    ) -> None:
        self.token = check_bind(host, token)
        self.host = host
        self._port = port
        self._app = create_app(
            agent,
            model=model,
            token=self.token,
            allow_origins=allow_origins,
            allow_hosts=allow_hosts,
            sessions=sessions,
            local_model=local_model,
            forget_after=forget_after,
        )
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port = 0
        """The bound port (set once started)."""

    @property
    def url(self) -> str:
        """``http://host:port`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> Self:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        self._socket = sock
        self.port = sock.getsockname()[1]
        server = self._server = _uvicorn_server(self._app)
        thread = self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        thread.start()
        started = threading.Event()
        while not server.started and thread.is_alive():
            started.wait(0.01)
        if not server.started:
            self.__exit__()
            raise RuntimeError(f"the server on {self.url} did not start (see its log above)")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
