"""What keeps browsers from using ``agentkit serve`` behind its user's back.

Two attacks need nothing but a web page the user happens to open:

* **Cross-site requests.** A page on any other origin (another port of 127.0.0.1
  included) can ``fetch`` a POST with ``Content-Type: text/plain`` without a CORS
  preflight; the browser sends it, and the agent runs its tools. So every ``POST`` must
  be ``application/json`` (which a cross-site page cannot send without a preflight),
  and a request whose ``Origin`` (or, without one, ``Sec-Fetch-Site``) says it comes
  from another origin is refused, unless that origin was allowed (``allow_origins``);
  allowed origins then get proper CORS answers, preflight included (Starlette's
  ``CORSMiddleware``).
* **DNS rebinding.** A page on ``evil.example`` whose name is then pointed at 127.0.0.1
  talks to the server as its own origin. Its requests carry ``Host: evil.example``, so
  a server without a token (which can only be bound to loopback) answers only requests
  addressed to a loopback name or address, or to a name in ``allow_hosts``. A server
  with a token is safe from this already: the page cannot know the token.

Refusals are 403 (415 for a wrong content type) in OpenAI's error shape, with what to do.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from agentkit._errors import loopback_host

__all__ = ["BrowserGuard", "is_loopback_name"]

_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_loopback_name(host: str) -> bool:
    """Whether ``host`` (no port) is ``localhost``, a ``*.localhost`` name or a loopback address."""
    host = host.strip().lower().rstrip(".")
    return host.endswith(".localhost") or loopback_host(host.strip("[]"))


def _host_name(value: str) -> str:
    """The name in a ``Host`` header, without its port (``[::1]:8000`` -> ``::1``)."""
    value = value.strip()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class BrowserGuard:
    """An ASGI middleware refusing cross-site and rebound requests (see the module doc).

    ``check_host`` turns on the ``Host`` check (the app does it when it has no token);
    ``allow_hosts`` names added to loopback; ``allow_origins`` are origins
    (``https://app.example.com``) whose pages may call the server, with CORS.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        allow_origins: Sequence[str] = (),
        allow_hosts: Sequence[str] = (),
        check_host: bool = True,
    ) -> None:
        self.origins = frozenset(o.strip().rstrip("/").lower() for o in allow_origins)
        self.hosts = frozenset(h.strip().lower().rstrip(".") for h in allow_hosts)
        self.check_host = check_host
        self.app: ASGIApp = app
        if self.origins:
            from starlette.middleware.cors import CORSMiddleware

            self.app = CORSMiddleware(
                app,
                allow_origins=sorted(self.origins),
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["authorization", "content-type"],
                max_age=600,
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            status, code, message = refusal
            await _refuse(send, status, code, message)
            return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str, str] | None:
        host = headers.get("host", "")
        if self.check_host and host and not self._host_ok(_host_name(host)):
            return (
                403,
                "host_not_allowed",
                f"Refused: this request was addressed to {host!r}, not to this machine's "
                "loopback address. A page that rebinds its name to 127.0.0.1 sends exactly "
                "that. If you reach this server by that name on purpose (a proxy, a "
                "container), start it with --allow-host NAME (or serve it with a token).",
            )
        origin = headers.get("origin")
        if origin is not None:
            if not self._origin_ok(origin.strip().rstrip("/").lower(), scope, host):
                return (
                    403,
                    "origin_not_allowed",
                    f"Refused: a page on {origin!r} sent this request, and this server takes "
                    "requests only from its own pages. To let a web app on that origin call "
                    "it, start the server with --allow-origin ORIGIN.",
                )
        elif headers.get("sec-fetch-site", "none") not in ("same-origin", "none"):
            return (
                403,
                "origin_not_allowed",
                "Refused: the browser says this request came from another site, and this "
                "server takes requests only from its own pages (see --allow-origin).",
            )
        if scope["method"] in _STATE_CHANGING:
            media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if media != "application/json":
                return (
                    415,
                    "unsupported_media_type",
                    f"This endpoint takes a JSON body: send it with 'Content-Type: "
                    f"application/json' (this request said {media or 'no content type'!r}).",
                )
        return None

    def _host_ok(self, name: str) -> bool:
        name = name.lower().rstrip(".")
        return name in self.hosts or is_loopback_name(name)

    def _origin_ok(self, origin: str, scope: Scope, host: str) -> bool:
        if origin in self.origins:
            return True
        scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
        return bool(host) and origin == f"{scheme}://{host.strip().lower()}"


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps(
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": code,
            }
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-should-retry", b"false"),
                (b"vary", b"Origin"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
