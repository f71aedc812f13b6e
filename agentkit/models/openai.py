"""``OpenAIChatModel``: any OpenAI-compatible chat-completions server, in its own dialect.

The ``openai`` SDK's ``AsyncOpenAI`` holds the endpoint, auth and headers. agentkit
encodes the request body itself (``agentkit.models.dialect``) and reads the raw
response bytes once (``agentkit.models.parse``), so no SDK model objects are built
either way. For the client agentkit makes, the prepared request goes straight to that
client's HTTP pool (same URL, body and headers as the SDK's ``post`` would send, without
its per-request option models and copies); a client you pass in is used through its
public low-level ``post``.
Retries are agentkit's (the SDK's are turned off per request): 408/409/429/5xx,
timeouts and connection failures are retried with exponential backoff that honours
``Retry-After``, bounded by ``RetryPolicy`` in count and in total waiting time.
No ``openai`` exception ever escapes: every failure is an ``agentkit`` error that
carries the status code, the body and the server's own message.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast

import anyio
import anyio.lowlevel

from agentkit._errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ModelAPIError,
    ModelConnectionError,
    ModelHTTPError,
    ModelNotFoundError,
    ModelTimeoutError,
    RateLimitError,
    ServerError,
)
from agentkit.models.base import (
    ModelProfile,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    ModelStreamEvent,
    TextDelta,
    ToolCallDelta,
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

__all__ = ["OpenAIChatModel", "RetryPolicy"]

_RETRY_STATUSES = frozenset({408, 409, 429})
_NO_KEY_NEEDED = "agentkit-no-key"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How failed requests are retried: bounded in count and in total waiting time.

    Retried: 408, 409, 429 and 5xx answers, timeouts and connection failures. The wait
    before retry ``n`` (0-based) is ``initial_delay * 2**n`` (at most ``max_delay``,
    with jitter), or exactly what the server's ``Retry-After`` asks. A ``Retry-After``
    longer than ``max_delay``, or a wait that would take the total past
    ``max_total_wait``, ends the retries at once.
    """

    max_retries: int = 3
    initial_delay: float = 0.5
    max_delay: float = 30.0
    max_total_wait: float = 60.0

    def backoff(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (0-based) when the server gave none."""
        base: float = min(self.max_delay, self.initial_delay * (2.0**attempt))
        return base * (0.75 + 0.25 * random.random())


class OpenAIChatModel:
    """A chat model on any OpenAI-compatible endpoint, spoken to in its profile's dialect.

    ``model`` is the name sent to the server. The profile comes from the model's family
    (``profile_for(model)``) unless given. The key is ``api_key``, else the environment
    variable ``api_key_env`` (default ``OPENAI_API_KEY``); a custom ``base_url`` with no
    key configured is sent without one (local servers). Pass ``client`` to reuse an
    ``openai.AsyncOpenAI`` you configured yourself.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        client: AsyncOpenAI | None = None,
        profile: ModelProfile | None = None,
        settings: ModelSettings | None = None,
        api_key_env: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._name = model
        self._profile = profile if profile is not None else profile_for(model)
        self._settings = settings if settings is not None else ModelSettings()
        self._base_url = base_url
        self._api_key = api_key
        self._api_key_env = api_key_env
        self._user_client = client
        self._retry = retry if retry is not None else RetryPolicy()
        self._encoder = RequestEncoder(model, self._profile, self._settings)
        self._client: AsyncOpenAI | None = None
        self._client_token: object = None
        self._direct: _Direct | None = None
        self._post_options: dict[str, Any] = {"max_retries": 0}

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

    async def request(self, request: ModelRequest) -> ModelResponse:
        """Send one request and return the complete answer.

        Where the profile asks for it (``retry_text_without_tools``,
        ``retry_required_with_output_tool``), an empty answer to a request whose tools
        went with ``tool_choice: "auto"`` is asked again once; the usage adds up.
        """
        response = await self._request_once(request)
        again = self._ask_again(request, response)
        if again is None:
            return response
        second = await self._request_once(again)
        return replace(second, usage=response.usage + second.usage)

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        """Send one request streamed: deltas as they arrive, then the ``ModelResponse``.

        A stream cut off before the model finished raises ``ModelConnectionError``; it
        is not retried (deltas were already delivered). With ``stream_tool_requests``
        off in the profile, a request that offers tools is sent unstreamed and its
        answer replayed as deltas. An empty answer is asked again as in ``request()``.
        """
        profile = self._profile
        if request.tools and not profile.stream_tool_requests:
            return self._stream_whole(request)
        if profile.retry_text_without_tools or profile.retry_required_with_output_tool:
            return self._stream_asking_again(request)
        return self._stream_once(request)

    async def _stream_whole(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        """The answer to an unstreamed request, replayed as deltas."""
        response = await self.request(request)
        message = response.message
        if message.content:
            yield TextDelta(message.content)
        for index, call in enumerate(message.tool_calls):
            yield ToolCallDelta(index=index, id=call.id, name=call.name)
            yield ToolCallDelta(index=index, arguments=call.arguments)
        yield response

    async def _stream_asking_again(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        """A streamed request, streamed once more where ``_ask_again`` says so."""
        first: ModelResponse | None = None
        async with aclosing(self._stream_once(request)) as events:
            async for event in events:
                if isinstance(event, ModelResponse):
                    first = event
                else:
                    yield event
        assert first is not None, "a stream always ends with its response"
        again = self._ask_again(request, first)
        if again is None:
            yield first
            return
        async with aclosing(self._stream_once(again)) as events:
            async for event in events:
                if isinstance(event, ModelResponse):
                    event = replace(event, usage=first.usage + event.usage)
                yield event

    async def _request_once(self, request: ModelRequest) -> ModelResponse:
        body = self._encoder.encode(request)
        response = await self._send(body, False, self._timeout(request))
        try:
            return parse_response(response.content, self._profile.price)
        except ResponseShapeError as exc:
            raise self._shape_error(exc, response.status_code, response.text) from None

    def _ask_again(self, request: ModelRequest, response: ModelResponse) -> ModelRequest | None:
        """The request to send again when the answer under ``"auto"`` came back empty."""
        profile = self._profile
        if not (profile.retry_text_without_tools or profile.retry_required_with_output_tool):
            return None
        tools = request.tools
        message = response.message
        if not tools or message.tool_calls or message.content:
            return None
        if tool_choice_value(request.tool_choice, tools, profile) != "auto":
            return None
        choice = request.tool_choice
        if choice in (None, "auto"):
            if profile.retry_text_without_tools:
                return replace(request, tools=(), tool_choice=None)
            return None
        output = request.output
        if (
            choice in ("required", "any")
            and profile.retry_required_with_output_tool
            and profile.supports_named_tool_choice
            and output is not None
            and output.mode == "tool"
            and any(tool.name == output.name for tool in tools)
        ):
            return replace(request, tool_choice=output.name)
        return None

    async def _stream_once(self, request: ModelRequest) -> AsyncGenerator[ModelStreamEvent, None]:
        body = self._encoder.encode(request, stream=True)
        response = await self._send(body, True, self._timeout(request))
        acc = StreamAccumulator(self._profile.price)
        done = False
        try:
            async for data in _sse_data(response):
                if data == b"[DONE]":
                    done = True
                    break
                for event in acc.feed(data):
                    yield event
        except ResponseShapeError as exc:
            raise self._shape_error(exc, response.status_code, None) from None
        except Exception as exc:
            raise self._stream_error(exc, acc) from None
        finally:
            with anyio.CancelScope(shield=True):
                await response.aclose()
        if not done and not acc.finished:
            raise ModelConnectionError(
                f"The stream from {self._where()} ended after {acc.chunks} chunks, before the "
                "model finished (no finish_reason, no [DONE]). The server or a proxy cut it "
                "off; retry the run.",
                model_name=self._name,
            )
        yield acc.response()

    async def aclose(self) -> None:
        """Close the HTTP client this model created (not one you passed in)."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    # -- transport ----------------------------------------------------------------------

    def _timeout(self, request: ModelRequest) -> float | None:
        timeout = request.settings.timeout
        return timeout if timeout is not None else self._settings.timeout

    def _where(self) -> str:
        return f"model {self._name!r} at {self.base_url}"

    def _get_client(self) -> AsyncOpenAI:
        if self._user_client is not None:
            return self._user_client
        token = anyio.lowlevel.current_token()
        client = self._client
        if client is not None and self._client_token == token:
            return client
        # First use, or a new event loop (run_sync): the old pool belongs to the old loop and
        # is dropped. A plain DefaultAsyncHttpxClient (the SDK's defaults) rather than the SDK's
        # own wrapper, whose finalizer would schedule a close of the old loop's sockets on
        # whatever loop is running when it is collected.
        from openai import AsyncOpenAI, DefaultAsyncHttpxClient

        http = DefaultAsyncHttpxClient(verify=_ssl_context(self.base_url))
        client = AsyncOpenAI(
            api_key=self._key(),
            base_url=self._base_url,
            max_retries=0,
            http_client=http,
        )
        # The client we made ourselves: its URL and headers (the SDK's, auth included)
        # are fixed, so requests go straight to its HTTP pool, skipping the SDK's
        # per-request option models, header merging and copies (a third of the CPU).
        headers = {k: v for k, v in client.default_headers.items() if isinstance(v, str)}
        headers.update(client.auth_headers)
        self._direct = _Direct(http, f"{client.base_url}chat/completions", headers)
        self._client = client
        self._client_token = token
        return client

    def _key(self) -> str:
        if self._api_key is not None:
            return self._api_key
        env = self.api_key_env
        key = os.environ.get(env)
        if key:
            return key
        if self._api_key_env is None and self._base_url is not None:
            return _NO_KEY_NEEDED
        raise ConfigurationError(
            f"No API key for {self._where()}: set the environment variable {env} "
            "(or pass api_key=... to OpenAIChatModel)."
        )

    async def _send(self, body: bytes, stream: bool, limit: float | None) -> httpx2.Response:
        """POST the body, retrying what is worth retrying; the raw HTTP response.

        ``limit`` bounds the whole exchange, retries' waits included (until the
        response headers, for a stream).
        """
        import httpx2

        post = cast(Any, self._get_client()).post
        direct = self._direct if self._user_client is None else None
        if direct is not None:
            post = direct.post
        policy = self._retry
        deadline = None if limit is None else time.monotonic() + limit
        options = self._post_options
        attempt = 0
        waited = 0.0
        while True:
            try:
                if deadline is None:
                    response: httpx2.Response = await post(
                        "/chat/completions",
                        cast_to=httpx2.Response,
                        content=body,
                        options=options,
                        stream=stream,
                    )
                    return response
                remaining = deadline - time.monotonic()
                with anyio.fail_after(max(remaining, 0.0)):
                    response = await post(
                        "/chat/completions",
                        cast_to=httpx2.Response,
                        content=body,
                        options={**options, "timeout": max(remaining, 0.001)},
                        stream=stream,
                    )
                    return response
            except TimeoutError:
                raise ModelTimeoutError(
                    f"{self._where()} did not answer within the timeout of {limit} s "
                    f"(after {attempt + 1} attempt(s)). Raise ModelSettings(timeout=...) "
                    "or retry later.",
                    model_name=self._name,
                ) from None
            except Exception as exc:
                error, retryable, retry_after = self._map_error(exc, attempt + 1)
                if not retryable or attempt >= policy.max_retries:
                    raise error from None
                if retry_after is not None:
                    if retry_after > policy.max_delay:
                        error.message += (
                            f" The server asked to retry after {retry_after:g} s, longer than "
                            f"RetryPolicy.max_delay={policy.max_delay:g} s: not retried."
                        )
                        error.args = (error.message,)
                        raise error from None
                    delay = max(retry_after, 0.0)
                else:
                    delay = policy.backoff(attempt)
                if waited + delay > policy.max_total_wait or (
                    deadline is not None and time.monotonic() + delay > deadline
                ):
                    raise error from None
                await anyio.sleep(delay)
                waited += delay
                attempt += 1

    def _map_error(self, exc: Exception, attempts: int) -> tuple[ModelAPIError, bool, float | None]:
        """The agentkit error for an SDK failure, whether to retry, and the server's wait."""
        import openai

        where = self._where()
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        response: httpx2.Response | None = None
        if isinstance(exc, openai.APIStatusError | _StatusError):
            response = exc.response
        if response is not None:
            status = response.status_code
            message, body = error_message(response.text)
            common: dict[str, Any] = {"status_code": status, "body": body, "model_name": self._name}
            retry_after = _retry_after(response.headers)
            if status in (400, 422):
                return (
                    BadRequestError(
                        f"{where} rejected the request ({status}): {message}", **common
                    ),
                    False,
                    None,
                )
            if status in (401, 403):
                env = self.api_key_env
                hint = (
                    f"Check the API key in {env} (or the api_key passed in)"
                    if self._user_client is None
                    else "Check the API key of the client you passed in"
                )
                return (
                    AuthenticationError(
                        f"{where} refused the API key ({status}): {message}. {hint}.", **common
                    ),
                    False,
                    None,
                )
            if status == 404:
                return (
                    ModelNotFoundError(
                        f"{where} answered 404: {message}. Check the model name "
                        f"{self._name!r} and the base URL {self.base_url!r}.",
                        **common,
                    ),
                    False,
                    None,
                )
            if status == 429:
                return (
                    RateLimitError(f"{where} is rate limiting (429){tries}: {message}", **common),
                    True,
                    retry_after,
                )
            if status >= 500:
                return (
                    ServerError(f"{where} failed ({status}){tries}: {message}", **common),
                    True,
                    retry_after,
                )
            return (
                ModelHTTPError(f"{where} answered {status}{tries}: {message}", **common),
                status in _RETRY_STATUSES,
                retry_after,
            )
        if isinstance(exc, openai.APITimeoutError | _timeout_error_type()):
            return (
                ModelTimeoutError(
                    f"{where} timed out{tries}. Raise ModelSettings(timeout=...) or retry later.",
                    model_name=self._name,
                ),
                True,
                None,
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            return (
                ModelConnectionError(
                    f"Could not get an answer from {where}{tries}: {type(cause).__name__}: "
                    f"{cause}. Check the base URL and that the server is running.",
                    model_name=self._name,
                ),
                True,
                None,
            )
        if isinstance(exc, openai.OpenAIError):
            return (
                ModelAPIError(
                    f"{where} failed: {type(exc).__name__}: {exc}", model_name=self._name
                ),
                False,
                None,
            )
        if _is_transport_error(exc):
            # A transport error the SDK did not wrap (a patched transport, e.g. a recorder).
            return (
                ModelConnectionError(
                    f"Could not get an answer from {where}{tries}: {type(exc).__name__}: {exc}. "
                    "Check the base URL and that the server is running.",
                    model_name=self._name,
                ),
                True,
                None,
            )
        raise exc

    def _shape_error(self, exc: ResponseShapeError, status: int, text: str | None) -> ModelAPIError:
        return ModelAPIError(
            f"{self._where()} answered {status}, but not with a chat completion: {exc}.",
            status_code=status,
            body=text[:2000] if text is not None else None,
            model_name=self._name,
        )

    def _stream_error(self, exc: Exception, acc: StreamAccumulator) -> ModelAPIError:
        import httpx2

        if isinstance(exc, httpx2.TimeoutException):
            return ModelTimeoutError(
                f"The stream from {self._where()} stalled after {acc.chunks} chunks "
                "(read timeout). Raise ModelSettings(timeout=...) or retry the run.",
                model_name=self._name,
            )
        if isinstance(exc, httpx2.TransportError) or _is_transport_error(exc):
            return ModelConnectionError(
                f"The stream from {self._where()} was cut off after {acc.chunks} chunks: "
                f"{type(exc).__name__}: {exc}. Retry the run.",
                model_name=self._name,
            )
        raise exc


def _is_transport_error(exc: Exception) -> bool:
    """An HTTP transport failure from httpx2, httpcore2, h11 or the OS."""
    import httpx2

    if isinstance(exc, httpx2.TransportError | OSError):
        return True
    return type(exc).__module__.startswith(("httpcore", "h11"))


_SSL_CONTEXTS: dict[bool, ssl.SSLContext] = {}


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


def _retry_after(headers: httpx2.Headers) -> float | None:
    """Seconds the server asks to wait (``retry-after-ms`` or ``Retry-After``), or None."""
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        import email.utils  # only for an HTTP-date Retry-After

        date = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(date.timestamp() - time.time(), 0.0)


async def _sse_data(response: httpx2.Response) -> AsyncIterator[bytes]:
    """The ``data`` payload of each server-sent event, as bytes."""
    buffer = b""
    data: list[bytes] = []
    async for chunk in response.aiter_bytes():
        buffer += chunk
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            line = buffer[start:end]
            start = end + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if data:
                    yield data[0] if len(data) == 1 else b"\n".join(data)
                    data = []
            elif line.startswith(b"data:"):
                payload = line[5:]
                data.append(payload[1:] if payload.startswith(b" ") else payload)
            # other fields (event:, id:, retry:) and comments (":") are ignored
        buffer = buffer[start:]
    if buffer.startswith(b"data:"):
        payload = buffer[5:].rstrip(b"\r")
        data.append(payload[1:] if payload.startswith(b" ") else payload)
    if data:
        yield b"\n".join(data)


class _StatusError(Exception):
    """An HTTP error status on the direct path (the SDK's post raises its own)."""

    def __init__(self, response: httpx2.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class _Direct:
    """Sends a prepared chat-completions request on the HTTP pool of a client we made."""

    __slots__ = ("headers", "http", "url")

    def __init__(self, http: httpx2.AsyncClient, url: str, headers: dict[str, str]) -> None:
        self.http = http
        self.url = url
        self.headers = headers

    async def post(
        self,
        path: str,
        *,
        cast_to: object,
        content: bytes,
        options: dict[str, Any],
        stream: bool,
    ) -> httpx2.Response:
        """Same call shape as the SDK's ``post``; raises ``_StatusError`` on 4xx/5xx."""
        http = self.http
        timeout = options.get("timeout")
        if timeout is None:
            request = http.build_request("POST", self.url, headers=self.headers, content=content)
        else:
            request = http.build_request(
                "POST", self.url, headers=self.headers, content=content, timeout=timeout
            )
        response = await http.send(request, stream=stream)
        if response.status_code >= 400:
            if stream:
                try:
                    await response.aread()
                finally:
                    await response.aclose()
            raise _StatusError(response)
        return response


def _timeout_error_type() -> type[Exception]:
    import httpx2

    return httpx2.TimeoutException
