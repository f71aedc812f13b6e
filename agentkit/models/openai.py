"""``OpenAIChatModel``: any OpenAI-compatible chat-completions server, in its own dialect.

agentkit encodes the request body itself (``agentkit.models.dialect``), sends it on an
``httpx2`` pool (``agentkit.models._transport``: one path, bounded retries, one error
table) and reads the raw response bytes once (``agentkit.models.parse``), so no SDK
model objects are built either way. The ``openai`` SDK supplies the defaults: the
pool's limits and timeouts, the headers, the auth.

The model owns what it opens, one pool per event loop: the first request on a loop
opens a pool, every later request and run on that loop shares it (one connection for
sequential runs, keep-alive permitting), and it is closed when the loop ends
(``asyncio.run``, ``anyio.run``, ``trio.run``, each ``run_sync``; see
``agentkit.models._loops``). ``async with model:`` (or ``async with agent:``) is an
explicit scope: its last exit closes the pool of the loop it runs on, as ``aclose()``
does (entries are counted across loops). Another
event loop (another thread) gets its own pool. An ``AsyncOpenAI`` or
``httpx2.AsyncClient`` you pass in is never closed by agentkit.
"""

from __future__ import annotations

import json
import os
import weakref
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import anyio.lowlevel

from agentkit import _guard
from agentkit._errors import (
    AuthenticationError,
    ConfigurationError,
    ContentFilteredError,
    MissingAPIKeyError,
    ModelAPIError,
    ModelStreamCutError,
    ModelTimeoutError,
)
from agentkit.models._clean import OutputCleaner, clean_response
from agentkit.models._loops import LoopBound, until_loop_ends
from agentkit.models._transport import Endpoint, RetryPolicy, send, sse_batches, transport_error
from agentkit.models.base import (
    ModelLifecycle,
    ModelProfile,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    ModelStreamEvent,
    TextDelta,
)
from agentkit.models.dialect import RequestEncoder, tool_choice_value
from agentkit.models.parse import (
    ResponseShapeError,
    StreamAccumulator,
    error_message,
    parse_response,
)
from agentkit.models.profiles import profile_for

if TYPE_CHECKING:
    import ssl

    import httpx2
    from openai import AsyncOpenAI

__all__ = ["OpenAIChatModel", "RetryPolicy", "check_base_url"]

_NO_KEY_NEEDED = "agentkit-no-key"
_DRAIN_LIMIT = 1 << 20
"""Bytes read past a malformed chunk so the stream ends whole (httpx2's default transport
leaves an inner iterator of a body abandoned mid-way to the garbage collector)."""


class OpenAIChatModel(ModelLifecycle):
    """A chat model on any OpenAI-compatible endpoint, spoken to in its profile's dialect.

    Its connections are shared by every run on an event loop and closed when the loop
    ends (or when ``async with model:`` ends, or by ``aclose()``); see the module docs.

    ``model`` is the name sent to the server. The profile comes from the model's family
    (``profile_for(model)``) unless given. The key is ``api_key``, else the environment
    variable ``api_key_env`` (default ``OPENAI_API_KEY``); a custom ``base_url`` with no
    key configured is sent without one (local servers).

    ``client``: an ``openai.AsyncOpenAI`` you configured; its base URL, key and default
    headers are used (its retries are not: agentkit's ``retry`` policy is). ``http_client``:
    an ``httpx2.AsyncClient`` to send on (your proxies, transports, limits). agentkit
    never closes either.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        client: AsyncOpenAI | None = None,
        http_client: httpx2.AsyncClient | None = None,
        profile: ModelProfile | None = None,
        settings: ModelSettings | None = None,
        api_key_env: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        if base_url is not None:
            check_base_url(base_url)
        elif client is None and os.environ.get("OPENAI_BASE_URL"):
            check_base_url(os.environ["OPENAI_BASE_URL"], source="OPENAI_BASE_URL")
        self._name = model
        self._profile = profile if profile is not None else profile_for(model)
        self._settings = settings if settings is not None else ModelSettings()
        self._base_url = base_url
        self._api_key = api_key
        self._api_key_env = api_key_env
        self._user_client = client
        self._user_http = http_client
        self._retry = retry if retry is not None else RetryPolicy()
        self._encoder = RequestEncoder(model, self._profile, self._settings)
        self._pools: dict[object, _Pool] = {}
        """The open pool of each event loop (by ``anyio.lowlevel.current_token()``)."""
        self._wire_cache: tuple[str | None, str, dict[str, str]] | None = None

    loop_scoped: ClassVar[bool] = True
    """Runs share this model's pool per event loop: a run does not hold it open."""

    # -- the Model protocol -------------------------------------------------------------

    @property
    def name(self) -> str:
        """The model's name as sent to the server."""
        return self._name

    @property
    def profile(self) -> ModelProfile:
        """Capabilities, limits, prices and dialect."""
        return self._profile

    @property
    def settings(self) -> ModelSettings:
        """This model's default settings (a request's settings override them)."""
        return self._settings

    @property
    def base_url(self) -> str:
        """The endpoint's base URL."""
        if self._base_url is not None:
            return self._base_url
        if self._user_client is not None:
            return str(self._user_client.base_url)
        return os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"

    @property
    def api_key_env(self) -> str:
        """The environment variable the API key is read from when none was passed."""
        return self._api_key_env or "OPENAI_API_KEY"

    def __repr__(self) -> str:
        return (
            f"OpenAIChatModel({self._name!r}, base_url={self.base_url!r}, "
            f"profile={self._profile.name!r})"
        )

    def stream(self, request: ModelRequest) -> AsyncGenerator[ModelStreamEvent, None]:
        """Send one request: deltas as they arrive (when ``request.stream``), then the
        ``ModelResponse``.

        A stream cut off before the model finished raises ``ModelStreamCutError``; it
        is not retried (deltas were already delivered). With ``stream_tool_requests``
        off in the profile, a request that offers tools is sent unstreamed. Where the
        profile asks for it, an empty answer carries a ``follow_up`` for the loop.

        The request goes out on this event loop's pool (opened by the first request on
        the loop, closed when the loop ends). (A plain method returning the generator
        that does the work: no generator in between for every delta to pass through.)
        """
        if request.stream and (not request.tools or self._profile.stream_tool_requests):
            return self._stream_sse(request)
        return self._whole(request)

    async def _whole(self, request: ModelRequest) -> AsyncGenerator[ModelStreamEvent, None]:
        yield await self._request_whole(request)

    async def _request_whole(self, request: ModelRequest) -> ModelResponse:
        body = self._encoder.encode(request)
        try:
            response = await self._send(body, False, self._timeout(request))
        except AuthenticationError as exc:
            block = self._guardrail_block(request, exc)
            if block is None:
                raise
            raise block from exc
        try:
            answer = parse_response(response.content, self._profile.price, self._profile.provider)
        except ResponseShapeError as exc:
            raise self._shape_error(exc, response.status_code, response.text) from None
        return self._with_follow_up(request, clean_response(answer, self._profile))

    async def aclose(self) -> None:
        """Close the HTTP pool this model opened on the current event loop (never a client
        you passed in). Pools of other event loops close when those loops end."""
        pool = self._pools.get(anyio.lowlevel.current_token())
        if pool is not None:
            await pool.bound.close()

    # -- streaming ------------------------------------------------------------------------

    async def _stream_sse(self, request: ModelRequest) -> AsyncGenerator[ModelStreamEvent, None]:
        body = self._encoder.encode(request, stream=True)
        try:
            response = await self._send(body, True, self._timeout(request))
        except AuthenticationError as exc:
            block = self._guardrail_block(request, exc)
            if block is None:
                raise
            raise block from exc
        acc = StreamAccumulator(self._profile.price, self._profile.provider)
        cleaner = OutputCleaner(self._profile)  # the profile's output cleaning, as text streams
        done = False
        failure: Exception | None = None
        drained = 0
        try:
            async with aclosing(sse_batches(response)) as batches:
                async for batch in batches:
                    for data in batch:
                        if failure is not None:  # a bad chunk: read on (bounded), then raise
                            drained += len(data)
                        elif data == b"[DONE]":
                            done = True  # read on to the end of the body: no half-read stream
                        elif not done:
                            try:
                                events = acc.feed(data)
                            except Exception as exc:
                                failure = exc
                                continue
                            for event in events:
                                if cleaner.active and isinstance(event, TextDelta):
                                    if text := cleaner.feed(event.text):
                                        yield TextDelta(text)
                                else:
                                    yield event
                    if drained > _DRAIN_LIMIT:
                        break
            if failure is not None:
                raise failure
        except ResponseShapeError as exc:
            raise self._shape_error(exc, response.status_code, None) from None
        except Exception as exc:
            raise self._stream_error(exc, acc) from None
        finally:
            if not response.is_closed:  # read to the end, the body has closed the response
                with anyio.CancelScope(shield=True):
                    await response.aclose()
        if not done and not acc.finished:
            raise ModelStreamCutError(
                f"The stream from {self._where()} ended after {acc.chunks} chunks, before the "
                "model finished (no finish_reason, no [DONE]). The server or a proxy cut it "
                "off; retry the run.",
                model_name=self._name,
            )
        if rest := cleaner.flush():
            yield TextDelta(rest)
        yield self._with_follow_up(request, clean_response(acc.response(), self._profile))

    def _with_follow_up(self, request: ModelRequest, response: ModelResponse) -> ModelResponse:
        """``response``, with the request to send next when the profile's quirk needs one:
        an empty answer to a request whose tools went with ``tool_choice: "auto"``."""
        profile = self._profile
        if not (profile.retry_text_without_tools or profile.retry_required_with_output_tool):
            return response
        tools = request.tools
        message = response.message
        if not tools or message.tool_calls or message.content:
            return response
        if tool_choice_value(request.tool_choice, tools, profile) != "auto":
            return response
        choice = request.tool_choice
        follow_up: ModelRequest | None = None
        if choice in (None, "auto"):
            if profile.retry_text_without_tools:
                follow_up = replace(request, tools=(), tool_choice=None)
        else:
            output = request.output
            if (
                choice in ("required", "any")
                and profile.retry_required_with_output_tool
                and profile.supports_named_tool_choice
                and output is not None
                and output.mode == "tool"
                and any(tool.name == output.name for tool in tools)
            ):
                follow_up = replace(request, tool_choice=output.name)
        return response if follow_up is None else replace(response, follow_up=follow_up)

    # -- transport ----------------------------------------------------------------------

    def _timeout(self, request: ModelRequest) -> float | None:
        timeout = request.settings.timeout
        return timeout if timeout is not None else self._settings.timeout

    def _where(self) -> str:
        return f"model {self._name!r} at {self.base_url}"

    async def _open(self) -> _Pool:
        """This event loop's pool: the one already open, or a new one, closed when the
        loop ends (or sooner, by ``aclose()``)."""
        token = anyio.lowlevel.current_token()
        pool = self._pools.get(token)
        if pool is not None:
            return pool
        from openai import DefaultAsyncHttpxClient

        http = self._user_http
        owned = http is None
        if http is None:
            # The SDK's defaults (limits, timeouts); the TLS context is shared.
            http = DefaultAsyncHttpxClient(verify=_ssl_context(self.base_url))
        url, headers = self._wire(http)
        pool = _Pool(http, url, headers, owned)
        # What closes the pool holds no reference to the model or the pool (see _loops).
        close = partial(_close_pool, weakref.ref(self), token, pool.marker, http if owned else None)
        pool.bound = await until_loop_ends(close)  # never suspends: no other task sees a gap
        self._pools[token] = pool
        return pool

    def _wire(self, http: httpx2.AsyncClient) -> tuple[str, dict[str, str]]:
        """The request URL and headers (the SDK's, auth included), built once per key."""
        client = self._user_client
        key = self._key() if client is None else None
        cached = self._wire_cache
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        if client is None:
            from openai import AsyncOpenAI

            # For the SDK's headers and auth only; it never sends (agentkit does, and retries).
            client = AsyncOpenAI(
                api_key=key, base_url=self._base_url, max_retries=0, http_client=http
            )
        # The SDK's headers, less its X-Stainless-* telemetry: it describes the SDK's own
        # sending (its runtime, sync or async, retry count), and agentkit sends instead.
        headers = {
            k: v
            for k, v in client.default_headers.items()
            if isinstance(v, str) and not k.lower().startswith("x-stainless-")
        }
        headers.update(client.auth_headers)
        url = f"{str(client.base_url).rstrip('/')}/chat/completions"
        if self._user_client is None:
            self._wire_cache = (key, url, headers)
        return url, headers

    def check_api_key(self) -> None:
        """Raise the ``ConfigurationError`` the first request would when no API key is
        configured (none passed, its variable unset); nothing otherwise. For a command or a
        server to fail when it starts, not at the first question."""
        if self._user_client is None:
            self._key()

    def _key(self) -> str:
        if self._api_key is not None:
            return self._api_key
        env = self.api_key_env
        key = os.environ.get(env)
        if key:
            return key
        if self._api_key_env is None and self._base_url is not None:
            return _NO_KEY_NEEDED
        raise MissingAPIKeyError(
            f"No API key for {self._where()}: set the environment variable {env} "
            "(or pass api_key=... to OpenAIChatModel).",
            model_name=self._name,
            variables=(env,),
        )

    def _endpoint(self) -> Endpoint:
        hint = (
            f"Check the API key in {self.api_key_env} (or the api_key passed in)"
            if self._user_client is None
            else "Check the API key of the client you passed in"
        )
        pool = self._pools.get(anyio.lowlevel.current_token())
        if pool is not None and pool.endpoint is not None:
            return pool.endpoint
        secrets = _secrets(pool.headers) if pool is not None else ()
        return Endpoint(self._name, self.base_url, hint, secrets)

    def _guardrail_block(
        self, request: ModelRequest, exc: AuthenticationError
    ) -> ContentFilteredError | None:
        """A 403 to a request that carried Mistral's guardrails is their block: the
        ``ContentFilteredError`` to raise, with Mistral's reason (Mistral answers a blocked
        request with 403); None for any other ``exc``. (Checked only on failure, so the
        request path pays no wrapper coroutine.)"""
        guardrails = self._settings.merged(request.settings).guardrails
        if exc.status_code != 403 or not guardrails or not self._profile.supports_guardrails:
            return None
        reason, _ = error_message(exc.body if isinstance(exc.body, str) else json.dumps(exc.body))
        return ContentFilteredError(
            f"Mistral's guardrails blocked the request to {self._where()} (403): {reason}. "
            "Its moderation scored the input past a MistralGuardrail threshold; nothing was "
            "generated. Change the input, or the MistralGuardrail's thresholds."
        )

    async def _send(self, body: bytes, stream: bool, limit: float | None) -> httpx2.Response:
        """POST the body (retrying what is worth retrying); the raw HTTP response."""
        pool = await self._open()
        guard = _guard.GUARD
        if guard is not None:
            guard(pool.url)
        http, url, headers = pool.http, pool.url, pool.headers
        prepared = pool.prepared

        def build(timeout: float | None) -> httpx2.Request:
            if prepared is not None and not http.cookies:  # merged once, not per request
                make, target, merged, default = prepared
                limits = default if timeout is None else _timeout_dict(timeout)
                return make(
                    "POST", target, headers=merged, content=body, extensions={"timeout": limits}
                )
            if timeout is None:
                return http.build_request("POST", url, headers=headers, content=body)
            return http.build_request("POST", url, headers=headers, content=body, timeout=timeout)

        endpoint = pool.endpoint
        if endpoint is None:
            endpoint = pool.endpoint = self._endpoint()
        return await send(http, build, endpoint, self._retry, stream=stream, limit=limit)

    def _shape_error(self, exc: ResponseShapeError, status: int, text: str | None) -> ModelAPIError:
        redact = self._endpoint().redact  # the server's text may repeat the key
        return ModelAPIError(
            f"{self._where()} answered {status}, but not with a chat completion: "
            f"{redact(str(exc))}.",
            status_code=status,
            body=redact(text[:2000]) if text is not None else None,
            model_name=self._name,
        )

    def _stream_error(self, exc: Exception, acc: StreamAccumulator) -> ModelAPIError:
        error = transport_error(self._endpoint(), exc, 1)
        if error is None:
            raise exc
        where = f"The stream from {self._where()}"
        if isinstance(error, ModelTimeoutError):
            return ModelTimeoutError(
                f"{where} stalled after {acc.chunks} chunks (read timeout). "
                "Raise ModelSettings(timeout=...) or retry the run.",
                model_name=self._name,
            )
        return ModelStreamCutError(
            f"{where} was cut off after {acc.chunks} chunks: {type(exc).__name__}: {exc}. "
            "Retry the run.",
            model_name=self._name,
        )


_AUTH_HEADERS = frozenset({"authorization", "api-key", "x-api-key"})


def _secrets(headers: dict[str, str]) -> tuple[str, ...]:
    """The credentials in the request headers (the key of ``Bearer <key>``)."""
    found = []
    for name, value in headers.items():
        if name.lower() in _AUTH_HEADERS:
            value = value.removeprefix("Bearer ").strip()
            if len(value) >= 6 and value != _NO_KEY_NEEDED:
                found.append(value)
    return tuple(found)


class _Pool:
    """An open HTTP pool of one event loop, the request URL and headers, and what closes
    it when the loop ends."""

    __slots__ = ("bound", "endpoint", "headers", "http", "marker", "owned", "prepared", "url")

    bound: LoopBound

    def __init__(
        self,
        http: httpx2.AsyncClient,
        url: str,
        headers: dict[str, str],
        owned: bool,
    ) -> None:
        self.http = http
        self.url = url
        self.headers = headers
        self.owned = owned
        self.marker = object()
        """Tells this pool from a later one of the same loop."""
        self.endpoint: Endpoint | None = None
        self.prepared: (
            tuple[type[httpx2.Request], httpx2.URL, httpx2.Headers, dict[str, Any]] | None
        ) = None
        """For agentkit's own client (no base URL or hooks of a user's): the URL, the
        client's headers merged with these, and its timeout, as a request built by
        ``build_request`` would have them. Once a server has set a cookie, requests go
        through ``build_request`` again, which sends it back."""
        if owned:
            import httpx2  # loaded with the pool (the SDK's client is built on it)

            merged = httpx2.Headers(http.headers)
            merged.update(headers)
            self.prepared = (httpx2.Request, httpx2.URL(url), merged, http.timeout.as_dict())


async def _close_pool(
    model: weakref.ref[OpenAIChatModel],
    token: object,
    marker: object,
    http: httpx2.AsyncClient | None,
) -> None:
    """Forget the pool of ``token``'s event loop (if the model still has it) and close
    ``http`` (agentkit's own client; never a user's)."""
    owner = model()
    if owner is not None:
        pool = owner._pools.get(token)
        if pool is not None and pool.marker is marker:
            del owner._pools[token]
    if http is not None:
        await http.aclose()


def _timeout_dict(timeout: float) -> dict[str, Any]:
    import httpx2

    return httpx2.Timeout(timeout).as_dict()


_SSL_CONTEXTS: dict[bool, ssl.SSLContext] = {}


def check_base_url(url: str, *, source: str = "base_url") -> str:
    """``url`` if it is an http(s) URL with a host; else a ``ConfigurationError`` that says
    how to write it (raised before any request, never retried as a connection failure)."""
    from urllib.parse import urlsplit

    text = url.strip()
    # Shown without a key in its userinfo or query (no scheme: "host:port/v1" as written).
    shown = _guard.safe_url(text) if "://" in text else text.split("?", 1)[0].rpartition("@")[2]
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError as exc:
        raise ConfigurationError(f"{source} {shown!r} is not a URL ({exc}).") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        example = f"http://{shown}" if "://" not in text else "http://127.0.0.1:8080/v1"
        raise ConfigurationError(
            f"{source} {shown!r} is not an http(s) URL with a host: write it in full, "
            f"with its scheme, such as {example}"
        )
    return text


def _ssl_context(base_url: str) -> ssl.SSLContext:
    """One TLS context per process, shared by every client (loading CAs costs ~40 ms).

    Plain-http endpoints (local servers) get a verifying context with no CAs loaded:
    free to make, and a redirect to https fails closed instead of going unverified.
    """
    secure = not base_url.startswith("http://")
    ctx = _SSL_CONTEXTS.get(secure)
    if ctx is None:
        if secure:
            import httpx2

            ctx = httpx2.create_ssl_context()
        else:
            import ssl

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        _SSL_CONTEXTS[secure] = ctx
    return ctx
