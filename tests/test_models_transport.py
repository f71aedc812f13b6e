"""The HTTP transport at its edges: a ``Retry-After`` that is not a finite number falls back
to the backoff, and SSE accepts every line end the spec allows, also split across chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest
from support import model_on

from agentkit import Agent
from agentkit.models import RetryPolicy
from agentkit.models._transport import sse_batches
from agentkit.testing.server import LocalModelServer, reply_error, reply_text


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "1e999"])
@pytest.mark.anyio
async def test_retry_after_that_is_not_a_finite_number_uses_the_backoff(value: str) -> None:
    """``Retry-After: nan`` (or inf) is ignored: the request is retried with the backoff."""
    retry = RetryPolicy(max_retries=1, initial_delay=0.001, max_delay=0.01)
    replies = [reply_error(503, "busy", headers={"Retry-After": value}), reply_text("ok")]
    with LocalModelServer(replies) as server:
        result = await Agent(model_on(server, "gpt-4o-mini", retry=retry)).run("hi")
    assert result.output == "ok"
    assert len(server.requests) == 2


@pytest.mark.anyio
async def test_retry_after_ms_that_is_nan_uses_the_backoff() -> None:
    """``retry-after-ms: nan`` is ignored as well."""
    retry = RetryPolicy(max_retries=1, initial_delay=0.001, max_delay=0.01)
    replies = [reply_error(429, "slow", headers={"retry-after-ms": "nan"}), reply_text("ok")]
    with LocalModelServer(replies) as server:
        assert (await Agent(model_on(server, "gpt-4o-mini", retry=retry)).run("hi")).output == "ok"


# --------------------------------------------------------------------------- SSE framing


async def _batches(*pieces: bytes) -> list[list[bytes]]:
    async def body() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    response = httpx2.Response(200, content=body())
    out = [batch async for batch in sse_batches(response)]
    await response.aclose()
    return out


async def _payloads(*pieces: bytes) -> list[bytes]:
    return [data for batch in await _batches(*pieces) for data in batch]


@pytest.mark.parametrize(
    "pieces",
    [
        (b"data: a\r\rdata: b\r\r",),
        (b"data: a\r", b"\rdata: b\r\r"),
        (b"data: a\r\n\r\ndata: b\r\n\r\n",),
        (b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n"),
        (b"data: a\n\ndata: b\n\n",),
        (b"data: a\r\rdata: b",),
        (b": comment\rdata: a\r\r", b"event: x\rdata: b\r\r"),
    ],
)
@pytest.mark.anyio
async def test_sse_accepts_every_line_end_the_spec_allows(pieces: tuple[bytes, ...]) -> None:
    """CR, LF and CRLF all end lines (also split across chunks); each event's data comes out."""
    assert await _payloads(*pieces) == [b"a", b"b"]


@pytest.mark.anyio
async def test_sse_joins_multi_line_data_with_cr_line_ends() -> None:
    """Two ``data:`` lines of one event, CR-separated, are one payload joined by LF."""
    assert await _payloads(b"data: a\rdata: b\r\r") == [b"a\nb"]


@pytest.mark.anyio
async def test_sse_gives_the_events_each_read_completes_together() -> None:
    """One batch per read that completes events, in order; a read completing none gives none."""
    pieces = (b"data: a\n\ndata: b\n\ndata: c", b"\n", b"\n", b"data: d\n\n")
    batches = await _batches(*pieces)
    assert batches == [[b"a", b"b"], [b"c"], [b"d"]]
