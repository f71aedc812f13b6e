"""A real OpenAI-compatible HTTP server on 127.0.0.1, for tests and benchmarks.

It serves ``POST /v1/chat/completions``, plain and streamed (server-sent events:
text and tool-call deltas, usage on the last chunk, ``data: [DONE]``), answering
from a script of replies or from a function of the request, and records every
request it receives::

    from agentkit.testing.server import LocalModelServer, reply_text, reply_tool_calls

    script = [reply_tool_calls(("get_weather", {"city": "Paris"})), reply_text("Sunny.")]
    with LocalModelServer(script, style="mistral") as server:
        model = OpenAIChatModel("mistral-small-2506", base_url=server.base_url, api_key="test")
        ...
        assert server.requests[1].body["messages"][-1]["role"] == "tool"

Replies answer in Mistral's shapes (``style="mistral"``: 9-character tool-call ids,
no ``type`` on tool calls, ``content: ""`` with tool calls, 32-hex response ids) or
OpenAI's (``call_...`` ids). Faults: any status and body (``reply_error()``),
``Retry-After``, delays, dropped connections (``drop_connection()``), truncated
bodies and streams (``truncate_after``), malformed JSON (``malformed()``).

The server runs in a background thread (one thread per connection, HTTP/1.1
keep-alive), so it works from sync and async tests alike; ``serve_forever()`` runs
it in the foreground for use from another process.
"""

from __future__ import annotations

import json
import secrets
import socket
import string
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

__all__ = [
    "LocalModelServer",
    "RecordedRequest",
    "Reply",
    "Script",
    "Style",
    "drop_connection",
    "malformed",
    "reply_error",
    "reply_events",
    "reply_json",
    "reply_text",
    "reply_tool_calls",
    "usage",
]

Style = Literal["openai", "mistral"]
"""Whose response shapes the server imitates."""

_ALNUM = string.ascii_letters + string.digits


def usage(
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    cached_tokens: int | None = None,
    reasoning_tokens: int | None = None,
) -> dict[str, Any]:
    """A ``usage`` object; ``cached_tokens`` goes in ``prompt_tokens_details``,
    ``reasoning_tokens`` in ``completion_tokens_details``."""
    data: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if cached_tokens is not None:
        data["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    if reasoning_tokens is not None:
        data["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    return data


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted answer: a completion (text and/or tool calls) or a fault.

    Build it with ``reply_text()``, ``reply_tool_calls()``, ``reply_json()``, ``reply_error()``,
    ``malformed()`` or ``drop_connection()``; tweak it with ``dataclasses.replace``
    or the keyword arguments those helpers take.
    """

    content: str | None = None
    tool_calls: tuple[tuple[str, str, str | None], ...] = ()
    """``(name, arguments JSON text, id or None)``; a missing id is made in the style."""
    finish_reason: str | None = None
    """Defaults to ``tool_calls`` when there are tool calls, else ``stop``."""
    usage: Mapping[str, Any] | None = field(default_factory=usage)
    """The ``usage`` object to send; ``None`` sends none."""
    style: Style | None = None
    """Overrides the server's style for this reply."""
    status: int = 200
    body: bytes | None = None
    """Raw body to send instead of a completion (errors, malformed JSON)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering."""
    drop: bool = False
    """Close the connection without answering."""
    truncate_after: int | None = None
    """Streamed: cut the connection after this many events. Plain: after this many body bytes."""
    chunk_delay: float = 0.0
    """Streamed: seconds between events."""
    model: str | None = None
    """The ``model`` in the answer; defaults to the request's."""
    events: tuple[bytes, ...] = ()
    """Streamed: these ``data:`` payloads, sent as they are, instead of events made from
    the reply (``reply_events()``); a plain request gets ``body``."""
    thinking: str | None = None
    """The model's thinking before its answer: in Mistral's style a ``thinking`` chunk
    leading a content list (streamed as such chunks), in OpenAI's style the
    ``reasoning_content`` field other OpenAI-compatible servers send (DeepSeek, vLLM)."""


def _replyargs(**kwargs: Any) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if v is not None}


def reply_text(
    content: str,
    *,
    finish_reason: str | None = None,
    usage: Mapping[str, Any] | None = None,
    style: Style | None = None,
    delay: float | None = None,
    headers: Mapping[str, str] | None = None,
    truncate_after: int | None = None,
    thinking: str | None = None,
) -> Reply:
    """A plain text answer (after ``thinking``, when given)."""
    return Reply(
        content=content,
        **_replyargs(
            thinking=thinking,
            finish_reason=finish_reason,
            usage=usage,
            style=style,
            delay=delay,
            headers=headers,
            truncate_after=truncate_after,
        ),
    )


def reply_events(*payloads: bytes | str | Mapping[str, Any]) -> Reply:
    """A stream of exactly these ``data:`` payloads (objects are sent as JSON; put
    ``"[DONE]"`` last yourself): for replaying a real server's chunks as they were."""
    events = tuple(
        p.encode() if isinstance(p, str) else p if isinstance(p, bytes) else json.dumps(p).encode()
        for p in payloads
    )
    return Reply(events=events)


def reply_json(value: Any, **kwargs: Any) -> Reply:
    """A text answer that is ``value`` as JSON (structured output in native/prompted mode)."""
    return reply_text(json.dumps(value), **kwargs)


def reply_tool_calls(
    *calls: tuple[str, Mapping[str, Any] | str] | tuple[str, Mapping[str, Any] | str, str],
    content: str | None = None,
    finish_reason: str | None = None,
    usage: Mapping[str, Any] | None = None,
    style: Style | None = None,
    delay: float | None = None,
    headers: Mapping[str, str] | None = None,
    truncate_after: int | None = None,
    thinking: str | None = None,
) -> Reply:
    """An answer calling tools: ``("name", {args})``, ``("name", "raw args")`` or
    ``("name", args, "id")`` each (after ``thinking``, when given)."""
    encoded = []
    for call in calls:
        name, args = call[0], call[1]
        call_id = call[2] if len(call) > 2 else None
        encoded.append((name, args if isinstance(args, str) else json.dumps(args), call_id))
    return Reply(
        content=content,
        tool_calls=tuple(encoded),
        **_replyargs(
            thinking=thinking,
            finish_reason=finish_reason,
            usage=usage,
            style=style,
            delay=delay,
            headers=headers,
            truncate_after=truncate_after,
        ),
    )


def reply_error(
    status: int,
    message: str = "error",
    *,
    body: bytes | str | Mapping[str, Any] | None = None,
    retry_after: float | str | None = None,
    style: Style | None = None,
    headers: Mapping[str, str] | None = None,
    delay: float | None = None,
) -> Reply:
    """An HTTP error answer; the body is the style's error object unless given."""
    all_headers = dict(headers or {})
    if retry_after is not None:
        all_headers["Retry-After"] = str(retry_after)
    if body is None:
        if style == "mistral":
            body = {
                "object": "error",
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        else:
            body = {
                "error": {
                    "message": message,
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            }
    raw = (
        body.encode()
        if isinstance(body, str)
        else body
        if isinstance(body, bytes)
        else json.dumps(body).encode()
    )
    return Reply(
        status=status,
        body=raw,
        headers=all_headers,
        usage=None,
        **_replyargs(style=style, delay=delay),
    )


def malformed(body: bytes = b'{"id": "x", "choices": [{"message": ', **kwargs: Any) -> Reply:
    """A 200 answer whose body is not valid JSON (in a stream: one bad event)."""
    return Reply(body=body, **kwargs)


def drop_connection(**kwargs: Any) -> Reply:
    """Read the request, then close the connection without answering."""
    return Reply(drop=True, **kwargs)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request the server received: path, headers (lower-case names), parsed JSON body."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes
    peer: tuple[str, int] = ("", 0)
    """The client's address: requests with the same ``peer`` came on one connection."""


Script = Sequence[Reply] | Callable[[RecordedRequest], Reply]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.owner._connection(+1)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._connection(-1)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            owner = self.server.owner
            self._send(
                200,
                json.dumps(
                    {"object": "list", "data": [{"id": owner.model, "object": "model"}]}
                ).encode(),
            )
        else:
            self._send(404, b'{"error": {"message": "not found"}}')

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = RecordedRequest(
            method="POST",
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw=raw,
            peer=(str(self.client_address[0]), int(self.client_address[1])),
        )
        owner = self.server.owner
        owner._record(request)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}).encode())
            return
        reply = owner._next_reply(request)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.drop:
            self._drop()
            return
        style = reply.style or owner.style
        stream = isinstance(body, dict) and bool(body.get("stream"))
        if reply.events and stream and reply.status == 200:
            self._stream(reply, reply.events, style)
            return
        if reply.body is not None or reply.status != 200:
            if stream and reply.status == 200 and reply.body is not None:
                self._stream(reply, [reply.body], style)
            else:
                self._send(
                    reply.status, reply.body or b"", reply.headers, truncate=reply.truncate_after
                )
            return
        model = (
            reply.model or (body.get("model") if isinstance(body, dict) else None) or owner.model
        )
        if stream:
            include_usage = style == "mistral" or bool(
                isinstance(body, dict) and (body.get("stream_options") or {}).get("include_usage")
            )
            self._stream(reply, _chunks(reply, style, model, include_usage), style)
        else:
            payload = json.dumps(_completion(reply, style, model)).encode()
            self._send(200, payload, reply.headers, truncate=reply.truncate_after)

    def _send(
        self,
        status: int,
        payload: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        truncate: int | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if truncate is not None:
            self.wfile.write(payload[:truncate])
            self._drop()
            return
        self.wfile.write(payload)

    def _stream(self, reply: Reply, events: Iterable[bytes], style: Style) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        for n, event in enumerate(events):
            if reply.truncate_after is not None and n >= reply.truncate_after:
                self._drop()
                return
            if reply.chunk_delay and n:
                time.sleep(reply.chunk_delay)
            data = b"data: " + event + b"\n\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        if reply.truncate_after is not None:
            self._drop()
            return
        self.wfile.write(b"0\r\n\r\n")

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _call_id(style: Style) -> str:
    if style == "mistral":
        return "".join(secrets.choice(_ALNUM) for _ in range(9))
    return "call_" + "".join(secrets.choice(_ALNUM) for _ in range(24))


def _response_id(style: Style) -> str:
    return secrets.token_hex(16) if style == "mistral" else "chatcmpl-" + secrets.token_hex(12)


def _wire_calls(reply: Reply, style: Style) -> list[dict[str, Any]]:
    calls = []
    for index, (name, args, call_id) in enumerate(reply.tool_calls):
        call: dict[str, Any] = {"id": call_id or _call_id(style)}
        if style == "openai":
            call["type"] = "function"
        call["function"] = {"name": name, "arguments": args}
        if style == "mistral":
            call["index"] = index
        calls.append(call)
    return calls


def _finish(reply: Reply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")


def _completion(reply: Reply, style: Style, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = _wire_calls(reply, style)
        if reply.content is None:
            message["content"] = "" if style == "mistral" else None
    if reply.thinking is not None and style == "mistral":
        text = [{"type": "text", "text": reply.content}] if reply.content else []
        message["content"] = [_thinking_chunk(reply.thinking), *text]
    elif reply.thinking is not None:
        message["reasoning_content"] = reply.thinking
    data: dict[str, Any] = {
        "id": _response_id(style),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": _finish(reply)}],
    }
    if reply.usage is not None:
        data["usage"] = dict(reply.usage)
    return data


def _thinking_chunk(text_: str) -> dict[str, Any]:
    return {"type": "thinking", "thinking": [{"type": "text", "text": text_}]}


def _pieces(text_: str, size: int = 8) -> list[str]:
    return [text_[i : i + size] for i in range(0, len(text_), size)] or [""]


def _chunks(reply: Reply, style: Style, model: str, include_usage: bool) -> list[bytes]:
    rid = _response_id(style)
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        data: dict[str, Any] = {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        data.update(extra)
        return json.dumps(data).encode()

    events = [chunk({"role": "assistant", "content": ""})]
    if reply.thinking:
        for piece in _pieces(reply.thinking):
            if style == "mistral":
                events.append(chunk({"content": [_thinking_chunk(piece)]}))
            else:
                events.append(chunk({"reasoning_content": piece}))
    if reply.content:
        events.extend(chunk({"content": piece}) for piece in _pieces(reply.content))
    for index, call in enumerate(_wire_calls(reply, style)):
        if style == "mistral":
            events.append(chunk({"content": "", "tool_calls": [call]}))
        else:
            head = {
                "index": index,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""},
            }
            events.append(chunk({"tool_calls": [head]}))
            for piece in _pieces(call["function"]["arguments"]):
                events.append(
                    chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                )
    finish = _finish(reply)
    if style == "mistral":
        extra = {"usage": dict(reply.usage)} if reply.usage is not None else {}
        events.append(chunk({"content": ""}, finish, **extra))
    else:
        events.append(chunk({}, finish))
        if include_usage and reply.usage is not None:
            events.append(
                json.dumps(
                    {
                        "id": rid,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "choices": [],
                        "usage": dict(reply.usage),
                    }
                ).encode()
            )
    events.append(b"[DONE]")
    return events


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    owner: LocalModelServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that dropped its connection (a keep-alive pool closing) is not an
        error worth a traceback; anything else is printed as usual."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):  # reset, aborted, broken pipe
            return
        super().handle_error(request, client_address)


class LocalModelServer:
    """A real OpenAI-compatible chat-completions server on 127.0.0.1.

    ``script`` is a list of ``Reply`` answered in order (a request past the end gets
    a 500 saying so), or a function from ``RecordedRequest`` to ``Reply``. Use it as
    a context manager; ``base_url`` ends in ``/v1``; ``requests`` lists every request
    received, in order. ``add()`` appends replies to a list script.
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        style: Style = "openai",
        model: str = "local-model",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.style: Style = style
        self.model = model
        self._function: Callable[[RecordedRequest], Reply] | None = None
        self._replies: list[Reply] = []
        if callable(script):
            self._function = script
        elif script is not None:
            self._replies = list(script)
        self._position = 0
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.connections = 0
        """Connections accepted so far."""
        self.open_connections = 0
        """Connections open now (a client that closed its pool brings this back to 0)."""
        self._host = host
        self._port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> LocalModelServer:
        """Bind and serve in a background thread; returns self."""
        if self._httpd is not None:
            return self
        httpd = _HTTPServer((self._host, self._port), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        """Serve in the foreground until interrupted (for running in another process)."""
        httpd = _HTTPServer((self._host, self._port), _Handler)
        httpd.owner = self
        self._httpd = httpd
        try:
            httpd.serve_forever()
        finally:
            httpd.server_close()

    def __enter__(self) -> LocalModelServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses and script -----------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port."""
        if self._httpd is None:
            raise RuntimeError(
                "the server is not running: use it as a context manager or call start()"
            )
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``, for ``base_url=`` of OpenAI-compatible clients."""
        return f"http://{self._host}:{self.port}/v1"

    def add(self, *replies: Reply) -> None:
        """Append replies to the script."""
        with self._lock:
            self._replies.extend(replies)

    @property
    def bodies(self) -> list[Any]:
        """The JSON bodies of the requests received, in order."""
        return [r.body for r in self.requests]

    @property
    def remaining(self) -> int:
        """Scripted replies not used yet."""
        return len(self._replies) - self._position

    def _connection(self, change: int) -> None:
        with self._lock:
            self.open_connections += change
            if change > 0:
                self.connections += 1

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_reply(self, request: RecordedRequest) -> Reply:
        if self._function is not None:
            return self._function(request)
        with self._lock:
            if self._position >= len(self._replies):
                return reply_error(
                    500,
                    f"LocalModelServer: the script has no reply left for request "
                    f"#{len(self.requests)} (it had {len(self._replies)}).",
                )
            reply = self._replies[self._position]
            self._position += 1
            return reply


_RENAMED = {
    "text": "reply_text",
    "tool_calls": "reply_tool_calls",
    "json_output": "reply_json",
    "error": "reply_error",
}
"""Old names of the reply builders, kept for one release: ``text`` and ``tool_calls``
clashed with ``agentkit.testing.text``/``tool_calls``, the scripted model's answers."""


def __getattr__(name: str) -> Any:
    new = _RENAMED.get(name)
    if new is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"agentkit.testing.server.{name} is deprecated and will be removed in the next "
        f"release: use {new} (same arguments)",
        DeprecationWarning,
        stacklevel=2,
    )
    return globals()[new]
