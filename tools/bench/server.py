"""A minimal, fast OpenAI-compatible chat-completions server for the benchmark.

Stdlib only (asyncio ``Protocol``, HTTP/1.1 keep-alive, pre-built response bytes), so that
the server costs far less per request than any client it serves and is never the
bottleneck, even with 200 runs in flight.

It answers every ``POST .../chat/completions`` in a fixed two-request pattern:

1. no ``"role": "tool"`` message in the request -> one tool call ``get_weather(city="Paris")``;
2. a tool message present -> the final answer: text, or the ``Report`` JSON when the
   request carries a ``response_format`` object.

A request whose tools include ``get_current_time`` (the MCP contenders, on
``mcp-server-time``) gets ``get_current_time(timezone="Europe/Paris")`` instead, then a text
answer (not streamed).

With ``"stream": true`` the same answers are sent as server-sent events, the text in several
deltas, usage on the final chunk, then ``data: [DONE]``. The shapes follow a real
Mistral response (32-hex response id, 9-character tool-call ids, ``content: ""`` next to tool
calls).

``GET .../connections`` answers how many connections the server has accepted so far (that
query's own included), so a contender can count the connections its runs open.

Run: ``python tools/bench/server.py [--host 127.0.0.1] [--port 0]``; it prints
``PORT <n>`` on its first line of stdout once it listens, and stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import sys

MODEL = "mistral-small-2506"
RESPONSE_ID = "0f3c1a9e5b7d4c2a8e6f1b3d5a7c9e21"
CALL_ID = "aB3dE5gH7"
CREATED = 1767225600
TEXT_ANSWER = "The weather in Paris is sunny, 21 degrees Celsius, with a light breeze."
REPORT_ANSWER = {"city": "Paris", "temperature_c": 21, "conditions": "sunny"}
TOOL_ARGS = '{"city": "Paris"}'
TIME_ARGS = '{"timezone": "Europe/Paris"}'
TIME_ANSWER = "In Paris it is the time get_current_time said."

_ROLE_TOOL = re.compile(rb'"role"\s*:\s*"tool"')
_STREAM = re.compile(rb'"stream"\s*:\s*true')
_RESPONSE_FORMAT = re.compile(rb'"response_format"\s*:\s*\{')
_TIME_TOOL = re.compile(rb'"name"\s*:\s*"get_current_time"')


def _usage(prompt: int, completion: int) -> dict[str, object]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def _completion(message: dict[str, object], finish: str, usage: dict[str, object]) -> bytes:
    body = {
        "id": RESPONSE_ID,
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": usage,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _chunk(delta: dict[str, object], finish: str | None, usage: dict[str, object] | None) -> bytes:
    body: dict[str, object] = {
        "id": RESPONSE_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }
    if usage is not None:
        body["usage"] = usage
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def _tool_call(
    with_type: bool = True, name: str = "get_weather", arguments: str = TOOL_ARGS
) -> dict[str, object]:
    call: dict[str, object] = {
        "id": CALL_ID,
        "function": {"name": name, "arguments": arguments},
        "index": 0,
    }
    if with_type:
        call["type"] = "function"
    return call


def _http(body: bytes, content_type: bytes) -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: "
        + content_type
        + b"\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\nconnection: keep-alive\r\n\r\n"
    )
    return head + body


def _build_responses() -> dict[tuple[bool, bool, bool], bytes]:
    """All eight answers, keyed by (after_tool, structured, stream), built once."""
    tool_msg: dict[str, object] = {"role": "assistant", "content": "", "tool_calls": [_tool_call()]}
    out: dict[tuple[bool, bool, bool], bytes] = {}
    json_ct = b"application/json"
    sse_ct = b"text/event-stream"
    for structured in (False, True):
        final_text = json.dumps(REPORT_ANSWER) if structured else TEXT_ANSWER
        # non-streaming
        out[(False, structured, False)] = _http(
            _completion(tool_msg, "tool_calls", _usage(120, 18)), json_ct
        )
        out[(True, structured, False)] = _http(
            _completion({"role": "assistant", "content": final_text}, "stop", _usage(160, 24)),
            json_ct,
        )
        # streaming: the tool call
        events = [
            _chunk({"role": "assistant", "content": ""}, None, None),
            _chunk({"tool_calls": [_tool_call()]}, None, None),
            _chunk({"content": ""}, "tool_calls", _usage(120, 18)),
        ]
        out[(False, structured, True)] = _http(b"".join(events) + b"data: [DONE]\n\n", sse_ct)
        # streaming: the final answer in a few deltas
        words = final_text.split(" ")
        pieces = [w + " " for w in words[:-1]] + [words[-1]]
        events = [_chunk({"role": "assistant", "content": ""}, None, None)]
        events += [_chunk({"content": p}, None, None) for p in pieces]
        events.append(_chunk({"content": ""}, "stop", _usage(160, 24)))
        out[(True, structured, True)] = _http(b"".join(events) + b"data: [DONE]\n\n", sse_ct)
    return out


RESPONSES = _build_responses()
TIME_CALL: dict[str, object] = {
    "role": "assistant",
    "content": "",
    "tool_calls": [_tool_call(True, "get_current_time", TIME_ARGS)],
}
TIME_RESPONSES = {
    False: _http(_completion(TIME_CALL, "tool_calls", _usage(140, 20)), b"application/json"),
    True: _http(
        _completion({"role": "assistant", "content": TIME_ANSWER}, "stop", _usage(190, 14)),
        b"application/json",
    ),
}
"""The MCP contenders' answers, keyed by after_tool."""
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n"


class _Conn(asyncio.Protocol):
    """One keep-alive connection: parse requests out of the byte stream, answer each."""

    __slots__ = ("buf", "transport")

    accepted = 0
    """Connections accepted so far (``GET /connections`` answers it)."""

    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        _Conn.accepted += 1

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        transport = self.transport
        assert transport is not None
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end]
            length = 0
            lower = head.lower()
            i = lower.find(b"\r\ncontent-length:")
            if i >= 0:
                j = lower.find(b"\r\n", i + 2)
                length = int(lower[i + 17 : j if j >= 0 else len(lower)])
            total = end + 4 + length
            if len(buf) < total:
                break
            body = buf[end + 4 : total]
            buf = buf[total:]
            line = head[: head.find(b"\r\n")] if b"\r\n" in head else head
            if line.startswith(b"POST ") and b"/chat/completions" in line:
                if _TIME_TOOL.search(body) is not None:
                    transport.write(TIME_RESPONSES[_ROLE_TOOL.search(body) is not None])
                    continue
                key = (
                    _ROLE_TOOL.search(body) is not None,
                    _RESPONSE_FORMAT.search(body) is not None,
                    _STREAM.search(body) is not None,
                )
                transport.write(RESPONSES[key])
            elif line.startswith(b"GET ") and b"/connections" in line:
                count = str(_Conn.accepted).encode()
                transport.write(_http(count, b"text/plain"))
            else:
                transport.write(NOT_FOUND)
        self.buf = buf


async def serve(host: str, port: int) -> None:
    """Listen on ``host:port`` (0 = any free port), print ``PORT <n>``, serve until signalled."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Conn, host, port, backlog=1024, reuse_address=True)
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"PORT {bound}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
