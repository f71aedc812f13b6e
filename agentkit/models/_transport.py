"""HTTP for OpenAI-compatible models: one send path, bounded retries, one error table.

Every request goes out the same way: a prepared ``POST`` on an ``httpx2.AsyncClient``
pool (the one agentkit made with the ``openai`` SDK's defaults, or the one you passed
in). Failures become agentkit errors through two tables, ``_STATUS`` (HTTP status ->
error class, retryable, message) and ``_transport_error`` (exception -> error), never an
``openai`` or ``httpx2`` exception.

Transport retries resend the same request (same body) after a 408/409/429/5xx, a
timeout or a failed connection; they are one request of the run, since the server
answered (and billed) at most one of them.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio

from agentkit._errors import (
    AuthenticationError,
    BadRequestError,
    ModelAPIError,
    ModelConnectionError,
    ModelHTTPError,
    ModelNotFoundError,
    ModelTimeoutError,
    RateLimitError,
    ServerError,
)
from agentkit.models.parse import error_message

if TYPE_CHECKING:
    import httpx2

__all__ = ["Endpoint", "RetryPolicy", "send", "sse_batches", "status_error", "transport_error"]


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


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where requests go and what the error messages say about it."""

    model_name: str
    base_url: str
    auth_hint: str
    """What to check when the key is refused."""
    secrets: tuple[str, ...] = field(default=(), repr=False)
    """The credentials sent (API keys): never repeated in a message built from server text."""

    def redact(self, text: str) -> str:
        """``text`` with every credential agentkit sends replaced by ``[REDACTED]``."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "[REDACTED]")
        return text

    @property
    def where(self) -> str:
        """``model 'name' at URL``, for error messages."""
        return f"model {self.model_name!r} at {self.base_url}"


# status -> (error class, retryable, message template). Templates see: where, status,
# tries, message, hint, model, base_url.
_Row = tuple[type[ModelAPIError], bool, str]
_BAD_REQUEST: _Row = (BadRequestError, False, "{where} rejected the request ({status}): {message}")
_AUTH: _Row = (
    AuthenticationError,
    False,
    "{where} refused the API key ({status}): {message}. {hint}.",
)
_STATUS: dict[int, _Row] = {
    400: _BAD_REQUEST,
    422: _BAD_REQUEST,
    401: _AUTH,
    403: _AUTH,
    404: (
        ModelNotFoundError,
        False,
        "{where} answered 404: {message}. Check the model name {model!r} and the base URL "
        "{base_url!r}.",
    ),
    408: (ModelHTTPError, True, "{where} answered {status}{tries}: {message}"),
    409: (ModelHTTPError, True, "{where} answered {status}{tries}: {message}"),
    429: (RateLimitError, True, "{where} is rate limiting (429){tries}: {message}"),
}
_SERVER: _Row = (ServerError, True, "{where} failed ({status}){tries}: {message}")
_OTHER: _Row = (ModelHTTPError, False, "{where} answered {status}{tries}: {message}")


def status_error(
    endpoint: Endpoint, response: httpx2.Response, attempts: int
) -> tuple[ModelAPIError, bool]:
    """The agentkit error for an HTTP error status, and whether it is worth retrying."""
    status = response.status_code
    cls, retryable, template = _STATUS.get(status) or (_SERVER if status >= 500 else _OTHER)
    message, body = error_message(endpoint.redact(response.text))  # a 401 may echo the key
    text = template.format(
        where=endpoint.where,
        status=status,
        tries=f" (after {attempts} attempts)" if attempts > 1 else "",
        message=message,
        hint=endpoint.auth_hint,
        model=endpoint.model_name,
        base_url=endpoint.base_url,
    )
    return cls(text, status_code=status, body=body, model_name=endpoint.model_name), retryable


def transport_error(endpoint: Endpoint, exc: Exception, attempts: int) -> ModelAPIError | None:
    """The agentkit error for a failed exchange (timeout, connection), or ``None``."""
    import httpx2

    tries = f" (after {attempts} attempts)" if attempts > 1 else ""
    detail = endpoint.redact(str(exc))
    if isinstance(exc, httpx2.TimeoutException):
        return ModelTimeoutError(
            f"{endpoint.where} timed out{tries}. Raise ModelSettings(timeout=...) or retry later.",
            model_name=endpoint.model_name,
        )
    if (
        isinstance(exc, httpx2.TransportError | OSError)
        or type(exc).__module__.startswith(("httpcore", "h11"))  # a patched transport's own
    ):
        return ModelConnectionError(
            f"Could not get an answer from {endpoint.where}{tries}: {type(exc).__name__}: "
            f"{detail}. Check the base URL and that the server is running.",
            model_name=endpoint.model_name,
            base_url=endpoint.base_url,
        )
    return None


async def send(
    http: httpx2.AsyncClient,
    build: Callable[[float | None], httpx2.Request],
    endpoint: Endpoint,
    policy: RetryPolicy,
    *,
    stream: bool,
    limit: float | None,
) -> httpx2.Response:
    """Send the request ``build(timeout)`` makes, retrying what is worth retrying.

    ``limit`` bounds the whole exchange, retries' waits included (until the response
    headers, for a stream). Returns a response with a status below 400.
    """
    deadline = None if limit is None else time.monotonic() + limit
    attempt = 0
    waited = 0.0
    while True:
        retry_after: float | None = None
        try:
            if deadline is None:
                response = await http.send(build(None), stream=stream)
            else:
                remaining = max(deadline - time.monotonic(), 0.0)
                with anyio.fail_after(remaining):
                    response = await http.send(build(max(remaining, 0.001)), stream=stream)
        except TimeoutError:
            raise ModelTimeoutError(
                f"{endpoint.where} did not answer within the timeout of {limit} s "
                f"(after {attempt + 1} attempt(s)). Raise ModelSettings(timeout=...) "
                "or retry later.",
                model_name=endpoint.model_name,
            ) from None
        except Exception as exc:
            error = transport_error(endpoint, exc, attempt + 1)
            if error is None:
                raise
            retryable = True
        else:
            if response.status_code < 400:
                return response
            if stream:
                try:
                    await response.aread()
                finally:
                    await response.aclose()
            error, retryable = status_error(endpoint, response, attempt + 1)
            retry_after = error.retry_after = _retry_after(response.headers)
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


def _seconds(value: str, scale: float = 1.0) -> float | None:
    """A finite number of seconds from a header value, or None (``nan``, ``inf``, text)."""
    try:
        seconds = float(value) / scale
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) else None


def _retry_after(headers: httpx2.Headers) -> float | None:
    """Seconds the server asks to wait (``retry-after-ms`` or ``Retry-After``), or None.

    A value that is not a finite number of seconds nor an HTTP date is ignored: the
    normal backoff applies.
    """
    value = headers.get("retry-after-ms")
    if value is not None:
        seconds = _seconds(value, 1000.0)
        if seconds is not None:
            return seconds
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        import email.utils  # only for an HTTP-date Retry-After

        date = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(date.timestamp() - time.time(), 0.0)


async def sse_batches(response: httpx2.Response) -> AsyncGenerator[list[bytes], None]:
    """The ``data`` payload of each server-sent event, as bytes: after each read of the
    body, the payloads of the events it completed (often several; never an empty batch).

    Batched so a stream costs one generator step per read of the body, not one per event.
    """
    buffer = b""
    data: list[bytes] = []
    held = b""  # a CR at the end of a chunk: its LF may start the next one
    chunks = response.aiter_bytes()
    read_all = False
    try:
        async for chunk in chunks:
            buffer += held + chunk
            held = b""
            if b"\r" in buffer:  # CR and CRLF end lines too (the SSE specification)
                if buffer.endswith(b"\r"):
                    buffer, held = buffer[:-1], b"\r"
                buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            batch: list[bytes] = []
            start = 0
            while True:
                end = buffer.find(b"\n", start)
                if end < 0:
                    break
                line = buffer[start:end]
                start = end + 1
                if not line:
                    if data:
                        batch.append(data[0] if len(data) == 1 else b"\n".join(data))
                        data = []
                elif line.startswith(b"data:"):
                    payload = line[5:]
                    data.append(payload[1:] if payload.startswith(b" ") else payload)
                # other fields (event:, id:, retry:) and comments (":") are ignored
            buffer = buffer[start:]
            if batch:
                yield batch
        read_all = True
    finally:
        # Read to the end, the body's iterator has closed itself: no shielded scope to pay.
        aclose = None if read_all else getattr(chunks, "aclose", None)
        if aclose is not None:
            with anyio.CancelScope(shield=True):
                await aclose()
    if buffer.startswith(b"data:"):  # a last line with no line end
        payload = buffer[5:]
        data.append(payload[1:] if payload.startswith(b" ") else payload)
    if data:
        yield [b"\n".join(data)]
